"""Action requests in chat without an LLM: "retrain churn on the last 30 minutes", "roll back churn", "promote
the canary". Each is parsed into a typed request and filed through the same proposal tools an LLM calls, so it
lands in the approvals inbox and pauses for a person; nothing executes here.

A request is an imperative: the verb leads the message (after "please", "can you", …). A question that only
mentions an action ("why did we roll back?", "should we retrain?") is not filed; the question router answers it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from agent.context import OpsContext
from graphs.chat_calls import ToolCallDone, run_tool
from graphs.chat_prose import window_phrase
from graphs.revise import window_seconds
from tools.proposal_tools import propose_promote, propose_retrain, propose_rollback
from tools.results import ProposalFiled

RequestKind = Literal["retrain", "rollback", "promote"]

# Words that may come before the verb of a request; anything else before it makes the message a question.
_POLITE = r"(?:(?:please|pls|ok|okay|now|then|go ahead and|can you|could you|would you|will you|let's|lets|"\
          r"i want to|i'd like to|we need to|i need you to|opsagent)[\s,]+)*"
_VERBS: dict[RequestKind, str] = {
    "retrain": r"re-?train",
    "rollback": r"roll\s*-?back|revert",
    "promote": r"promote",
}
UNDERSTOOD = ("`retrain MODEL on the last N minutes|hours|days`, `roll back MODEL` and `promote the canary [of "
              "MODEL]`")


# Words that may follow the verb without naming a model ("roll back the canary", "retrain on the last hour").
_NOT_A_MODEL = frozenset({"the", "it", "this", "that", "canary", "on", "with", "model", "over", "using", "again",
                          "now", "for", "to", "from", "please", "a", "its", "our", "my", "of", "in"})
_NOUN: dict[RequestKind, str] = {"retrain": "retrain", "rollback": "rollback", "promote": "promotion"}
_VERB_TEXT: dict[RequestKind, str] = {"retrain": "retrain", "rollback": "roll back", "promote": "promote"}


@dataclass(frozen=True)
class ActionRequest:
    """What the person asked for: the action, the model if named (``unknown``: a name that is no registered
    model), and for a retrain its data window."""

    kind: RequestKind
    text: str
    model: str | None = None
    window_minutes: float | None = None
    unknown: str | None = None


def parse_request(text: str, models: list[str]) -> ActionRequest | None:
    """The action ``text`` asks for, or None when it is not an action request."""
    t = " ".join(text.lower().split()).strip(" .!")
    for kind, verb in _VERBS.items():
        if m := re.match(rf"{_POLITE}(?:{verb})\b\s*([\w-]*)", t):
            named = next((n for n in models if re.search(rf"\b{re.escape(n.lower())}\b", t)), None)
            after = m.group(1)
            unknown = after if named is None and after and after not in _NOT_A_MODEL else None
            seconds = window_seconds(t) if kind == "retrain" else None
            return ActionRequest(kind, text, named, seconds / 60 if seconds is not None else None, unknown)
    return None


def _deployed(ctx: OpsContext, models: list[str], *, with_canary: bool) -> list[str]:
    out = []
    for name in models:
        try:
            st = ctx.backend(name).status()
        except Exception:  # a backend that cannot answer does not make its model the one meant
            continue
        if (st.canary is not None) if with_canary else (st.champion is not None or st.canary is not None):
            out.append(name)
    return out


def _which_model(ctx: OpsContext, req: ActionRequest, models: list[str]) -> str | list[str]:
    """The model the request is about, or the candidates to ask about when that is not clear."""
    if req.model is not None:
        return req.model
    if len(models) == 1:
        return models[0]
    candidates = _deployed(ctx, models, with_canary=req.kind == "promote")
    return candidates[0] if len(candidates) == 1 else (candidates or models)


def file_request(ctx: OpsContext, req: ActionRequest, calls: list[ToolCallDone]) -> str:
    """File the request as a proposal through its proposal tool (recorded in ``calls``); the sentence back says
    what was filed and how to approve it, or why nothing was and what to type instead."""
    models = ctx.registry.models()
    if not models:
        return ("No model is registered yet, so there is nothing to " + _VERB_TEXT[req.kind] +
                "; train one with `opsagent train`.")
    if req.unknown is not None:
        return (f"I know no model called '{req.unknown}'; registered models: {', '.join(models)}. Say e.g. "
                f"`{_VERB_TEXT[req.kind]} {models[0]}`.")
    model = _which_model(ctx, req, models)
    if isinstance(model, list):
        names = ", ".join(model)
        return (f"Which model should I {_VERB_TEXT[req.kind]}? Several could be meant ({names}); say e.g. "
                f"`{_VERB_TEXT[req.kind]} {model[0]}`.")
    pending = [r for r in ctx.approvals.pending(model) if r.proposal.kind == req.kind]
    if pending:
        pid = pending[0].id
        return (f"A {_NOUN[req.kind]} of {model} is already waiting for approval ({pid}); approve it with "
                f"`opsagent approvals approve {pid}`, change it with `opsagent approvals respond {pid} \"…\"`, "
                "or reject it first to file another.")
    reason = f"asked in chat by {ctx.actor}: “{' '.join(req.text.split())[:200]}”"
    if req.kind == "retrain":
        minutes = req.window_minutes if req.window_minutes is not None else ctx.settings.triage_window_minutes
        result = run_tool(ctx, calls, propose_retrain, model=model, reason=reason, window_minutes=minutes)
    else:
        tool = propose_rollback if req.kind == "rollback" else propose_promote
        result = run_tool(ctx, calls, tool, model=model, reason=reason)
    if result is None:
        return f"I could not file a {_NOUN[req.kind]} of {model}: {calls[-1].result.removeprefix('error: ')}"
    return _filed_text(req, model, result)


def _filed_text(req: ActionRequest, model: str, r: ProposalFiled) -> str:
    if r.error:
        return f"I could not file a {_NOUN[req.kind]} of {model}: {r.error}"
    what = r.title or ""
    if req.kind == "retrain":
        window = (window_phrase(req.window_minutes) if req.window_minutes is not None else
                  "the triage window (no window was named; say e.g. 'on the last 30 minutes')")
        what += f", window: {window} — {r.summary}"
    if not r.filed:
        return f"Drafted but not filed — {r.message}. The draft: {what}."
    pid = r.proposal_id
    return (f"Filed proposal {pid}: {what}. Nothing runs until someone approves it: `opsagent approvals approve "
            f"{pid}` (or edit, respond or reject it; it is also in the web inbox and on Slack).")

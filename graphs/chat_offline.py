"""Chat without an LLM: the common questions answered in sentences from the tools' typed results, and the
common action requests filed as proposals for approval (``graphs.chat_requests``); never executed here.

The tool calls behind an answer come back with it (``OfflineReply.calls``): the chat graph records them as tool
messages, so the terminal shows them with ``--verbose`` and the web page in collapsed boxes, as for an LLM.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agent.approvals import ApprovalError, ProposalRecord
from agent.context import OpsContext
from agent.guard import DATA_CLOSE, DATA_OPEN
from graphs import chat_prose as prose
from graphs.chat_calls import ToolCallDone, run_tool
from graphs.chat_requests import UNDERSTOOD, file_request, parse_request
from graphs.revise import window_seconds
from tools.memory_tools import recall_incidents
from tools.monitoring_tools import drift_report, performance, slo_status
from tools.registry_tools import compare_versions, list_models, model_status

NO_LLM_NOTE = ("(offline policy — no LLM configured; set OPSAGENT_LLM_BASE_URL or OPSAGENT_LLM_API_KEY "
               "and an LLM will answer open questions too)")

HELP = ("Without an LLM I answer `status [model]`, `why did [model] F1 drop?`, `is the canary healthy?`, "
        "`drift [model]`, `performance [model]`, `slo [model]`, `compare 1 2`, `models`, `incidents`, `approvals`, "
        "`triage [model]` and `search memory <text>` (add 'over the last N minutes|hours|days'), and I file these "
        f"requests for approval: {UNDERSTOOD}.")

_PERFORMANCE = ("performance", "f1", "auc", "accuracy", "precision", "recall", "quality", "worse")
_WHY = ("why", "dropped", "drop?", "fell", "degrad", "got worse", "what happened")
_SLOW = ("slo", "latency", "slow", "error rate", "errors", "timeout", "fallback")
# Imperatives the offline router does not file; they get the list of what it does, not a guess.
_OTHER_ACTION = re.compile(r"(?:please\s+|can you\s+|could you\s+)*(?:deploy|undeploy|train|retune|tune|set|change|"
                           r"approve|reject|accept|delete|remove|scale|restart|stop|start|update|raise|lower)\b")


@dataclass
class OfflineReply:
    """The answer's text and the tool calls it was built from."""

    text: str
    calls: list[ToolCallDone] = field(default_factory=list)


def start_triage(ctx: OpsContext, model: str) -> str:
    """Run a triage through the context's hook (``GraphRunner`` sets it); a run without one says so."""
    if ctx.start_triage is None:
        return "error: triage cannot start in this run (no graph runner); use `opsagent triage MODEL`"
    return ctx.start_triage(model)


def _models(ctx: OpsContext) -> list[str]:
    try:
        return ctx.registry.models()
    except Exception:  # no registry yet: no names to recognise
        return []


def _model_in(ctx: OpsContext, text: str, known: list[str]) -> str:
    for name in known:
        if re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE):
            return name
    return known[0] if len(known) == 1 else ctx.settings.model_name


def render(value: Any, indent: int = 0, limit: int = 40) -> list[str]:
    """A compact, readable rendering of a tool's JSON result."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict | list) and v:
                lines.append(f"{pad}- {k}:")
                lines += render(v, indent + 1, limit)
            elif v not in (None, "", [], {}):
                lines.append(f"{pad}- {k}: {v:.4g}" if isinstance(v, float) else f"{pad}- {k}: {v}")
    elif isinstance(value, list):
        for item in value[:10]:
            sub = render(item, indent + 1, limit)
            lines.append(f"{pad}-" + (sub[0].lstrip(" ").removeprefix("-") if sub else ""))
            lines += sub[1:]
    else:
        lines.append(f"{pad}{value}")
    return lines[:limit]


def render_result(result: str) -> str:
    """A tool's result (as a chat thread keeps it: in its data block) as readable lines, its JSON rendered; text
    that is not JSON ('error: ...', a cut result) as it is."""
    body = result.strip().removeprefix(DATA_OPEN).removesuffix(DATA_CLOSE).strip()
    try:
        return "\n".join(render(json.loads(body)))
    except ValueError:
        return body


def offline_answer(ctx: OpsContext, question: str) -> str:
    """The offline answer's text (``offline_reply`` also returns the tool calls behind it)."""
    return offline_reply(ctx, question).text


def offline_reply(ctx: OpsContext, question: str) -> OfflineReply:
    """Answer ``question`` without an LLM: a request is filed for approval, a question answered in sentences."""
    q = question.lower().strip()
    if not q or q in ("help", "?"):
        return OfflineReply(f"{HELP}\n\n{NO_LLM_NOTE}")
    known = _models(ctx)
    calls: list[ToolCallDone] = []
    request = parse_request(question, known)
    text = file_request(ctx, request, calls) if request is not None else _question(ctx, q, known, calls)
    return OfflineReply(f"{text}\n\n{NO_LLM_NOTE}", calls)


def _question(ctx: OpsContext, q: str, known: list[str], calls: list[ToolCallDone]) -> str:
    model = _model_in(ctx, q, known)
    seconds = window_seconds(q)
    minutes = seconds / 60 if seconds is not None else ctx.settings.triage_window_minutes
    window = {"model": model, "window_minutes": minutes}
    if "approval" in q or "pending" in q or "proposal" in q:
        return _approvals(ctx)
    if "incident" in q or "post-mortem" in q or "postmortem" in q:
        return _incidents(ctx, model)
    if "triage" in q or "investigate" in q:
        return start_triage(ctx, model)
    if m := re.search(r"compare\D*(\d+)\D+(\d+)", q):
        found = run_tool(ctx, calls, compare_versions, model=model, version_a=m.group(1), version_b=m.group(2))
        return prose.comparison_text(found) if found else calls[-1].result
    if _OTHER_ACTION.match(q):
        return (f"I can't file that offline. Without an LLM I file {UNDERSTOOD} as proposals for approval; "
                "decisions on a proposal go through `opsagent approvals` (or the web inbox), deployments through "
                "`opsagent deploy`.")
    slow = any(w in q for w in _SLOW)
    if any(w in q for w in _WHY) and not slow:
        return why_text(ctx, model, minutes, calls)
    if "drift" in q:
        return _said(run_tool(ctx, calls, drift_report, **window), calls, lambda r: prose.drift_text(r, minutes))
    if "canary" in q:
        return canary_text(ctx, model, minutes, calls)
    if slow:
        return _said(run_tool(ctx, calls, slo_status, **window), calls, lambda r: prose.slo_text(r, minutes))
    if any(w in q for w in _PERFORMANCE):
        return _said(run_tool(ctx, calls, performance, **window), calls,
                     lambda r: prose.performance_text(r, minutes))
    if "memory" in q or "similar" in q or "happened before" in q:
        text = re.sub(r"^(search\s+)?memory\s*", "", q) or q
        return _said(run_tool(ctx, calls, recall_incidents, query=text, model=None, k=3), calls, prose.recall_text)
    if any(w in q for w in ("models", "versions", "registry")):
        return _said(run_tool(ctx, calls, list_models), calls, prose.models_text)
    if any(w in q for w in ("status", "health", "deployed", "serving", "champion")):
        return status_text(ctx, model, calls)
    return f"I can't answer that without an LLM. {HELP}"


def _said(result: Any, calls: list[ToolCallDone], say: Any) -> str:
    """``say(result)``, or the tool's error when it could not answer."""
    return str(say(result)) if result is not None else calls[-1].result


def why_text(ctx: OpsContext, model: str, minutes: float, calls: list[ToolCallDone]) -> str:
    """Quality, drift, the latest incident and where the deployment stands, as one short paragraph."""
    window = {"model": model, "window_minutes": minutes}
    perf = run_tool(ctx, calls, performance, **window)
    parts = [prose.performance_text(perf, minutes) if perf else calls[-1].result]
    if perf is not None and not perf.error:  # an empty window would only say so a second time
        drift = run_tool(ctx, calls, drift_report, **window)
        parts.append(prose.drift_text(drift, minutes) if drift else calls[-1].result)
    latest = ctx.incidents.list(model=model, limit=1)
    if latest:
        parts.append(prose.incident_text(latest[0], _proposal_of(ctx, latest[0].proposal_id), ctx.clock()))
    parts.append(status_text(ctx, model, calls, with_pending=False))
    return " ".join(parts)


def canary_text(ctx: OpsContext, model: str, minutes: float, calls: list[ToolCallDone]) -> str:
    """Whether the model has a canary, and its service levels against the champion's."""
    status = run_tool(ctx, calls, model_status, model=model)
    if status is None or status.error or status.deployment is None:
        return status.error if status and status.error else calls[-1].result
    d = status.deployment
    if d.canary is None:
        return f"{model} has no canary now. {prose.status_text(status, ctx.clock())}"
    slo = run_tool(ctx, calls, slo_status, model=model, window_minutes=minutes)
    served = prose.slo_text(slo, minutes, version=d.canary) if slo else calls[-1].result
    if slo is not None and not slo.error and d.champion:
        served += " Champion: " + prose.slo_text(slo, minutes, version=d.champion)
    return f"{prose.status_text(status, ctx.clock())} {served}"


def status_text(ctx: OpsContext, model: str, calls: list[ToolCallDone], *, with_pending: bool = True) -> str:
    status = run_tool(ctx, calls, model_status, model=model)
    text = prose.status_text(status, ctx.clock()) if status else calls[-1].result
    if with_pending and (pending := ctx.approvals.pending(model)):
        ids = ", ".join(f"{r.id} ({r.proposal.kind})" for r in pending[:3])
        text += f" Waiting for approval: {ids} — `opsagent approvals list`."
    return text


def _proposal_of(ctx: OpsContext, proposal_id: str | None) -> ProposalRecord | None:
    if not proposal_id:
        return None
    try:
        return ctx.approvals.get(proposal_id)
    except ApprovalError:  # a proposal id this store does not hold: the incident still says the rest
        return None


def _approvals(ctx: OpsContext) -> str:
    ctx.approvals.expire_due(ctx.clock())
    pending = ctx.approvals.pending()
    if not pending:
        return "**approvals**: nothing is waiting for approval."
    lines = [f"**approvals**: {len(pending)} pending"]
    for r in pending[:10]:
        lines.append(f"- {r.proposal.id} [{r.proposal.kind}] {r.proposal.model}: {r.proposal.title} — "
                     f"`opsagent approvals show {r.proposal.id}`")
    return "\n".join(lines)


def _incidents(ctx: OpsContext, model: str) -> str:
    found = ctx.incidents.list(model=model, limit=5)
    if not found:
        return f"**incidents**: none recorded for {model}."
    lines = [f"**incidents** of {model} (newest first)"]
    for i in found:
        lines.append(f"- {i.id} [{i.status}] {i.category} → {i.action}: {i.summary[:160]}")
    return "\n".join(lines)

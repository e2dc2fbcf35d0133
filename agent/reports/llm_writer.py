"""Report prose written by an LLM through pydantic-ai typed outputs, with the templated report as the fallback.

The LLM only rewrites prose (summary, impact, root cause, action items; a proposal's title, rationale and
expected gain). Ids, versions, windows, costs and links always come from the templated writer, and any
failure (endpoint down, timeout, output still invalid after the retries) returns the template unchanged
except for its ``brain`` line, so triage never stalls on the LLM. Every figure, time, version, id and
backticked name the prose quotes must be in the facts or the draft it was given (``agent.grounding``): an
invented one is sent back as a retry, and one still there after the retries means the template stands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.models import Model
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings

from agent.grounding import prose_of, ungrounded
from agent.proposals import Proposal, RetrainProposal, proposal_from_dict
from agent.reports.postmortem_model import ActionItem, Lessons, PostMortem
from agent.settings import Settings

if TYPE_CHECKING:
    from agent.diagnosis import Diagnosis, TriageSignals

_T = TypeVar("_T")

# Prompts are kept here, apart from the code that runs them. The facts are aggregates only (no customer rows).
POSTMORTEM_INSTRUCTIONS = """\
You write the narrative of an ML incident post-mortem for engineers.
Use only the facts and the draft you are given: never invent numbers, versions, features or ids.
Keep every number you quote exactly as it appears in the facts.
summary: two or three sentences. impact: who or what was affected and by how much, in model terms and in
decision terms (wrong decisions by kind, fallback answers, duration, slices) as the draft states them.
detection: how and when it was found, and the time from onset to detection.
root_cause: the cause, the culprit and the evidence for it (do not copy the evidence list).
unknowns: what we do not know and why (missing labels or data). lessons: went_well, went_wrong, got_lucky.
action_items: 1 to 8 short imperative follow-ups (prevention: an alert, a data contract, a threshold); the
proposal's own steps are kept from the draft, do not repeat them."""

PROPOSAL_INSTRUCTIONS = """\
You rewrite the prose of a remediation proposal for the person who must approve it.
title: one line under 120 characters. rationale: a few sentences on why, citing the evidence.
expected_gain: what the change should win back and how sure we are ('' when it does not apply).
Use only the facts and the proposal you are given; never invent numbers, versions or ids."""


class PostMortemNarrative(BaseModel):
    """The prose of a post-mortem, as the LLM must return it."""

    summary: str = Field(min_length=1, description="two or three sentences")
    impact: str = Field(min_length=1)
    detection: str = Field("", description="how and when it was found; '' keeps the draft's")
    root_cause: str = Field(min_length=1)
    unknowns: list[str] = Field(default_factory=list, max_length=6, description="what we do not know, and why")
    lessons: Lessons = Field(default_factory=Lessons)
    action_items: list[str] = Field(min_length=1, max_length=8, description="short imperative lines")


class ProposalRationale(BaseModel):
    """The prose of a proposal, as the LLM must return it."""

    title: str = Field(min_length=1, max_length=160)
    rationale: str = Field(min_length=1)
    expected_gain: str = ""


def pydantic_ai_model(settings: Settings) -> Model | None:
    """The configured OpenAI-compatible chat model (OpenAI, vLLM, Ollama, llama.cpp), or None offline."""
    if not settings.llm_configured:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    provider = OpenAIProvider(base_url=settings.llm_base_url, api_key=key)
    model_settings = ModelSettings(timeout=settings.llm_timeout_s, max_tokens=settings.llm_max_tokens,
                                   max_retries=settings.llm_max_retries)
    return OpenAIChatModel(settings.llm_model, provider=provider, settings=model_settings)


def triage_facts(signals: TriageSignals, diagnosis: Diagnosis, proposal: Proposal | None = None) -> str:
    """The aggregates an LLM may see about one incident: findings, metrics, deploy state, memory, conclusion."""
    lines = [f"model: {signals.model}; predictions: {signals.n_predictions}; labelled: {signals.n_labelled}",
             f"deploy: champion v{signals.deploy.champion}, canary v{signals.deploy.canary} "
             f"at {signals.deploy.canary_weight:.0%}"]
    lines += [f"finding [{f.severity}] {f.kind} {f.subject}: {f.message}" for f in signals.findings]
    for name, values in (("realised", signals.realised), ("estimated", signals.estimated),
                         ("reference", signals.reference)):
        if values:
            lines.append(f"{name}: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(values.items())))
    lines += [f"recent deploy: {d}" for d in signals.recent_deploys]
    lines += [f"similar incident {h.id} ({h.similarity:.2f}): {h.text}" for h in signals.similar_incidents]
    lines += [f"note: {n}" for n in signals.notes]
    lines.append(f"diagnosis: {diagnosis.category}, culprit {', '.join(diagnosis.culprit) or '-'}, action "
                 f"{diagnosis.action}, confidence {diagnosis.confidence:.2f}: {diagnosis.summary}")
    if proposal is not None:
        lines.append(f"proposal {proposal.id} ({proposal.kind}): {proposal.title}")
    return "\n".join(lines)


def usage_dict(input_tokens: int = 0, output_tokens: int = 0, requests: int = 0) -> dict[str, int]:
    """Token counts of one writer call (zeros when the LLM was not reached)."""
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "requests": requests}


def usage_line(usage: dict[str, Any], settings: Settings | None = None) -> str:
    """``'2 LLM requests, 1200 input + 300 output tokens, ~$0.0004'`` for a report header."""
    if not usage.get("requests"):
        return "no LLM calls (offline policy)"
    text = (f"{usage['requests']} LLM request{'s' if usage['requests'] != 1 else ''}, "
            f"{usage.get('input_tokens', 0)} input + {usage.get('output_tokens', 0)} output tokens")
    if settings is not None:
        from agent.llm import cost_usd
        from agent.llm_prices import unknown_price_hint

        cost = cost_usd(settings, usage.get("input_tokens", 0), usage.get("output_tokens", 0))
        text += f", ~${cost:.4f}" if cost is not None else f", {unknown_price_hint(settings)}"
    return text


def _run_blocking(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to completion from sync code: on this thread when it has no running event loop,
    else on a short-lived worker thread (a LangGraph node or a web handler may call us inside a loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _short_reason(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:100]}" if first else type(exc).__name__


def _ask(model: Model, output_type: type[_T], instructions: str, prompt: str,
         timeout_s: float | None) -> tuple[_T, dict[str, int]]:
    """One typed answer; prose quoting a figure or name the prompt does not hold goes back to the LLM as a retry
    (``agent.grounding``), and still ungrounded after the retries it fails like any invalid output."""
    agent = Agent(model, output_type=output_type, retries=2, instructions=instructions)

    @agent.output_validator
    def _grounded(output: _T) -> _T:
        if missing := ungrounded(prose_of(output), prompt):
            raise ModelRetry(f"not in the facts: {', '.join(missing[:12])}. Quote only figures, times, versions, "
                             "ids and names that appear in the facts or the draft, exactly as they appear there.")
        return output

    result = _run_blocking(agent.run(prompt, timeout=timeout_s))
    u = result.usage
    return result.output, usage_dict(u.input_tokens, u.output_tokens, u.requests)


def _run_timeout(settings: Settings | None) -> float | None:
    # One request plus two output retries, each bounded by the per-request timeout.
    return settings.llm_timeout_s * 3 if settings is not None else None


def write_postmortem_with_llm(model: Model, base: PostMortem, *, facts: str,
                              settings: Settings | None = None) -> tuple[PostMortem, dict[str, Any]]:
    """Let the LLM rewrite the templated post-mortem's prose; fall back to ``base`` on any failure.

    Returns the post-mortem (narrative replaced, ``brain`` = ``llm <model>``, the writer's tokens added to its
    usage line; pass ``settings`` for the cost estimate and a run deadline) and the
    usage dict (input_tokens, output_tokens, requests; plus ``error`` on fallback).
    """
    draft = base.model_dump_json(include={"title", "model", "summary", "impact", "detection", "root_cause",
                                          "what_changed", "consistency", "unknowns", "evidence", "action_items",
                                          "lessons", "decisions", "threshold_updates"}, indent=1)
    prompt = f"Facts (aggregates from monitoring):\n{facts}\n\nTemplated draft to improve:\n{draft}"
    try:
        narrative, usage = _ask(model, PostMortemNarrative, POSTMORTEM_INSTRUCTIONS, prompt, _run_timeout(settings))
    except Exception as exc:  # the LLM is optional: any failure means the template stands
        reason = _short_reason(exc)
        return (base.model_copy(update={"brain": f"offline policy (LLM failed: {reason})"}),
                {**usage_dict(), "error": reason})
    line = usage_line(usage, settings)
    # The caller's usage line may already count the diagnosis calls: add the writer's, don't replace them.
    total = line if not base.usage or base.usage.startswith("no LLM calls") else f"{base.usage}; writer: {line}"
    return _with_narrative(base, narrative, brain=f"llm {model.model_name}", usage=total), dict(usage)


def _with_narrative(base: PostMortem, narrative: PostMortemNarrative, *, brain: str, usage: str) -> PostMortem:
    """The draft with the LLM's prose in its typed sections. The items that close on a milestone (the proposal's
    steps, with its id) stay the template's, so their done state is still derived from what happened; the LLM's
    items replace the draft's follow-ups."""
    steps = [a for a in base.action_items if a.closes_on is not None]
    said = {a.text for a in steps}
    follow_ups = [ActionItem(text=t) for t in narrative.action_items if t not in said]
    return base.model_copy(deep=True, update={
        "summary": narrative.summary, "impact": narrative.impact, "root_cause": narrative.root_cause,
        "detection": narrative.detection or base.detection, "unknowns": narrative.unknowns or base.unknowns,
        "lessons": narrative.lessons if any(narrative.lessons.model_dump().values()) else base.lessons,
        "action_items": steps + follow_ups, "brain": brain, "usage": usage})


def rewrite_proposal_with_llm(model: Model, proposal: Proposal, *, facts: str,
                              settings: Settings | None = None) -> tuple[Proposal, dict[str, Any]]:
    """Let the LLM rewrite a proposal's title, rationale (and a retrain's expected gain) and nothing else;
    fall back to the proposal as filed, with ``brain`` saying why, on any failure."""
    prompt = (f"Facts (aggregates from monitoring):\n{facts}\n\n"
              f"Proposal (its numbers are fixed):\n{proposal.model_dump_json(indent=1)}")
    try:
        prose, usage = _ask(model, ProposalRationale, PROPOSAL_INSTRUCTIONS, prompt, _run_timeout(settings))
        data = proposal.model_dump()
        data.update(title=prose.title, rationale=prose.rationale, brain=f"llm {model.model_name}")
        if isinstance(proposal, RetrainProposal):
            data["expected_gain"] = prose.expected_gain or proposal.expected_gain
        return proposal_from_dict(data), dict(usage)  # re-validated: the contract's checks still apply
    except Exception as exc:  # the LLM is optional: any failure means the proposal stands as filed
        reason = _short_reason(exc)
        failed = proposal.model_copy(update={"brain": f"offline policy (LLM failed: {reason})"})
        return failed, {**usage_dict(), "error": reason}

"""Chat without an LLM: route the common questions to the matching tool and answer from its result."""

from __future__ import annotations

import json
import re
from typing import Any

from agent.context import OpsContext
from tools.catalog import call_tool

NO_LLM_NOTE = ("(offline policy — no LLM configured; set OPSAGENT_LLM_BASE_URL or OPSAGENT_LLM_API_KEY "
               "and an LLM will answer open questions too)")

HELP = ("I can answer without an LLM: `status [model]`, `drift [model]`, `performance [model]`, `slo [model]`, "
        "`compare 1 2`, `models`, `incidents`, `approvals`, `triage [model]`, and `search memory <text>`.")


def start_triage(ctx: OpsContext, model: str) -> str:
    """Run a triage through the context's hook (``GraphRunner`` sets it); a run without one says so."""
    if ctx.start_triage is None:
        return "error: triage cannot start in this run (no graph runner); use `opsagent triage MODEL`"
    return ctx.start_triage(model)


def _model_in(ctx: OpsContext, text: str) -> str:
    try:
        known = ctx.registry.models()
    except Exception:  # no registry yet: the default model name
        known = []
    for name in known:
        if re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE):
            return name
    return ctx.settings.model_name


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


def _tool_answer(ctx: OpsContext, name: str, args: dict[str, Any], title: str) -> str:
    raw = call_tool(ctx, name, args)
    try:
        body = "\n".join(render(json.loads(raw)))
    except ValueError:
        body = raw
    return f"**{title}** (tool `{name}`)\n{body}"


def offline_answer(ctx: OpsContext, question: str) -> str:
    q = question.lower().strip()
    model = _model_in(ctx, question)
    if not q or q in ("help", "?"):
        return f"{HELP}\n\n{NO_LLM_NOTE}"
    if "approval" in q or "pending" in q or "proposal" in q:
        answer = _approvals(ctx)
    elif "incident" in q or "post-mortem" in q or "postmortem" in q:
        answer = _incidents(ctx, model)
    elif "triage" in q or "investigate" in q:
        answer = start_triage(ctx, model)
    elif m := re.search(r"compare\D*(\d+)\D+(\d+)", q):
        a, b = m.group(1), m.group(2)
        answer = _tool_answer(ctx, "compare_versions", {"model": model, "version_a": a, "version_b": b},
                              f"{model} v{a} vs v{b}")
    elif "drift" in q:
        answer = _tool_answer(ctx, "drift_report", {"model": model, "window_minutes": 60}, f"drift of {model}")
    elif any(w in q for w in ("slo", "latency", "error rate", "errors")):
        answer = _tool_answer(ctx, "slo_status", {"model": model, "window_minutes": 60}, f"SLOs of {model}")
    elif any(w in q for w in ("performance", "f1", "auc", "accuracy", "precision", "recall")):
        answer = _tool_answer(ctx, "performance", {"model": model, "window_minutes": 60}, f"performance of {model}")
    elif "memory" in q or "similar" in q or "happened before" in q:
        text = re.sub(r"^(search\s+)?memory\s*", "", q) or q
        answer = _tool_answer(ctx, "recall_incidents", {"query": text, "model": None, "k": 3}, "memory")
    elif any(w in q for w in ("models", "versions", "registry")):
        answer = _tool_answer(ctx, "list_models", {}, "registered models")
    elif any(w in q for w in ("status", "health", "deployed", "serving", "canary", "champion")):
        answer = _tool_answer(ctx, "model_status", {"model": model}, f"status of {model}")
    else:
        answer = f"I can't answer that without an LLM. {HELP}"
    return f"{answer}\n\n{NO_LLM_NOTE}"


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

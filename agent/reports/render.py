"""Markdown for people: post-mortems and proposals, rendered from their typed models (never hand-edited).

The post-mortem's Markdown CONTRACT (the eval's rubric parses it; keep to it exactly):

- Line 1: ``# <title>``; then a line ``**Status:** <open|mitigated|resolved|won't fix>`` (exactly these words).
- Sections as level-2 headings, in this order, each present even when empty ("None." / "Open — ..."):
  ``## Summary``, ``## Impact``, ``## Detection``, ``## Trigger and root cause``, ``## Resolution``,
  ``## Action items``, ``## Lessons``, ``## Timeline``, ``## Links``. Other sections (health chart, similar
  incidents, usage, drift plots, evidence, threshold updates) follow ``## Links`` or sit inside these as
  level-3 headings.
- Action items are Markdown task items: ``- [x] text`` (done) and ``- [ ] text`` (open).
- The diagnosis category appears in ``## Trigger and root cause`` as ``**Category:** <category value>`` and the
  proposed or taken action as ``**Action:** <action value>`` (the enum values of agent.diagnosis), and each
  culprit feature name verbatim in that section. A release-caused incident's section also holds
  ``**Release:** v<old> -> v<new>`` (its training runs, data fingerprints and differing params as bullets after it)
  and ``**Gate:** passed|failed|none — ...`` (none: deployed without a gate).
- Each evidence item (its text) appears once in the whole document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.proposals import Evidence, Proposal, ProposalBase, RetrainProposal
from agent.reports.postmortem_model import PostMortem
from ml_core.version_diff import ReleaseDiff

# Fields every proposal shares; render_proposal shows them in the header or their own sections,
# and lists whatever else a kind declares as its parameters.
_BASE_FIELDS = frozenset(ProposalBase.model_fields) | {"kind"}
_RETRAIN_ESTIMATES = frozenset({"expected_gain", "estimated_train_seconds", "estimated_cost_usd"})
_TIME_FIELDS = frozenset({"window_since", "window_until"})


def utc_iso(t: float | None) -> str:
    """Unix seconds as ``2025-01-31T12:00:00Z`` (reports always speak UTC)."""
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> float | None:
    """A time a person typed (``2025-01-31T12:00:00Z``, ``2025-01-31 12:00``: UTC unless it names an offset), or
    unix seconds, as unix seconds; empty text is None. Raises ValueError saying how to write it."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.removesuffix(" UTC").replace(" ", "T"))
    except ValueError:
        raise ValueError(f"'{text[:40]}' is not a time; write it like 2025-01-31T12:00:00Z "
                         "(UTC)") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _cell(value: Any) -> str:
    """A value that cannot break a Markdown table row."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| **{_cell(k)}** | {_cell(v)} |" for k, v in rows)]


def _bullets(items: list[str], empty: str = "None.") -> list[str]:
    return [f"- {i}" for i in items] if items else [empty]


def _link(target: str) -> str:
    # URLs become clickable; run ids, models:/ URIs and paths stay verbatim so they can be copied.
    return f"<{target}>" if target.startswith(("http://", "https://")) else f"`{target}`"


def _evidence(items: list[Evidence]) -> list[str]:
    return _bullets([f"**{e.source}**: {e.detail}" for e in items], "No evidence recorded.")


def _lessons(pm: PostMortem) -> list[str]:
    out = []
    for title, items in (("What went well", pm.lessons.went_well), ("What went wrong", pm.lessons.went_wrong),
                         ("Where we got lucky", pm.lessons.got_lucky)):
        out += ["", f"**{title}**", ""] + _bullets(items)
    return out[1:]


def _pair(old: str | None, new: str | None, what: str) -> str:
    if old == new:
        return f"`{new}` for both (the same {what})" if new else f"not recorded for either ({what})"
    return f"`{old or 'not recorded'}` -> `{new or 'not recorded'}`"


def release_diff_lines(d: ReleaseDiff) -> list[str]:
    """The version diff: the two versions, training runs, data fingerprints, params that differ, the gate."""
    new = f"v{d.new.version}"
    if d.old is None:
        out = [f"**Release:** {new} (no earlier version to compare it with)", ""]
    else:
        out = [f"**Release:** v{d.old.version} -> {new}", "",
               f"- training run (MLflow): {_pair(d.old.training_run_id, d.new.training_run_id, 'run')}",
               f"- data fingerprint: {_pair(d.old.data_fingerprint, d.new.data_fingerprint, 'training data')}"]
        params = "; ".join(f"`{p.name}` {p.old if p.old is not None else '-'} -> {p.new if p.new is not None else '-'}"
                           for p in d.params)
        out.append(f"- params that differ: {params}" if params else "- params that differ: none"
                   if d.params_known else "- params that differ: unknown (a run's params could not be read)")
        out.append("")
    verdict = {"passed": f"passed — {new} passed the champion-vs-challenger gate",
               "failed": f"failed — the gate refused {new}, yet it went live"}
    out.append(f"**Gate:** {verdict.get(d.gate or '', f'none — {new} was deployed without a gate')}")
    return out


def _root_cause_section(pm: PostMortem) -> list[str]:
    out = [pm.root_cause or "-", "", f"**Category:** {pm.category or 'none'}", f"**Action:** {pm.action or 'none'}"]
    if pm.culprit:
        out.append(f"**Culprit:** {', '.join(pm.culprit)}")
    if pm.release_diff is not None:
        out += ["", "### Release diff", ""] + release_diff_lines(pm.release_diff)
    out += ["", "### What changed", ""] + _bullets(pm.what_changed, "Nothing measurable moved in the inputs.")
    if pm.consistency:
        out += ["", "### Signals that disagree", ""] + _bullets(pm.consistency)
    out += ["", "### What we do not know", ""] + _bullets(pm.unknowns, "Nothing open.")
    out += ["", "### Evidence", ""] + _evidence(pm.evidence)
    return out


def render_postmortem(pm: PostMortem) -> str:
    """The post-mortem as Markdown, in the CONTRACT's order (module docstring): status, the nine sections, then
    the header table, plots, health chart, threshold updates and similar incidents."""
    out = [f"# {pm.title}", "", f"**Status:** {pm.status}", ""]
    out += ["## Summary", "", pm.summary or "-", "", "## Impact", "", pm.impact or "-", ""]
    out += ["## Detection", "", pm.detection or "-", "", "## Trigger and root cause", ""]
    out += _root_cause_section(pm)
    out += ["", "## Resolution", "", pm.resolution or "Open — no resolution recorded yet."]
    out += ["", "## Action items", ""]
    out += [f"- [{'x' if a.done else ' '}] {a.text}" for a in pm.action_items] or ["None."]
    out += ["", "## Lessons", ""] + _lessons(pm)
    out += ["", "## Timeline", ""]
    out += _bullets([f"{utc_iso(e.at)} — {e.event}" for e in sorted(pm.timeline, key=lambda e: e.at)])
    out += ["", "## Links", ""]
    out += _bullets([f"{name}: {_link(target)}" for name, target in pm.links.items()])
    out += ["", "### Report", ""]
    out += _table([("Model", pm.model), ("Incident", pm.incident_id), ("Brain", pm.brain),
                   ("Written at", utc_iso(pm.created_at)), ("Usage", pm.usage), ("Trace", pm.trace or "-")])
    out += ["", "### Decisions", ""] + _bullets(pm.decisions)
    out += ["", "### Threshold updates", ""] + _bullets(pm.threshold_updates)
    out += ["", "### Similar past incidents", ""] + _bullets(pm.similar_incidents, pm.recall_note or
                                                                  "Memory recall found nothing related.")
    out += ["", "### Drift plots", ""]
    # save_postmortem stores copies as relative paths (plots/x.png) so the report folder moves as one piece.
    out += [f"![{Path(p).stem}]({Path(p).as_posix()})" for p in pm.drift_plots] or ["No drift plots."]
    out += ["", "### Model health", ""]
    out += [f"![model health]({pm.health_chart})" if pm.health_chart else "No health charts."]
    return "\n".join(out) + "\n"


def _format_value(name: str, value: Any) -> str:
    if name in _TIME_FIELDS:
        return utc_iso(value) if value is not None else ("the beginning" if name == "window_since" else "now")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def render_proposal(proposal: Proposal, *, status: str | None = None) -> str:
    """Any proposal kind as Markdown: header, rationale, evidence, parameters (editable ones marked), estimates."""
    champion = f"champion v{proposal.champion_version}" if proposal.champion_version else "no champion"
    out = [f"# {proposal.title}", ""]
    out += _table([("Proposal", proposal.id), ("Model", proposal.model), ("Kind", proposal.kind),
                   ("Status", status or "-"), ("Incident", proposal.incident_id or "-"),
                   ("Precondition", f"{champion} (execution refuses if the champion changed)"),
                   ("Created", utc_iso(proposal.created_at)), ("Expires", utc_iso(proposal.expires_at)),
                   ("Brain", proposal.brain)])
    out += ["", "## Rationale", "", proposal.rationale or "-", "", "## Evidence", ""]
    out += _evidence(proposal.evidence)
    params = [n for n in type(proposal).model_fields if n not in _BASE_FIELDS | _RETRAIN_ESTIMATES]
    if params:
        out += ["", "## Parameters", "", "| Field | Value | Editable |", "|---|---|---|"]
        out += [f"| {n} | {_cell(_format_value(n, getattr(proposal, n)))} | "
                f"{'editable' if n in proposal.editable else ''} |" for n in params]
    if isinstance(proposal, RetrainProposal):
        minutes = proposal.estimated_train_seconds / 60
        out += ["", "## Estimate", "",
                f"- Training time: ~{minutes:.1f} min (from the last training run)",
                f"- Compute cost: ~${proposal.estimated_cost_usd:.2f}",
                f"- Expected gain: {proposal.expected_gain or 'not estimated'}",
                f"- Gate: challenger {proposal.gate_metric} must beat the champion by {proposal.gate_min_gain:g}"]
    out += ["", "## Rollback plan", "", proposal.rollback_plan or "Nothing is deployed by this proposal."]
    if proposal.editable:
        out += ["", f"_Editable fields: {', '.join(sorted(proposal.editable))}._"]
    return "\n".join(out) + "\n"


def proposal_summary(proposal: Proposal, *, in_report: bool = False) -> str:
    """One line for tables and Slack: id, kind, model, title and the numbers that matter for that kind. In a
    post-mortem (``in_report``) a page names its backend only: the report gives the replica states once."""
    p = proposal
    if isinstance(p, RetrainProposal):
        detail = (f"{p.epochs} epochs, gate {p.gate_metric} +{p.gate_min_gain:g}, "
                  f"~{p.estimated_train_seconds / 60:.1f} min, ~${p.estimated_cost_usd:.2f}")
    elif p.kind == "rollback":
        detail = f"take v{p.bad_version} out, keep v{p.target_version or '-'}"
    elif p.kind == "promote":
        detail = f"v{p.version} becomes champion"
    elif p.kind == "retune_threshold":
        detail = f"v{p.version} threshold {p.current_threshold:.2f} -> {p.proposed_threshold:.2f}"
    elif p.kind == "investigate_infrastructure":
        detail = "replica states under Evidence" if in_report else f"{p.backend}: {p.replicas}"
    else:
        detail = f"fix {', '.join(p.features) or 'the feed'}"
    return f"{p.id} [{p.kind}] {p.model}: {p.title} ({detail}; expires {utc_iso(p.expires_at)})"

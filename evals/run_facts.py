"""What the benchmark reads back after a triage: its typed findings from the triage thread's checkpoint, and the
post-mortem its incident left in the world's home (both for the post-mortem rubric, ``evals.postmortem_rubric``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.postmortem_rubric import FindingFact, ReleaseFact
from evals.scoring import TickResult


def _signals(runner: Any, thread_id: str) -> Any:
    return (runner.triage_graph.get_state({"configurable": {"thread_id": thread_id}}).values or {}).get("signals")


def _field(signals: Any, name: str, default: Any) -> Any:
    return getattr(signals, name) if hasattr(signals, name) else signals.get(name, default)  # typed, or a dict


def finding_facts(runner: Any, thread_id: str) -> list[FindingFact]:
    """The triage's typed findings (kind, subject, message, figures), from its checkpointed signals."""
    signals = _signals(runner, thread_id)
    if signals is None:
        return []
    return [FindingFact.model_validate(f, from_attributes=True) for f in _field(signals, "findings", [])]


def release_fact(runner: Any, thread_id: str) -> ReleaseFact | None:
    """The release the triage's signals saw (``release_diff``): the replaced and the new version, the gate."""
    signals = _signals(runner, thread_id)
    diff = None if signals is None else _field(signals, "release_diff", None)
    if diff is None:
        return None
    raw = diff.model_dump() if hasattr(diff, "model_dump") else diff
    return ReleaseFact(old=(raw.get("old") or {}).get("version"), new=raw["new"]["version"], gate=raw.get("gate"))


def postmortem_evidence(home: Path, tick: TickResult | None) -> list[dict[str, str]]:
    """The evidence items (source, detail, fact) of ``tick``'s incident's post-mortem JSON; [] when there is none."""
    from agent.reports.postmortem_files import load_postmortem, report_dir
    from ml_core.paths import HomeLayout

    if tick is None or not tick.incident_id:
        return []
    try:
        pm = load_postmortem(report_dir(HomeLayout(home), tick.incident_id))
    except (OSError, ValueError):  # not written, unreadable, or an unsafe id: the Markdown alone is checked
        return []
    return [e.model_dump() for e in pm.evidence]


def postmortem_text(home: Path, tick: TickResult | None) -> str | None:
    """The Markdown of the post-mortem of ``tick``'s incident in the world at ``home``; None when there is none."""
    from agent.reports.postmortem_files import report_dir
    from ml_core.paths import HomeLayout

    if tick is None or not tick.incident_id:
        return None
    try:
        return (report_dir(HomeLayout(home), tick.incident_id) / "postmortem.md").read_text(encoding="utf-8")
    except (OSError, ValueError):  # not written (or an unsafe id): scored as a missing post-mortem
        return None

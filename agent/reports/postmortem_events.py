"""The post-mortem as a living document: each later event (a decision, an execution step, the outcome, the
verification, an expiry or supersession, the signals clearing) is recorded in the JSON, and the status,
resolution, action items and lessons are re-derived from the record — not only a line appended.

``apply_event(layout, incident_id, event)`` is the one entry point; ``rederive(pm)`` is the pure part.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.remediation_status import FIXES_CAUSE, remediation_status
from agent.reports.postmortem_files import locked_postmortem, report_dir, write_postmortem_files
from agent.reports.postmortem_model import ActionItem, Milestone, PostMortem, PostMortemStatus, TimelineEvent
from agent.reports.render import utc_iso
from ml_core.paths import HomeLayout

EventKind = Literal["accepted", "edited", "rejected", "step", "executed", "failed", "interrupted", "refused",
                    "expired", "superseded", "resolved", "note"]
# Which milestones an event reaches. ``executed`` with ``verified`` also reaches "verified".
_REACHES: dict[str, tuple[Milestone, ...]] = {
    "accepted": ("decided", "accepted"), "edited": ("decided", "accepted"), "rejected": ("decided", "rejected"),
    "executed": ("executed",), "resolved": ("resolved",)}
_ENDS_A_TRY = frozenset({"rejected", "executed", "failed", "interrupted", "refused", "expired", "superseded"})
_STEP_WORDS = {"gate": "Gate verdict", "canary": "Canary", "verif": "Verification", "promot": "Promotion",
               "rolled back": "Rollback", "roll back": "Rollback"}


class Successor(BaseModel):
    """The proposal that superseded the incident's pending one: the document points at it from then on."""

    proposal_id: str
    kind: str
    line: str = Field(description="the proposal in one line (render.proposal_summary)")
    action_items: list[ActionItem] = Field(default_factory=list, description="its steps (postmortem_actions)")


class PostMortemEvent(BaseModel):
    kind: EventKind
    text: str = Field(description="the line for the timeline and decisions ('proposal p-1 accepted by ana via cli')")
    at: float | None = None
    verified: bool = False
    steps: list[str] = Field(default_factory=list, description="the execution's steps so far (replaces the last)")
    result: dict[str, Any] = Field(default_factory=dict)
    proposal_id: str = Field("", description="superseded: the proposal superseded")
    successor: Successor | None = Field(None, description="superseded: the proposal that replaces it (None: "
                                                          "withdrawn with nothing in its place)")


def status_of(pm: PostMortem) -> PostMortemStatus:
    """The status line, by the rule the incident store uses too (``agent.remediation_status``)."""
    if not pm.milestones:
        # Nothing reached yet: as triage wrote it (open; resolved when it found nothing). Refused, expired, failed
        # or interrupted executions reach nothing either: the incident stays open.
        return pm.status
    reached = set(pm.milestones)
    return remediation_status(pm.proposal_kind, verified="verified" in reached, rejected="rejected" in reached,
                              cleared="resolved" in reached)


def resolution_of(pm: PostMortem) -> str:
    """What was done, by whom, the gate verdict, the canary's result and the verification; or 'Open — ...'."""
    decided = [d for d in pm.decisions if "accepted by" in d or "rejected by" in d]
    replaced = [f"Proposal {old} was superseded by {new}." for old, new in pm.superseded.items()]
    if not pm.milestones and not pm.steps:
        pending = f"proposal {pm.proposal_line or pm.proposal_id} awaits a person's decision" if pm.proposal_id \
            else f"no proposal was filed (action: {pm.action or 'none'})"
        return " ".join([f"Open — {pm.last_outcome}." if pm.last_outcome else f"Open — {pending}.", *replaced])
    lines = replaced + [f"Decision: {d}." for d in decided]
    used: set[str] = set()
    for word, label in _STEP_WORDS.items():
        said = [s for s in pm.steps if word in s.lower() and s not in used]
        if said and not any(line.startswith(f"{label}:") for line in lines):
            lines.append(f"{label}: {said[-1]}.")
            used.add(said[-1])
    if pm.steps and len(lines) == len(decided) + len(replaced):
        lines.append(f"Last step: {pm.steps[-1]}.")
        used.add(pm.steps[-1])
    if pm.last_outcome and pm.last_outcome not in used:
        lines.append(f"Outcome: {pm.last_outcome}.")
    outcome = {"resolved": "Resolved", "mitigated": "Mitigated", "won't fix": "Won't fix", "open": "Still open"}
    lines.append(f"{outcome[pm.status]} as of {utc_iso(pm.timeline[-1].at) if pm.timeline else '-'}.")
    return " ".join(lines)


def _refresh_items(pm: PostMortem) -> None:
    reached = set(pm.milestones)
    kept = []
    for item in pm.action_items:
        if "rejected" in reached and item.closes_on in ("executed", "verified"):
            continue  # the proposal will not run: watching its canary is no longer anyone's job
        item.done = item.done or (item.closes_on is not None and item.closes_on in reached)
        kept.append(item)
    pm.action_items = kept


def _outcome_lessons(pm: PostMortem) -> None:
    def add(bucket: list[str], line: str) -> None:
        if line not in bucket:
            bucket.append(line)

    reached = set(pm.milestones)
    if "verified" in reached:
        add(pm.lessons.went_well, "The fix went through the gate and a canary on live traffic before it took all "
                                  "traffic, and the serving state was read back to verify it.")
    if "executed" in reached and "verified" not in reached and pm.proposal_kind in FIXES_CAUSE:
        add(pm.lessons.went_wrong, "The executed fix was not verified live: " + (pm.steps[-1] if pm.steps else
                                                                                 "no step reported"))
    if "rejected" in reached:
        add(pm.lessons.went_wrong, "The proposed fix was rejected; the fault stays until its signals clear.")


def _supersede(pm: PostMortem, old: str, new: Successor) -> None:
    """Point the document at ``new``: the old proposal's open items and awaiting line go, the successor's items and
    awaiting line come (once: a post-mortem rewritten for the successor already has them)."""
    pm.superseded[old] = new.proposal_id
    pm.last_outcome = ""  # an earlier try's ending is history now: the successor awaits its answer
    pm.decisions = [d for d in pm.decisions if d != f"proposal {old} filed, awaiting approval"]
    if not any(d.endswith(f"proposal {new.proposal_id} filed, awaiting approval") for d in pm.decisions):
        pm.decisions.append(f"proposal {new.proposal_id} filed, awaiting approval")
    if pm.proposal_id in ("", old):
        # the title names the proposed kind (postmortem_builder._title): "(retrain proposed)" would now be stale
        pm.title = pm.title.replace(f"({pm.proposal_kind} proposed)", f"({new.kind} proposed)")
        pm.proposal_id, pm.proposal_kind, pm.proposal_line = new.proposal_id, new.kind, new.line
    # A step of the old proposal goes (by the id it carries; by its text in files written before items had one).
    kept = [i for i in pm.action_items if i.done or not (i.proposal_id == old or old in i.text)]
    texts = {i.text for i in kept}
    pm.action_items = [i for i in new.action_items if i.text not in texts] + kept


def rederive(pm: PostMortem) -> PostMortem:
    """Status, resolution, action items and lessons, from the milestones, steps and decisions recorded."""
    pm.status = status_of(pm)
    _refresh_items(pm)
    _outcome_lessons(pm)
    pm.resolution = resolution_of(pm)
    return pm


def record_event(pm: PostMortem, event: PostMortemEvent) -> PostMortem:
    """``pm`` with ``event`` recorded (decision and timeline line, milestones, steps) and re-derived."""
    when = event.at if event.at is not None else time.time()
    text = event.text.strip().rstrip(":;,").strip()
    if event.kind != "step" and text:
        pm.decisions.append(f"{utc_iso(when)} {text}")
        pm.decisions = [d for d in pm.decisions if not d.endswith("filed, awaiting approval")] \
            if event.kind in _REACHES or event.kind in ("refused", "expired") else pm.decisions
    said = {e.event for e in pm.timeline} | set(event.steps)
    if text and text not in said:  # an outcome that repeats the step saying it is on the timeline once
        pm.timeline.append(TimelineEvent(at=when, event=text))
    if event.kind == "superseded" and event.successor is not None:
        _supersede(pm, event.proposal_id, event.successor)  # the try goes on, with the successor
    elif event.kind in _ENDS_A_TRY and text:
        pm.last_outcome = text
    if event.steps:
        pm.timeline += [TimelineEvent(at=when, event=s) for s in event.steps if s not in pm.steps]
        pm.steps = list(event.steps)
    reached = list(_REACHES.get(event.kind, ())) + (["verified"] if event.kind == "executed" and event.verified
                                                    else [])
    pm.milestones += [m for m in reached if m not in pm.milestones]  # type: ignore[misc]
    pm.timeline.sort(key=lambda e: e.at)
    return rederive(pm)


def apply_event(layout: HomeLayout, incident_id: str, event: PostMortemEvent) -> Path:
    """Record ``event`` in the incident's post-mortem and re-render it; returns the Markdown path.
    Raises FileNotFoundError when the incident has no post-mortem, ValueError for an unsafe id."""
    folder = report_dir(layout, incident_id)
    with locked_postmortem(folder) as pm:
        return write_postmortem_files(folder, record_event(pm, event))


def append_decision(layout: HomeLayout, incident_id: str, line: str, at: float | None = None) -> Path:
    """Add a later decision or outcome line to the post-mortem (a ``note`` event: the status, resolution and action
    items are re-derived too). Returns the Markdown path."""
    if not line.strip():
        raise ValueError("a decision needs some text")
    return apply_event(layout, incident_id, PostMortemEvent(kind="note", text=line, at=at))

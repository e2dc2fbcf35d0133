"""The post-mortem's typed record: one incident, written for people, every claim linked to its evidence.

``reports/<incident_id>/postmortem.json`` holds it (the source of truth); Markdown is rendered from it. The
sections follow Google SRE's post-mortem template (summary, impact, detection, trigger and root cause,
resolution, action items, lessons, timeline, links). It is a living document: ``postmortem_events.apply_event``
records each later event and re-derives the status, resolution and action items from the record.
Files written before these sections existed still load: every new field has a default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from agent.proposals import Evidence
from ml_core.version_diff import ReleaseDiff

PostMortemStatus = Literal["open", "mitigated", "resolved", "won't fix"]
# The milestones an incident's remediation reaches; an action item closes on one of them.
Milestone = Literal["decided", "accepted", "executed", "verified", "resolved", "rejected"]


class TimelineEvent(BaseModel):
    at: float = Field(description="unix time")
    event: str


class ActionItem(BaseModel):
    """One thing to do; ``done`` is true at the time of writing, re-derived on each event from ``closes_on``."""

    text: str
    done: bool = False
    closes_on: Milestone | None = Field(None, description="the milestone that makes it done (None: a follow-up "
                                                          "a person closes, e.g. an alert to add)")
    proposal_id: str = Field("", description="the proposal it is a step of ('': a follow-up of the incident)")


class Lessons(BaseModel):
    went_well: list[str] = Field(default_factory=list)
    went_wrong: list[str] = Field(default_factory=list)
    got_lucky: list[str] = Field(default_factory=list)


class PostMortem(BaseModel):
    """One incident, written for people; every claim links to its evidence."""

    incident_id: str
    model: str
    title: str
    created_at: float
    brain: str = Field(description="which brain wrote it: 'offline policy' or 'llm <model>'")
    status: PostMortemStatus = "open"
    summary: str
    impact: str
    detection: str = ""
    root_cause: str
    category: str = Field("", description="the diagnosis category (agent.diagnosis.Category)")
    action: str = Field("", description="the proposed or taken action (agent.diagnosis.Action)")
    culprit: list[str] = Field(default_factory=list)
    what_changed: list[str] = Field(default_factory=list, description="what moved, in numbers")
    release_diff: ReleaseDiff | None = Field(None, description="for a release-caused incident: the new version "
                                             "against the old (training runs, data, params, gate verdict)")
    consistency: list[str] = Field(default_factory=list, description="disagreements between signals, explained")
    unknowns: list[str] = Field(default_factory=list, description="what we do not know, and why")
    evidence: list[Evidence] = Field(default_factory=list)
    proposal_id: str = ""
    proposal_kind: str = ""
    proposal_line: str = Field("", description="the filed proposal in one line")
    superseded: dict[str, str] = Field(default_factory=dict, description="proposal id -> the id of the proposal "
                                       "that superseded it, oldest first")
    milestones: list[Milestone] = Field(default_factory=list, description="where the remediation got to")
    steps: list[str] = Field(default_factory=list, description="the execution's steps, as it reported them")
    last_outcome: str = Field("", description="the last event that ended a try (refused, expired, failed, ...)")
    resolution: str = Field("", description="re-derived from the milestones and steps on each event")
    timeline: list[TimelineEvent] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict, description="name -> run id, models:/ URI, path, URL")
    drift_plots: list[str] = Field(default_factory=list, description="PNG paths; relative to the report once saved")
    decisions: list[str] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    lessons: Lessons = Field(default_factory=Lessons)
    threshold_updates: list[str] = Field(default_factory=list)
    similar_incidents: list[str] = Field(default_factory=list, description="'id (similarity): text'")
    recall_note: str = Field("", description="what memory recall found when no similar incident qualified")
    usage: str = Field("", description="LLM tokens and estimated cost, or 'no LLM calls (offline policy)'")
    health_chart: str | None = Field(None, description="the model's health charts (PNG), relative to the report")
    trace: str = Field("", description="the triage run's MLflow trace: 'tr-... (MLflow experiment ... at <uri>)'")

    @field_validator("action_items", mode="before")
    @classmethod
    def _plain_items(cls, value: Any) -> Any:
        # Files written before Step 11 hold action items as plain strings: open items with no milestone.
        return [{"text": v} if isinstance(v, str) else v for v in value or []]

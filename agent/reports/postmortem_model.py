"""The post-mortem's typed record: one incident, written for people, every claim linked to its evidence.

``reports/<incident_id>/postmortem.json`` holds it (the source of truth); Markdown is rendered from it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.proposals import Evidence


class TimelineEvent(BaseModel):
    at: float = Field(description="unix time")
    event: str


class PostMortem(BaseModel):
    """One incident, written for people; every claim links to its evidence."""

    incident_id: str
    model: str
    title: str
    created_at: float
    brain: str = Field(description="which brain wrote it: 'offline policy' or 'llm <model>'")
    summary: str
    impact: str
    root_cause: str
    evidence: list[Evidence] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict, description="name -> run id, models:/ URI, path, URL")
    drift_plots: list[str] = Field(default_factory=list, description="PNG paths; relative to the report once saved")
    decisions: list[str] = Field(default_factory=list)
    action_items: list[str] = Field(default_factory=list)
    threshold_updates: list[str] = Field(default_factory=list)
    similar_incidents: list[str] = Field(default_factory=list, description="'id (similarity): text'")
    usage: str = Field("", description="LLM tokens and estimated cost, or 'no LLM calls (offline policy)'")
    health_chart: str | None = Field(None, description="the model's health charts (PNG), relative to the report")

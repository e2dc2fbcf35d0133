"""What the post-mortem rubric checks a document against: the facts of the run (findings, evidence, release) and
its expectation, and one check's result."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Outcome = Literal["no_proposal", "pending", "resolved", "unverified", "rejected", "failed"]


class FindingFact(BaseModel):
    """What one monitoring finding said: its kind, subject, message and figures."""

    kind: str
    subject: str = ""
    message: str = ""
    evidence: dict[str, float] = Field(default_factory=dict)


class EvidenceFact(BaseModel):
    """One evidence item as the post-mortem's JSON holds it: its source, text and the identity of its fact."""

    source: str = ""
    detail: str
    fact: str = Field("", description="agent.proposals.Evidence.fact: '' when the text is its identity")


class ReleaseFact(BaseModel):
    """The release the triage saw (its signals' version diff): the version it replaced, the new one, the gate."""

    old: str | None = None
    new: str
    gate: str | None = Field(None, description="passed, failed, or None: deployed without a gate")


class PostmortemExpectation(BaseModel):
    """What the post-mortem must agree with: the diagnosis that wrote it, its findings, and the outcome."""

    category: str
    action: str
    culprit: list[str] = Field(default_factory=list)
    findings: list[FindingFact] = Field(default_factory=list)
    outcome: Outcome = "no_proposal"
    proposal_id: str | None = None
    evidence: list[EvidenceFact] = Field(default_factory=list, description="the JSON's evidence list (empty: the "
                                         "document's Markdown alone is checked)")
    release: ReleaseFact | None = Field(None, description="the release behind the incident, if the triage saw one")


class Check(BaseModel):
    name: str
    ok: bool | None  # None: does not apply to this document
    reason: str

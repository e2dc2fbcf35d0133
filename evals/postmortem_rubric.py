"""A rubric a program applies to a post-mortem's Markdown (pure: text in, named verdicts out).

It checks the contract ``agent/reports/render.py`` writes to (the lead's Step 11 contract): the title and a
``**Status:**`` line; the nine level-2 sections in order; ``**Category:**``, ``**Action:**`` and each culprit in
``## Trigger and root cause``; a release-caused incident's two versions and gate verdict (or its absence) there;
action items as task items that are true at the time of writing; each headline
figure the findings carry; no evidence said twice; no line that ends in a dangling colon. Each check passes or
fails with a one-line reason, or does not apply (``ok`` None); the score is passed / applicable.
"""

from __future__ import annotations

from pydantic import BaseModel

from evals.postmortem_checks import (
    ALLOWED_STATUS,
    SECTIONS,
    check_action_items,
    check_culprits,
    check_dangling_colons,
    check_duplicates,
    check_field,
    check_figures,
    check_items_current,
    check_release_diff,
    check_sections,
    check_status_line,
    check_status_outcome,
    check_title,
)
from evals.postmortem_expectations import Check, EvidenceFact, FindingFact, Outcome, PostmortemExpectation, ReleaseFact

__all__ = ["ALLOWED_STATUS", "SECTIONS", "Check", "EvidenceFact", "FindingFact", "Outcome", "PostmortemExpectation",
           "ReleaseFact", "RubricResult", "missing_postmortem", "score_postmortem"]


class RubricResult(BaseModel):
    checks: list[Check]

    @property
    def passed(self) -> int:
        return sum(c.ok is True for c in self.checks)

    @property
    def applicable(self) -> int:
        return sum(c.ok is not None for c in self.checks)

    @property
    def score(self) -> float:
        return self.passed / self.applicable if self.applicable else 1.0

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def text(self) -> str:
        return f"{self.passed}/{self.applicable}"

    def failures(self) -> list[str]:
        """'check: reason' for each failed check."""
        return [f"{c.name}: {c.reason}" for c in self.checks if c.ok is False]


def score_postmortem(markdown: str, expected: PostmortemExpectation) -> RubricResult:
    """Every check of the rubric on one post-mortem's Markdown, against what the run concluded."""
    lines = markdown.splitlines()
    return RubricResult(checks=[
        check_title(lines), check_status_line(lines), check_status_outcome(lines, expected),
        check_sections(markdown), check_field(markdown, "Category", expected.category),
        check_field(markdown, "Action", expected.action), check_culprits(markdown, expected.culprit),
        check_release_diff(markdown, expected),
        check_figures(markdown, expected.findings), check_action_items(markdown),
        check_items_current(markdown, expected), check_duplicates(markdown, expected.findings, expected.evidence),
        check_dangling_colons(markdown)])


def missing_postmortem(why: str) -> RubricResult:
    """The result for an incident whose post-mortem could not be read: one failed check."""
    return RubricResult(checks=[Check(name="post-mortem written", ok=False, reason=why)])

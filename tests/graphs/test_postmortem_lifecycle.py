"""One incident driven through triage → accept → execute → verify on a real deployment: the post-mortem's status
line and action items are what is true at each stage (the living document of Step 11)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from world import canary_replay, make_ctx

from agent.proposals import Accept
from graphs.runner import GraphRunner

pytestmark = pytest.mark.slow


def _status(md: str) -> str:
    return re.search(r"^\*\*Status:\*\* (.+)$", md, re.M).group(1)  # type: ignore[union-attr]


def _boxes(md: str) -> list[bool]:
    return [m.group(1) == "x" for m in re.finditer(r"^- \[([ x])\] ", md, re.M)]


def test_the_postmortem_follows_the_incident_from_triage_to_a_verified_fix(drift_world):
    seen: dict[str, str] = {}
    path: list[Path] = []

    def snapshot(message: str) -> None:  # the document as a reader would open it at each stage
        for stage, opening in (("accepted", "retraining "), ("executing", "verified: ")):
            if message.startswith(opening) and path and stage not in seen:
                seen[stage] = path[0].read_text()

    ctx = make_ctx(drift_world.layout, progress=snapshot, canary_traffic=canary_replay(seed=31))
    with GraphRunner(ctx) as runner:
        out = runner.triage("churn", window_minutes=30)
        path.append(Path(out.postmortem))
        seen["triaged"] = path[0].read_text()
        done = runner.answer(out.proposal_id, Accept(by="ana", via="cli"))
    seen["done"] = path[0].read_text()
    assert done.status == "executed" and done.verified, done.outcome

    triaged = seen["triaged"]
    assert _status(triaged) == "open" and _boxes(triaged) == [False, False, False]
    assert "## Resolution\n\nOpen — proposal " + out.proposal_id in triaged
    assert "**Category:** data_drift" in triaged and "**Action:** retrain" in triaged
    assert re.search(r"`total_day_minutes` \(reference \d+ rows vs window \d+\): mean [\d.]+ -> [\d.]+", triaged)

    accepted = seen["accepted"]
    assert _status(accepted) == "open" and _boxes(accepted) == [True, False, False]
    assert f"proposal {out.proposal_id} accepted by ana via cli" in accepted

    executing = seen["executing"]  # the steps are in, the outcome not yet
    assert _status(executing) == "open" and "Gate verdict: gate passed" in executing and "Canary: canary" in executing

    final = seen["done"]
    assert _status(final) == "resolved" and _boxes(final) == [True, True, False]  # the prevention follow-up stays
    resolution = final.split("## Resolution")[1].split("## Action items")[0]
    assert "Verification: verified: champion v" in resolution and "Resolved as of" in resolution
    assert "awaiting approval" not in final

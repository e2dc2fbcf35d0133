"""`opsagent demo --interactive` in a pseudo-terminal: every progress bar is finished and closed before the
approval prompt, the prompt line holds the question and nothing else, and nothing redraws after the summary.
The same run is the demo's end-to-end test (one demo run in the suite, not two): triage detects and names the
drift, files a proposal that is approved, remediation retrains, gates and canaries; the outcome is remembered.

Before the fix, the "training v1" bar that early stopping ended at 38 of 40 epochs was never closed: its timer kept
redrawing over the prompt ("…0:00:21accept, edit, respond or reject? [acce") and after the final table."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.interfaces.terminal_driver import Terminal, plain

pytestmark = pytest.mark.slow

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")
PROMPT = "accept, edit, respond or reject?"
BAR = "━"  # rich's bar glyph: any part of a progress display
TIMER = re.compile(r"\b\d:\d\d:\d\d\b")  # rich's elapsed-time column
# rich redraws a live display 10 times a second; 1.5 s of silence is 15 missed redraws.
QUIET_S = 1.5
EPOCHS, REQUESTS = 6, 60  # the shortest demo that detects the drift (early stop: test_cli_progress)


def demo_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSAGENT_", "SLACK_"))}
    env.update(OPSAGENT_HOME=str(home), OPSAGENT_TRACING="off", OPSAGENT_CANARY_MIN_REQUESTS="5",
               TERM="xterm-256color", COLUMNS="120", LINES="40")
    return env


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """The whole interactive demo, answered 'accept' at the prompt: (terminal, offset after the prompt,
    what arrived while the prompt waited, exit code)."""
    root = tmp_path_factory.mktemp("demo-tty")
    term = Terminal([OPSAGENT, "demo", "--interactive", "--epochs", str(EPOCHS), "--requests", str(REQUESTS)],
                    demo_env(root / "home"), cwd=root)
    try:
        after_prompt = term.read_until(PROMPT, timeout_s=900)
        while_waiting = term.read_for(QUIET_S)
        term.type("accept")
        code = term.wait(timeout_s=900)
    finally:
        term.close()
    return term, after_prompt, while_waiting, code, root / "home"


def test_the_demo_finishes_after_the_answer(session):
    term, _, _, code, _ = session
    text = plain(term.transcript)
    assert code == 0, text[-3000:]
    assert "answer: accept by" in text and "demo finished in" in text


def test_the_prompt_line_holds_only_the_question(session):
    term, after_prompt, while_waiting, _, _ = session
    before = plain(term.transcript[:after_prompt])
    prompt_line = before.replace("\r", "\n").rsplit("\n", 1)[-1]
    assert prompt_line.strip() == PROMPT, f"the prompt line was {prompt_line!r}"
    # The prompt's own trailing space may come in a later chunk; a redraw would bring a carriage return or glyphs.
    assert while_waiting.strip(b" ") == b"", f"the terminal was redrawn while the prompt waited: {while_waiting!r}"


def test_every_bar_before_the_prompt_ended_complete(session):
    term, after_prompt, _, _, _ = session
    before = plain(term.transcript[:after_prompt])
    assert "training v1" in before and f"{EPOCHS}/{EPOCHS}" in before
    assert f"{REQUESTS}/{REQUESTS}" in before  # the traffic bars, drawn to their end
    assert "interrupted at" not in before and "ended at" not in before


def test_nothing_redraws_after_the_summary(session):
    term, after_prompt, _, _, _ = session
    answered = plain(term.transcript[after_prompt:])
    summary = answered[answered.index("demo finished in"):]
    assert BAR not in summary and not TIMER.search(summary), summary
    words = " ".join(summary.split())  # the last line wraps where the home's path makes it long
    assert words.endswith("| opsagent chat"), f"output after the last line: {summary[-400:]!r}"


def test_the_story_reached_its_end_in_the_home(session):
    from agent.approvals import ApprovalStore
    from agent.memory import Memory
    from ml_core.paths import HomeLayout
    from ml_core.registry import CHAMPION, Registry

    term, _, _, _, home = session
    layout = HomeLayout(home)
    text = plain(term.transcript)
    assert "quiet" in text  # the ordinary-traffic triage found nothing
    with ApprovalStore(layout.approvals_db) as approvals:
        [record] = approvals.list(model="churn")
    assert record.status == "executed" and record.proposal.kind == "retrain", record.status
    registry = Registry(layout)
    assert registry.lineage("churn", "2")["parent_version"] == "1"  # the retrain, from v1
    assert [v.version for v in registry.versions("churn")] in (["1", "2"], ["2", "1"])  # one retrain, not two
    champion = registry.alias("churn", CHAMPION)
    assert champion is not None and champion.version in ("1", "2")  # 2 when the gate and the canary passed
    [postmortem] = list(layout.reports_dir.glob("*/postmortem.md"))
    assert "total_day_minutes" in postmortem.read_text()
    memory = Memory(layout.memory_dir)
    incident = memory.search("drift in day minutes", model="churn", kind="incident")
    assert incident and incident[0].id == postmortem.parent.name
    outcome = memory.search("retrain outcome", model="churn", kind="outcome")
    assert outcome and record.proposal.id in outcome[0].text


def test_the_demos_postmortem_passes_the_benchmarks_rubric(session):
    """Issue 16's bar for the demo: its post-mortem, read back after the remediation, passes every rubric check
    against the incident the demo recorded (its category, action and culprit) and where the approval left it."""
    from agent.approvals import ApprovalStore
    from agent.incidents import IncidentStore
    from agent.reports.postmortem_files import load_postmortem
    from evals.postmortem_rubric import EvidenceFact, PostmortemExpectation, score_postmortem
    from ml_core.paths import HomeLayout
    from ml_core.registry import CHAMPION, Registry

    _, _, _, _, home = session
    layout = HomeLayout(home)
    [report] = list(layout.reports_dir.glob("*/postmortem.md"))
    with IncidentStore(layout.approvals_db) as incidents:
        incident = incidents.get(report.parent.name)
    with ApprovalStore(layout.approvals_db) as approvals:
        [record] = approvals.list(model="churn")
    champion = Registry(layout).alias("churn", CHAMPION)
    promoted = champion is not None and champion.version == "2"
    expected = PostmortemExpectation(
        category=incident.category, action=incident.action, culprit=incident.culprit,
        outcome="resolved" if record.status == "executed" and promoted else "unverified",
        proposal_id=record.proposal.id,
        evidence=[EvidenceFact.model_validate(e.model_dump()) for e in load_postmortem(report.parent).evidence])
    result = score_postmortem(report.read_text(encoding="utf-8"), expected)
    assert incident.category == "data_drift" and "total_day_minutes" in incident.culprit
    assert result.applicable >= 10 and result.ok, result.failures()

"""The agent commands as a user runs them: triage, approvals, incidents and chat in a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.context import OpsContext
from agent.proposals import FixDataProposal
from agent.settings import Settings
from interfaces.cli.approvals_cmd import parse_assignments
from interfaces.cli.common import UserError

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")


def run(args: list[str], home: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPSAGENT_HOME": str(home), "COLUMNS": "200"}  # a wide terminal: tables unwrapped
    env.pop("OPSAGENT_LLM_BASE_URL", None)
    env.pop("OPSAGENT_LLM_API_KEY", None)
    return subprocess.run([OPSAGENT, *args], capture_output=True, text=True, env=env, timeout=300, input=stdin)


@pytest.mark.parametrize("args, message", [
    (["triage", "nosuchmodel"], "no registered model 'nosuchmodel'"),
    (["approvals", "show", "prop-nope"], "opsagent approvals list"),
    (["approvals", "approve", "prop-nope", "--yes"], "opsagent approvals list"),
    (["approvals", "edit", "prop-nope", "epochs", "--yes"], "'epochs' is not field=value"),
    (["approvals", "respond", "prop-nope", "  "], "the response is empty"),
    (["incidents", "show", "inc-nope"], "opsagent incidents list"),
    (["chat", "-m", "  "], "the message is empty"),
])
def test_bad_input_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys, args, message):
    # In-process through the console-script entry (main), which turns user errors into exit code 2;
    # the subprocess tests below cover the installed command itself.
    from interfaces.cli.main import main

    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["opsagent", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    assert exit_.value.code == 2, out.out + out.err
    assert message in " ".join(out.err.split())  # rich wraps long lines
    assert "Traceback" not in out.err + out.out


def test_empty_inbox_and_incidents_say_what_to_do(tmp_path):
    assert "no pending proposals" in run(["approvals", "list"], tmp_path).stdout
    assert "opsagent triage" in run(["incidents", "list"], tmp_path).stdout


def test_offline_chat_answers_and_names_its_brain(tmp_path):
    result = run(["chat", "-m", "anything pending approval?"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nothing is waiting for approval" in result.stdout and "offline policy" in result.stdout


def test_offline_chat_answers_in_a_sentence_and_verbose_adds_the_tool_results(tmp_path):
    plain = run(["chat", "-m", "status of churn"], tmp_path)
    verbose = run(["chat", "-m", "status of churn", "--verbose"], tmp_path)
    assert plain.returncode == verbose.returncode == 0, (plain.stderr, verbose.stderr)
    for out in (plain.stdout, verbose.stdout):  # an empty home: the tool's own error, said once, as a sentence
        assert "→ tool model_status(model='churn')" in out and "unknown model 'churn'" in out
    assert "← model_status:" not in plain.stdout and "- error:" not in plain.stdout
    assert "← model_status:" in verbose.stdout and "- error: unknown model 'churn'" in verbose.stdout


def test_a_proposal_is_listed_shown_and_rejected_from_the_cli(tmp_path):
    from graphs.runner import GraphRunner

    ctx = OpsContext(Settings(home=tmp_path), via="test", actor="tester")
    proposal = FixDataProposal(model="churn", title="fix the billing feed", rationale="evening charges are empty",
                               champion_version=None, expires_at=time.time() + 3600, brain="offline policy",
                               features=["total_eve_charge"], problem="null values")
    with GraphRunner(ctx) as runner:
        runner.file_proposal(proposal)
    listed = run(["approvals", "list"], tmp_path)
    assert proposal.id in listed.stdout and "fix_data" in listed.stdout
    shown = run(["approvals", "show", proposal.id[:9]], tmp_path)  # a unique prefix is enough
    assert "fix the billing feed" in shown.stdout and "proposed" in shown.stdout
    rejected = run(["approvals", "reject", proposal.id, "--reason", "the feed team is on it"], tmp_path)
    assert rejected.returncode == 0, rejected.stderr
    assert "rejected" in rejected.stdout
    again = run(["approvals", "approve", proposal.id, "--yes"], tmp_path)
    assert again.returncode == 2 and "is rejected, not pending" in again.stderr
    history = run(["approvals", "list", "--all"], tmp_path)
    assert "rejected" in history.stdout


def test_edit_assignments_are_typed_and_window_minutes_is_a_shortcut():
    now = 1_000_000.0
    assert parse_assignments(["epochs=20", "gate_metric=auc", "include_reference=false"], now) == {
        "epochs": 20, "gate_metric": "auc", "include_reference": False}
    assert parse_assignments(["window_minutes=30"], now) == {"window_since": now - 1800, "window_until": now}
    with pytest.raises(UserError):
        parse_assignments(["window_minutes=-5"], now)

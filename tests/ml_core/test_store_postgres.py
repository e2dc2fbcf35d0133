"""The store layer on a real PostgreSQL (tests/pg_support.py): what differs from SQLite — a schema per store,
the prediction log without Parquet segments, DDL from two processes at once, and how the home maps its files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog, PredictionRow, log_exists
from ml_core.store import Store, describe, in_schema, insert_if_absent


def test_the_home_maps_each_sqlite_file_to_a_schema_of_the_team_database(tmp_path):
    url = "postgresql+psycopg://ops:s3cret@db:5432/team"
    layout = HomeLayout(tmp_path, database_url=url)
    assert layout.approvals_store == in_schema(url, "approvals")
    assert layout.predictions_store("churn") == in_schema(url, "predictions_churn")
    assert layout.store(tmp_path / "web_threads.db") == in_schema(url, "web_threads")
    assert "s3cret" not in describe(layout.schedules_store) and "schedules" in describe(layout.schedules_store)
    assert HomeLayout(tmp_path).approvals_store == tmp_path / "approvals.db"  # no URL: the files, as before


def row(request_id: str, record_id: str, ts: float, model: str, score: float) -> PredictionRow:
    return PredictionRow(request_id, record_id, ts, model, "1", "champion", None, None, score, int(score > 0.5), 2.0,
                         {"age": int(ts)})


def test_two_models_prediction_logs_share_a_database_but_not_their_rows(pg_url):
    churn, credit = in_schema(pg_url, "predictions_churn"), in_schema(pg_url, "predictions_credit")
    assert not log_exists(churn)  # asking creates nothing
    with PredictionLog(churn) as a, PredictionLog(credit) as b:
        assert log_exists(churn) and a.segments is None  # no Parquet segments beside a server's table
        a.write_predictions([row("q1", "c1", 10.0, "churn", 0.9), row("q2", "c2", 20.0, "churn", 0.2)])
        b.write_batch(predictions=[row("r1", "c1", 15.0, "credit", 0.7)], labels=[("c1", 0, 16.0)])
        a.write_labels([("c1", 1), ("c2", 1)], ts=30.0)
        a.write_labels([("c2", 0)], ts=40.0)  # a later label replaces the earlier one
        a.write_rejection("q3", "churn", {"errors": ["age: missing"]}, rows=1)
        assert a.predictions(since=15.0)[["request_id", "age"]].to_dict("records") == [{"request_id": "q2", "age": 20}]
        pd.testing.assert_frame_equal(a.labelled(with_ids=False), pd.DataFrame({
            "ts": [10.0, 20.0], "version": ["1", "1"], "role": ["champion", "champion"], "score": [0.9, 0.2],
            "predicted": [1, 0], "actual": [1, 0]}))
        assert b.labelled_features()[["record_id", "actual", "age"]].to_dict("records") == [
            {"record_id": "c1", "actual": 0, "age": 15}]  # credit's label, not churn's for the same record id
        assert (a.count(), b.count(), len(a.rejections()), len(b.rejections())) == (2, 1, 1, 0)


DDL_RACER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import sqlalchemy as sa
    from agent.approvals import ApprovalStore
    target, go = sys.argv[1], Path(sys.argv[2])
    while not go.exists():  # both processes create the schema and its tables at the same moment
        time.sleep(0.01)
    with ApprovalStore(target) as store:
        store.audit.append("started", actor=sys.argv[3], via="test")
""")


def test_two_processes_creating_one_store_at_once_both_succeed(pg_url, tmp_path):
    """CREATE SCHEMA/TABLE IF NOT EXISTS is not safe against a concurrent creator in PostgreSQL; the advisory
    lock makes the second wait and find everything there."""
    target, go = in_schema(pg_url, "approvals"), tmp_path / "go"
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", DDL_RACER, target, str(go), who], stderr=subprocess.PIPE,
                              text=True, cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
             for who in "pq"]
    go.touch()
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0, 0], "\n".join(err for _, err in results)
    from agent.audit import AuditLog

    with AuditLog(target) as log:
        assert sorted(e.actor for e in log.entries()) == ["p", "q"]


def test_insert_if_absent_lets_one_of_two_claims_through(pg_url):
    metadata = sa.MetaData()
    table = sa.Table("claims", metadata, sa.Column("k", sa.Text, primary_key=True), sa.Column("who", sa.Text))
    with Store(in_schema(pg_url, "x"), metadata) as store:
        with store.write() as conn:
            assert insert_if_absent(conn, table, {"k": "tick-1", "who": "a"})
            assert not insert_if_absent(conn, table, {"k": "tick-1", "who": "b"})
        with store.read() as conn:
            assert conn.execute(sa.select(table)).all() == [("tick-1", "a")]

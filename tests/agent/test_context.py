"""OpsContext's database handles: opened on first use, closed by close() or at the end of a ``with`` block."""

from __future__ import annotations

from agent.context import OpsContext
from agent.settings import Settings


def test_close_closes_the_stores_it_opened(tmp_path):
    ctx = OpsContext(Settings(home=tmp_path / "home"), clock=lambda: 123.0)
    ctx.close()  # nothing opened yet: nothing to close, and no file created
    assert not (tmp_path / "home" / "approvals.db").exists()

    ctx.incidents.open("churn", id="inc-1")
    assert ctx.approvals.list() == []
    assert ctx.incidents.get("inc-1").updated_at == 123.0  # the context's clock
    pools = [ctx.approvals.store.engine.pool, ctx.incidents.store.engine.pool]
    wal = tmp_path / "home" / "approvals.db-wal"
    assert [p.checkedin() for p in pools] == [1, 1] and wal.exists()  # each store keeps a pooled connection

    ctx.close()
    assert [p.checkedin() for p in pools] == [0, 0]
    assert not wal.exists()  # SQLite folds the WAL back into the file when its last connection closes
    assert "approvals" not in vars(ctx) and "incidents" not in vars(ctx)


def test_a_with_block_closes_the_context(tmp_path):
    with OpsContext(Settings(home=tmp_path / "home")) as ctx:
        ctx.approvals.list()
        pool = ctx.approvals.store.engine.pool
        assert pool.checkedin() == 1
    assert pool.checkedin() == 0


def test_a_prediction_log_from_the_context_closes_in_a_with_block(tmp_path):
    ctx = OpsContext(Settings(home=tmp_path / "home"))
    with ctx.prediction_log("churn") as log:
        assert log.count() == 0
        pool = log.store.engine.pool
        assert pool.checkedin() == 1
    assert pool.checkedin() == 0


def test_a_context_needs_no_arguments_and_takes_its_home_from_the_environment(tmp_path, monkeypatch):
    """LangGraph's server builds the context from a run's context dict: ``OpsContext(**context)``."""
    from pydantic import TypeAdapter

    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "env-home"))
    ctx = OpsContext()
    assert ctx.settings.home == tmp_path / "env-home" and (ctx.via, ctx.actor) == ("cli", "opsagent")
    assert ctx.layout.home == tmp_path / "env-home"
    # The schema the server shows (Studio) and filters a run's context by: only what a run may set.
    adapter = TypeAdapter(OpsContext)
    assert adapter.json_schema()["properties"].keys() == {"actor"}
    built = adapter.validate_python({"actor": "alice"})
    assert isinstance(built, OpsContext) and built.actor == "alice"

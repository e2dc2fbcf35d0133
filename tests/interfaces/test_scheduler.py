"""Scheduled triage: the persistent job store, one-run-at-a-time and coalescing, crash handling, real firing,
and the `opsagent schedule` commands' bad input."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.triggers.interval import IntervalTrigger

from agent.settings import Settings
from interfaces.scheduler import ScheduleError, TriageScheduler, make_trigger, run_triage_job, schedule_store
from interfaces.scheduler.run_log import RunRecord
from ml_core.registry import Registry


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    for var in ("OPSAGENT_LLM_BASE_URL", "OPSAGENT_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(home=tmp_path / "home", schedule_misfire_grace_s=120, schedule_timezone="UTC")
    Registry(s.layout.ensure()).models()  # create MLflow's tables once, before jobs run on threads
    return s


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_jobs_persist_across_scheduler_restarts_with_one_run_at_a_time_and_coalescing(settings):
    with schedule_store(settings) as sched:
        sched.add("churn", every_minutes=15)
        sched.add("fraud", cron="*/5 * * * *")
    assert settings.layout.schedules_db.exists()

    again = TriageScheduler(settings).start(paused=True)  # a new process would do exactly this
    try:
        job = again.job("churn")
        assert job is not None and job.name == "every 15 min"
        assert job.func is run_triage_job and job.args == (str(settings.layout.home), "churn")
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time == 120
        assert job.trigger.interval.total_seconds() == 15 * 60
        entries = {e.model: e for e in again.entries()}
        assert set(entries) == {"churn", "fraud"}
        assert entries["fraud"].trigger == "cron */5 * * * *" and entries["fraud"].next_run.minute % 5 == 0
        assert entries["churn"].last is None
        again.add("churn", every_minutes=30)  # replaces, never duplicates
        again.remove("fraud")
        with pytest.raises(ScheduleError, match="no schedule for 'fraud'"):
            again.remove("fraud")
    finally:
        again.shutdown()
    with schedule_store(settings) as third:
        assert [(e.model, e.trigger) for e in third.entries()] == [("churn", "every 30 min")]


@pytest.mark.parametrize("every, cron, message", [
    (None, None, "exactly one of --every"),
    (5, "* * * * *", "exactly one of --every"),
    (0, None, "positive number of minutes"),
    (None, "*/15 * * *", "Wrong number of fields"),
    (None, "61 * * * *", r"higher than the maximum value \(59\)"),
])
def test_bad_triggers_are_refused_with_a_message(every, cron, message):
    with pytest.raises(ScheduleError, match=message):
        make_trigger(every, cron)


def test_a_crashing_run_is_logged_and_recorded_and_the_scheduler_goes_on(settings, caplog):
    record = TriageScheduler(settings).run_now("ghost")  # no such model: the run fails, never raises
    assert record.status == "failed" and "no registered model 'ghost'" in record.detail
    assert "no registered model 'ghost'" in caplog.text

    results: list[RunRecord] = []
    sched = TriageScheduler(settings, on_result=results.append).start()
    try:
        sched.add("ghost", every_minutes=1 / 60)  # every second: it keeps failing...
        sched.add("other", every_minutes=1 / 60)  # ...and the other model's job still runs
        assert wait_for(lambda: len(sched.log.recent("ghost")) >= 3 and sched.log.recent("other"))
        assert sched.running
    finally:
        sched.shutdown()
    assert {r.model for r in results} == {"ghost", "other"} and all(r.status == "failed" for r in results)
    assert sched.log.last("other").via == "scheduler"
    with schedule_store(settings) as store:
        shown = {e.model: e.last for e in store.entries()}
    assert shown["ghost"] is not None and shown["ghost"].status == "failed"


def _slow() -> None:
    time.sleep(1.5)


def test_a_second_run_of_a_busy_job_is_skipped(settings):
    # One run per job at a time, as configured for every triage job: a 1.5 s job on a 0.3 s interval.
    skipped = threading.Event()
    sched = TriageScheduler(settings).start()
    sched.scheduler.add_listener(lambda _e: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    try:
        sched.scheduler.add_job(_slow, IntervalTrigger(seconds=0.3), id="triage:slow", jobstore="internal")
        assert skipped.wait(10)
    finally:
        sched.shutdown()


@pytest.mark.parametrize("args, message", [
    (["schedule", "add", "churn"], "give exactly one of --every MINUTES or --cron"),
    (["schedule", "add", "churn", "--every", "5", "--cron", "* * * * *"], "give exactly one of"),
    (["schedule", "add", "churn", "--cron", "*/x * * * *"], "bad cron expression '*/x * * * *'"),
    (["schedule", "add", "churn", "--cron", "every day"], "Use five fields"),
    (["schedule", "add", "churn", "--every", "-3"], "positive number of minutes"),
    (["schedule", "remove", "nope"], "no schedule for 'nope'"),
    (["schedule", "run-now", "nope"], "no registered model 'nope'"),
])
def test_schedule_bad_input_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys, args, message):
    from interfaces.cli.main import main

    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["opsagent", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    assert exit_.value.code == 2, out.out + out.err
    assert message in " ".join(out.err.split())
    assert "Traceback" not in out.err + out.out


def test_schedule_add_list_remove_from_the_command_line(tmp_path, monkeypatch, capsys):
    from interfaces.cli.main import main

    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")

    def cli(*args: str) -> str:
        monkeypatch.setattr(sys, "argv", ["opsagent", "schedule", *args])
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None)
        out = capsys.readouterr()
        return out.out + out.err

    assert "no scheduled triage" in cli("list")
    assert "no registered model 'churn' yet" in cli("add", "churn", "--cron", "*/15 * * * *")
    assert "scheduled triage of churn every 10 min" in cli("add", "churn", "--every", "10")
    listing = cli("list")
    assert "churn" in listing and "every 10 min" in listing and "never ran" in listing
    assert "removed the schedule of churn" in cli("remove", "churn")
    assert "no scheduled triage" in cli("list")


def test_a_schedule_written_before_the_scheduler_moved_is_kept(settings):
    # Homes from before the layout change hold jobs whose pickled reference is agent.scheduler:run_triage_job;
    # APScheduler drops a job it cannot import, so the scheduler rewrites the reference before reading the store.
    import pickle

    import sqlalchemy as sa

    from interfaces.scheduler.store_migration import CURRENT_REF, JOBS_TABLE

    with schedule_store(settings) as sched:
        sched.add("churn", every_minutes=15)
    engine = sa.create_engine(f"sqlite:///{settings.layout.schedules_db}")
    jobs = sa.Table(JOBS_TABLE, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        state = pickle.loads(conn.execute(sa.select(jobs.c.job_state)).scalar_one())
        assert state["func"] == CURRENT_REF
        state["func"] = "agent.scheduler:run_triage_job"
        conn.execute(jobs.update().values(job_state=pickle.dumps(state)))
    engine.dispose()
    with schedule_store(settings) as sched:
        job = sched.job("churn")
        assert job is not None and job.func is run_triage_job and job.name == "every 15 min"


def test_scheduled_runs_use_the_context_the_scheduler_was_given(settings):
    from agent.context import OpsContext

    made: list[str] = []

    def make_context(model: str) -> OpsContext:
        made.append(model)
        return OpsContext(settings, via="scheduler", actor="scheduler-under-test")

    sched = TriageScheduler(settings, make_context=make_context).start()
    try:
        sched.add("ghost", every_minutes=1 / 60)
        assert wait_for(lambda: sched.log.recent("ghost"))
    finally:
        sched.shutdown()
    assert made and set(made) == {"ghost"}
    # Once stopped, nothing in this process runs jobs for the home: a stray call is a recorded failure.
    stray = run_triage_job(str(settings.layout.home), "ghost")
    assert stray.status == "failed" and "no scheduler for" in stray.detail


def test_the_context_is_registered_before_the_scheduler_thread_can_run_a_job(settings):
    """An overdue job runs the moment the scheduler's thread starts (serve's start-up triage); it must find its
    context then, not fail its tick with "no scheduler ... is running" (which a loaded machine made happen)."""
    from apscheduler.events import EVENT_SCHEDULER_START

    from interfaces.scheduler import job

    seen: list[bool] = []
    sched = TriageScheduler(settings)
    # Dispatched inside APScheduler's start(), before its thread exists: the earliest a job could look.
    sched.scheduler.add_listener(lambda _e: seen.append(str(settings.layout.home) in job._contexts),
                                 EVENT_SCHEDULER_START)
    sched.start()
    try:
        assert seen == [True]
    finally:
        sched.shutdown()

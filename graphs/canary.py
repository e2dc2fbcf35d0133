"""The canary phases of an executed proposal: route the new version, watch it, then promote or roll back.

Each phase is its own checkpointed step of the remediation graph and may run again after a crash, so each
first reads the serving state and does only what is not done yet (a canary already routed is re-applied,
not routed twice; a promotion already live is not repeated). A state that this proposal cannot have
produced (someone else's canary, a champion changed by hand) raises ``ResumeUnsafe``: the proposal is then
marked interrupted, never acted on blindly.
"""

from __future__ import annotations

import time

from agent.audit import audit_deploy_override
from agent.context import OpsContext
from graphs.canary_verdict import Confusion, confusion_by_version, f1_problem
from graphs.execution import Execution
from ml_core.deploy.base import DeploymentBackend, DeploymentError, DeploymentStatus
from ml_core.failpoints import failpoint

_NO_LABELS = Confusion(0, 0, 0, 0)


class ResumeUnsafe(Exception):
    """The serving state is not one this proposal's own steps could have left: stop and let a person decide."""


def serving(ctx: OpsContext, model: str) -> tuple[DeploymentBackend, DeploymentStatus]:
    backend = ctx.backend(model)
    status = backend.status()
    if not status.running or not status.url:
        raise DeploymentError(f"the {model} service is not running; start it with `opsagent deploy start`")
    return backend, status


def route_canary(ctx: OpsContext, model: str, champion: str | None, run: Execution, *, forced_by: str = "",
                 proposal_id: str | None = None) -> None:
    """Route ``run.result['version']`` as the canary (``forced_by``: past the deploy gate, audited)."""
    version, weight = str(run.result["version"]), float(run.result["canary_weight"])
    backend, status = serving(ctx, model)
    if status.canary == version:  # routed before a crash: have the service adopt it again, gate already judged
        backend.deploy_canary(version, weight)
        run.step(ctx, f"resumed: v{version} was already the canary ({weight:.0%} of traffic)")
    else:
        if _routed_before(ctx, proposal_id, version):
            raise ResumeUnsafe(f"v{version} was being routed as the canary when the process stopped, and it is "
                               "not the canary now: someone removed it, or the routing never happened")
        if status.champion != champion:
            raise ResumeUnsafe(f"the champion is v{status.champion}, not v{champion} as when the proposal was "
                               "accepted; someone changed the routing")
        if status.canary is not None:
            raise ResumeUnsafe(f"v{status.canary} is already the canary; routing v{version} would replace it")
        if proposal_id:  # the intent, durable before the act: a resume can tell "removed since" from "never"
            ctx.approvals.note(proposal_id, "routing_canary", actor=ctx.actor, via=ctx.via,
                               detail={"version": version, "weight": weight})
        routed = backend.deploy_canary(version, weight, force=bool(forced_by), reason=forced_by)
        if routed.override is not None:
            audit_deploy_override(ctx.approvals.audit, model, routed.override, actor=ctx.actor, via=ctx.via,
                                  proposal_id=proposal_id)
            run.step(ctx, f"v{version} is routed past the deploy gate ({routed.override.gate}): {forced_by}")
        run.step(ctx, f"canary: v{version} takes {weight:.0%} of traffic (smoke-tested before any request)")
    failpoint("after_canary_routed")
    run.watch_since = run.watch_since or ctx.clock()


def _routed_before(ctx: OpsContext, proposal_id: str | None, version: str) -> bool:
    """Whether this proposal set out to route ``version`` since a person last retried it."""
    if not proposal_id:
        return False
    events = [(e.event, e.detail.get("version")) for e in ctx.approvals.history(proposal_id)]
    since_retry = events[max((i for i, (ev, _) in enumerate(events) if ev == "retried"), default=-1) + 1:]
    return ("routing_canary", version) in since_retry


def watch_canary(ctx: OpsContext, model: str, run: Execution) -> None:
    """Watch for what is left of ``canary_watch_s`` since the canary went live (all of it the first time)."""
    _, status = serving(ctx, model)
    if status.canary != str(run.result["version"]):
        raise ResumeUnsafe(f"v{run.result['version']} is no longer the canary (canary: {status.canary})")
    since = run.watch_since or ctx.clock()
    if ctx.canary_traffic is not None:
        ctx.progress("watching the canary under replayed traffic")
        ctx.canary_traffic(status.url or "", ctx.settings.canary_watch_s)
        failpoint("during_watch")
        return
    seconds = max(0.0, ctx.settings.canary_watch_s - (ctx.clock() - since))
    ctx.progress(f"watching the canary for {seconds:g} s of live traffic")
    deadline = time.time() + seconds
    while time.time() < deadline:
        time.sleep(min(5.0, max(0.0, deadline - time.time())))
        failpoint("during_watch")


def decide_canary(ctx: OpsContext, model: str, run: Execution) -> None:
    """Promote a healthy canary, roll back a sick one; on a resume, only record what is already live."""
    version = str(run.result["version"])
    backend, status = serving(ctx, model)
    if status.canary != version:
        if status.champion == version:  # promoted just before a crash
            run.fixed, run.result["champion"] = True, version
            run.outcome = run.outcome or f"canary v{version} promoted to champion (before the process stopped)"
            run.step(ctx, f"resumed: v{version} is already the champion")
            return
        raise ResumeUnsafe(f"v{version} is neither canary nor champion (canary: {status.canary}, "
                           f"champion: v{status.champion})")
    problems, seen = canary_problems(ctx, model, version, run.watch_since or ctx.clock())
    run.result.update({"canary_requests": seen, "canary_problems": problems})
    if problems:
        backend.rollback()
        run.outcome = f"canary v{version} rolled back: {'; '.join(problems)}"
        run.step(ctx, run.outcome)
        return
    after = backend.promote()
    failpoint("after_promote")
    run.fixed = after.champion == version
    run.result["champion"] = after.champion
    run.outcome = f"canary v{version} healthy over {seen} requests; promoted to champion"
    run.step(ctx, run.outcome)


def canary_problems(ctx: OpsContext, model: str, version: str, since: float) -> tuple[list[str], int]:
    """Why the canary must not be promoted (empty when healthy), and how many requests it served."""
    watched = ctx.check_window(model, since=since, until=ctx.clock() + 1, write_report=False)
    with ctx.prediction_log(model) as log:
        window = log.predictions(since, ctx.clock() + 1, with_features=False)
        labelled = log.labelled(since, ctx.clock() + 1)
    served = int((window["version"].astype(str) == version).sum()) if len(window) else 0
    problems = [f.message for f in watched.result.findings
                if f.kind in ("latency_slo", "error_rate_slo") and f.subject == version]
    if served < ctx.settings.canary_min_requests:
        problems.append(f"the canary served only {served} requests (need {ctx.settings.canary_min_requests})")
    # Each version decided at its own threshold, so compare the decisions each actually made (the rule and its
    # false-rollback rate: graphs/canary_verdict.py).
    by_version = confusion_by_version(labelled)
    canary = by_version.pop(version, None)
    if canary is not None and by_version and (problem := f1_problem(canary, sum(by_version.values(),
                                                                                 start=_NO_LABELS))):
        problems.append(problem)
    return problems, served

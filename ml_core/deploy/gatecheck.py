"""The deploy gate: a backend routes traffic only to versions the evaluation gate passed, unless forced.

The gate (``ml_core.pipeline.gate_against_champion``) tags each version it judged ``ready_for_deploy`` and
``gate``; a version registered any other way (a hotfix, an imported bundle, a fault-injection release) carries
no verdict. Routing such a version is an override: allowed only when the caller says ``force``, and then
recorded with the deployment so ``status`` shows what is serving without the gate's pass.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

from ml_core.deploy.base import DeploymentError, DeploymentStatus
from ml_core.registry import READY_TAG, Registry, RegistryError, VersionInfo
from ml_core.serving.state import DeploymentState, GateOverride

log = logging.getLogger(__name__)
Route = Literal["champion", "canary"]


def gate_verdict(info: VersionInfo) -> str:
    """What the registry says about the gate and this version, in words."""
    verdict = info.tags.get("gate")
    if verdict:
        text = f"gate: {verdict}"
    elif READY_TAG in info.tags:
        text = f"tagged {READY_TAG}={info.tags[READY_TAG]}"
    else:
        text = "no gate verdict recorded: it was registered without evaluation"
    if info.tags.get("fault"):
        text += f"; it carries an injected fault ({info.tags['fault']})"
    return text


def refusal(model: str, version: str, route: Route, verdict: str) -> str:
    """The refusal message: which version, why, and the two ways forward."""
    return (f"refusing to route {model} v{version} as {route}: the evaluation gate has not passed it ({verdict}). "
            f"Have the gate judge it against the champion (retrain through the pipeline: an approved retrain "
            f"proposal or `opsagent train`), or deploy another version; to route it anyway, pass force "
            f"(CLI: --force, with --reason): the override is recorded with the deployment, and the CLI writes it "
            f"to the audit log")


def check_gate(registry: Registry, model: str, version: str, route: Route, *, force: bool = False,
               reason: str = "") -> GateOverride | None:
    """None when ``version`` passed the gate; the override to record when it did not and ``force`` is set.

    Raises ``DeploymentError`` for an unknown version, or for an ungated one without ``force``."""
    try:
        info = registry.version(model, version)
    except RegistryError as exc:
        raise DeploymentError(f"cannot deploy: {exc}") from exc
    if info.ready_for_deploy:
        return None
    verdict = gate_verdict(info)
    if not force:
        raise DeploymentError(refusal(model, version, route, verdict))
    log.warning("gate override: %s v%s routed as %s (%s); reason: %s", model, version, route, verdict,
                reason or "none given")
    return GateOverride(at=time.time(), version=version, route=route, gate=verdict, reason=reason)


def override_warning(override: GateOverride) -> str:
    """The status warning for a forced route."""
    why = f"; reason: {override.reason}" if override.reason else ""
    return (f"v{override.version} routed as {override.route} without the evaluation gate's pass "
            f"({override.gate}): forced, override recorded{why}")


def noting_override(status: DeploymentStatus, override: GateOverride | None) -> DeploymentStatus:
    """``status`` with this call's gate override (if any) named in it and in its warnings: what every backend's
    routing call returns."""
    if override is None:
        return status
    return status.model_copy(update={"override": override, "warnings": [*status.warnings, override_warning(override)]})


def starting_state(registry: Registry, model: str, st: DeploymentState, version: str | None, *, force: bool,
                   reason: str, latency_budget_ms: float | None) -> tuple[DeploymentState, GateOverride | None]:
    """The routing ``start(version)`` asks for, whatever the backend: ``version`` becomes the champion only when
    there is none yet (through the gate, or a recorded override), and the backend's latency budget applies."""
    override = None
    if version is not None and st.champion is None:
        override = check_gate(registry, model, str(version), "champion", force=force, reason=reason)
        st = st.model_copy(update={"champion": str(version), "updated_at": time.time()})
        st = st.with_override(override) if override else st
    if latency_budget_ms is not None:
        st = st.model_copy(update={"latency_budget_ms": latency_budget_ms})
    return st, override

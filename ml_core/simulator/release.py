"""Release faults: ship a deliberately slow or broken copy of the champion, as a real registry version."""

from __future__ import annotations

from ml_core.deploy.base import DeploymentBackend
from ml_core.registry import CHAMPION, Registry, RegistryError
from ml_core.release import register_model_bundle
from ml_core.release_fault import Fault
from ml_core.simulator.scenario import BrokenRelease, Scenario, SlowRelease


def ship_faulty_release(scenario: Scenario, registry: Registry, backend: DeploymentBackend,
                        model_name: str) -> str | None:
    """If the scenario has a release fault, register the faulty copy and deploy it as a canary.

    Returns the new version, or None when the scenario has no release fault. The broken release
    passes its readiness smoke test and breaks under traffic, as real bad releases do. No gate ever
    judged it, so it is deployed with ``force``: the simulation is of a person forcing a release out,
    and the deployment records the override (the caller audits who, if it keeps an audit log).
    """
    spec = scenario.release_fault
    if spec is None:
        return None
    champion = registry.alias(model_name, CHAMPION)
    if champion is None:
        raise RegistryError(f"model '{model_name}' has no champion to copy; train and deploy one first")
    model = registry.load(model_name, champion.version)
    if isinstance(spec, SlowRelease):
        model.fault = Fault(latency_ms=spec.latency_ms)
    elif isinstance(spec, BrokenRelease):
        model.fault = Fault(error_rate=spec.error_rate, after_calls=3)
    info = register_model_bundle(registry, model_name, model,
                                 tags={"parent_version": champion.version, "scenario": scenario.name},
                                 run_name=f"release-{scenario.name}")
    backend.deploy_canary(info.version, spec.canary_weight, force=True,
                          reason=f"simulated release fault ({spec.kind}) of scenario {scenario.name}")
    return info.version

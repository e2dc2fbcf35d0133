"""`opsagent deploy start|canary|promote|rollback|status|stop|render` over the local or the Kubernetes backend."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from interfaces.cli.common import (
    JSON_HELP,
    UserError,
    cli_settings,
    console,
    err_console,
    load_settings,
    print_json,
)

app = typer.Typer(help="Deploy model versions: with the local backend (a real service process on loopback, the "
                  "default) or on Kubernetes (--backend kubernetes). Traffic only ever goes to versions that pass "
                  "readiness, and only to versions the evaluation gate passed unless --force (audited).",
                  no_args_is_help=True)

FORCE_HELP = "route the version even though the evaluation gate has not passed it; recorded and audited"
REASON_HELP = "why you force it; kept with the deployment and in the audit log"
BACKEND = typer.Option(None, "--backend", help="local or kubernetes (default: OPSAGENT_DEPLOY_BACKEND)")
NAMESPACE = typer.Option(None, "--namespace", help="Kubernetes namespace (default: OPSAGENT_K8S_NAMESPACE)")
IMAGE = typer.Option(None, "--image", help="scoring-service image (default: OPSAGENT_K8S_IMAGE)")
CONTEXT = typer.Option(None, "--context", help="kubeconfig context (default: OPSAGENT_K8S_CONTEXT, or current)")
KUBECONFIG = typer.Option(None, "--kubeconfig", help="kubeconfig file (default: OPSAGENT_K8S_KUBECONFIG)")


def backend(model: str | None, port: int | None = None, settings=None):
    """The model's deployment backend. Locally, the default model listens on OPSAGENT_SERVE_PORT; any other model
    on ``port``, or the port its running (or last) service used, or a free one, so two models never collide."""
    from agent.deploy_backend import make_backend
    from interfaces.cli.common import model_spec

    settings = settings or load_settings()
    spec = model_spec(settings, model)
    registry = settings.open_registry()
    port = port or (settings.serve_port if spec.name == settings.model_name else None)
    return make_backend(settings, spec.name, registry, port=port,
                        latency_budget_ms=spec.slo.latency_budget_ms or settings.latency_budget_ms), registry


def show(status) -> None:
    table = Table(title=f"{status.model} — {status.backend} backend", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    health = "[green]ready[/]" if status.ready else ("[yellow]running, not ready[/]" if status.running
                                                     else "[red]not running[/]")
    rows = [("service", health), ("url", status.url or "-"), ("champion", status.champion or "-"),
            ("canary", f"{status.canary} at {status.canary_weight:.0%}" if status.canary else "-"),
            ("previous champion", status.previous_champion or "-"),
            ("latency budget", f"{status.latency_budget_ms:g} ms"), ("pid", str(status.pid or "-"))]
    if status.ready_reason and not status.ready:
        rows.append(("why not ready", status.ready_reason))
    if status.detail:
        rows.append(("detail", status.detail))
    for o in status.overrides_in_force():
        when = datetime.fromtimestamp(o.at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        rows.append(("gate override", f"v{o.version} routed as {o.route} without the gate's pass ({o.gate}); "
                                      f"forced {when}: {o.reason or 'no reason given'}"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    for w in status.warnings:
        console.print(f"[yellow]warning:[/] {w}")


def audit_override(model: str, status) -> None:
    """Write the override this command made (if any) to the audit log: who forced which version, and why."""
    if status.override is None:
        return
    from agent.audit import audit_deploy_override
    from agent.context import OpsContext
    from interfaces.cli.agent_common import whoami

    with OpsContext(load_settings(), via="cli", actor=whoami()) as ctx:
        entry = audit_deploy_override(ctx.approvals.audit, model, status.override, actor=ctx.actor, via=ctx.via)
    console.print(f"override audited as {entry.event} #{entry.seq} (actor {entry.actor})")


def _resolve(registry, name: str, ref: str | None) -> str | None:
    from interfaces.cli.registry_cmds import resolve_version

    return None if ref is None else resolve_version(registry, name, ref).version


@app.command("start")
def start(version: str | None = typer.Argument(None, help="version or alias to serve as champion when none is "
                                                "deployed yet (default: the champion alias)"),
          model: str | None = typer.Option(None, help="model name (default from settings)"),
          port: int | None = typer.Option(None, min=1, max=65535, help="listen here (default: OPSAGENT_SERVE_PORT "
                                          "for the default model, a free port for others; local backend)"),
          force: bool = typer.Option(False, "--force", help=FORCE_HELP),
          reason: str = typer.Option("", "--reason", help=REASON_HELP),
          backend_name: str | None = BACKEND, namespace: str | None = NAMESPACE, image: str | None = IMAGE,
          context: str | None = CONTEXT, kubeconfig: str | None = KUBECONFIG) -> None:
    """Start the service in the background (idempotent); on Kubernetes, create or scale up its Deployment.

    Example: opsagent deploy start --model credit"""
    b, reg = backend(model, port, cli_settings(backend_name, namespace, image, context, kubeconfig))
    ref = version or ("champion" if b.status().champion is None else None)
    status = b.start(_resolve(reg, b.model_name, ref), force=force, reason=reason)
    show(status)
    audit_override(b.model_name, status)


@app.command("canary")
def canary(version: str = typer.Argument(..., help="version or alias (e.g. challenger)"),
           weight: float = typer.Option(0.1, min=0.0, max=1.0, help="share of requests sent to the canary"),
           model: str | None = typer.Option(None),
           force: bool = typer.Option(False, "--force", help=FORCE_HELP),
           reason: str = typer.Option("", "--reason", help=REASON_HELP),
           backend_name: str | None = BACKEND, namespace: str | None = NAMESPACE, image: str | None = IMAGE,
           context: str | None = CONTEXT, kubeconfig: str | None = KUBECONFIG) -> None:
    """Send WEIGHT of the traffic to VERSION, once it has passed readiness (and the gate, unless --force).

    Example: opsagent deploy canary 3 --weight 0.1 --force --reason 'hotfix; gate run pending'"""
    b, reg = backend(model, settings=cli_settings(backend_name, namespace, image, context, kubeconfig))
    status = b.deploy_canary(_resolve(reg, b.model_name, version) or version, weight, force=force, reason=reason)
    show(status)
    audit_override(b.model_name, status)


@app.command("promote")
def promote(model: str | None = typer.Option(None), backend_name: str | None = BACKEND,
            namespace: str | None = NAMESPACE, image: str | None = IMAGE, context: str | None = CONTEXT,
            kubeconfig: str | None = KUBECONFIG) -> None:
    """The canary becomes champion (registry alias moved; the old champion kept for rollback)."""
    b, _ = backend(model, settings=cli_settings(backend_name, namespace, image, context, kubeconfig))
    show(b.promote())


@app.command("rollback")
def rollback(model: str | None = typer.Option(None), backend_name: str | None = BACKEND,
             namespace: str | None = NAMESPACE, image: str | None = IMAGE, context: str | None = CONTEXT,
             kubeconfig: str | None = KUBECONFIG) -> None:
    """Drop the canary; with no canary, go back to the previous champion."""
    b, _ = backend(model, settings=cli_settings(backend_name, namespace, image, context, kubeconfig))
    show(b.rollback())


@app.command("status")
def status(model: str | None = typer.Option(None),
           as_json: bool = typer.Option(False, "--json", help=JSON_HELP), backend_name: str | None = BACKEND,
           namespace: str | None = NAMESPACE, image: str | None = IMAGE, context: str | None = CONTEXT,
           kubeconfig: str | None = KUBECONFIG) -> None:
    """Routing and health of the deployment. --json: the deployment status (running, ready, url, champion,
    canary, canary_weight, ..., warnings, overrides)."""
    b, _ = backend(model, settings=cli_settings(backend_name, namespace, image, context, kubeconfig))
    if as_json:
        print_json(b.status())
    else:
        show(b.status())


@app.command("stop")
def stop(model: str | None = typer.Option(None), backend_name: str | None = BACKEND,
         namespace: str | None = NAMESPACE, image: str | None = IMAGE, context: str | None = CONTEXT,
         kubeconfig: str | None = KUBECONFIG) -> None:
    """Stop the service (routing is kept for the next start); on Kubernetes, scale it to zero replicas."""
    b, _ = backend(model, settings=cli_settings(backend_name, namespace, image, context, kubeconfig))
    show(b.stop())


@app.command("render")
def render(model: str | None = typer.Option(None, help="model name (default from settings)"),
           version: str | None = typer.Option(None, help="champion version to render (default: the registry's "
                                              "champion alias)"),
           backend_name: str | None = BACKEND, namespace: str | None = NAMESPACE, image: str | None = IMAGE) -> None:
    """Print the Kubernetes manifests of a model's scoring service as multi-document YAML (Deployment, Service,
    routing ConfigMaps), without touching a cluster.

    Example: opsagent deploy render --backend kubernetes --model churn | kubectl apply --dry-run=server -f -"""
    from agent.deploy_backend import kube_spec, spec_yaml, tracking_warning
    from interfaces.cli.common import model_spec
    from ml_core.deploy.kubernetes.manifests import render as render_manifests
    from ml_core.deploy.kubernetes.manifests import to_yaml
    from ml_core.serving.state import DeploymentState

    settings = cli_settings(backend_name, namespace, image)
    if settings.deploy_backend != "kubernetes":
        raise UserError("render prints Kubernetes manifests: pass --backend kubernetes (or set "
                        "OPSAGENT_DEPLOY_BACKEND=kubernetes); the local backend has none")
    spec = model_spec(settings, model)
    champion = version or _registry_champion(settings, spec.name)
    state = DeploymentState(model=spec.name, champion=champion,
                            latency_budget_ms=spec.slo.latency_budget_ms or settings.latency_budget_ms)
    warning = tracking_warning(settings)
    if warning:
        err_console.print(f"[yellow]warning:[/] {warning}")
    typer.echo(to_yaml(render_manifests(state, kube_spec(settings), spec_yaml(settings, spec.name))), nl=False)


def _registry_champion(settings, model: str) -> str | None:
    from ml_core.registry import CHAMPION

    champion = settings.open_registry().alias(model, CHAMPION)
    return champion.version if champion is not None else None

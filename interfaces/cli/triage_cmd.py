"""`opsagent triage [MODEL]` — investigate one model now: post-mortem, and a proposal for approval if needed.

Exit codes, for scripts and CI: 0 healthy, 1 an incident was opened or updated (unless
``--no-fail-on-incident``), 2 bad input (unknown model, invalid settings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from interfaces.cli.agent_common import agent_runner
from interfaces.cli.common import JSON_HELP, UserError, console, err_console, print_json

if TYPE_CHECKING:
    from graphs.runner import TriageOutcome

INCIDENT_EXIT = 1  # like `grep` finding a match: the command worked, and it found something


def triage(model: str | None = typer.Argument(None, help="registered model (default: OPSAGENT_MODEL_NAME)"),
           window: float | None = typer.Option(None, "--window", min=1, help="minutes to look back "
                                               "(default: OPSAGENT_TRIAGE_WINDOW_MINUTES, 60)"),
           as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
           fail_on_incident: bool = typer.Option(True, "--fail-on-incident/--no-fail-on-incident",
                                                 help="exit 1 when triage opened or updated an incident "
                                                 "(0 when healthy)")) -> None:
    """Check drift, performance (with labels and label-free), SLOs and recent deploys; recall similar incidents;
    diagnose (LLM, or the offline policy); write the post-mortem and file a proposal. Nothing is changed:
    approve the proposal with `opsagent approvals approve ID`. Exits 1 when it found an incident.

    Example: opsagent triage credit --window 30 --json"""
    out_console = err_console if as_json else console  # with --json, stdout holds the JSON alone
    with agent_runner(quiet=as_json) as runner:
        name = model or runner.ctx.settings.model_name
        if name not in runner.ctx.registry.models():
            known = ", ".join(runner.ctx.registry.models()) or "none yet (run `opsagent train`)"
            raise UserError(f"no registered model '{name}'; registered: {known}")
        out_console.rule(f"[bold]triage of {name}")
        out = runner.triage(name, window_minutes=window)
    if as_json:
        print_json(out)
    else:
        _show(out)
    if out.diagnosis.detected and fail_on_incident:
        raise typer.Exit(INCIDENT_EXIT)


def _show(out: TriageOutcome) -> None:
    d = out.diagnosis
    colour = "red" if d.detected else "green"
    console.print(f"[{colour}]{'INCIDENT' if d.detected else 'OK'}[/] {out.incident_id} — brain: {d.brain}")
    console.print(f"  {out.summary}")
    if out.tick not in ("new", "quiet") and out.note:  # a tick of the model's active incident
        console.print(f"  incident {out.incident_id} ({out.tick}): {out.note}", markup=False)
    if d.detected:
        console.print(f"  category: {d.category}; culprit: {', '.join(d.culprit) or '-'}; action: {d.action}")
        console.print(f"  {d.summary}")
    if out.postmortem:
        console.print(f"  post-mortem: {out.postmortem}")
    if out.proposal_id:
        console.print(f"  proposal {out.proposal_id} waits for approval: "
                      f"`opsagent approvals show {out.proposal_id}`")
    console.print(f"  tools: {', '.join(out.tools_called)}; {out.usage}")

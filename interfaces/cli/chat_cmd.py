"""`opsagent chat` — ask about your models in the terminal; answers stream, tool calls are shown."""

from __future__ import annotations

from textwrap import indent

import typer
from rich.markup import escape

from interfaces.cli.agent_common import agent_runner, whoami
from interfaces.cli.common import UserError, console

MAX_MESSAGE_CHARS = 8000


def chat(message: str | None = typer.Option(None, "--message", "-m", help="ask one question and exit"),
         thread: str | None = typer.Option(None, "--thread", help="conversation id; history is kept per thread "
                                           "across runs (default: one thread per user)"),
         verbose: bool = typer.Option(False, "--verbose", "-v", help="also print each tool call's full result "
                                      "(the facts the answer was written from)")) -> None:
    """Chat with opsagent: status, drift, performance, compare versions, incidents, approvals, or start a
    triage; "retrain MODEL on the last 30 minutes", "roll back MODEL" or "promote the canary" file a proposal for
    approval. Without an LLM configured the offline policy answers the common questions. Type 'exit' to leave."""
    thread_id = thread or f"cli-{whoami()}"
    with agent_runner(quiet=True) as runner:
        if message is not None:
            _turn(runner, message, thread_id, verbose)
            return
        brain = "an LLM" if runner.ctx.settings.llm_configured else "the offline policy (no LLM configured)"
        console.print(f"opsagent chat — thread [bold]{thread_id}[/], answered by {brain}. 'exit' to leave.")
        while True:
            try:
                text = console.input("[bold cyan]you ›[/] ")
            except EOFError:
                break
            if text.strip().lower() in ("exit", "quit", ":q"):
                break
            if text.strip():
                try:
                    _turn(runner, text, thread_id, verbose)
                except UserError as exc:
                    console.print(f"[red]{exc}[/]")


def _turn(runner, text: str, thread_id: str, verbose: bool) -> None:  # type: ignore[no-untyped-def]
    if not text.strip():
        raise UserError("the message is empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise UserError(f"the message is {len(text):,} characters; keep it under {MAX_MESSAGE_CHARS:,}")
    streamed = False
    answer, brain = "", ""
    for kind, value in runner.stream_chat(text, thread_id=thread_id):
        if kind == "token":
            if not streamed:
                console.print("[bold green]opsagent ›[/] ", end="")
                streamed = True
            console.print(value, end="", markup=False, highlight=False)
        elif kind == "call":
            console.print(f"  [dim]→ tool {escape(value)}[/]", markup=True, highlight=False)
        elif kind == "result" and verbose:  # the facts behind the answer, readable, on request
            from graphs.chat_offline import render_result

            name, _, result = value.partition(": ")
            console.print(f"  [dim]← {name}:[/]", highlight=False)
            console.print(indent(render_result(result), "    "), markup=False, highlight=False, style="dim")
        elif kind == "answer":
            answer = value
        elif kind == "brain":
            brain = value
    if streamed:
        console.print()
    else:
        console.print("[bold green]opsagent ›[/] ", end="")
        console.print(answer, markup=False, highlight=False)
    console.print(f"[dim]({brain})[/]")

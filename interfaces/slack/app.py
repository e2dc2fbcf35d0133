"""The opsagent Slack bot: a Bolt app whose listeners reach the dispatcher (chat, triage, the approvals inbox).

- ``/opsagent status|triage|ask|approvals [MODEL]`` — acknowledged at once (Slack wants an answer within
  3 s); the work then runs on Bolt's listener thread and answers through the command's ``response_url``.
- ``@opsagent <question>`` — answered in the thread by the chat graph; one chat thread per Slack thread.
- Approve / Edit / Reject buttons on proposals — only users on ``slack_approvers`` may use them; the dispatcher
  refuses (and audits) anyone else, who gets a polite ephemeral note. Edit opens a modal with the
  proposal's editable fields; its submission is an Agent-Inbox ``edit`` (edit and approve).

HTTP mode: mount it with ``interfaces.slack.http.mount_slack``; Socket Mode: ``start_socket_mode``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from agent.proposals import HumanResponse
from interfaces.dispatch import Dispatcher, DispatchError, NotApprover
from interfaces.slack import blocks as bk
from interfaces.slack.threads import thread_map

logger = logging.getLogger(__name__)

COMMAND = "/opsagent"
HELP = ("*opsagent* — `/opsagent <command>`:\n"
        "• `status [MODEL]` — where a model stands: champion, canary, serving\n"
        "• `triage [MODEL]` — investigate now; the result is posted to the ops channel\n"
        "• `ask <question>` — ask the ops assistant (e.g. `ask why did churn F1 drop?`)\n"
        "• `approvals [MODEL]` — proposals waiting for approval, with Approve / Edit / Reject\n"
        "You can also mention me in a channel: `@opsagent compare 1 2`.")
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")
Respond = Callable[..., Any]


def build_slack_app(dispatcher: Dispatcher, *, client: WebClient | None = None) -> App:
    """The Bolt app for ``dispatcher``: token and signing secret from ``dispatcher.settings``; signature checks on.

    ``client`` defaults to a ``WebClient`` on ``settings.slack_api_base_url`` (tests: a stand-in). Nothing
    calls Slack here (token verification is off), so `opsagent serve` starts even when Slack is unreachable.
    """
    s = dispatcher.settings
    if client is None:
        if s.slack_bot_token is None:
            raise ValueError("Slack needs a bot token: set SLACK_BOT_TOKEN (xoxb-...)")
        kwargs: dict[str, Any] = {"base_url": s.slack_api_base_url} if s.slack_api_base_url else {}
        client = WebClient(token=s.slack_bot_token.get_secret_value(), **kwargs)
    secret = s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else ""
    if not secret and not s.slack_socket_mode:
        raise ValueError("Slack over HTTP needs the signing secret to verify requests: set SLACK_SIGNING_SECRET")
    app = App(client=client, signing_secret=secret, token_verification_enabled=False, name="opsagent",
              request_verification_enabled=bool(secret) or not s.slack_socket_mode)
    OpsagentListeners(dispatcher).register(app)
    return app


def start_socket_mode(bolt_app: App, app_token: str) -> SocketModeHandler:
    """Connect ``bolt_app`` to Slack over Socket Mode (a WebSocket opened from here; no public URL needed).

    Non-blocking: ``connect()`` returns once the connection is up and events arrive on the handler's own
    threads. Call ``handler.close()`` to disconnect (``opsagent serve`` does on shutdown). ``app_token`` is
    the ``xapp-...`` app-level token with the ``connections:write`` scope.
    """
    handler = SocketModeHandler(bolt_app, app_token=app_token)
    handler.connect()
    return handler


class OpsagentListeners:
    """The listeners, holding the dispatcher; each catches its own errors so a person never sees a traceback."""

    def __init__(self, dispatcher: Dispatcher):
        self.dispatcher = dispatcher
        self.threads = thread_map(dispatcher.ctx.layout.home)

    def register(self, app: App) -> None:
        app.command(COMMAND)(self.on_command)
        app.event("app_mention")(self.on_mention)
        app.action(bk.APPROVE)(self.on_approve)
        app.action(bk.REJECT)(self.on_reject)
        app.action(bk.EDIT)(self.on_edit)
        app.view(bk.EDIT_VIEW)(self.on_edit_submit)
        app.event("message")(lambda: None)  # plain channel messages: acknowledged, not answered

    # ---- /opsagent -------------------------------------------------------------------------------
    def on_command(self, ack: Callable[..., Any], command: dict[str, Any], respond: Respond) -> None:
        sub, _, rest = str(command.get("text") or "").strip().partition(" ")
        sub, rest = sub.lower(), rest.strip()
        user, channel = str(command.get("user_id") or "unknown"), str(command.get("channel_id") or "unknown")
        handlers = {"status": self._status, "triage": self._triage, "ask": self._ask, "approvals": self._approvals}
        if sub not in handlers or (sub == "ask" and not rest):
            prefix = f"I don't know `{sub}`.\n" if sub not in handlers and sub not in ("", "help") else ""
            if sub == "ask":
                prefix = "`ask` needs a question, e.g. `/opsagent ask why did churn F1 drop?`\n"
            ack(text=prefix + HELP, response_type="ephemeral")
            return
        target = rest.split()[0] if rest.split() else self.dispatcher.settings.model_name
        intro = {"status": f"Looking up {target}…", "triage": f"Starting a triage of {target}…", "ask": "Thinking…",
                 "approvals": "Fetching the proposals waiting for approval…"}[sub]
        ack(text=intro, response_type="ephemeral")
        try:
            handlers[sub](rest, user=user, channel=channel, respond=respond)
        except DispatchError as exc:
            _safe_respond(respond, text=f":warning: {exc}")
        except Exception as exc:
            logger.exception("/opsagent %s failed", sub)
            _safe_respond(respond, text=f":x: `/opsagent {sub}` failed: {type(exc).__name__}: {exc}")

    def _model(self, arg: str) -> str:
        name = arg.split()[0] if arg.split() else self.dispatcher.settings.model_name
        known = self.dispatcher.models()
        if name not in known:
            raise DispatchError(f"no registered model '{name}'; registered: {', '.join(known) or 'none yet'}")
        return name

    def _status(self, arg: str, *, user: str, channel: str, respond: Respond) -> None:
        from graphs.chat_offline import render
        from tools.catalog import call_tool

        model = self._model(arg)
        raw = call_tool(self.dispatcher.ctx, "model_status", {"model": model})
        try:
            body = "\n".join(render(json.loads(raw)))
        except ValueError:
            body = raw  # "error: ..." from the tool, already a sentence
        pending = self.dispatcher.ctx.approvals.pending(model)
        more = f"\n{len(pending)} proposal(s) waiting: `/opsagent approvals {model}`" if pending else ""
        respond(text=bk.mrkdwn(f"*Status of {model}*\n{body}{more}"), response_type="in_channel")

    def _triage(self, arg: str, *, user: str, channel: str, respond: Respond) -> None:
        job = self.dispatcher.start_triage(self._model(arg), actor=user, via="slack")
        where = self.dispatcher.settings.slack_channel
        if where:
            respond(text=f"Triage of *{job.model}* is running (`{job.id}`); the result will be posted in <#{where}>.",
                    response_type="in_channel")
            return
        respond(text=f"Triage of *{job.model}* is running (`{job.id}`); I'll answer here when it is done.")
        done = self.dispatcher.wait(job.id, timeout=25 * 60)  # a response_url lives 30 minutes
        _safe_respond(respond, text=bk.truncate(f"Triage of *{job.model}*: {done.message}"))

    def _ask(self, arg: str, *, user: str, channel: str, respond: Respond) -> None:
        answer, brain = self.dispatcher.chat(arg, thread_id=f"slack-{channel}-{user}", actor=user, via="slack")
        respond(text=bk.mrkdwn(f"> {bk.truncate(arg, 300)}\n{answer or '(no answer)'}\n_{brain}_"),
                response_type="in_channel")

    def _approvals(self, arg: str, *, user: str, channel: str, respond: Respond) -> None:
        model = self._model(arg) if arg.split() else None
        pending = [r.proposal for r in self.dispatcher.pending() if model is None or r.proposal.model == model]
        respond(text=f"{len(pending)} proposal(s) waiting for approval", blocks=bk.pending_list_blocks(pending))

    # ---- @opsagent -------------------------------------------------------------------------------
    def on_mention(self, event: dict[str, Any], client: WebClient) -> None:
        channel, user = event.get("channel"), str(event.get("user") or "unknown")
        thread_ts = event.get("thread_ts") or event.get("ts")
        if not channel or not thread_ts:
            logger.warning("Slack: an app_mention without channel or ts; ignored")
            return
        question = _MENTION.sub("", str(event.get("text") or "")).strip()
        try:
            if not question:
                text = HELP
            else:
                answer, brain = self.dispatcher.chat(question, thread_id=f"slack-{channel}-{thread_ts}", actor=user,
                                               via="slack")
                text = bk.mrkdwn(f"{answer or '(no answer)'}\n_{brain}_")
        except DispatchError as exc:
            text = f":warning: {exc}"
        except Exception as exc:
            logger.exception("answering a mention failed")
            text = f":x: that failed: {type(exc).__name__}: {exc}"
        _log_slack_errors(lambda: client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text))

    # ---- buttons ---------------------------------------------------------------------------------
    def on_approve(self, ack: Callable[..., Any], body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        self._decide(body, client, respond, "accept")

    def on_reject(self, ack: Callable[..., Any], body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        self._decide(body, client, respond, "ignore")

    def _decide(self, body: dict[str, Any], client: WebClient, respond: Respond, answer: str) -> None:
        click = Click.of(body)
        if click.proposal_id is None:
            click.tell(client, respond, "That button carried no proposal id; nothing was changed.")
            return
        self._remember(click)
        try:
            job = self.dispatcher.answer(click.proposal_id, HumanResponse(type=answer, by=click.user, via="slack"))  # type: ignore[arg-type]
        except DispatchError as exc:  # NotApprover included: audited by the dispatcher, nothing changed
            click.tell(client, respond, str(exc))
            return
        note = (f"remediation started (`{job.id}`)" if answer == "accept" else "nothing will be executed")
        self._mark(click, client, respond, "approved" if answer == "accept" else "rejected", note)

    def on_edit(self, ack: Callable[..., Any], body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        click = Click.of(body)
        store = self.dispatcher.ctx.approvals
        try:
            if click.proposal_id is None:
                raise DispatchError("that button carried no proposal id; nothing was changed")
            record = store.get(click.proposal_id)
            if not self.dispatcher.may_approve(click.user, "slack"):
                # The same refusal the dispatcher gives (and audits) on a submit, before anyone fills in the form.
                store.note(record.id, "refused-not-approver", actor=click.user, via="slack", detail={"answer": "edit"})
                raise NotApprover(f"sorry, {click.user} is not on the approver list for slack, so the proposal "
                                  f"cannot be edited. Ask an approver, or an admin to add you "
                                  f"(OPSAGENT_SLACK_APPROVERS)")
            if record.status != "pending":
                raise DispatchError(f"proposal {record.id} is {record.status}, not pending; nothing to edit")
            if not record.proposal.editable:
                raise DispatchError(f"a {record.proposal.kind} proposal has no editable fields; Approve or Reject it")
        except Exception as exc:  # ApprovalError (unknown id) and DispatchError: tell the person
            click.tell(client, respond, str(exc))
            return
        view = bk.edit_modal(record.proposal, channel=click.channel, ts=click.ts, ephemeral=click.ephemeral,
                             response_url=click.response_url)
        if not click.trigger_id:
            click.tell(client, respond, "Slack sent no trigger id, so the edit form cannot open; try again.")
            return
        _log_slack_errors(lambda: client.views_open(trigger_id=click.trigger_id, view=view))

    def on_edit_submit(self, ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any],
                       client: WebClient) -> None:
        user = str((body.get("user") or {}).get("id") or "unknown")
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            record = self.dispatcher.ctx.approvals.get(str(meta["proposal_id"]))
        except Exception:
            ack(response_action="errors", errors=_first_error(view, "this form lost its proposal; close it and "
                                                                      "press Edit on the proposal again"))
            return
        changes, errors = bk.edit_changes(record.proposal, (view.get("state") or {}).get("values") or {})
        if errors:
            ack(response_action="errors", errors=errors)
            return
        if not changes:
            ack(response_action="errors", errors=_first_error(view, "nothing changed; change a value, or close this "
                                                                    "and press Approve"))
            return
        click = Click(user=user, proposal_id=record.id, channel=meta.get("channel"), ts=meta.get("ts"),
                      ephemeral=bool(meta.get("ephemeral")), response_url=meta.get("response_url"), blocks=None)
        self._remember(click)
        try:
            job = self.dispatcher.answer(record.id, HumanResponse(type="edit", args=changes, by=user, via="slack"))
        except NotApprover as exc:
            ack()
            refusal = str(exc)
            _log_slack_errors(lambda: client.chat_postEphemeral(channel=meta.get("channel") or user, user=user,
                                                                text=refusal))
            return
        except DispatchError as exc:
            field = next((n for n in sorted(record.proposal.editable) if n in str(exc)), None)
            ack(response_action="errors", errors={field: str(exc)} if field else _first_error(view, str(exc)))
            return
        ack()
        edits = ", ".join(f"{k}={v}" for k, v in changes.items())
        self._mark(click, client, None, "edited and approved", f"{edits}; remediation started (`{job.id}`)")

    def _mark(self, click: Click, client: WebClient, respond: Respond | None, decision: str, note: str) -> None:
        """Show on the proposal's message who decided, without the buttons; remember it as the proposal's thread."""
        assert click.proposal_id is not None
        record = self.dispatcher.ctx.approvals.get(click.proposal_id)
        new = bk.decided_blocks(record.proposal, decision=decision, by=click.user, note=note)
        blocks = bk.replace_proposal_blocks(click.blocks, record.id, new) if click.blocks else new
        text = f"{record.proposal.title}: {decision} by {click.user}"
        if click.ephemeral or not (click.channel and click.ts):
            url = click.response_url
            if url:
                from slack_sdk.webhook import WebhookClient

                _log_slack_errors(lambda: WebhookClient(url).send(text=text, blocks=blocks, replace_original=True))
            return
        channel, ts = click.channel, click.ts
        _log_slack_errors(lambda: client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))

    def _remember(self, click: Click) -> None:
        """Before answering: the clicked message becomes the proposal's thread if it has none yet, so the
        notifier puts "remediation started" and the outcome under it (they may be published at once)."""
        if click.ephemeral or not (click.channel and click.ts and click.proposal_id):
            return
        try:
            incident = self.dispatcher.ctx.approvals.get(click.proposal_id).proposal.incident_id
        except Exception:
            return  # an unknown id: dispatcher.answer says so
        if self.threads.find(incident, click.proposal_id) is None:
            self.threads.remember("proposal", click.proposal_id, click.channel, click.ts)


class Click:
    """What a block action (or the edit modal's metadata) says about who clicked what, where."""

    def __init__(self, *, user: str, proposal_id: str | None, channel: str | None, ts: str | None, ephemeral: bool,
                 response_url: str | None, blocks: list[dict[str, Any]] | None, trigger_id: str | None = None):
        self.user, self.proposal_id, self.channel, self.ts = user, proposal_id, channel, ts
        self.ephemeral, self.response_url, self.blocks, self.trigger_id = ephemeral, response_url, blocks, trigger_id

    @classmethod
    def of(cls, body: dict[str, Any]) -> Click:
        actions = body.get("actions") or [{}]
        container = body.get("container") or {}
        message = body.get("message") or {}
        value = str(actions[0].get("value") or "").strip() if isinstance(actions[0], dict) else ""
        return cls(user=str((body.get("user") or {}).get("id") or "unknown"), proposal_id=value or None,
                   channel=container.get("channel_id") or (body.get("channel") or {}).get("id"),
                   ts=container.get("message_ts") or message.get("ts"),
                   ephemeral=bool(container.get("is_ephemeral")), response_url=body.get("response_url"),
                   blocks=message.get("blocks"), trigger_id=body.get("trigger_id"))

    def tell(self, client: WebClient, respond: Respond | None, text: str) -> None:
        """An ephemeral note to the person who clicked (a refusal, a proposal no longer pending)."""
        if self.channel and not self.ephemeral:
            channel = self.channel
            _log_slack_errors(lambda: client.chat_postEphemeral(channel=channel, user=self.user, text=text))
        elif respond is not None and self.response_url:
            _safe_respond(respond, text=text, response_type="ephemeral", replace_original=False)


def _first_error(view: dict[str, Any], message: str) -> dict[str, str]:
    """Errors for a modal, on its first input block (Slack shows view errors next to an input)."""
    inputs = [b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input" and b.get("block_id")]
    return {str(inputs[0]) if inputs else "epochs": message}


def _log_slack_errors(call: Callable[[], Any]) -> None:
    try:
        call()
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.warning("Slack call failed: %s", exc)


def _safe_respond(respond: Respond, **kwargs: Any) -> None:
    try:
        respond(**kwargs)
    except Exception as exc:  # the response_url expired or Slack is unreachable: nothing more we can do
        logger.warning("Slack respond() failed: %s", exc)

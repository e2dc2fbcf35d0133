"""Approve / Edit / Reject on a proposal's Slack message, and the edit modal.

Only users on ``slack_approvers`` may use them; the dispatcher refuses (and audits) anyone else, who gets a
polite ephemeral note. Edit opens a modal with the proposal's editable fields; its submission is an
Agent-Inbox ``edit`` (edit and approve).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from agent.proposals import Accept, Edit, Ignore
from interfaces.dispatch import Dispatcher, DispatchError, NotApprover
from interfaces.slack import blocks as bk
from interfaces.slack.replies import Click, Respond, first_error, log_slack_errors
from interfaces.slack.threads import ThreadMap


class ButtonListeners:
    """The proposal buttons and the edit modal; each catches its own errors so a person never sees a traceback."""

    def __init__(self, dispatcher: Dispatcher, threads: ThreadMap):
        self.dispatcher = dispatcher
        self.threads = threads

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
            response = Accept(by=click.user, via="slack") if answer == "accept" else Ignore(by=click.user, via="slack")
            job = self.dispatcher.answer(click.proposal_id, response)
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
                raise self.dispatcher.approvers.refusal(click.user, "slack", what="edited")
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
        log_slack_errors(lambda: client.views_open(trigger_id=click.trigger_id, view=view))

    def on_edit_submit(self, ack: Callable[..., Any], body: dict[str, Any], view: dict[str, Any],
                       client: WebClient) -> None:
        user = str((body.get("user") or {}).get("id") or "unknown")
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            record = self.dispatcher.ctx.approvals.get(str(meta["proposal_id"]))
        except Exception:
            ack(response_action="errors", errors=first_error(view, "this form lost its proposal; close it and "
                                                                      "press Edit on the proposal again"))
            return
        changes, errors = bk.edit_changes(record.proposal, (view.get("state") or {}).get("values") or {})
        if errors:
            ack(response_action="errors", errors=errors)
            return
        if not changes:
            ack(response_action="errors", errors=first_error(view, "nothing changed; change a value, or close this "
                                                                    "and press Approve"))
            return
        click = Click(user=user, proposal_id=record.id, channel=meta.get("channel"), ts=meta.get("ts"),
                      ephemeral=bool(meta.get("ephemeral")), response_url=meta.get("response_url"), blocks=None)
        self._remember(click)
        try:
            job = self.dispatcher.answer(record.id, Edit(args=changes, by=user, via="slack"))
        except NotApprover as exc:
            ack()
            refusal = str(exc)
            log_slack_errors(lambda: client.chat_postEphemeral(channel=meta.get("channel") or user, user=user,
                                                                text=refusal))
            return
        except DispatchError as exc:
            field = next((n for n in sorted(record.proposal.editable) if n in str(exc)), None)
            ack(response_action="errors", errors={field: str(exc)} if field else first_error(view, str(exc)))
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

                log_slack_errors(lambda: WebhookClient(url).send(text=text, blocks=blocks, replace_original=True))
            return
        channel, ts = click.channel, click.ts
        log_slack_errors(lambda: client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))

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



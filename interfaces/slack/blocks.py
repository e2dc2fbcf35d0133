"""Block Kit for opsagent's Slack messages: proposals with Approve / Edit / Reject, incidents, outcomes,
the edit modal, and Markdown → Slack mrkdwn. Pure functions: no Slack calls, no stores.

Slack's limits shape the code: a section's text is at most 3000 characters, a message at most 50 blocks,
an ``initial_value`` of a plain-text input at most 3000 characters.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from agent.proposals import Proposal
from agent.reports.render import proposal_summary, utc_iso

APPROVE, EDIT, REJECT = "opsagent_approve", "opsagent_edit", "opsagent_reject"
EDIT_VIEW = "opsagent_edit_submit"  # callback_id of the edit modal
INPUT_ACTION = "value"  # action_id of every input in the edit modal; the block_id is the field name
SECTION_MAX = 3000
CONFIRM_TEXT_MAX = 300  # Slack's limit on a confirmation dialog's text
POSTMORTEM_MAX = 2900  # leaves room for the web link under Slack's 3000-character section limit
_TIME_FIELDS = frozenset({"window_since", "window_until"})
_PREFIX = "opsagent:"  # block ids of a proposal's blocks: opsagent:<proposal id>:<n>

Blocks = list[dict[str, Any]]


def truncate(text: str, limit: int = SECTION_MAX) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text or "-")}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 2000)}]}


def mrkdwn(markdown: str, limit: int = SECTION_MAX) -> str:
    """Markdown (post-mortems, chat answers) as Slack mrkdwn: headings and **bold** become *bold*, links
    become <url|text>, tables become "key: value" lines, images become their path; cut to ``limit``."""
    lines: list[str] = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"\|?[\s:|-]+\|?", stripped) and "-" in stripped:
            continue  # a table's separator row
        if stripped.startswith("|") and stripped.endswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            cells = [c for c in cells if c]
            if not cells:
                continue
            line = f"{cells[0]}: {' · '.join(cells[1:])}" if len(cells) > 1 else cells[0]
        elif m := re.match(r"^#{1,6}\s+(.*)$", stripped):
            line = f"*{m.group(1).strip()}*"
        line = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", r"\1 (\2)", line)
        line = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r"<\2|\1>", line)
        line = re.sub(r"<(https?://[^>|\s]+)>", r"<\1>", line)
        line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", line)
        line = re.sub(r"^(\s*)- \[ \] ", r"\1☐ ", line)
        line = re.sub(r"^(\s*)[-*] ", r"\1• ", line)
        lines.append(line)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return truncate(text, limit)


# ---- proposals -----------------------------------------------------------------------------------------

def _field_value(name: str, value: Any) -> str:
    if name in _TIME_FIELDS:
        return "" if value is None else utc_iso(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def proposal_blocks(proposal: Proposal, *, status: str = "pending", buttons: bool = True) -> Blocks:
    """A proposal for an inbox message: title, rationale, key numbers, and (while pending) the buttons."""
    p = proposal
    blocks = _proposal_body(p, status)
    if buttons and status == "pending":
        blocks.append(action_buttons(p))
    return _tag(blocks, p.id)


def _proposal_body(p: Proposal, status: str) -> Blocks:
    blocks: Blocks = [
        section(f"*Proposal {p.id}* · `{p.kind}` · *{p.model}* · {status}\n*{p.title}*"),
        section(truncate(p.rationale or "-", 1500)),
        context(truncate(proposal_summary(p), 1900)),
    ]
    if p.evidence:
        evidence = "\n".join(f"• *{e.source}*: {e.detail}" for e in p.evidence[:5])
        blocks.append(section(truncate(f"*Evidence*\n{evidence}", 2000)))
    if p.editable:
        values = ", ".join(f"{n}={_field_value(n, getattr(p, n)) or '-'}" for n in sorted(p.editable))
        blocks.append(context(f"Editable: {values}"))
    return blocks


def _tag(blocks: Blocks, pid: str) -> Blocks:
    """Give each block of one proposal a block_id naming it, so a decision can replace exactly those blocks."""
    for i, block in enumerate(blocks):
        block["block_id"] = f"{_PREFIX}{pid}:{i}"[:255]
    return blocks


def replace_proposal_blocks(blocks: Blocks, pid: str, new: Blocks) -> Blocks:
    """``blocks`` (a message as Slack sends it back) with proposal ``pid``'s blocks replaced by ``new``;
    without tagged blocks (an older message), its buttons go and ``new`` is appended."""
    mine = f"{_PREFIX}{pid}:"
    out: Blocks = []
    placed = False
    for block in blocks:
        if str(block.get("block_id") or "").startswith(mine):
            if not placed:
                out += new
                placed = True
        else:
            out.append(block)
    if not placed:
        out = [b for b in out if b.get("type") != "actions"] + new
    return out


def action_buttons(proposal: Proposal) -> dict[str, Any]:
    """Approve / Edit / Reject, each carrying the proposal id as its value (Edit only if something is editable)."""
    pid = proposal.id
    # Approving starts real work (a retrain, a canary, a rollback), so it asks first, as Reject does.
    elements: list[dict[str, Any]] = [
        {"type": "button", "action_id": APPROVE, "style": "primary", "value": pid,
         "text": {"type": "plain_text", "text": "Approve"},
         "confirm": {"title": {"type": "plain_text", "text": "Approve this proposal?"},
                     "text": {"type": "mrkdwn", "text": truncate(
                         f"{proposal.title}\nopsagent will run it now: {proposal_summary(proposal)}",
                         CONFIRM_TEXT_MAX)},
                     "confirm": {"type": "plain_text", "text": "Approve and run"},
                     "deny": {"type": "plain_text", "text": "Not yet"}}},
    ]
    if proposal.editable:
        elements.append({"type": "button", "action_id": EDIT, "value": pid,
                         "text": {"type": "plain_text", "text": "Edit"}})
    elements.append({"type": "button", "action_id": REJECT, "style": "danger", "value": pid,
                     "text": {"type": "plain_text", "text": "Reject"},
                     "confirm": {"title": {"type": "plain_text", "text": "Reject this proposal?"},
                                 "text": {"type": "mrkdwn", "text": f"{proposal.title}\nNothing will be executed."},
                                 "confirm": {"type": "plain_text", "text": "Reject"},
                                 "deny": {"type": "plain_text", "text": "Keep it"}}})
    return {"type": "actions", "elements": elements}


def decided_blocks(proposal: Proposal, *, decision: str, by: str, note: str = "") -> Blocks:
    """The proposal message after a decision: no buttons, and who decided what ("approved by <@U1>")."""
    blocks = _proposal_body(proposal, decision)
    who = f"<@{by}>" if re.fullmatch(r"[UW][A-Z0-9]+", by) else by
    blocks.append(context(f"*{decision}* by {who}" + (f" — {note}" if note else "")))
    return _tag(blocks, proposal.id)


def pending_list_blocks(proposals: list[Proposal], *, limit: int = 8) -> Blocks:
    """The reply to `/opsagent approvals`: each pending proposal with its buttons (Slack allows 50 blocks)."""
    if not proposals:
        return [section("Nothing is waiting for approval.")]
    blocks: Blocks = [section(f"*{len(proposals)} proposal(s) waiting for approval*")]
    for p in proposals[:limit]:
        blocks.append({"type": "divider"})
        blocks += proposal_blocks(p)
    if len(proposals) > limit:
        blocks.append(context(f"…and {len(proposals) - limit} more: `/opsagent approvals MODEL` narrows the list"))
    return blocks


# ---- incidents and outcomes ----------------------------------------------------------------------------

def incident_blocks(text: str, *, model: str | None, incident_id: str | None, web_url: str,
                    proposal: Proposal | None) -> Blocks:
    """A new incident: the diagnosis summary, a link to its page, and the proposal with buttons if one was filed."""
    head = f":rotating_light: *Incident {incident_id or ''}* on *{model or '?'}*"
    blocks: Blocks = [section(f"{head}\n{truncate(text, 2500)}")]
    if incident_id:
        blocks.append(context(f"<{web_url}/incidents/{incident_id}|Open the incident> · post-mortem in the thread"))
    if proposal is not None:
        blocks.append({"type": "divider"})
        blocks += proposal_blocks(proposal)
    return blocks


def outcome_text(kind: str, text: str, status: str | None, steps: tuple[str, ...] | list[str]) -> str:
    """A thread reply for a remediation, answer or refusal: an icon, the event's text, and its steps."""
    icon = {"executed": ":white_check_mark:", "failed": ":x:", "refused": ":no_entry:", "rejected": ":wastebasket:",
            "pending": ":hourglass:"}.get(status or "", ":information_source:")
    if kind == "remediation_started":
        icon = ":gear:"
    elif kind == "refused" and not status:
        icon = ":lock:"
    out = f"{icon} {text}"
    if steps:
        out += "\n" + "\n".join(f"• {s}" for s in steps[:25])
        if len(steps) > 25:
            out += f"\n• …and {len(steps) - 25} more steps"
    return truncate(out)


# ---- the edit modal ------------------------------------------------------------------------------------

def edit_modal(proposal: Proposal, *, channel: str | None, ts: str | None, ephemeral: bool = False,
               response_url: str | None = None) -> dict[str, Any]:
    """A modal with one input per editable field, prefilled; ``private_metadata`` says which message to update."""
    blocks: Blocks = [section(f"*{proposal.title}*\n`{proposal.id}`")]
    for name in sorted(proposal.editable):
        value = _field_value(name, getattr(proposal, name))
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": INPUT_ACTION}
        if value:
            element["initial_value"] = value[:3000]
        hint = "UTC time like 2025-01-31T12:00:00Z; empty: no limit" if name in _TIME_FIELDS else None
        block: dict[str, Any] = {"type": "input", "block_id": name, "optional": name in _TIME_FIELDS,
                                 "label": {"type": "plain_text", "text": name.replace("_", " ")[:2000]},
                                 "element": element}
        if hint:
            block["hint"] = {"type": "plain_text", "text": hint}
        blocks.append(block)
    meta = json.dumps({"proposal_id": proposal.id, "channel": channel, "ts": ts, "ephemeral": ephemeral,
                       "response_url": response_url})
    return {"type": "modal", "callback_id": EDIT_VIEW, "private_metadata": meta,
            "title": {"type": "plain_text", "text": "Edit proposal"},
            "submit": {"type": "plain_text", "text": "Edit and approve"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def parse_field(name: str, raw: str | None) -> Any:
    """A modal input as the value the proposal field wants: numbers, yes/no, UTC times, or text.

    Raises ValueError with a message for the person when the text cannot be that kind of value.
    """
    text = (raw or "").strip()
    if name in _TIME_FIELDS:
        if not text:
            return None
        try:
            when = datetime.fromisoformat(text.replace(" ", "T"))
        except ValueError:
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"'{text}' is not a time; write it like 2025-01-31T12:00:00Z") from None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    if not text:
        raise ValueError("give a value")
    if text.lower() in ("yes", "true", "on"):
        return True
    if text.lower() in ("no", "false", "off"):
        return False
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def edit_changes(proposal: Proposal, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """From a view_submission's ``state.values``: (changed fields, errors keyed by block id)."""
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in sorted(proposal.editable):
        raw = (values.get(name) or {}).get(INPUT_ACTION) or {}
        try:
            value = parse_field(name, raw.get("value"))
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        current = getattr(proposal, name)
        if name in _TIME_FIELDS:  # shown to the second: a value within a second of the old one is unchanged
            same = (value is None) == (current is None) and (value is None or abs(value - current) < 1.0)
        elif isinstance(current, bool) or isinstance(value, bool):
            same = value == current and type(value) is type(current)
        elif isinstance(current, int | float) and isinstance(value, int | float):
            same = abs(float(value) - float(current)) < 1e-9 * max(1.0, abs(float(current)))
        else:
            same = value == current
        if not same:
            changes[name] = value
    return changes, errors

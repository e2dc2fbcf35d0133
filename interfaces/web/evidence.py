"""What the web page shows beside a proposal or an incident: evidence, drift plots, similar past incidents,
the post-mortem as HTML, and the report files it may serve (only from inside the home's reports folder).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from markdown_it import MarkdownIt

from agent.incidents import IncidentError, IncidentRecord, IncidentStore
from agent.reports.render import _format_value, parse_utc, proposal_summary, utc_iso
from interfaces.dispatch import DispatchError
from ml_core.paths import HomeLayout

if TYPE_CHECKING:
    from agent.approvals import ProposalRecord
    from agent.memory import Memory

logger = logging.getLogger(__name__)
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
TEXT_TYPES = {".md", ".json", ".txt", ".log"}  # served as text/plain, never rendered by the browser
DOWNLOAD_TYPES = {".html"}  # Evidently's reports run scripts: downloaded, never shown on this origin
TIME_FIELDS = frozenset({"window_since", "window_until"})  # unix seconds in the proposal, dates in the form


@dataclass
class Param:
    name: str
    value: str  # as the edit form shows it
    editable: bool
    choices: list[str] = field(default_factory=list)  # for a select (booleans, Literals)


@dataclass
class ProposalView:
    record: ProposalRecord
    summary: str
    params: list[Param]
    incident: IncidentRecord | None
    plots: list[tuple[str, str]]  # (feature, URL)
    similar: list[tuple[str, float, str]]  # (memory id, similarity, text)
    memory_evidence: list[str]


def report_path(layout: HomeLayout, relative: str) -> Path | None:
    """The file ``relative`` names inside the reports folder, or None (missing, or outside the folder)."""
    base = layout.reports_dir.resolve()
    if not relative or "\0" in relative:
        return None
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def report_url(layout: HomeLayout, path: Path) -> str | None:
    """``/reports/<path inside the reports folder>``, or None when the path is outside it."""
    base = layout.reports_dir.resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(base):
        return None
    return "/reports/" + resolved.relative_to(base).as_posix()


def postmortem_file(layout: HomeLayout, incident: IncidentRecord) -> Path | None:
    """The incident's post-mortem Markdown, if it exists inside the reports folder.

    A home that was moved or restored from a backup keeps old absolute paths in its records; the
    post-mortem is then looked up where reports always go, ``reports/<incident>/postmortem.md``.
    """
    candidates = [layout.reports_dir / incident.id / "postmortem.md"]
    if incident.postmortem_path:
        path = Path(incident.postmortem_path)
        candidates.insert(0, path if path.is_absolute() else layout.reports_dir / path)
    for path in candidates:
        if report_url(layout, path) and path.is_file():
            return path.resolve()
    return None


def drift_plots(layout: HomeLayout, incident: IncidentRecord | None) -> list[tuple[str, str]]:
    """(feature, URL) of the reference-vs-current plots saved beside the incident's post-mortem."""
    pm = postmortem_file(layout, incident) if incident else None
    if pm is None:
        return []
    out = []
    for png in sorted((pm.parent / "plots").glob("*.png")):
        url = report_url(layout, png)
        if url:
            out.append((png.stem, url))
    return out


def editable_params(record: ProposalRecord) -> list[Param]:
    """The proposal's own parameters, as the edit form shows them (editable ones first)."""
    p = record.proposal
    skip = {"id", "model", "title", "rationale", "evidence", "champion_version", "created_at", "expires_at",
            "brain", "incident_id", "rollback_plan", "kind"}
    params = []
    for name, info in type(p).model_fields.items():
        if name in skip:
            continue
        value = getattr(p, name)
        editable = name in p.editable
        choices: list[str] = []
        if isinstance(value, bool):
            choices = ["true", "false"]
            shown = "true" if value else "false"
        elif editable and name in TIME_FIELDS:
            shown = "" if value is None else utc_iso(value)  # a date a person reads; empty = open end
        elif editable:
            shown = "" if value is None else str(value)
            literal = getattr(info.annotation, "__args__", None)
            if literal and all(isinstance(a, str) for a in literal):
                choices = list(literal)
        else:
            shown = _format_value(name, value)
        params.append(Param(name, shown, editable, choices))
    return sorted(params, key=lambda x: not x.editable)


def form_changes(record: ProposalRecord, form: dict[str, str]) -> dict[str, Any]:
    """The edit form's fields that differ from the proposal (``field.<name>``); empty text is None, a time field's
    date is unix seconds again (unchanged when within the second it was shown to). A date that cannot be read is a
    ``DispatchError`` saying how to write it."""
    shown = {p.name: p.value for p in editable_params(record) if p.editable}
    changes: dict[str, Any] = {}
    for key, value in form.items():
        if not key.startswith("field."):
            continue
        name = key.removeprefix("field.")
        if name not in shown:
            changes[name] = value  # apply_edit says it cannot be edited
        elif name in TIME_FIELDS:
            try:
                when = parse_utc(value)
            except ValueError as exc:
                raise DispatchError(f"{name}: {exc}") from exc
            current = getattr(record.proposal, name)
            if (when is None) != (current is None) or (when is not None and abs(when - current) >= 1.0):
                changes[name] = when
        elif value.strip() != shown[name]:
            changes[name] = value.strip() or None
    return changes


def proposal_view(layout: HomeLayout, incidents: IncidentStore, memory: Memory | None,
                  record: ProposalRecord) -> ProposalView:
    """Everything the proposal page shows; memory recall is best-effort (it never breaks the page)."""
    p = record.proposal
    incident = None
    if p.incident_id:
        try:
            incident = incidents.get(p.incident_id)
        except IncidentError:
            incident = None
    if incident is None:
        incident = incidents.for_proposal(p.id)
    similar: list[tuple[str, float, str]] = []
    if memory is not None:
        try:
            for hit in memory.search(f"{p.title}. {p.rationale}"[:500], k=3, model=p.model, kind="incident"):
                if incident is None or hit.metadata.get("incident_id") != incident.id:
                    similar.append((hit.id, hit.similarity, hit.text[:300]))
        except Exception:  # a broken memory store must not hide the proposal
            logger.exception("memory search for %s failed", p.id)
    return ProposalView(record=record, summary=proposal_summary(p), params=editable_params(record),
                        incident=incident, plots=drift_plots(layout, incident), similar=similar,
                        memory_evidence=[f"{e.source}: {e.detail}" for e in p.evidence
                                         if e.source.lower().startswith("memory")])


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_markdown(text: str, *, base_url: str | None = None) -> str:
    """Markdown as HTML with raw HTML escaped; relative image/link targets are made relative to ``base_url``."""
    tokens = _MARKDOWN.parse(text)
    if base_url:
        for token in tokens:
            for child in token.children or []:
                attr = "src" if child.type == "image" else "href" if child.type == "link_open" else None
                target = str(child.attrGet(attr) or "") if attr else ""
                if attr and target and not target.startswith(("/", "#")) and ":" not in target:
                    child.attrSet(attr, f"{base_url.rstrip('/')}/{PurePosixPath(target).as_posix()}")
    return _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})

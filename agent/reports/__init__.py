"""Reports for people: post-mortems (typed record, templated writer, Markdown, files, later events) and
proposals."""

from __future__ import annotations

from agent.reports.postmortem_builder import build_postmortem
from agent.reports.postmortem_events import PostMortemEvent, append_decision, apply_event
from agent.reports.postmortem_files import load_postmortem, report_dir, save_postmortem
from agent.reports.postmortem_model import ActionItem, PostMortem, TimelineEvent
from agent.reports.render import proposal_summary, render_postmortem, render_proposal, utc_iso

__all__ = ["ActionItem", "PostMortem", "PostMortemEvent", "TimelineEvent", "append_decision", "apply_event",
           "build_postmortem", "load_postmortem", "proposal_summary", "render_postmortem", "render_proposal",
           "report_dir", "save_postmortem", "utc_iso"]

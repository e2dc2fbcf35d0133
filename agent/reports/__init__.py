"""Report writers: post-mortems and proposal documents.

``postmortem_model`` is the typed record, ``postmortem_builder`` the templated (offline) writer,
``postmortem_files`` the files on disk and ``render`` the Markdown. The LLM writer lives in
``agent.reports.llm_writer`` and is imported only where an LLM is configured (pydantic-ai is a heavy import).
"""

from agent.reports.postmortem_builder import build_postmortem
from agent.reports.postmortem_files import append_decision, load_postmortem, report_dir, save_postmortem
from agent.reports.postmortem_model import PostMortem, TimelineEvent
from agent.reports.render import proposal_summary, render_postmortem, render_proposal, utc_iso

__all__ = ["PostMortem", "TimelineEvent", "append_decision", "build_postmortem", "load_postmortem",
           "proposal_summary", "render_postmortem", "render_proposal", "report_dir", "save_postmortem", "utc_iso"]

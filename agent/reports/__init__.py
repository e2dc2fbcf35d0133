"""Report writers: post-mortems and proposal documents.

The templated (offline) writer and the Markdown renderers are exported here; the LLM writer lives in
``agent.reports.llm_writer`` and is imported only where an LLM is configured (pydantic-ai is a heavy import).
"""

from agent.reports.postmortem import (
    PostMortem,
    TimelineEvent,
    append_decision,
    build_postmortem,
    load_postmortem,
    report_dir,
    save_postmortem,
)
from agent.reports.render import proposal_summary, render_postmortem, render_proposal, utc_iso

__all__ = ["PostMortem", "TimelineEvent", "append_decision", "build_postmortem", "load_postmortem",
           "proposal_summary", "render_postmortem", "render_proposal", "report_dir", "save_postmortem", "utc_iso"]

"""The offline policy: a deterministic diagnosis from typed signals, and a runbook planner for read-only tools.

It decides when no LLM is configured or the LLM fails. It reads typed fields only — finding kinds and
subjects, serving state, the release that went live, per-version service levels, positive rates, rejected
fields — never text our own code wrote (finding messages, deploy lines, tool notes), and never instructions.

- ``rules``: the diagnosis (category, culprit, action, reason, agreement) → ``diagnose``;
- ``runbook``: ``plan`` and ``next_tool``, the read-only tools to call for that diagnosis;
- ``readers``: the signal readers both share (``new_release``, ``slow_versions``, ``quality_culprits`` ...).
"""

from agent.policy.rules import BRAIN, Verdict, decide, diagnose
from agent.policy.runbook import MAX_PLANNED_CALLS, PlannedCall, next_tool, plan

__all__ = ["BRAIN", "MAX_PLANNED_CALLS", "PlannedCall", "Verdict", "decide", "diagnose", "next_tool", "plan"]

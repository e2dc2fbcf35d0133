"""Who may answer a proposal from which interface: the approver allowlists of settings."""

from __future__ import annotations

from agent.settings import Settings
from interfaces.dispatch.errors import NotApprover


class ApproverPolicy:
    """Slack: only users on ``slack_approvers``. Web: ``web_approvers``, or every signed-in user if empty.
    Any other interface answers through the CLI (the person at the terminal owns the home) or not at all."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def may_approve(self, actor: str, via: str) -> bool:
        if via == "slack":
            return actor in self.settings.slack_approvers
        if via == "web":
            return not self.settings.web_approvers or actor in self.settings.web_approvers
        return False

    @staticmethod
    def refusal(actor: str, via: str, what: str = "changed") -> NotApprover:
        """The message a refused person gets (nothing was changed, and the attempt is audited)."""
        setting = "SLACK" if via == "slack" else "WEB"
        return NotApprover(f"sorry, {actor} is not on the approver list for {via}, so the proposal was not "
                           f"{what}. Ask an approver, or an admin to add you (OPSAGENT_{setting}_APPROVERS)")

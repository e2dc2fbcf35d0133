"""Where a remediation left its incident, in one vocabulary: the one rule both the incident store (``opsagent
incidents``) and the post-mortem's status line use, so the two never disagree.

- ``resolved``: the cause is gone — a verified fix of the cause (a retrain, a retuned threshold, a promotion), or
  the incident's signals cleared on their own.
- ``mitigated``: the harm stopped but the cause is still open — a verified rollback takes the bad version out of
  traffic; why it regressed is still to find.
- ``won't fix``: a person rejected the fix; the fault stays until its signals clear.
- ``open``: nothing settled yet — pending, or the try ended without a verified change (failed, refused,
  interrupted, expired, superseded, executed but not verified).
"""

from __future__ import annotations

from typing import Literal

RemediationStatus = Literal["open", "mitigated", "resolved", "won't fix"]
# A verified fix of these kinds removes the cause (the model now fits the window, or the new threshold does).
FIXES_CAUSE = frozenset({"retrain", "retune_threshold", "promote"})


def remediation_status(proposal_kind: str, *, verified: bool = False, rejected: bool = False,
                       cleared: bool = False) -> RemediationStatus:
    """The status of an incident whose proposal of ``proposal_kind`` got this far (see the module docstring).

    ``cleared`` (the signals went quiet) wins over everything; then a rejection; then a verified change."""
    if cleared:
        return "resolved"
    if rejected:
        return "won't fix"
    if verified:
        return "resolved" if proposal_kind in FIXES_CAUSE else "mitigated"
    return "open"

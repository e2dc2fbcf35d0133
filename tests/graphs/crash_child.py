"""A process that accepts a proposal and dies where ``OPSAGENT_FAILPOINTS`` says (tests/graphs/test_crash_resume.py).

    python tests/graphs/crash_child.py HOME PROPOSAL_ID URL

It replays 40 drifted requests at URL as the canary's watch, as the test's own resume does.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

from world import canary_replay, make_ctx  # noqa: E402

from agent.proposals import Accept  # noqa: E402
from graphs.runner import GraphRunner  # noqa: E402
from ml_core.paths import HomeLayout  # noqa: E402


def main(home: str, proposal_id: str) -> None:
    ctx = make_ctx(HomeLayout(Path(home)), canary_traffic=canary_replay(seed=31), actor="first-process")
    with GraphRunner(ctx) as runner:
        out = runner.answer(proposal_id, Accept(by="alice", via="test"))
    print(out.status, out.outcome)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

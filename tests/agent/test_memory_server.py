"""Memory on a real Chroma server (`chroma run`): shared between processes, and recall identical to the
embedded store's on the same rows (the exact index ranks both)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.memory import Memory, MemoryKind
from agent.memory_errors import MemoryUnavailable
from agent.settings import Settings
from ml_core.serving.server import free_port
from tests.team_servers import chroma_server

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ["latency spike after a release", "covariate drift in total_day_minutes", "label shift in churn rate",
          "null values in a data feed", "error rate up after a deploy", "concept drift: same inputs, new outcomes",
          "retrain fixed the drift", "rollback restored latency"]
KINDS = ["incident", "outcome", "postmortem"]
QUERIES: list[tuple[str, str | None, MemoryKind | None]] = [
    ("slow responses after we shipped", None, None), ("a feature's distribution moved", "churn", None),
    ("missing fields in the input", None, "incident"), ("what fixed it last time", "credit", "outcome")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("chroma")
    (root / "store").mkdir()
    with chroma_server(root / "store") as url:
        yield url


def rows() -> list[tuple[str, str, str, str]]:
    """(id, kind, model, text): every topic for two models in rotating kinds, so filters change the answer."""
    return [(f"m{i}-{j}", KINDS[(i + j) % len(KINDS)], model, f"{model}: {topic} (case {j})")
            for i, model in enumerate(("churn", "credit")) for j, topic in enumerate(TOPICS)]


def test_server_recall_equals_embedded_recall(server: str, tmp_path: Path) -> None:
    embedded = Memory(tmp_path / "embedded")
    remote = Memory(tmp_path / "cache", url=server)
    for mid, row_kind, row_model, text in rows():
        for memory in (embedded, remote):
            memory.record(row_kind, text, model=row_model, memory_id=mid)  # type: ignore[arg-type]
    # a fresh instance in another cache folder ranks from the server's stored vectors, not from its own writes
    reader = Memory(tmp_path / "other-cache", url=server)
    for query, model, kind in QUERIES:
        want = [(h.id, h.kind, h.model, h.text) for h in embedded.search(query, k=5, model=model, kind=kind)]
        assert want, query
        for memory in (remote, reader):
            hits = memory.search(query, k=5, model=model, kind=kind)
            assert [(h.id, h.kind, h.model, h.text) for h in hits] == want, query
            assert [h.similarity for h in hits] == pytest.approx(
                [h.similarity for h in embedded.search(query, k=5, model=model, kind=kind)], abs=1e-6)
    assert reader.count() == remote.count() == len(rows())


CHILD = """
import json, sys
from pathlib import Path
from agent.memory import Memory, MemoryKind
memory = Memory(Path(sys.argv[1]), url=sys.argv[2])
seen = [h.id for h in memory.search("a canary that was rolled back", k=1, model="churn")]
written = memory.record("outcome", "churn canary v7 rolled back: p95 latency over its SLO", model="churn")
print(json.dumps({"seen": seen, "written": written}))
"""


@pytest.mark.slow  # a second Python process loads torch and the embedding model
def test_two_processes_share_the_server(server: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", chroma_url=server)
    here = settings.open_memory()
    first = here.record("incident", "churn canary v6 rolled back after its error rate rose", model="churn")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "child-home" / "memory"), server],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["seen"] == [first]  # the other process recalls this one's write
    hits = here.search("canary rolled back for latency", k=1, model="churn", kind="outcome")
    assert [h.id for h in hits] == [child["written"]]  # and this one recalls the other's


def test_doctor_sees_the_server_answer(server: str, tmp_path: Path) -> None:
    from agent.store_check import check_stores

    memory = next(c for c in check_stores(Settings(home=tmp_path, chroma_url=server)) if c.component == "memory")
    assert (memory.kind, memory.where, memory.status) == ("Chroma server", server, "ok")


def test_a_server_that_does_not_answer_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MemoryUnavailable, match="OPSAGENT_CHROMA_URL"):
        Memory(tmp_path / "memory", url=f"http://127.0.0.1:{free_port()}")


def test_chroma_url_must_be_an_http_address(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="http://HOST:PORT"):
        Settings(home=tmp_path, chroma_url="127.0.0.1:8000")
    assert Settings(home=tmp_path, chroma_url="http://10.0.0.5:8000/").chroma_url == "http://10.0.0.5:8000"

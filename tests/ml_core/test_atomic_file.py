"""Concurrent writers of one file: every write lands whole, none fails, no temporary is left behind."""

from concurrent.futures import ThreadPoolExecutor

from ml_core.atomic_file import write_text_atomic


def test_many_threads_writing_one_file_at_once_never_collide(tmp_path):
    target = tmp_path / "models" / "churn.yaml"
    texts = [f"writer {i}\n" * 200 for i in range(8)]

    def write_many(text: str) -> None:
        for _ in range(50):
            write_text_atomic(target, text)
            assert target.read_text() in texts  # a reader sees one whole version, never a mix

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write_many, texts))  # re-raises any writer's error
    assert target.read_text() in texts
    assert sorted(p.name for p in target.parent.iterdir()) == ["churn.yaml"]

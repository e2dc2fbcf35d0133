"""Write a file so that a reader sees the old content or the new, never half of it.

The temporary file gets a unique name in the target's folder: two processes (a scheduled tick and a CLI
command) or two threads (the web page and the scheduler in one ``opsagent serve``) writing the same file at
once must not share a temporary, or one's rename finds the file gone."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

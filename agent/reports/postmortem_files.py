"""Post-mortem files: ``reports/<incident_id>/postmortem.json`` (the truth) and ``postmortem.md`` rendered from
it, written atomically under a per-incident lock so the CLI, the web page and Slack can append at once.
"""

from __future__ import annotations

import fcntl
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.reports.postmortem_model import PostMortem
from agent.reports.render import render_postmortem
from ml_core.atomic_file import write_text_atomic
from ml_core.paths import HomeLayout

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def report_dir(layout: HomeLayout, incident_id: str) -> Path:
    """``reports/<incident_id>``; refuses ids that could escape the reports folder."""
    if not _SAFE_ID.match(incident_id) or ".." in incident_id:
        raise ValueError(f"incident id {incident_id!r} is not a safe folder name: use letters, digits, '.', '_', '-'")
    return layout.reports_dir / incident_id


def _write(folder: Path, pm: PostMortem) -> Path:
    """Write JSON first (the source of truth), then the Markdown rendered from it; each atomically."""
    for name, text in (("postmortem.json", pm.model_dump_json(indent=2)), ("postmortem.md", render_postmortem(pm))):
        write_text_atomic(folder / name, text)
    return folder / "postmortem.md"


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    # Slack, the web page and the CLI may append decisions to one incident at once: serialise writers.
    # The lock is released when the file closes, also when the body raises.
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def save_postmortem(layout: HomeLayout, pm: PostMortem) -> Path:
    """Write ``reports/<incident_id>/postmortem.md`` and ``postmortem.json``, with the drift plots copied
    into ``plots/`` and linked relatively; returns the Markdown path. Missing plot files are left out."""
    folder = report_dir(layout, pm.incident_id)
    plots_dir = folder / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for p in pm.drift_plots:
        src = Path(p) if Path(p).is_absolute() else folder / p
        dest = plots_dir / src.name
        if src.resolve() != dest.resolve() and src.is_file():
            shutil.copy2(src, dest)
        if dest.is_file():
            copied.append(f"plots/{dest.name}")
    saved = pm.model_copy(update={"drift_plots": copied})
    with _locked(folder):
        return _write(folder, saved)


def load_postmortem(path: Path | str) -> PostMortem:
    """Read a saved post-mortem back: ``postmortem.json``, its ``.md`` sibling, or the incident folder."""
    p = Path(path) / "postmortem.json" if Path(path).is_dir() else Path(path).with_suffix(".json")
    if not p.is_file():
        raise FileNotFoundError(f"no post-mortem at {p}: write one with save_postmortem first")
    return PostMortem.model_validate_json(p.read_text(encoding="utf-8"))


@contextmanager
def locked_postmortem(folder: Path) -> Iterator[PostMortem]:
    """The incident's post-mortem, read under its lock (held until the block ends, so a write inside is safe)."""
    if not (folder / "postmortem.json").is_file():
        raise FileNotFoundError(f"no post-mortem for incident {folder.name!r} under {folder.parent}: "
                                "save one before recording later events")
    with _locked(folder):
        yield load_postmortem(folder)


def write_postmortem_files(folder: Path, pm: PostMortem) -> Path:
    """Write both files of an already saved post-mortem (call inside ``locked_postmortem``)."""
    return _write(folder, pm)

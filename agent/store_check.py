"""Which store each component uses, and whether it answers: what `opsagent doctor` prints.

Each probe only reads: a ``SELECT 1`` on a database, ``/health`` of an MLflow server, ``/api/v2/heartbeat``
of a Chroma server, a look at a folder. None opens MLflow's own store (that would run its migrations) and
none writes, so the doctor is safe against a team's production stores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from agent.settings import Settings

# A probe's wait. A store on the team's network answers a health check in milliseconds; 5 s covers a slow DNS
# lookup and a cold TLS handshake, and keeps the doctor under half a minute when every server is down.
PROBE_TIMEOUT_S = 5.0

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class StoreCheck:
    component: str  # what uses the store, in words
    kind: str  # "SQLite (home)", "PostgreSQL", "MLflow server", "Chroma server", ...
    where: str  # its address, any password hidden
    status: Status  # ok: it answers; warn: it answers but something needs a look; fail: it does not answer
    detail: str  # what was found, or what to do


def check_stores(settings: Settings) -> list[StoreCheck]:
    """One line per component: the MLflow tracking store, its artifact root, the memory, the databases."""
    return [_tracking(settings), _artifacts(settings), _memory(settings), *_databases(settings)]


def hide_password(uri: str) -> str:
    """``uri`` with the password of its user part replaced by ``***`` (safe to print and log)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _tracking(settings: Settings) -> StoreCheck:
    uri = settings.tracking_uri
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https"):
        status, detail = _http_ok(f"{uri.rstrip('/')}/health")
        return StoreCheck("MLflow tracking + registry", "MLflow server", hide_password(uri), status, detail)
    kind = "SQLite (home)" if settings.mlflow_tracking_uri is None else _database_kind(uri)
    return StoreCheck("MLflow tracking + registry", kind, hide_password(uri), *_database_ok(uri))


def _artifacts(settings: Settings) -> StoreCheck:
    from ml_core.registry import artifact_location

    root = artifact_location(settings.layout, settings.tracking_uri, settings.mlflow_artifact_root)
    if root is None:
        return StoreCheck("MLflow artifacts", "the server's", "(the tracking server's --default-artifact-root)",
                          "ok", "the tracking server stores and serves them")
    if not root.startswith("file:"):
        return StoreCheck("MLflow artifacts", urlsplit(root).scheme, root, "ok", "not probed: MLflow's client for "
                          "this store reads it with the team's own credentials")
    path = Path(urlsplit(root).path)
    shared_registry = settings.mlflow_tracking_uri is not None
    if settings.mlflow_artifact_root is None and shared_registry:
        return StoreCheck("MLflow artifacts", "folder (home)", str(path), "warn", "a shared registry with its "
                          "artifacts in this home: other machines cannot load the models; set "
                          "OPSAGENT_MLFLOW_ARTIFACT_ROOT to a folder they all mount (or use an MLflow server)")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    if not os.access(existing, os.W_OK):
        return StoreCheck("MLflow artifacts", "folder", str(path), "fail", f"{existing} is not writable here")
    return StoreCheck("MLflow artifacts", "folder (home)" if not shared_registry else "folder", str(path), "ok",
                      "writable" if path.exists() else "created on the first training run")


def _memory(settings: Settings) -> StoreCheck:
    if settings.chroma_url is None:
        path = settings.layout.memory_dir
        found = (path / "chroma.sqlite3").exists()
        return StoreCheck("memory", "Chroma embedded", str(path), "ok",
                          "store present" if found else "created on the first memory")
    status, detail = _http_ok(f"{settings.chroma_url}/api/v2/heartbeat")
    return StoreCheck("memory", "Chroma server", settings.chroma_url, status, detail)


def _databases(settings: Settings) -> list[StoreCheck]:
    """The approvals inbox, audit, incidents, checkpoints, schedules and prediction logs: SQLite in the home
    unless a database URL is set (``OPSAGENT_DATABASE_URL``, the PostgreSQL setting of the team's stores)."""
    url = getattr(settings, "database_url", None)  # the setting arrives with the PostgreSQL store work
    component = "approvals, audit, incidents, checkpoints, schedules, prediction logs"
    if url:
        return [StoreCheck(component, _database_kind(str(url)), hide_password(str(url)), *_database_ok(str(url)))]
    home = settings.layout.home
    if home.exists():
        return [StoreCheck(component, "SQLite (home)", str(home), "ok", "files in the home")]
    existing = next((p for p in home.parents if p.exists()), Path("/"))
    writable = os.access(existing, os.W_OK)
    return [StoreCheck(component, "SQLite (home)", str(home), "ok" if writable else "fail",
                       "created on first use" if writable else f"{existing} is not writable here")]


def _database_kind(uri: str) -> str:
    backend = urlsplit(uri).scheme.split("+")[0]
    return {"postgresql": "PostgreSQL", "sqlite": "SQLite", "mysql": "MySQL", "mssql": "SQL Server"}.get(
        backend, backend or "unknown")


def _database_ok(uri: str) -> tuple[Status, str]:
    """``SELECT 1`` on the database (a SQLite file that does not exist yet is fine: it is created on first use)."""
    import sqlalchemy as sa

    try:
        url = sa.make_url(uri)
    except Exception as exc:  # sqlalchemy's ArgumentError for a malformed URL
        return "fail", f"not a database URL ({exc}); e.g. postgresql+psycopg://USER:PASSWORD@HOST:5432/mlflow"
    if url.get_backend_name() == "sqlite":
        db = Path(url.database or "")
        return ("ok", "file present") if db.exists() else ("ok", "created on first use")
    args = {"connect_timeout": int(PROBE_TIMEOUT_S)} if url.get_backend_name() == "postgresql" else {}
    try:
        engine = sa.create_engine(url, connect_args=args)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # driver missing, refused, auth failed, no such database: say which
        return "fail", f"does not answer: {_first_line(exc)}"
    return "ok", "answers"


def _http_ok(url: str) -> tuple[Status, str]:
    import httpx

    try:
        reply = httpx.get(url, timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return "fail", f"does not answer: {_first_line(exc) or type(exc).__name__}"
    if reply.status_code != 200:
        return "fail", f"{urlsplit(url).path} answered HTTP {reply.status_code}"
    return "ok", "answers"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

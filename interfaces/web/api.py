"""The web page's JSON API (also for scripts, with a bearer token): answers, triage, jobs, events, chat.

Chat answers stream as NDJSON — one ``{"type": ..., "text": ...}`` object per line: ``thread`` (the thread
id, first), ``token``, ``call``, ``result``, ``answer``, ``brain``, and ``error`` if the turn failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from agent.approvals import ApprovalError
from agent.proposals import AnswerError, parse_response
from interfaces.dispatch import MAX_MESSAGE_CHARS, Dispatcher, DispatchError, Job, NotApprover
from interfaces.web.auth import Identity
from interfaces.web.deps import api_post, api_user, dispatcher_of
from interfaces.web.evidence import render_markdown
from interfaces.web.threads import ThreadIndex, ThreadInfo

logger = logging.getLogger(__name__)
router = APIRouter()


def answer_proposal(dispatcher: Dispatcher, proposal_id: str, kind: str, args: Any, user: str) -> Job:
    """Answer as ``user`` from the web; raises NotApprover or DispatchError (nothing changed) with a message."""
    if kind == "response":
        args = str(args or "")
        if len(args) > MAX_MESSAGE_CHARS:
            raise DispatchError(f"the response is {len(args)} characters; the limit is {MAX_MESSAGE_CHARS}")
    try:  # the one check of an answer's shape (unknown type, an edit without fields, an empty response)
        response = parse_response({"type": kind, "args": args if kind in ("edit", "response") else None,
                                   "by": user, "via": "web"})
    except AnswerError as exc:
        raise DispatchError(str(exc)) from exc
    return dispatcher.answer(proposal_id, response)


def job_json(dispatcher: Dispatcher, job: Job) -> dict[str, Any]:
    data = job.as_dict()
    if job.proposal_id:
        try:
            data["proposal_status"] = dispatcher.ctx.approvals.get(job.proposal_id).status
        except ApprovalError:
            data["proposal_status"] = None
    return data


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, "the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, bool]:
    return {"ok": True}


@router.get("/api/me")
def me(identity: Identity = Depends(api_user)) -> dict[str, Any]:
    return {"user": identity.user, "csrf": identity.csrf}


@router.get("/api/proposals")
def pending(request: Request, identity: Identity = Depends(api_user)) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in dispatcher_of(request).pending()]


@router.get("/api/proposals/{proposal_id}")
def proposal(proposal_id: str, request: Request, identity: Identity = Depends(api_user)) -> dict[str, Any]:
    try:
        return dispatcher_of(request).ctx.approvals.get(proposal_id).model_dump(mode="json")
    except ApprovalError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.post("/api/proposals/{proposal_id}/answer", status_code=202)
async def answer(proposal_id: str, request: Request, identity: Identity = Depends(api_post)) -> dict[str, Any]:
    """Body ``{"type": "accept"|"edit"|"response"|"ignore", "args": ...}``; returns the background job."""
    body = await _json_body(request)
    dispatcher = dispatcher_of(request)
    try:
        job = answer_proposal(dispatcher, proposal_id, str(body.get("type", "")), body.get("args"), identity.user)
    except NotApprover as exc:
        raise HTTPException(403, str(exc)) from exc
    except DispatchError as exc:
        raise HTTPException(404 if "no proposal" in str(exc) else 400, str(exc)) from exc
    return job_json(dispatcher, job)


@router.post("/api/triage", status_code=202)
async def triage(request: Request, identity: Identity = Depends(api_post)) -> dict[str, Any]:
    body = await _json_body(request)
    dispatcher = dispatcher_of(request)
    try:
        job = dispatcher.start_triage(body.get("model") or None, actor=identity.user, via="web")
    except DispatchError as exc:
        raise HTTPException(400, str(exc)) from exc
    return job_json(dispatcher, job)


@router.get("/api/jobs/{job_id}")
def job(job_id: str, request: Request, identity: Identity = Depends(api_user)) -> dict[str, Any]:
    dispatcher = dispatcher_of(request)
    found = dispatcher.job(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id!r} in this server (jobs are kept until it restarts)")
    return job_json(dispatcher, found)


@router.get("/api/events")
def events(request: Request, identity: Identity = Depends(api_user)) -> list[dict[str, Any]]:
    return [{**e.__dict__, "steps": list(e.steps)} for e in dispatcher_of(request).events()]


@router.get("/api/threads")
def threads(request: Request, identity: Identity = Depends(api_user)) -> list[dict[str, Any]]:
    index: ThreadIndex = request.app.state.threads
    return [t.__dict__ for t in index.list(identity.user)]


@router.post("/api/chat")
async def chat(request: Request, identity: Identity = Depends(api_post)) -> StreamingResponse:
    """Body ``{"message": "...", "thread_id": optional}``; streams the turn as NDJSON."""
    body = await _json_body(request)
    message = str(body.get("message") or "").strip()
    if not message:
        raise HTTPException(400, "the message is empty; ask a question, e.g. 'status churn'")
    if len(message) > MAX_MESSAGE_CHARS:
        raise HTTPException(413, f"the message is {len(message)} characters; the limit is {MAX_MESSAGE_CHARS}. "
                                 f"Shorten it or attach less data")
    index: ThreadIndex = request.app.state.threads
    thread_id = body.get("thread_id")
    if thread_id:
        info = index.get(identity.user, str(thread_id))
        if info is None:
            raise HTTPException(404, f"no chat thread {thread_id!r} of yours; start a new chat")
        index.touch(info)
    else:
        info = index.create(identity.user, message)
    return StreamingResponse(_stream(dispatcher_of(request), message, info, identity.user),
                             media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})


async def _stream(dispatcher: Dispatcher, message: str, info: ThreadInfo, user: str) -> AsyncIterator[bytes]:
    """Run the turn on its own thread (the graph and its SQLite connection stay on one thread) and pass
    its events on as they come. A client that goes away does not stop the turn: it finishes and is kept."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()

    def put(item: tuple[str, str] | None) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def work() -> None:
        try:
            for event in dispatcher.stream_chat(message, thread_id=info.graph_thread, actor=user, via="web"):
                put(event)
        except DispatchError as exc:
            put(("error", str(exc)))
        except Exception as exc:  # the page says what broke; the log has the traceback
            logger.exception("chat turn failed in thread %s", info.id)
            put(("error", f"the chat turn failed: {type(exc).__name__}: {exc}"[:500]))
        finally:
            put(None)

    yield _line("thread", info.id)
    threading.Thread(target=work, name=f"web-chat-{info.id}", daemon=True).start()
    while (item := await queue.get()) is not None:
        yield _line(*item)


def _line(kind: str, text: str) -> bytes:
    extra: dict[str, str] = {"id": text} if kind == "thread" else {}
    if kind == "answer":  # the page shows the final answer as Markdown (raw HTML escaped)
        extra["html"] = render_markdown(text)
    return (json.dumps({"type": kind, "text": text, **extra}) + "\n").encode()

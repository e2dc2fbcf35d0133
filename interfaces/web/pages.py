"""The web page's HTML routes: login, chat, approvals inbox and proposal pages, incidents, models, report files.

Form posts that fail (not an approver, bad edit, not pending) re-render the page with the message and a
4xx status, and change nothing; successful ones redirect (POST/redirect/GET) to a page showing the job.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from agent.approvals import ApprovalError
from agent.incidents import IncidentError, IncidentStore
from interfaces.dispatch import MAX_MESSAGE_CHARS, Dispatcher, DispatchError, Job, NotApprover
from interfaces.web.api import answer_proposal
from interfaces.web.auth import COOKIE, SESSION_MAX_AGE_S, Identity, SignInThrottled
from interfaces.web.deps import auth_of, dispatcher_of, form_post, page_user
from interfaces.web.evidence import (
    DOWNLOAD_TYPES,
    IMAGE_TYPES,
    TEXT_TYPES,
    form_changes,
    postmortem_file,
    proposal_view,
    render_markdown,
    report_path,
    report_url,
)
from interfaces.web.threads import ThreadIndex, history
from ml_core.spec.errors import SpecError
from ml_core.spec.store import SpecStore

logger = logging.getLogger(__name__)
router = APIRouter()


def render(request: Request, template: str, identity: Identity | None, status: int = 200,
           **context: Any) -> HTMLResponse:
    """A page, with the signed-in user and their CSRF token (for forms and fetch) in the context."""
    templates = request.app.state.templates
    context.update(request=request, user=identity.user if identity else None,
                   csrf=identity.csrf if identity else None)
    html = templates.get_template(template).render(context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _safe_next(value: str | None) -> str:
    # Only paths on this site: '//evil.example' or 'https://...' would send people away after signing in.
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/inbox"


def _form_value(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# ---- sign in / out ---------------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, next: str = "/inbox") -> Response:
    if auth_of(request).identify(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", None, next=_safe_next(next), name="")


@router.post("/login")
async def login(request: Request) -> Response:
    auth = auth_of(request)
    auth.check_origin(request)
    form = await request.form()
    user, token = _form_value(form, "user").strip(), _form_value(form, "token").strip()
    nxt = _safe_next(_form_value(form, "next"))
    address = request.client.host if request.client else None
    try:
        ok = bool(user and token) and auth.check_login(user, token, address=address)
    except SignInThrottled as exc:
        logger.warning("web sign-in throttled for user %r from %s", user[:40], address or "?")
        page = render(request, "login.html", None, status=429, next=nxt, name=user[:100],
                      error=f"Too many failed sign-ins for this user or from this address: try again in "
                            f"{exc.retry_after} s.")
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if not ok:
        if not (user and token):  # an empty form is a failed try too (it is counted per address)
            auth.throttle.failed(address=address)
        logger.warning("web sign-in refused for user %r from %s", user[:40], address or "?")
        return render(request, "login.html", None, status=401, next=nxt, name=user[:100],
                      error="Unknown user or wrong token. Check OPSAGENT_WEB_USERS / OPSAGENT_WEB_TOKEN, "
                            "or the token `opsagent serve` printed.")
    value, _csrf = auth.issue(user)
    response = RedirectResponse(nxt, status_code=303)
    secure = request.url.scheme == "https" or (auth.public_origin or "").startswith("https://")
    response.set_cookie(COOKIE, value, max_age=SESSION_MAX_AGE_S, httponly=True, samesite="strict", secure=secure,
                        path="/")
    return response


@router.post("/logout")
async def logout(request: Request, identity: Identity = Depends(form_post)) -> Response:
    auth_of(request).revoke(identity)  # the cookie is refused from now on, even a copy of it
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/")
def home(identity: Identity = Depends(page_user)) -> Response:
    return RedirectResponse("/inbox", status_code=303)


# ---- chat ------------------------------------------------------------------------------------------
@router.get("/chat")
@router.get("/chat/{thread_id}")
def chat_page(request: Request, thread_id: str | None = None, identity: Identity = Depends(page_user)) -> Response:
    index: ThreadIndex = request.app.state.threads
    thread = index.get(identity.user, thread_id) if thread_id else None
    if thread_id and thread is None:
        raise HTTPException(404, f"no chat thread {thread_id!r} of yours; start a new chat")
    turns, brain = history(dispatcher_of(request).ctx.layout, thread) if thread else ([], "")
    return render(request, "chat.html", identity, active="Chat", threads=index.list(identity.user), thread=thread,
                  turns=turns, brain=brain, max_chars=MAX_MESSAGE_CHARS)


# ---- inbox and proposals ---------------------------------------------------------------------------
def _job(dispatcher: Dispatcher, job_id: str | None) -> Job | None:
    return dispatcher.job(job_id) if job_id else None


def _inbox(request: Request, identity: Identity, *, job: Job | None = None, status: int = 200,
           error: str | None = None) -> HTMLResponse:
    dispatcher = dispatcher_of(request)
    try:
        models = dispatcher.models()
    except Exception as exc:  # the registry unreachable must not hide the inbox
        models, error = [], error or f"cannot list models: {exc}"
    return render(request, "inbox.html", identity, status=status, active="Inbox", pending=dispatcher.pending(),
                  jobs=dispatcher.jobs(), events=dispatcher.events(30), models=models,
                  default_model=dispatcher.settings.model_name, job=job, error=error)


@router.get("/inbox")
def inbox(request: Request, job: str | None = None, identity: Identity = Depends(page_user)) -> Response:
    return _inbox(request, identity, job=_job(dispatcher_of(request), job))


@router.post("/triage")
async def triage(request: Request, identity: Identity = Depends(form_post)) -> Response:
    form = await request.form()
    dispatcher = dispatcher_of(request)
    try:
        started = dispatcher.start_triage(_form_value(form, "model") or None, actor=identity.user, via="web")
    except DispatchError as exc:
        return _inbox(request, identity, status=400, error=str(exc))
    return RedirectResponse(f"/inbox?job={started.id}", status_code=303)


def _proposal_page(request: Request, identity: Identity, proposal_id: str, *, job: Job | None = None,
                   status: int = 200, error: str | None = None) -> HTMLResponse:
    dispatcher = dispatcher_of(request)
    try:
        record = dispatcher.ctx.approvals.get(proposal_id)
    except ApprovalError as exc:
        raise HTTPException(404, str(exc)) from exc
    incidents: IncidentStore = request.app.state.incidents
    view = proposal_view(dispatcher.ctx.layout, incidents, dispatcher.ctx.memory, record)
    return render(request, "proposal.html", identity, status=status, active="Inbox", view=view, job=job,
                  history=dispatcher.ctx.approvals.history(record.id), error=error)


@router.get("/proposals/{proposal_id}")
def proposal_page(proposal_id: str, request: Request, job: str | None = None,
                  identity: Identity = Depends(page_user)) -> Response:
    return _proposal_page(request, identity, proposal_id, job=_job(dispatcher_of(request), job))


@router.post("/proposals/{proposal_id}/answer")
async def answer_form(proposal_id: str, request: Request, identity: Identity = Depends(form_post)) -> Response:
    """The page's forms: type=accept|ignore, type=edit with field.<name> inputs, type=response with text."""
    form = await request.form()
    dispatcher = dispatcher_of(request)
    kind = _form_value(form, "type")
    args: Any = None
    try:
        if kind == "edit":
            record = dispatcher.ctx.approvals.get(proposal_id)
            args = form_changes(record, {k: v for k, v in form.items() if isinstance(v, str)})
        elif kind == "response":
            args = _form_value(form, "text")
        started = answer_proposal(dispatcher, proposal_id, kind, args, identity.user)
    except NotApprover as exc:
        return _proposal_page(request, identity, proposal_id, status=403, error=str(exc))
    except (DispatchError, ApprovalError) as exc:
        return _proposal_page(request, identity, proposal_id, status=400, error=str(exc))
    return RedirectResponse(f"/proposals/{started.proposal_id}?job={started.id}", status_code=303)


# ---- incidents and reports -------------------------------------------------------------------------
@router.get("/incidents")
def incidents_page(request: Request, identity: Identity = Depends(page_user)) -> Response:
    store: IncidentStore = request.app.state.incidents
    return render(request, "incidents.html", identity, active="Incidents", incidents=store.list(limit=100))


@router.get("/incidents/{incident_id}")
def incident_page(incident_id: str, request: Request, identity: Identity = Depends(page_user)) -> Response:
    store: IncidentStore = request.app.state.incidents
    try:
        incident = store.get(incident_id)
    except IncidentError as exc:
        raise HTTPException(404, str(exc)) from exc
    layout = dispatcher_of(request).ctx.layout
    pm = postmortem_file(layout, incident)
    html = None
    if pm is not None:
        folder_url = report_url(layout, pm.parent)
        html = render_markdown(pm.read_text(encoding="utf-8", errors="replace"), base_url=folder_url)
    return render(request, "incident.html", identity, active="Incidents", incident=incident, postmortem_html=html)


@router.get("/reports/{path:path}")
def report_file(path: str, request: Request, identity: Identity = Depends(page_user)) -> Response:
    """A file from the home's reports folder (plots, post-mortems); anything outside it is 404."""
    target = report_path(dispatcher_of(request).ctx.layout, path)
    suffix = target.suffix.lower() if target else ""
    if target is None or suffix not in {*IMAGE_TYPES, *TEXT_TYPES, *DOWNLOAD_TYPES}:
        raise HTTPException(404, f"no report file {path!r}")
    if suffix in IMAGE_TYPES:
        return FileResponse(target, media_type=IMAGE_TYPES[suffix])
    if suffix in TEXT_TYPES:
        return FileResponse(target, media_type="text/plain; charset=utf-8")
    return FileResponse(target, media_type="application/octet-stream", filename=target.name)


# ---- models ----------------------------------------------------------------------------------------
@router.get("/models")
def models_page(request: Request, identity: Identity = Depends(page_user)) -> Response:
    dispatcher = dispatcher_of(request)
    rows = []
    error = None
    try:
        names = dispatcher.models()
    except Exception as exc:
        names, error = [], f"cannot reach the model registry: {exc}"
    names = sorted(set(names) | set(SpecStore(dispatcher.ctx.layout).names()))  # specs not trained yet too
    for name in names:
        row: dict[str, Any] = {"name": name, "versions": [], "status": None, "status_error": "", "spec": None,
                               "spec_error": ""}
        try:
            row["spec"] = dispatcher.ctx.spec(name)
        except SpecError as exc:  # an edited-invalid spec is shown with its error; the page stays up
            row["spec_error"] = str(exc)
        try:
            row["versions"] = dispatcher.ctx.registry.versions(name)
        except Exception as exc:
            row["status_error"] = f"versions unavailable: {exc}"
        try:
            row["status"] = dispatcher.ctx.backend(name).status()
        except Exception as exc:  # nothing deployed, or a backend that is down: say so, keep the page
            row["status_error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return render(request, "models.html", identity, active="Models", models=rows, error=error)

"""The web page over real HTTP (uvicorn on loopback, httpx): sign-in, CSRF and Origin checks, bearer tokens,
answers through the real dispatcher and graphs (approve, refuse, reject, bad edit), chat streaming, report files."""

from __future__ import annotations

import json

import pytest

from interfaces.web.auth import COOKIE, WebAuth, resolve_users, session_secret
from interfaces.web.evidence import report_path
from interfaces.web.sessions import SessionRevocations
from interfaces.web.throttle import FAILURES_PER_ADDRESS, FAILURES_PER_USER, WINDOW_S, SignInThrottle
from tests.graphs.fakes import ScriptedChatModel, answer, tool_call
from tests.interfaces.web_support import USERS, make_incident, start_web, stop_web, wait_for


@pytest.fixture(scope="module")
def web(inbox_world):
    w = start_web(inbox_world, web_approvers=["alice"])
    yield w
    stop_web(w)


def _status(web, pid: str) -> str:
    return web.dispatcher.ctx.approvals.get(pid).status


def _events(web, pid: str) -> list[str]:
    return [e.event for e in web.dispatcher.ctx.approvals.history(pid)]


def _job_done(web, client, job_id: str) -> dict:
    def ended():
        job = client.get(f"/api/jobs/{job_id}").json()
        return job if job["status"] != "running" else None

    return wait_for(ended)


def test_health_needs_no_sign_in_and_everything_else_does(web, inbox_world):
    pid = inbox_world.file_fix_data()
    client = web.client()
    assert client.get("/healthz").json() == {"ok": True}
    for page in ("/inbox", "/chat", "/incidents", "/models", f"/proposals/{pid}"):
        r = client.get(page)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert client.get("/api/proposals").status_code == 401
    assert client.post(f"/api/proposals/{pid}/answer", json={"type": "accept"}).status_code == 401
    assert client.post(f"/proposals/{pid}/answer", data={"type": "accept"}).status_code == 401
    assert client.post("/triage", data={"model": "churn"}).status_code == 401
    assert client.post("/api/chat", json={"message": "hi"}).status_code == 401
    assert _status(web, pid) == "pending" and _events(web, pid) == ["proposed"]
    assert web.dispatcher.jobs() == [] or all(j.proposal_id != pid for j in web.dispatcher.jobs())


def test_sign_in_sets_a_strict_http_only_cookie_and_bad_tokens_get_a_message(web):
    client = web.client()
    r = client.post("/login", data={"user": "alice", "token": USERS["alice"], "next": "/models"})
    assert r.status_code == 303 and r.headers["location"] == "/models"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/inbox")
    assert page.status_code == 200 and "alice" in page.text and "Approvals inbox" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]

    for user, token in (("alice", "wrong"), ("mallory", USERS["alice"]), ("", "")):
        bad = web.client().post("/login", data={"user": user, "token": token})
        assert bad.status_code == 401 and "Unknown user or wrong token" in bad.text and COOKIE not in bad.cookies
    # somebody else's site as 'next' is not followed
    r = web.client().post("/login", data={"user": "bob", "token": USERS["bob"], "next": "//evil.example/x"})
    assert r.headers["location"] == "/inbox"
    # a tampered cookie is no session
    forged = web.client(cookies={COOKIE: client.cookies[COOKIE][:-2] + "xx"})
    assert forged.get("/inbox").status_code == 303


def test_csrf_missing_or_wrong_and_cross_origin_posts_are_refused(web, inbox_world):
    pid = inbox_world.file_fix_data()
    client, csrf = web.signed_in("alice")
    assert client.post(f"/api/proposals/{pid}/answer", json={"type": "accept"}).status_code == 403
    r = client.post(f"/api/proposals/{pid}/answer", json={"type": "accept"}, headers={"X-CSRF-Token": "nope"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert client.post(f"/proposals/{pid}/answer", data={"type": "accept"}).status_code == 403
    assert client.post(f"/proposals/{pid}/answer", data={"type": "accept", "csrf_token": csrf + "x"}).status_code == 403
    r = client.post(f"/proposals/{pid}/answer", data={"type": "accept", "csrf_token": csrf},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.text
    r = client.post("/api/triage", json={"model": "churn"}, headers={"X-CSRF-Token": csrf, "Origin": "null"})
    assert r.status_code == 403
    assert client.post("/logout").status_code == 403  # even signing out needs the token
    assert _status(web, pid) == "pending" and _events(web, pid) == ["proposed"]
    assert not any(j.proposal_id == pid for j in web.dispatcher.jobs())


def test_an_approver_accepts_through_the_api_and_the_fix_executes(web, inbox_world):
    pid = inbox_world.file_fix_data()
    client = web.bearer("alice")  # an API client: bearer token, no cookie, no CSRF token needed
    assert pid in [p["proposal"]["id"] for p in client.get("/api/proposals").json()]
    assert web.client(headers={"Authorization": "Bearer wrong"}).get("/api/proposals").status_code == 401
    r = client.post(f"/api/proposals/{pid}/answer", json={"type": "accept"})
    assert r.status_code == 202 and r.json()["proposal_id"] == pid
    job = _job_done(web, client, r.json()["id"])
    assert job["status"] == "done" and job["proposal_status"] == "executed"
    record = web.dispatcher.ctx.approvals.get(pid)
    assert record.status == "executed" and record.decided_by == "alice" and record.decided_via == "web"
    again = client.post(f"/api/proposals/{pid}/answer", json={"type": "accept"})
    assert again.status_code == 400 and "not pending" in again.json()["detail"]


def test_a_non_approver_is_refused_and_nothing_changes(web, inbox_world):
    pid = inbox_world.file_fix_data()
    client, csrf = web.signed_in("bob")
    r = client.post(f"/api/proposals/{pid}/answer", json={"type": "accept"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and "not on the approver list" in r.json()["detail"]
    page = client.post(f"/proposals/{pid}/answer", data={"type": "ignore", "csrf_token": csrf})
    assert page.status_code == 403 and "not on the approver list" in page.text and "flash error" in page.text
    record = web.dispatcher.ctx.approvals.get(pid)
    assert record.status == "pending" and record.decided_by is None
    assert _events(web, pid).count("refused-not-approver") == 2
    assert not any(e in _events(web, pid) for e in ("accepted", "rejected", "executing", "executed"))


def test_reject_from_the_page_executes_nothing(web, inbox_world):
    pid = inbox_world.file_fix_data()
    client, csrf = web.signed_in("alice")
    r = client.post(f"/proposals/{pid}/answer", data={"type": "ignore", "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/proposals/{pid}?job=job-")
    job_id = r.headers["location"].split("job=")[1]
    assert _job_done(web, client, job_id)["status"] == "done"
    assert _status(web, pid) == "rejected"
    assert not any(e in _events(web, pid) for e in ("accepted", "executing", "executed"))
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and 'data-job-id="' + job_id + '"' in page.text and "rejected" in page.text


def test_bad_edits_and_oversized_messages_get_messages(web, inbox_world):
    pid = inbox_world.file_fix_data()
    client, csrf = web.signed_in("alice")
    h = {"X-CSRF-Token": csrf}
    r = client.post(f"/api/proposals/{pid}/answer", json={"type": "edit", "args": {"champion_version": "9"}}, headers=h)
    assert r.status_code == 400 and "cannot edit champion_version" in r.json()["detail"]
    page = client.post(f"/proposals/{pid}/answer", data={"type": "edit", "field.problem": "x", "csrf_token": csrf})
    assert page.status_code == 400 and "cannot edit problem" in page.text
    assert client.post(f"/api/proposals/{pid}/answer", json={"type": "maybe"}, headers=h).status_code == 400
    assert client.post("/api/proposals/prop-nope/answer", json={"type": "accept"}, headers=h).status_code == 404
    assert _status(web, pid) == "pending"

    too_long = client.post("/api/chat", json={"message": "x" * 4001}, headers=h)
    assert too_long.status_code == 413 and "limit is 4000" in too_long.json()["detail"]
    huge = client.post("/api/chat", content=json.dumps({"message": "x" * 300_000}), headers=h)
    assert huge.status_code == 413 and "larger than" in huge.json()["detail"]
    assert client.post("/api/chat", json={"message": "  "}, headers=h).status_code == 400
    assert client.post("/api/chat", content=b"not json", headers=h).status_code == 400
    assert client.post("/api/triage", json={"model": "nope"}, headers=h).status_code == 400


def test_a_retrain_edit_from_the_form_is_validated(web, inbox_world):
    pid = inbox_world.file_retrain(epochs=2)
    client, csrf = web.signed_in("alice")
    page = client.get(f"/proposals/{pid}")
    assert page.status_code == 200 and 'name="field.epochs" value="2"' in page.text
    r = client.post(f"/proposals/{pid}/answer", data={"type": "edit", "field.epochs": "-3", "csrf_token": csrf})
    assert r.status_code == 400 and "epochs" in r.text
    assert _status(web, pid) == "pending"
    # leave it pending: executing a retrain is the dispatcher tests' job


def test_report_files_are_served_only_from_the_reports_folder(web, inbox_world):
    iid = make_incident(inbox_world)
    client, _ = web.signed_in("alice")
    plot = client.get(f"/reports/{iid}/plots/total_day_minutes.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    (inbox_world.layout.reports_dir / "secret.db").write_bytes(b"x")
    for path in ("../approvals.db", "%2e%2e/approvals.db", "..%2fapprovals.db", f"{iid}/../../approvals.db",
                 "secret.db", "/etc/passwd", "%2fetc%2fpasswd", f"{iid}/missing.png"):
        r = client.get(f"/reports/{path}")
        assert r.status_code == 404, path
    assert web.client().get(f"/reports/{iid}/plots/total_day_minutes.png").status_code == 303
    # the check itself, without a client that might tidy '..' away first
    assert report_path(inbox_world.layout, "../approvals.db") is None
    assert report_path(inbox_world.layout, f"{iid}/plots/total_day_minutes.png") is not None


def test_incident_and_model_pages_render(web, inbox_world):
    pid = inbox_world.file_fix_data()
    iid = make_incident(inbox_world, proposal_id=pid)
    client, _ = web.signed_in("alice")
    listing = client.get("/incidents")
    assert listing.status_code == 200 and iid in listing.text
    page = client.get(f"/incidents/{iid}")
    assert page.status_code == 200 and "<h1>Drift in total_day_minutes</h1>" in page.text
    assert f'src="/reports/{iid}/plots/total_day_minutes.png"' in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    assert client.get("/incidents/inc-nope", headers={"Accept": "text/html"}).status_code == 404
    proposal = client.get(f"/proposals/{pid}")
    assert proposal.status_code == 200 and f"/reports/{iid}/plots/total_day_minutes.png" in proposal.text
    models = client.get("/models")
    assert models.status_code == 200 and "churn" in models.text and "champion" in models.text
    assert f"v{inbox_world.champion}" in models.text and "no canary" in models.text


def test_chat_streams_events_and_threads_are_kept_per_user(web):
    web.chat_model = ScriptedChatModel(script=[tool_call("list_models"), answer("churn is the only model.")])
    client, csrf = web.signed_in("alice")
    with client.stream("POST", "/api/chat", json={"message": "which models?"}, headers={"X-CSRF-Token": csrf}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in r.iter_lines() if line.strip()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "thread" and kinds[-2:] == ["answer", "brain"]
    assert kinds.index("call") < kinds.index("result") < kinds.index("answer")
    assert events[kinds.index("call")]["text"].startswith("list_models(")
    assert events[-2]["text"] == "churn is the only model." and "scripted" in events[-1]["text"]
    thread = events[0]["id"]
    page = client.get(f"/chat/{thread}")
    assert page.status_code == 200 and "which models?" in page.text and "churn is the only model." in page.text
    assert "tool call: list_models(" in page.text
    assert [t["id"] for t in client.get("/api/threads").json()] == [thread]
    bob, bob_csrf = web.signed_in("bob")
    assert bob.get(f"/chat/{thread}").status_code == 404
    r = bob.post("/api/chat", json={"message": "hi", "thread_id": thread}, headers={"X-CSRF-Token": bob_csrf})
    assert r.status_code == 404


def test_sign_out_ends_the_session(web):
    client, csrf = web.signed_in("alice")
    other, _ = web.signed_in("alice")  # the same person in another browser
    copied = client.cookies[COOKIE]
    r = client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/inbox").status_code == 303
    # The server revoked that session: a copy of its cookie, replayed, is no session either.
    replayed = web.client(cookies={COOKIE: copied})
    assert replayed.get("/inbox").status_code == 303 and replayed.get("/api/me").status_code == 401
    assert replayed.post("/api/triage", json={"model": "churn"}, headers={"X-CSRF-Token": csrf}).status_code == 401
    assert other.get("/api/me").json()["user"] == "alice"  # the other session goes on
    # ... and stays revoked for a new process on the same home (the revocation is in the home, not in memory).
    restarted = WebAuth(dict(USERS), b"s" * 64, revocations=SessionRevocations.for_home(web.world.layout))
    assert restarted.read_cookie(copied) is None and restarted.read_cookie(other.cookies[COOKIE]) is not None


def test_failed_sign_ins_are_throttled_per_user_and_address(inbox_world):
    w = start_web(inbox_world)
    now = [1000.0]
    auth = w.app.state.web_auth
    auth.throttle = SignInThrottle(clock=lambda: now[0])
    try:
        for _ in range(FAILURES_PER_USER):
            assert w.client().post("/login", data={"user": "alice", "token": "wrong"}).status_code == 401
        # Locked: even the right token is refused, with how long to wait.
        r = w.client().post("/login", data={"user": "alice", "token": USERS["alice"]})
        assert r.status_code == 429 and r.headers["retry-after"] == str(int(WINDOW_S))
        assert "Too many failed sign-ins" in r.text and COOKIE not in r.cookies
        assert w.signed_in("bob")[0].get("/api/me").json()["user"] == "bob"  # others from this address are not
        now[0] += WINDOW_S / 2
        r = w.client().post("/login", data={"user": "alice", "token": USERS["alice"]})
        assert r.headers["retry-after"] == str(int(WINDOW_S / 2))
        now[0] += WINDOW_S / 2 + 1  # the failures have left the window
        assert w.client().post("/login", data={"user": "alice", "token": USERS["alice"]}).status_code == 303

        # Per address (alice's failures have left the window): wrong bearer tokens count too, until the address
        # is locked for everyone.
        for i in range(FAILURES_PER_ADDRESS):
            wrong = w.client(headers={"Authorization": f"Bearer guess-{i}"})
            assert wrong.get("/api/proposals").status_code == 401
        r = w.bearer("bob").get("/api/proposals")
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "try again" in r.json()["detail"]
        assert w.client().post("/login", data={"user": "bob", "token": USERS["bob"]}).status_code == 429
    finally:
        stop_web(w)


def test_throttle_windows_and_its_bounds():
    now = [0.0]
    throttle = SignInThrottle(per_user=2, per_address=3, window_s=100, clock=lambda: now[0])
    throttle.failed(user="a", address="h")
    now[0] = 10
    throttle.failed(user="a", address="h")
    assert throttle.retry_after(user="a") == 90 and throttle.retry_after(address="h") is None
    assert throttle.retry_after(user="b", address="h") is None
    throttle.succeeded(user="a")  # the right token: a's count starts again, the address keeps its two
    assert throttle.retry_after(user="a") is None
    throttle.failed(user="c", address="h")
    assert throttle.retry_after(user="zz", address="h") == 90  # the first failure leaves the window at 100
    now[0] = 100.5
    assert throttle.retry_after(address="h") is None


def test_users_and_the_session_secret(inbox_world, tmp_path):
    from ml_core.paths import HomeLayout

    users, generated = resolve_users(inbox_world.settings(web_users={"ana": "t1"}, web_token="t2"))
    assert users == {"ana": "t1", "operator": "t2"} and generated is None
    users, generated = resolve_users(inbox_world.settings())
    assert generated and users == {"operator": generated} and len(generated) >= 20
    layout = HomeLayout(tmp_path / "home")
    first = session_secret(layout)
    assert session_secret(layout) == first and len(first) >= 32
    assert (layout.home / "web_secret").stat().st_mode & 0o777 == 0o600

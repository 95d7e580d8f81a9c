"""The web app's foundations: signing in, sessions, CSRF, the login rate limit, roles on
every route, security headers, the admins' pages, the dashboard, ``monitor web``."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import Env
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.routing import Mount, Route
from websupport import PASSWORD, Web

from monitor.cases import add_case
from monitor.db.models import AuditEvent, Hit, WebSession
from monitor.users import add_user, set_disabled, set_password

# -- every route, anonymously and as each role ----------------------------------------------------

ANY = frozenset({"admin", "analyst", "operator"})
ANALYST, OPERATOR, ADMIN = frozenset({"analyst"}), frozenset({"operator"}), frozenset({"admin"})
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/healthz"),
    ("POST", "/api/login"),
    ("GET", "/api/openapi.json"),
    ("GET", "/hasher.html"),  # the victim's hashing page: code only, no data
}
#: Who may use what, by path prefix, written here independently of the routes' own
#: declarations: a route missing from this table fails the walk, and so does a route
#: whose check differs from it.
RULES: list[tuple[str, frozenset[str]]] = [
    ("/admin/", ADMIN),
    ("/api/admin/", ADMIN),
    ("/cases", ANALYST),
    ("/api/cases", ANALYST),
    ("/review", ANALYST),
    ("/api/hits", ANALYST),
    ("/api/review", ANALYST),
    ("/takedowns", ANALYST),
    ("/api/takedowns", ANALYST),
    ("/sites", OPERATOR),
    ("/api/sites", OPERATOR),
    ("/groups", OPERATOR),
    ("/api/groups", OPERATOR),
    ("/runs", OPERATOR),
    ("/api/runs", OPERATOR),
    ("/status", OPERATOR),
    ("/api/status", OPERATOR),
    ("/api/me", ANY),
    ("/api/dashboard", ANY),
    ("/api/logout", ANY),
    ("/logout", ANY),
]


#: Exceptions inside an area, by the end of the path.
SUFFIX_RULES: list[tuple[str, frozenset[str]]] = [
    ("/hashes/export", ADMIN),  # a hash list leaving the system: admins only
    ("/withdraw", ADMIN),  # irrevocable deletion of a case
]


def allowed_roles(path: str) -> frozenset[str]:
    if path == "/":
        return ANY
    for suffix, roles in SUFFIX_RULES:
        if path.endswith(suffix):
            return roles
    for prefix, roles in RULES:
        if (
            path == prefix.rstrip("/")
            or path.startswith(prefix.rstrip("/") + "/")
            or (path.startswith(prefix) and prefix.endswith("/"))
        ):
            return roles
    raise AssertionError(f"{path} has no access rule in this test: decide who may use it")


def concrete(path: str) -> str:
    """Path parameters that name nothing: the walk must not change what it walks with."""
    return re.sub(r"\{[^}]+\}", "999999", path)


def registered(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, inside included routers too (FastAPI wraps them)."""
    for route in routes:
        if isinstance(route, APIRoute | Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, prefix + route.path
        elif hasattr(route, "original_router"):
            yield from registered(
                route.original_router.routes, prefix + route.include_context.prefix
            )
        else:
            assert isinstance(route, Mount) and route.path == "/static", route


def routes(web: Web) -> list[tuple[str, str]]:
    found = sorted(set(registered(web.client.app.routes)))  # type: ignore[attr-defined]
    # Signing out last, so that the walk keeps its sessions.
    return sorted(found, key=lambda mp: mp[1] in ("/logout", "/api/logout"))


def test_every_route_refuses_the_anonymous_and_the_wrong_roles(sqlite_web: Web) -> None:
    web = sqlite_web
    walked = routes(web)
    assert len(walked) > 60, walked  # pages and API of every area
    anonymous = web.new_browser()
    browsers = {role: web.new_browser().sign_in(role) for role in sorted(ANY)}
    refusals = 0
    for method, path in walked:
        if (method, path) in PUBLIC:
            continue
        roles = allowed_roles(path)
        url = concrete(path)
        answer = anonymous.client.request(method, url)
        if path.startswith("/api/"):
            assert answer.status_code == 401, (method, path, answer.status_code)
        else:
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"].startswith("/login"), (method, path)
        for role, browser in browsers.items():
            answer = browser.api_post(url, method=method) if method != "GET" else browser.get(url)
            if role in roles:
                assert answer.status_code not in (401, 403), (role, method, path, answer.text[:200])
            else:
                assert answer.status_code == 403, (role, method, path, answer.status_code)
                refusals += 1
    with web.app.db.session() as session:
        logged = session.scalar(select(func.count()).where(AuditEvent.action == "web.refused"))
    assert refusals > 60 and logged == refusals


# -- signing in ------------------------------------------------------------------------------------


def login_form(web: Web) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text)
    assert match
    return match[1]


def test_sign_in_sets_a_secure_http_only_same_site_cookie_and_sign_out_ends_it(web: Web) -> None:
    add_user(web.app, "ana@ngo.example", "analyst", PASSWORD)
    token = login_form(web)
    answer = web.client.post(
        "/login",
        data={
            "email": "ana@ngo.example",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/cases",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/cases"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("ncii_session="))
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    session_token = cookie.split(";")[0].split("=", 1)[1]
    with web.app.db.session() as session:  # only a digest of the token is stored
        stored = session.scalars(select(WebSession.token_hash)).all()
    assert len(stored) == 1 and session_token not in stored[0]
    web.csrf = web.get("/api/me").json()["csrf_token"]
    assert web.get("/").status_code == 200
    assert web.post("/logout").status_code == 303
    with web.app.db.session() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0
    # The old cookie is worthless now, even if a copy was kept.
    again = web.new_browser()
    again.client.cookies.set("ncii_session", session_token, domain="testserver")
    assert again.get("/").status_code == 303


def test_wrong_password_unknown_account_and_disabled_account_look_alike(sqlite_web: Web) -> None:
    web = sqlite_web
    add_user(web.app, "ana@ngo.example", "analyst", PASSWORD)
    add_user(web.app, "off@ngo.example", "analyst", PASSWORD)
    set_disabled(web.app, "off@ngo.example", True)
    texts = set()
    for email, password in (
        ("ana@ngo.example", "wrong-password-123"),
        ("nobody@ngo.example", PASSWORD),
        ("off@ngo.example", PASSWORD),
    ):
        answer = web.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": login_form(web)}
        )
        assert answer.status_code == 401 and "ncii_session" not in answer.headers.get(
            "set-cookie", ""
        )
        texts.add(re.search(r'role="alert">([^<]+)<', answer.text)[1])  # type: ignore[index]
    assert texts == {"Wrong address or password, or the account is disabled."}


def test_the_login_form_needs_its_csrf_token_and_next_stays_on_this_site(sqlite_web: Web) -> None:
    web = sqlite_web
    add_user(web.app, "ana@ngo.example", "analyst", PASSWORD)
    forged = web.client.post("/login", data={"email": "ana@ngo.example", "password": PASSWORD})
    assert forged.status_code == 403
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        browser = web.new_browser()
        answer = browser.client.post(
            "/login",
            data={
                "email": "ana@ngo.example",
                "password": PASSWORD,
                "csrf_token": login_form(browser),
                "next": target,
            },
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_logins_are_rate_limited_per_address_and_per_client(sqlite_web: Web) -> None:
    web = sqlite_web
    add_user(web.app, "ana@ngo.example", "analyst", PASSWORD)

    def attempt(email: str, password: str) -> int:
        return web.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": login_form(web)}
        ).status_code

    assert [attempt("ana@ngo.example", "not-her-password") for _ in range(5)] == [401] * 5
    # The sixth is refused before the password is looked at, even the right one.
    refused = web.client.post(
        "/login",
        data={"email": "ana@ngo.example", "password": PASSWORD, "csrf_token": login_form(web)},
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in refused.text
    # Per client: twenty failures over many addresses lock the client out too.
    for i in range(15):
        assert attempt(f"guess{i}@ngo.example", "whatever-password") == 401
    assert attempt("other@ngo.example", "whatever-password") == 429
    # The API says the same.
    api = web.client.post("/api/login", json={"email": "ana@ngo.example", "password": PASSWORD})
    assert api.status_code == 429
    with web.app.db.session() as session:
        assert session.scalar(
            select(func.count()).where(AuditEvent.action == "user.login_throttled")
        )
    # When the failures age out, she signs in again.
    from monitor.db.models import LoginFailure

    with web.app.db.session() as session:
        for failure in session.scalars(select(LoginFailure)):
            failure.at -= timedelta(minutes=16)
    assert web.sign_in("analyst", email="ana@ngo.example").get("/").status_code == 200


def test_changes_need_the_sessions_csrf_token(web: Web) -> None:
    web.sign_in("admin")
    form = {"email": "new@ngo.example", "roles": "analyst"}
    assert web.client.post("/admin/users", data=form).status_code == 403
    assert web.client.post("/admin/users", data={**form, "csrf_token": "x" * 43}).status_code == 403
    api = web.client.post(
        "/api/admin/users", json={"email": "new@ngo.example", "roles": ["analyst"]}
    )
    assert api.status_code == 403 and "CSRF" in api.json()["detail"]
    # Another session's token does not do either.
    other = web.new_browser().sign_in("admin", email="other-admin@ngo.example")
    crossed = web.client.post("/admin/users", data={**form, "csrf_token": other.csrf})
    assert crossed.status_code == 403
    assert web.post("/admin/users", form).status_code == 200  # with its own token
    assert "new@ngo.example" in web.get("/admin/users").text


def test_sessions_end_when_the_account_is_disabled_or_its_password_changes(sqlite_web: Web) -> None:
    web = sqlite_web.sign_in("analyst", email="ana@ngo.example")
    second = web.new_browser().sign_in("analyst", email="ana@ngo.example")
    set_password(web.app, "ana@ngo.example", "a-brand-new-password")
    assert web.get("/").status_code == 303 and second.get("/").status_code == 303
    add_user(web.app, "bo@ngo.example", "analyst", PASSWORD)
    bo = web.new_browser().sign_in("analyst", email="bo@ngo.example")
    set_disabled(web.app, "bo@ngo.example", True)
    assert bo.get("/api/me").status_code == 401


def test_idle_and_expired_sessions_end(sqlite_web: Web) -> None:
    web = sqlite_web.sign_in("analyst")
    with web.app.db.session() as session:
        for row in session.scalars(select(WebSession)):
            row.last_seen_at -= timedelta(hours=2)
    assert web.get("/api/me").status_code == 401
    web.sign_in("analyst")
    with web.app.db.session() as session:
        for row in session.scalars(select(WebSession)):
            row.expires_at = row.created_at - timedelta(seconds=1)
    assert web.get("/api/me").status_code == 401


def test_pages_are_not_cached_framed_or_open_to_other_origins(sqlite_web: Web) -> None:
    web = sqlite_web.sign_in("analyst")
    for path in ("/", "/login", "/api/me"):
        headers = web.get(path).headers
        assert headers["cache-control"] == "no-store"
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    page = web.get("/").text
    assert "<script>" not in page and " style=" not in page and "onclick" not in page


# -- the admins' pages ----------------------------------------------------------------------------


def test_admins_manage_accounts_and_cannot_lock_themselves_out(sqlite_web: Web) -> None:
    web = sqlite_web.sign_in("admin", email="root@ngo.example")
    made = web.post("/admin/users", {"email": "Op@NGO.example", "roles": ["operator", "analyst"]})
    password = re.search(r'<code id="password">([^<]+)</code>', made.text)
    assert made.status_code == 200 and password
    newcomer = web.new_browser()
    token = login_form(newcomer)
    answer = newcomer.client.post(
        "/login", data={"email": "op@ngo.example", "password": password[1], "csrf_token": token}
    )
    assert answer.status_code == 303
    me = newcomer.get("/api/me").json()
    assert me["roles"] == ["analyst", "operator"]
    accounts = {a["email"]: a for a in web.api_get("/api/admin/users").json()}
    op_id, root_id = accounts["op@ngo.example"]["id"], accounts["root@ngo.example"]["id"]
    assert web.post(f"/admin/users/{op_id}/roles", {"roles": ["operator"]}).status_code == 303
    assert newcomer.get("/api/me").json()["roles"] == ["operator"]  # at once
    assert web.post(f"/admin/users/{op_id}/disable").status_code == 303
    assert newcomer.get("/api/me").status_code == 401
    assert web.post(f"/admin/users/{root_id}/disable").status_code == 400
    assert web.post(f"/admin/users/{root_id}/roles", {"roles": ["analyst"]}).status_code == 400
    assert web.post(f"/admin/users/{op_id}/roles", {}).status_code == 400  # no role at all
    assert "disabled" in web.get("/admin/users").text


def test_the_audit_log_is_searchable_and_reading_it_is_recorded(env: Env) -> None:
    web = Web(env.app).sign_in("analyst", email="ana@ngo.example")
    case_id = add_case(web.app.acting_as("ana@ngo.example"), "Case A")
    admin = web.new_browser().sign_in("admin", email="root@ngo.example")
    everything = admin.api_get("/api/admin/audit").json()
    assert everything["total"] >= 3
    found = admin.api_get(f"/api/admin/audit?object_type=case&object_id={case_id}").json()
    assert [e["action"] for e in found["events"]] == ["case.create"]
    assert found["events"][0]["actor"] == "ana@ngo.example"
    logins = admin.api_get("/api/admin/audit?action=user.login&actor=ana").json()
    assert logins["total"] == 1
    page = admin.get("/admin/audit?action=case.&actor=ana")
    assert page.status_code == 200 and "case.create" in page.text and "user.login" not in page.text
    assert admin.get("/admin/audit?since=yesterday").status_code == 400
    future = admin.api_get("/api/admin/audit?since=2999-01-01").json()
    assert future["total"] == 0
    with env.app.db.session() as session:
        views = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "audit.view")
        ).all()
    assert views and set(views) == {"root@ngo.example"}


def test_the_settings_page_masks_secrets(sqlite_env: Env) -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    env = sqlite_env.reconfigure(
        MONITOR_SECRET_KEY=key, MONITOR_SMTP_URL="smtp://mailer:hunter2-secret@127.0.0.1:2525"
    )
    web = Web(env.app).sign_in("admin")
    page = web.get("/admin/settings").text
    assert "MONITOR_SMTP_URL" in page and "mailer:***@127.0.0.1:2525" in page
    assert "hunter2-secret" not in page and key not in page
    settings = {s["name"]: s["value"] for s in web.api_get("/api/admin/settings").json()}
    assert settings["MONITOR_WEB_HOST"] == "127.0.0.1"
    assert settings["MONITOR_SECRET_KEY"] == "(set)"
    assert "hunter2" not in str(settings)


# -- the dashboard -----------------------------------------------------------------------------------


def test_the_dashboard_counts_hits_per_week_and_open_notices(env: Env) -> None:
    from test_alerts import make_hits

    from monitor.review import confirm_hits

    case_id = add_case(env.app, "Case A")
    ids = make_hits(env, case_id, {"a.html": ["1" * 64, "2" * 64], "b.html": ["3" * 64]})
    confirm_hits(env.app, ids[:1])
    with env.app.db.session() as session:  # one of them was first seen three weeks ago
        hit = session.get(Hit, ids[2])
        assert hit is not None
        hit.first_seen = hit.first_seen - timedelta(weeks=3)
    web = Web(env.app).sign_in("operator")
    figures = web.api_get("/api/dashboard").json()
    weeks = figures["hits_per_week"]
    assert len(weeks) == 12
    assert (weeks[-1]["confirmed"], weeks[-1]["new"], weeks[-1]["total"]) == (1, 1, 2)
    assert weeks[-4]["total"] == 1
    assert figures["hits_waiting"] == 2 and figures["open_notices"] == 0
    page = web.get("/").text
    assert 'data-figure="hits-waiting">2<' in page and '<svg class="chart"' in page
    assert "Case A" not in page  # counts only


def test_the_api_is_described_by_openapi(sqlite_web: Web) -> None:
    spec = sqlite_web.client.get("/api/openapi.json").json()
    paths = spec["paths"]
    assert all(p.startswith("/api/") for p in paths)
    for expected in (
        "/api/login",
        "/api/me",
        "/api/dashboard",
        "/api/admin/users",
        "/api/admin/audit",
    ):
        assert expected in paths
    assert sqlite_web.client.get("/docs").status_code in (303, 404)  # no CDN-loaded docs


# -- monitor web, a real server ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_monitor_web_serves_on_loopback(sqlite_env: Env) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "monitor", "web", "--port", str(port)],
        env=sqlite_env.vars,
        cwd=sqlite_env.tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.read() == b'{"status":"ok"}'
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"monitor web did not start: {server.poll()}")
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
            assert b"Sign in" in r.read()
            assert r.headers["Cache-Control"] == "no-store"
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in out


def test_uploads_stay_in_memory_and_huge_bodies_are_refused(
    sqlite_web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    spooled: list[str] = []

    def no_disk(*args: Any, **kwargs: Any) -> Any:
        spooled.append("temporary file")  # (an exception here would become a 400)
        raise OSError("an upload was spooled to a temporary file")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_disk)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_disk)
    web = sqlite_web.sign_in("analyst")
    case_id = add_case(web.app, "Case A")
    three_mb = b"not a hash list\n" * (3 * 1024 * 1024 // 16)  # Starlette spools over 1 MB
    answer = web.api_post(
        f"/api/cases/{case_id}/hashes", files={"file": ("list.txt", three_mb, "text/plain")}
    )
    assert answer.status_code == 400, answer.text  # read in memory, then refused as bad
    assert "not a hash list" in answer.text or "line 1" in answer.text, answer.text
    assert spooled == []
    huge = web.api_post(
        f"/api/cases/{case_id}/hashes",
        files={"file": ("list.txt", b"0" * (13 * 1024 * 1024), "text/plain")},
    )
    assert huge.status_code == 413

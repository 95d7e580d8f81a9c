"""Sign-in, sessions, CSRF and roles for the web app.

- A session is a random token in a cookie (HttpOnly, Secure, SameSite=Lax); the database
  keeps only its sha256, with a CSRF token of its own. It ends at logout, after
  ``MONITOR_WEB_SESSION_HOURS``, after an hour without a request, and when the account is
  disabled or its password changed.
- Every request that changes something (POST, PUT, PATCH, DELETE) must carry the session's
  CSRF token: the ``csrf_token`` field of a form, or the ``X-CSRF-Token`` header of an API
  call. The login form has its own (a double-submit cookie), since there is no session yet.
- Failed logins are counted per address tried and per client: five for one address, or
  twenty from one client, within 15 minutes, and logins are refused until they age out.
- Every route names the roles it admits (``Depends(ANALYST)``...; ``SIGNED_IN``: any
  role). A refusal is audit-logged. A test walks every registered route anonymously and
  as each role.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import delete, func, select

from monitor import audit
from monitor.app import App
from monitor.db.models import LoginFailure, User, WebSession, utcnow
from monitor.users import ROLES, UserView, authenticate

COOKIE = "ncii_session"
LOGIN_CSRF_COOKIE = "ncii_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
IDLE = timedelta(hours=1)
#: The rate limit: failures within WINDOW, per address tried and per client.
WINDOW = timedelta(minutes=15)
PER_EMAIL = 5
PER_CLIENT = 20
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotSignedIn(Exception):
    """No valid session: HTML pages redirect to the login page, the API answers 401."""


class Refused(Exception):
    """Signed in, but the account's roles do not admit this route (403)."""

    def __init__(self, needed: tuple[str, ...], roles: frozenset[str]) -> None:
        super().__init__(needed, roles)
        self.needed = needed
        self.roles = roles


class CsrfFailed(Exception):
    """A change without the session's CSRF token (403)."""


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    roles: frozenset[str]
    csrf: str
    session_id: int


@dataclass(frozen=True)
class Ctx:
    """What a route gets: who is signed in, and the installation acting in their name
    (so that the audit log names them)."""

    user: Principal
    app: App


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def installation(request: Request) -> App:
    return request.app.state.app  # type: ignore[no-any-return]


def client_address(request: Request) -> str:
    """The client's address; behind a trusted proxy uvicorn has already put the
    forwarded one here."""
    return request.client.host if request.client else "?"


# -- sessions -----------------------------------------------------------------------------------


def start_session(app: App, user: UserView) -> tuple[str, str, datetime]:
    """A new session for the user: (the cookie's token, its CSRF token, when it expires)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + timedelta(hours=app.config.web_session_hours)
    with app.db.session() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(
            WebSession(
                token_hash=_digest(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=expires,
            )
        )
    return token, csrf, expires


def end_session(app: App, token: str | None) -> None:
    if token:
        with app.db.session() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def principal(request: Request) -> Principal | None:
    """Who the request's session cookie belongs to, if it is valid."""
    cached = getattr(request.state, "principal", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    found = _lookup(installation(request), request.cookies.get(COOKIE))
    request.state.principal = found
    return found


def _lookup(app: App, token: str | None) -> Principal | None:
    if not token or len(token) > 200:
        return None
    now = utcnow()
    with app.db.session() as session:
        row = session.execute(
            select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == _digest(token))
        ).first()
        if row is None:
            return None
        web_session, user = row
        if user.disabled or web_session.expires_at <= now or now - web_session.last_seen_at > IDLE:
            session.delete(web_session)
            return None
        if now - web_session.last_seen_at > timedelta(seconds=60):
            web_session.last_seen_at = now
        return Principal(
            user.id,
            user.email,
            frozenset(user.role.split(",")),
            web_session.csrf_token,
            web_session.id,
        )


# -- CSRF ----------------------------------------------------------------------------------------


async def check_csrf(request: Request, expected: str) -> None:
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    if given is None and _is_form(request):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not given or not hmac.compare_digest(given, expected):
        raise CsrfFailed()


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


# -- roles ----------------------------------------------------------------------------------------


class Require:
    """A route's dependency: signed in, with one of ``roles`` (any role if none), and the
    CSRF token on a change. Gives the route a ``Ctx``."""

    def __init__(self, *roles: str) -> None:
        assert all(r in ROLES for r in roles), roles
        self.roles = roles

    async def __call__(self, request: Request) -> Ctx:
        user = principal(request)
        if user is None:
            raise NotSignedIn()
        if self.roles and not (user.roles & set(self.roles)):
            app = installation(request)
            with app.db.session() as session:
                audit.record(
                    session,
                    user.email,
                    "web.refused",
                    "route",
                    None,
                    method=request.method,
                    path=request.url.path,
                )
            raise Refused(self.roles, user.roles)
        await check_csrf(request, user.csrf)
        return Ctx(user, installation(request).acting_as(user.email))


SIGNED_IN = Require()
ADMIN = Require("admin")
ANALYST = Require("analyst")
OPERATOR = Require("operator")


# -- the login rate limit ----------------------------------------------------------------------


def _keys(email: str, client: str) -> tuple[str, str]:
    try:
        client = str(ipaddress.ip_address(client))
    except ValueError:
        pass
    return f"email:{email.strip().lower()[:254]}", f"client:{client[:100]}"


def check_rate(app: App, email: str, client: str) -> None:
    """Throttled if the address or the client failed too often of late."""
    now = utcnow()
    by_email, by_client = _keys(email, client)
    wait = 0
    with app.db.session() as session:
        session.execute(delete(LoginFailure).where(LoginFailure.at < now - WINDOW))
        for key, limit in ((by_email, PER_EMAIL), (by_client, PER_CLIENT)):
            count, oldest = session.execute(
                select(func.count(), func.min(LoginFailure.at)).where(
                    LoginFailure.key == key, LoginFailure.at >= now - WINDOW
                )
            ).one()
            if count >= limit:
                wait = max(wait, int((oldest + WINDOW - now).total_seconds()) + 1)
                audit.record(
                    session, "anonymous", "user.login_throttled", "user", None, by=key.split(":")[0]
                )
    if wait:
        raise Throttled(wait)


def login(app: App, email: str, password: str, client: str) -> UserView | None:
    """The user if the password is right, counting failures; Throttled if too many."""
    check_rate(app, email, client)
    user = authenticate(app, email, password)
    by_email, by_client = _keys(email, client)
    with app.db.session() as session:
        if user is None:
            now = utcnow()
            session.add_all(
                [LoginFailure(key=by_email, at=now), LoginFailure(key=by_client, at=now)]
            )
        else:
            session.execute(delete(LoginFailure).where(LoginFailure.key == by_email))
    return user


#: What routes declare: ``def page(ctx: Analyst)``. The role check runs before anything
#: else the route needs (a refusal comes before a 404 or a 422).
AnyRole = Annotated[Ctx, Depends(SIGNED_IN)]
Admin = Annotated[Ctx, Depends(ADMIN)]
Analyst = Annotated[Ctx, Depends(ANALYST)]
Operator = Annotated[Ctx, Depends(OPERATOR)]

"""Signing in and out, the dashboard, and the health check."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel

from monitor import reports
from monitor.web.auth import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    AnyRole,
    CsrfFailed,
    client_address,
    end_session,
    installation,
    login,
    principal,
    start_session,
)
from monitor.web.ui import render

router = APIRouter()


def _set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        secure=True,  # browsers keep Secure cookies over plain http on loopback too
        samesite="lax",
        path="/",
    )


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no //host, no scheme): an open redirect otherwise."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """For a reverse proxy's or a supervisor's checks: says nothing but "ok"."""
    return {"status": "ok"}


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    if principal(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_form(request, next=next)


def _login_form(request: Request, status_code: int = 200, **context: Any) -> Response:
    """The login form with a fresh CSRF token of its own, in the form and in a cookie."""
    token = secrets.token_urlsafe(32)
    context["next"] = _safe_next(context.get("next"))
    response = render(request, "login.html", status_code=status_code, login_csrf=token, **context)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, secure=True, samesite="strict",
        path="/login",
    )  # fmt: skip
    return response


@router.post("/login", include_in_schema=False)
def login_submit(
    request: Request,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        raise CsrfFailed()
    app = installation(request)
    user = login(app, email, password, client_address(request))
    if user is None:
        return _login_form(
            request,
            status_code=401,
            next=next,
            error="Wrong address or password, or the account is disabled.",
            email=email[:254],
        )
    token, _, _ = start_session(app, user)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_session(request, response, token, int(app.config.web_session_hours * 3600))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, ctx: AnyRole) -> Response:
    end_session(installation(request), request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request, ctx: AnyRole) -> Response:
    figures = reports.dashboard(ctx.app)
    peak = max([w["total"] for w in figures["hits_per_week"]] + [1])
    removal_peak = max([k["median_hours"] or 0 for k in figures["removal_by_kind"]] + [1])
    notices_peak = max(list(figures["notices"].values()) + [1])
    return render(
        request,
        "dashboard.html",
        ctx,
        figures=figures,
        peak=peak,
        removal_peak=removal_peak,
        notices_peak=notices_peak,
        notice_rows=list(figures["notices"].items()),
        removal_rows=[(k["name"], k["median_hours"]) for k in figures["removal_by_kind"]],
    )


# -- API -------------------------------------------------------------------------------------------


class Credentials(BaseModel):
    email: str
    password: str


@router.post("/api/login", tags=["session"])
def api_login(request: Request, body: Credentials) -> Response:
    """Sign in: sets the session cookie, returns the CSRF token to send with changes."""
    app = installation(request)
    user = login(app, body.email, body.password, client_address(request))
    if user is None:
        return JSONResponse({"detail": "wrong address or password"}, status_code=401)
    token, csrf, expires = start_session(app, user)
    response = JSONResponse(
        {
            "email": user.email,
            "roles": sorted(user.roles),
            "csrf_token": csrf,
            "expires_at": expires.isoformat(),
        }
    )
    _set_session(request, response, token, int(app.config.web_session_hours * 3600))
    return response


@router.post("/api/logout", tags=["session"])
def api_logout(request: Request, ctx: AnyRole) -> Response:
    end_session(installation(request), request.cookies.get(COOKIE))
    response = JSONResponse({"signed_out": True})
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/api/me", tags=["session"])
def api_me(ctx: AnyRole) -> dict[str, Any]:
    """Who is signed in, with which roles, and the CSRF token for changes."""
    return {"email": ctx.user.email, "roles": sorted(ctx.user.roles), "csrf_token": ctx.user.csrf}


@router.get("/api/dashboard", tags=["reports"])
def api_dashboard(ctx: AnyRole) -> dict[str, Any]:
    """Hits per week (by review status), notices by status, median hours to removal per
    recipient kind. Any role."""
    return reports.dashboard(ctx.app)

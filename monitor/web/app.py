"""The web app: server-rendered pages (Jinja2) and the same operations as a JSON API
under ``/api`` (OpenAPI at ``/api/openapi.json``), on FastAPI.

Every page may show something sensitive, so nothing is cached (``Cache-Control:
no-store``), nothing loads from elsewhere (a strict Content-Security-Policy: scripts,
styles and images from this server only), and no page may be framed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.formparsers import MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor import __version__
from monitor.app import App
from monitor.errors import InvalidInput, MonitorError, NotFound
from monitor.web import admin, cases, core, hasherpage, review, sites, takedowns
from monitor.web.auth import CsrfFailed, NotSignedIn, Refused, Require, Throttled
from monitor.web.ui import HERE, render

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


#: The largest request body accepted (a hash-list upload is at most 10 MB): a larger one
#: is refused with 413 before it is read, and what is read stays in memory: Starlette
#: would otherwise spool an upload over 1 MB to a temporary file on disk.
MAX_BODY = 12 * 1024 * 1024
MultiPartParser.spool_max_size = MAX_BODY
MultiPartParser.max_part_size = MAX_BODY


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes: by Content-Length at once, and while
    reading one sent in chunks."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, counted, send)


def _describe_roles(route: APIRoute) -> None:
    """Say in the OpenAPI description (and as ``x-roles``) which roles a route admits."""
    for dependency in route.dependant.dependencies:
        if isinstance(dependency.call, Require):
            roles = list(dependency.call.roles) or ["any role"]
            route.description = (route.description or "").rstrip() + (
                f"\n\nRoles: {', '.join(roles)}."
            )
            route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": roles}
            return


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def create_app(app: App) -> FastAPI:
    web = FastAPI(
        title="ncii-monitor",
        version=__version__,
        description=(
            "The analysts' and operators' API. Sign in with POST /api/login (a session"
            " cookie); send the returned csrf_token as the X-CSRF-Token header with every"
            " change. Each operation names the roles it admits."
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc load scripts from CDNs: not here
        redoc_url=None,
    )
    web.state.app = app
    web.add_middleware(BodyLimit, limit=MAX_BODY)
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (core, cases, hasherpage, review, takedowns, sites, admin):
        for route in module.router.routes:
            if isinstance(route, APIRoute):
                _describe_roles(route)
        web.include_router(module.router)

    @web.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        # A page with a policy of its own (the hashing page: inline scripts by hash) keeps it.
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    def problem(request: Request, status: int, message: str, **extra: Any) -> Response:
        if is_api(request):
            return JSONResponse({"detail": message, **extra}, status_code=status)
        return render(request, "error.html", status_code=status, status=status, message=message)

    @web.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @web.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        needed = " or ".join(exc.needed)
        return problem(
            request,
            403,
            f"This needs the {needed} role; your account has {', '.join(sorted(exc.roles))}.",
        )

    @web.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return problem(
            request,
            403,
            "The form was not sent from this app's page (CSRF token missing or wrong). Reload the page and try again.",
        )

    @web.exception_handler(Throttled)
    async def throttled(request: Request, exc: Throttled) -> Response:
        minutes = max(1, round(exc.retry_after / 60))
        response = problem(
            request, 429, f"Too many failed sign-ins. Try again in about {minutes} min."
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @web.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return problem(request, 404, str(exc))

    @web.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> Response:
        return problem(request, 400, str(exc))

    @web.exception_handler(MonitorError)
    async def other(request: Request, exc: MonitorError) -> Response:
        return problem(request, 400, str(exc))

    @web.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> Response:
        if is_api(request):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        fields = ", ".join(
            str(e.get("loc", ["?"])[-1]) + ": " + str(e.get("msg", "")) for e in exc.errors()
        )
        return problem(request, 422, f"Some fields are not right ({fields}).")

    return web

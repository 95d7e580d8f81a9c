"""Rendering pages: Jinja2 templates with the signed-in user, the CSRF token and the
navigation their roles admit."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from monitor.web.auth import Ctx, Principal, principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

#: The navigation: (label, path, roles that see it; empty: everyone signed in).
NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Dashboard", "/", ()),
    ("Review", "/review", ("analyst",)),
    ("Cases", "/cases", ("analyst",)),
    ("Takedowns", "/takedowns", ("analyst",)),
    ("Sites", "/sites", ("operator",)),
    ("Runs", "/runs", ("operator",)),
    ("Status", "/status", ("operator",)),
    ("Users", "/admin/users", ("admin",)),
    ("Audit log", "/admin/audit", ("admin",)),
    ("Settings", "/admin/settings", ("admin",)),
)


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.strftime(fmt) + " UTC" if value is not None else "—"


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(value)


templates.env.filters["when"] = _when
templates.env.filters["size"] = _size
templates.env.filters["urlquote"] = lambda value: quote(str(value), safe="")


def nav_for(user: Principal | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    return [(label, path) for label, path, roles in NAV if not roles or user.roles & set(roles)]


def render(
    request: Request,
    template: str,
    ctx: Ctx | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    user = ctx.user if ctx is not None else principal(request)
    return templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf": user.csrf if user else "",
            "nav": nav_for(user),
            "done": request.query_params.get("done", "")[:200],
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )


def back(path: str, done: str = "") -> RedirectResponse:
    """Post/redirect/get: back to a page, with a short note of what was done."""
    target = path + (("&" if "?" in path else "?") + "done=" + quote(done) if done else "")
    return RedirectResponse(target, status_code=303)

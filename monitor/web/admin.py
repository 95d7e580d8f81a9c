"""The admins' pages: accounts, the audit log (searchable, admin only), the settings in use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import BaseModel, Field

from monitor import audit, users
from monitor.db.models import AuditEvent
from monitor.errors import InvalidInput
from monitor.web.auth import Admin
from monitor.web.ui import back, render

router = APIRouter()
PAGE = 100


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"not a date (YYYY-MM-DD): {value!r}") from None
    return day + timedelta(days=1) if end else day


def _not_self(ctx: Any, email: str, what: str) -> None:
    if email.strip().lower() == ctx.user.email:
        raise InvalidInput(f"you cannot {what} your own account (ask another admin)")


# -- accounts ---------------------------------------------------------------------------------


@router.get("/admin/users", include_in_schema=False)
def users_page(request: Request, ctx: Admin) -> Response:
    return render(
        request, "admin/users.html", ctx, accounts=users.list_users(ctx.app), roles=users.ROLES
    )


@router.post("/admin/users", include_in_schema=False)
def users_add(
    request: Request,
    ctx: Admin,
    email: Annotated[str, Form()],
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
) -> Response:
    password = users.generate_password()
    view = users.add_user(ctx.app, email, roles, password)
    return render(
        request,
        "admin/password.html",
        ctx,
        account=view,
        password=password,
        what="Account created",
    )


@router.post("/admin/users/{user_id}/roles", include_in_schema=False)
def users_roles(
    ctx: Admin,
    user_id: int,
    roles: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    account = _account(ctx, user_id)
    if "admin" not in roles:
        _not_self(ctx, account.email, "take the admin role from")
    view = users.set_role(ctx.app, account.email, roles)
    return back("/admin/users", f"{view.email}: {view.role.replace(',', ', ')}")


@router.post("/admin/users/{user_id}/disable", include_in_schema=False)
def users_disable(ctx: Admin, user_id: int) -> Response:
    account = _account(ctx, user_id)
    _not_self(ctx, account.email, "disable")
    users.set_disabled(ctx.app, account.email, True)
    return back("/admin/users", f"{account.email}: disabled (signed out everywhere)")


@router.post("/admin/users/{user_id}/enable", include_in_schema=False)
def users_enable(ctx: Admin, user_id: int) -> Response:
    account = _account(ctx, user_id)
    users.set_disabled(ctx.app, account.email, False)
    return back("/admin/users", f"{account.email}: enabled")


@router.post("/admin/users/{user_id}/password", include_in_schema=False)
def users_password(request: Request, ctx: Admin, user_id: int) -> Response:
    account = _account(ctx, user_id)
    _not_self(ctx, account.email, "reset the password of")  # `monitor user password`
    password = users.generate_password()
    users.set_password(ctx.app, account.email, password)
    return render(
        request, "admin/password.html", ctx, account=account, password=password, what="New password"
    )


def _account(ctx: Any, user_id: int) -> users.UserView:
    for account in users.list_users(ctx.app):
        if account.id == user_id:
            return account
    from monitor.errors import NotFound

    raise NotFound(f"no account with id {user_id}")


# -- the audit log ------------------------------------------------------------------------------


class AuditFilter(BaseModel):
    """actor matches part of the name, action is a prefix ("hits."), since/until are days
    (YYYY-MM-DD, until inclusive); 100 events a page, newest first."""

    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    since: str = ""
    until: str = ""
    page: int = Field(1, ge=1)


@router.get("/admin/audit", include_in_schema=False)
def audit_page(request: Request, ctx: Admin, query: Annotated[AuditFilter, Query()]) -> Response:
    found = _search(ctx, query)
    filters = query.model_dump(exclude={"page"})
    page = query.page
    return render(
        request,
        "admin/audit.html",
        ctx,
        events=found.events,
        total=found.total,
        page=page,
        pages=max(1, -(-found.total // PAGE)),
        filters=filters,
        query="&".join(f"{k}={v}" for k, v in filters.items() if v),
    )


def _search(ctx: Any, query: AuditFilter) -> audit.Page:
    with ctx.app.db.session() as session:
        found = audit.search(
            session,
            actor=query.actor.strip() or None,
            action=query.action.strip() or None,
            object_type=query.object_type.strip() or None,
            object_id=query.object_id.strip() or None,
            since=_day(query.since),
            until=_day(query.until, end=True),
            limit=PAGE,
            offset=(query.page - 1) * PAGE,
        )
        session.expunge_all()
        # Reading the audit log is itself recorded.
        audit.record(session, ctx.app.actor, "audit.view", "audit", None, total=found.total)
        return found


def _event(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "detail": e.detail,
    }


# -- settings -----------------------------------------------------------------------------------


@router.get("/admin/settings", include_in_schema=False)
def settings_page(request: Request, ctx: Admin) -> Response:
    return render(request, "admin/settings.html", ctx, settings=ctx.app.config.shown())


# -- API ----------------------------------------------------------------------------------------


class NewAccount(BaseModel):
    email: str
    roles: list[str]


class Roles(BaseModel):
    roles: list[str]


def _account_json(view: users.UserView) -> dict[str, Any]:
    return {
        "id": view.id,
        "email": view.email,
        "roles": sorted(view.roles),
        "disabled": view.disabled,
        "created_at": view.created_at.isoformat(),
        "last_login_at": view.last_login_at.isoformat() if view.last_login_at else None,
    }


@router.get("/api/admin/users", tags=["admin"])
def api_users(ctx: Admin) -> list[dict[str, Any]]:
    """Accounts and their roles. Admin only."""
    return [_account_json(u) for u in users.list_users(ctx.app)]


@router.post("/api/admin/users", tags=["admin"], status_code=201)
def api_users_add(ctx: Admin, body: NewAccount) -> dict[str, Any]:
    """Create an account; the generated password is in the answer, once. Admin only."""
    password = users.generate_password()
    view = users.add_user(ctx.app, body.email, body.roles, password)
    return {**_account_json(view), "password": password}


@router.put("/api/admin/users/{user_id}/roles", tags=["admin"])
def api_users_roles(ctx: Admin, user_id: int, body: Roles) -> dict[str, Any]:
    """Set an account's roles. Admin only; not your own admin role."""
    account = _account(ctx, user_id)
    if "admin" not in body.roles:
        _not_self(ctx, account.email, "take the admin role from")
    return _account_json(users.set_role(ctx.app, account.email, body.roles))


@router.post("/api/admin/users/{user_id}/disable", tags=["admin"])
def api_users_disable(ctx: Admin, user_id: int) -> dict[str, Any]:
    """Disable an account and end its sessions. Admin only; not your own."""
    account = _account(ctx, user_id)
    _not_self(ctx, account.email, "disable")
    return _account_json(users.set_disabled(ctx.app, account.email, True))


@router.post("/api/admin/users/{user_id}/enable", tags=["admin"])
def api_users_enable(ctx: Admin, user_id: int) -> dict[str, Any]:
    """Enable a disabled account. Admin only."""
    account = _account(ctx, user_id)
    return _account_json(users.set_disabled(ctx.app, account.email, False))


@router.get("/api/admin/audit", tags=["admin"])
def api_audit(ctx: Admin, query: Annotated[AuditFilter, Query()]) -> dict[str, Any]:
    """The audit log, newest first, 100 a page: actor matches part of the name, action is
    a prefix, since/until are days (YYYY-MM-DD, until inclusive). Admin only; the search
    is itself recorded."""
    found = _search(ctx, query)
    return {"total": found.total, "page": query.page, "events": [_event(e) for e in found.events]}


@router.post("/admin/audit/verify", include_in_schema=False)
def audit_verify_page(request: Request, ctx: Admin) -> Response:
    result = _verify(ctx)
    return render(request, "admin/audit_verify.html", ctx, result=result)


@router.post("/api/admin/audit/verify", tags=["admin"])
def api_audit_verify(ctx: Admin) -> dict[str, Any]:
    """Recompute the audit log's hash chain (as ``monitor audit verify``): ``ok`` is false
    if an event was altered, inserted or deleted. Admin only; recorded."""
    result = _verify(ctx)
    return {
        "ok": result.ok,
        "checked": result.checked,
        "head": result.head_seq,
        "unchained": result.unchained,
        "problems": result.problems,
    }


def _verify(ctx: Any) -> audit.Verification:
    result = audit.verify_log(ctx.app)
    with ctx.app.db.session() as session:
        audit.record(
            session, ctx.app.actor, "audit.verify", "audit", None, ok=result.ok,
            checked=result.checked, problems=len(result.problems),
        )  # fmt: skip
    return result


@router.get("/api/admin/settings", tags=["admin"])
def api_settings(ctx: Admin) -> list[dict[str, str]]:
    """The settings in use (secrets masked). Admin only."""
    return [
        {"name": s.name, "value": value, "default": s.default, "help": s.help}
        for s, value in ctx.app.config.shown()
    ]

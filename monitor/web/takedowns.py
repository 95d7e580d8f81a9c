"""The analysts' takedown pages and API: notices drafted from a case's confirmed hits,
edited while drafts, sent (as an .eml download or through a form), and tracked to
removal.

Drafting looks recipients up as ``monitor takedowns draft`` does (the analysts'
overrides, known platforms, then RDAP, cached per host).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, Field

from monitor import cases, takedowns, tracking
from monitor.cases import LANGUAGES
from monitor.errors import InvalidInput
from monitor.recipients import KINDS, Recipient, find_recipients, search_engines
from monitor.takedowns import DELISTING, GDPR_COUNTRIES, LAWS, MISSING_MARK, NoticeView
from monitor.web.auth import Analyst
from monitor.web.ui import back, render

router = APIRouter()

STATUSES = ("draft", "sent", "acknowledged", "escalated", "removed", "reappeared")


def _opt(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def notice_json(view: NoticeView, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": view.id,
        "case_id": view.case_id,
        "host": view.host,
        "law": view.law,
        "language": view.language,
        "recipient": view.recipient,
        "status": view.status,
        "created_at": view.created_at.isoformat(),
        "sent_at": view.sent_at.isoformat() if view.sent_at else None,
        "hit_ids": view.hit_ids,
        "missing": view.missing,
    }
    if full:
        data["subject"] = view.subject
        data["body"] = view.body
    return data


def timeline_json(app: Any, notice_id: int) -> list[dict[str, Any]]:
    return [
        {"at": at.isoformat(), "status": status, "detail": detail, "actor": actor}
        for at, status, detail, actor in tracking.timeline(app, notice_id)
    ]


def segments(body: str) -> list[tuple[str, bool]]:
    """The body cut around its ``[MISSING: ...]`` markers: (text, is a marker)."""
    out: list[tuple[str, bool]] = []
    last = 0
    for match in MISSING_MARK.finditer(body):
        if match.start() > last:
            out.append((body[last : match.start()], False))
        out.append((match.group(0), True))
        last = match.end()
    if last < len(body):
        out.append((body[last:], False))
    return out


def _case_filter(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", value):
        raise InvalidInput(f"not a case id: {value[:20]!r}")
    return int(value)


def _status_filter(value: str | None) -> str | None:
    value = _opt(value)
    if value is not None and value not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
    return value


def _sender(ctx: Analyst) -> str:
    sender = ctx.app.config.org_email or ctx.app.config.mail_from
    if not sender:
        raise InvalidInput(
            "the notice needs a sender: set MONITOR_ORG_EMAIL (or MONITOR_MAIL_FROM)"
        )
    return sender


def _eml(ctx: Analyst, notice_id: int) -> Response:
    takedowns.get_notice(ctx.app, notice_id)  # 404 first
    message = takedowns.notice_email(ctx.app, notice_id, _sender(ctx))
    return Response(
        bytes(message),
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="notice-{notice_id}.eml"'},
    )


def _choices(ctx: Analyst, view: NoticeView) -> list[Recipient]:
    """Whom else the notice could go to: what discovery finds for its site (cached per
    host), or, for a de-listing request, its search engine's channels."""
    if view.law in DELISTING:
        with ctx.app.db.session() as session:
            country = cases.require_case(session, view.case_id).country
        engines = search_engines(ctx.app, gdpr=(country or "").upper() in GDPR_COUNTRIES)
        return [e for e in engines if e.domain == view.host]  # one request per engine
    host = f"[{view.host}]" if ":" in view.host else view.host
    return find_recipients(ctx.app, f"http://{host}/")


def _draft(ctx: Analyst, case_id: int, law: str, language: str | None) -> list[NoticeView]:
    ids = takedowns.draft_notices(ctx.app, case_id, law, language=language)
    return [takedowns.get_notice(ctx.app, i) for i in ids]


# -- pages ----------------------------------------------------------------------------------------


@router.get("/takedowns", include_in_schema=False)
def notice_list_page(request: Request, ctx: Analyst, status: str = "", case: str = "") -> Response:
    case_id, status_ = _case_filter(case), _status_filter(status)
    notices = takedowns.list_notices(ctx.app, case_id, status=status_)
    names = {v.id: v.name for v in cases.list_cases(ctx.app)}
    return render(
        request,
        "takedowns/list.html",
        ctx,
        notices=notices,
        names=names,
        statuses=STATUSES,
        status=status_ or "",
        case=case_id,
    )


@router.post("/cases/{case_id}/takedowns", include_in_schema=False)
def draft_page(
    request: Request,
    ctx: Analyst,
    case_id: int,
    law: Annotated[str, Form()],
    language: Annotated[str, Form()] = "",
) -> Response:
    notices = _draft(ctx, case_id, law, _opt(language))
    return render(request, "takedowns/drafted.html", ctx, case_id=case_id, law=law, notices=notices)


@router.get("/takedowns/{notice_id}", include_in_schema=False)
def notice_page(request: Request, ctx: Analyst, notice_id: int) -> Response:
    view = takedowns.get_notice(ctx.app, notice_id)
    return render(
        request,
        "takedowns/notice.html",
        ctx,
        notice=view,
        segments=segments(view.body),
        events=tracking.timeline(ctx.app, notice_id),
        deadline=LAWS.get(view.law),
    )


@router.post("/takedowns/{notice_id}/edit", include_in_schema=False)
def notice_edit(
    request: Request,
    ctx: Analyst,
    notice_id: int,
    subject: Annotated[str, Form()],
    body: Annotated[str, Form()],
) -> Response:
    view = takedowns.edit_notice(ctx.app, notice_id, subject, body)
    left = f" {len(view.missing)} missing item(s) left." if view.missing else ""
    return back(f"/takedowns/{notice_id}", done="Draft saved." + left)


@router.get("/takedowns/{notice_id}/recipient", include_in_schema=False)
def recipient_page(request: Request, ctx: Analyst, notice_id: int) -> Response:
    view = takedowns.get_notice(ctx.app, notice_id)
    if view.status != "draft":
        raise InvalidInput(f"notice {notice_id} is {view.status}: only a draft can be changed")
    return render(
        request,
        "takedowns/recipient.html",
        ctx,
        notice=view,
        choices=_choices(ctx, view),
        kinds=KINDS,
    )


@router.post("/takedowns/{notice_id}/recipient", include_in_schema=False)
def recipient_set(
    request: Request,
    ctx: Analyst,
    notice_id: int,
    kind: Annotated[str, Form()],
    name: Annotated[str, Form()],
    email: Annotated[str, Form()] = "",
    form_url: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "analyst",
    guess: Annotated[str, Form()] = "",
    found_at: Annotated[str, Form()] = "",
) -> Response:
    recipient = Recipient(
        kind, name, _opt(email), _opt(form_url), source, bool(guess), found_at[:10]
    )
    view = takedowns.set_recipient(ctx.app, notice_id, recipient)
    return back(f"/takedowns/{notice_id}", done=f"The notice now goes to {view.recipient['name']}.")


@router.post("/takedowns/{notice_id}/sent", include_in_schema=False)
def notice_sent(request: Request, ctx: Analyst, notice_id: int) -> Response:
    takedowns.mark_sent(ctx.app, notice_id)
    return back(f"/takedowns/{notice_id}", done="Marked sent.")


@router.post("/takedowns/{notice_id}/acknowledged", include_in_schema=False)
def notice_acknowledged(request: Request, ctx: Analyst, notice_id: int) -> Response:
    tracking.acknowledge(ctx.app, notice_id)
    return back(f"/takedowns/{notice_id}", done="Marked acknowledged.")


@router.post("/takedowns/{notice_id}/removed", include_in_schema=False)
def notice_removed(
    request: Request, ctx: Analyst, notice_id: int, detail: Annotated[str, Form()] = ""
) -> Response:
    tracking.mark_removed(ctx.app, notice_id, _opt(detail))
    return back(f"/takedowns/{notice_id}", done="Marked removed.")


@router.get("/takedowns/{notice_id}/eml", include_in_schema=False)
def notice_eml(request: Request, ctx: Analyst, notice_id: int) -> Response:
    return _eml(ctx, notice_id)


# -- API ------------------------------------------------------------------------------------------


class DraftRequest(BaseModel):
    law: str = Field(description="The legal basis: one of " + ", ".join(LAWS) + ".")
    language: str | None = Field(
        None, description="One of " + ", ".join(LANGUAGES) + "; default: the case's."
    )


class RecipientIn(BaseModel):
    kind: str = Field(description="One of " + ", ".join(KINDS) + ".")
    name: str
    email: str | None = None
    form_url: str | None = None


class NoticeChanges(BaseModel):
    """A draft's changes (only the fields given)."""

    subject: str | None = None
    body: str | None = Field(
        None, description="The missing items become the [MISSING: ...] markers left in it."
    )
    recipient: RecipientIn | None = None


class Removal(BaseModel):
    detail: str | None = Field(None, description="What the recipient said.")


@router.get("/api/takedowns", tags=["takedowns"])
def api_notices(
    ctx: Analyst, status: str | None = None, case_id: int | None = None
) -> list[dict[str, Any]]:
    """Notices (without their text), optionally of one case or in one status
    (draft, sent, acknowledged, escalated, removed, reappeared). Analysts."""
    return [
        notice_json(v)
        for v in takedowns.list_notices(ctx.app, case_id, status=_status_filter(status))
    ]


@router.post("/api/cases/{case_id}/takedowns", tags=["takedowns"])
def api_draft(ctx: Analyst, case_id: int, body: DraftRequest) -> dict[str, Any]:
    """Draft one notice per site for the case's confirmed hits no notice under ``law``
    covers yet (``delisting``: one per search engine). ``notices`` is empty when there
    is none to draft. Analysts."""
    return {
        "notices": [
            notice_json(v, full=True) for v in _draft(ctx, case_id, body.law, body.language)
        ]
    }


@router.get("/api/takedowns/{notice_id}", tags=["takedowns"])
def api_notice(ctx: Analyst, notice_id: int) -> dict[str, Any]:
    """A notice: recipient, subject, body, missing items, hits, and its timeline.
    Analysts."""
    view = takedowns.get_notice(ctx.app, notice_id)
    return {**notice_json(view, full=True), "timeline": timeline_json(ctx.app, notice_id)}


@router.patch("/api/takedowns/{notice_id}", tags=["takedowns"])
def api_notice_edit(ctx: Analyst, notice_id: int, body: NoticeChanges) -> dict[str, Any]:
    """Change a draft: its subject, its body, its recipient. A notice no longer a draft
    answers 400. Analysts."""
    takedowns.get_notice(ctx.app, notice_id)
    if body.recipient is not None:
        r = body.recipient
        takedowns.set_recipient(
            ctx.app, notice_id, Recipient(r.kind, r.name, r.email, r.form_url, "analyst")
        )
    view = takedowns.edit_notice(ctx.app, notice_id, body.subject, body.body)
    return notice_json(view, full=True)


@router.get("/api/takedowns/{notice_id}/recipients", tags=["takedowns"])
def api_recipients(ctx: Analyst, notice_id: int) -> list[dict[str, Any]]:
    """Whom the notice could go to: what discovery finds for its site (or the search
    engines, for a de-listing request). Analysts."""
    view = takedowns.get_notice(ctx.app, notice_id)
    return [r.to_json() for r in _choices(ctx, view)]


@router.get("/api/takedowns/{notice_id}/eml", tags=["takedowns"])
def api_eml(ctx: Analyst, notice_id: int) -> Response:
    """The notice as an .eml file (RFC 5322) ready to send, from MONITOR_ORG_EMAIL.
    Analysts."""
    return _eml(ctx, notice_id)


@router.post("/api/takedowns/{notice_id}/sent", tags=["takedowns"])
def api_sent(ctx: Analyst, notice_id: int) -> dict[str, Any]:
    """Record that the notice was sent (by whom, when). Analysts."""
    return notice_json(takedowns.mark_sent(ctx.app, notice_id))


@router.post("/api/takedowns/{notice_id}/acknowledged", tags=["takedowns"])
def api_acknowledged(ctx: Analyst, notice_id: int) -> dict[str, Any]:
    """Record that the recipient acknowledged the notice. Analysts."""
    tracking.acknowledge(ctx.app, notice_id)
    return notice_json(takedowns.get_notice(ctx.app, notice_id))


@router.post("/api/takedowns/{notice_id}/removed", tags=["takedowns"])
def api_removed(ctx: Analyst, notice_id: int, body: Removal | None = None) -> dict[str, Any]:
    """Record a removal (or a de-listing) the recipient confirmed. Analysts."""
    tracking.mark_removed(ctx.app, notice_id, _opt(body.detail if body else None))
    return notice_json(takedowns.get_notice(ctx.app, notice_id))

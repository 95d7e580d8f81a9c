"""The review queue: analysts confirm or reject hits, "review without harm".

- The queue (``/review``) shows hits waiting for review (or decided ones, filtered by
  case and status), one item per case and image: the same image on many pages is one
  decision. Each item has a preview, Confirm and Reject (with a reason) for all its hits,
  and a checkbox for "Confirm selected" / "Reject selected". review.js adds keyboard
  shortcuts; every action works without it (plain forms, post/redirect/get).
- Previews (``/review/hits/{id}/preview``) are fetched live from the source through the
  server, greyscale, small and blurred unless revealed by an explicit click; never
  stored, never cached, each audit-logged (monitor.preview). Pages never point an
  ``<img>`` at a source URL: URLs are shown as text, not links (opening one would show
  the image as it is).
- The API: ``GET /api/hits``, ``GET /api/hits/{id}``, ``POST /api/review/confirm``,
  ``POST /api/review/reject``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import BaseModel, Field

from monitor import hits, review
from monitor.cases import list_cases
from monitor.errors import InvalidInput
from monitor.preview import PreviewUnavailable, placeholder, preview_hit
from monitor.web.auth import Analyst
from monitor.web.ui import back, render

router = APIRouter()

STATUSES = ("new", "confirmed", "rejected")
#: Items on one page of the queue: decide them to see the next.
PAGE = 50


def _case_id(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"not a case id: {value!r}") from None


def _status(value: str) -> str | None:
    if value in ("", "all"):
        return None
    if value not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)} or all")
    return value


def _hit_ids(values: list[str]) -> list[int]:
    """Hit ids from form fields, each one id or several joined by commas (an item's)."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    ids.append(int(part))
                except ValueError:
                    raise InvalidInput(f"not a hit id: {part.strip()[:20]!r}") from None
    if not ids:
        raise InvalidInput("select at least one item first")
    return ids


def _next(target: str) -> str:
    """Back to a review page only (no open redirect), without the last note."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/review") or "\\" in target:
        return "/review"
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "done"]
    return parts.path + ("?" + urlencode(query) if query else "")


def _plural(count: int, word: str = "hit") -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _note(decision: review.Decision, verb: str) -> str:
    note = f"{_plural(len(decision.hit_ids))} {verb}"
    if decision.also:
        note += f" (and {_plural(len(decision.also), 'other hit')} on the same image)"
    if decision.unchanged:
        note += f"; {len(decision.unchanged)} already {verb}"
    return note


# -- pages -------------------------------------------------------------------------------------


@router.get("/review", include_in_schema=False)
def queue_page(
    request: Request,
    ctx: Analyst,
    case_id: str | None = None,
    status: str = "new",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    chosen_case, chosen_status = _case_id(case_id), _status(status)
    cases = {c.id: c.name for c in list_cases(ctx.app)}
    views = hits.list_hits(ctx.app, case_id=chosen_case, status=chosen_status)
    groups = hits.group_by_image(views)
    pages = max(1, -(-len(groups) // PAGE))
    page = min(page, pages)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(
        request,
        "review/queue.html",
        ctx,
        groups=groups[(page - 1) * PAGE : page * PAGE],
        total_items=len(groups),
        total_hits=len(views),
        cases=cases,
        case_id=chosen_case,
        status=status if chosen_status else "all",
        statuses=STATUSES,
        page=page,
        pages=pages,
        here=_next(here),
    )


@router.get("/review/hits/{hit_id}", include_in_schema=False)
def hit_page(request: Request, ctx: Analyst, hit_id: int, reveal: bool = False) -> Response:
    hit = hits.get_hit(ctx.app, hit_id)
    cases = {c.id: c.name for c in list_cases(ctx.app)}
    return render(
        request,
        "review/hit.html",
        ctx,
        hit=hit,
        case_name=cases.get(hit.case_id, "?"),
        reveal=reveal,
        here=f"/review/hits/{hit_id}",
    )


@router.get("/review/hits/{hit_id}/preview", include_in_schema=False)
def preview(ctx: Analyst, hit_id: int, reveal: bool = False) -> Response:
    """The hit's image, fetched now from its source: greyscale, at most 320 px, blurred
    unless ``reveal``. When there is none: a neutral placeholder saying why, with 404
    (gone at the source) or 502 (anything else) and the reason in ``X-Preview-Error``."""
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "inline",
    }
    try:
        made = preview_hit(ctx.app, hit_id, reveal=reveal)
    except PreviewUnavailable as exc:
        headers["X-Preview-Error"] = str(exc)
        return Response(
            placeholder(str(exc)),
            status_code=404 if exc.gone else 502,
            media_type="image/png",
            headers=headers,
        )
    return Response(made.data, media_type=made.media_type, headers=headers)


@router.post("/review/decide", include_in_schema=False)
def decide(
    ctx: Analyst,
    action: Annotated[str, Form()],
    hit_ids: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    reason: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review",
) -> Response:
    ids = _hit_ids(hit_ids)
    if action == "confirm":
        note = _note(review.confirm_hits(ctx.app, ids), "confirmed")
    elif action == "reject":
        note = _note(review.reject_hits(ctx.app, ids, reason or None), "rejected")
    else:
        raise InvalidInput("action must be confirm or reject")
    return back(_next(next), note)


# -- API ---------------------------------------------------------------------------------------


class HitIds(BaseModel):
    hit_ids: list[int] = Field(min_length=1, max_length=10_000)


class Rejection(HitIds):
    reason: str | None = Field(default=None, max_length=review.MAX_REASON)


def _decision(decision: review.Decision, verb: str, note: str) -> dict[str, Any]:
    return {
        verb: list(decision.hit_ids),
        "unchanged": list(decision.unchanged),
        "also": list(decision.also),
        "note": note,
    }


@router.get("/api/hits", tags=["review"])
def api_hits(
    ctx: Analyst, case_id: int | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Hits, filtered by case and review status (new, confirmed, rejected). Audit-logged."""
    chosen = _status(status) if status else None
    return [v.to_json() for v in hits.list_hits(ctx.app, case_id=case_id, status=chosen)]


@router.get("/api/hits/{hit_id}", tags=["review"])
def api_hit(ctx: Analyst, hit_id: int) -> dict[str, Any]:
    """One hit. Audit-logged (hit.view)."""
    return hits.get_hit(ctx.app, hit_id).to_json()


@router.post("/api/review/confirm", tags=["review"])
def api_confirm(ctx: Analyst, body: HitIds) -> dict[str, Any]:
    """Confirm hits: "this is her image". Returns the ids confirmed and those already so."""
    decision = review.confirm_hits(ctx.app, body.hit_ids)
    return _decision(decision, "confirmed", _note(decision, "confirmed"))


@router.post("/api/review/reject", tags=["review"])
def api_reject(ctx: Analyst, body: Rejection) -> dict[str, Any]:
    """Reject hits, with an optional reason: the same bytes never raise a hit for that
    reference image again; other new hits on the same image are rejected with them
    (``also``)."""
    decision = review.reject_hits(ctx.app, body.hit_ids, body.reason)
    return _decision(decision, "rejected", _note(decision, "rejected"))

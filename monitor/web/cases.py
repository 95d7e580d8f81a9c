"""The analysts' case pages and API: cases, their preferences, their hash lists.

A case page shows no contact detail of the victim: "Show contact details" (a POST)
shows them and leaves a ``case.contact_view`` row in the audit log. Hash lists come in
as hash-list files only (never images), parsed in memory as ``monitor hashes import``
parses them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from monitor import cases, hashes, hits, takedowns
from monitor.alerts import preview_alert
from monitor.cases import ALERTS, LANGUAGES, CaseView, Figures
from monitor.errors import InvalidInput
from monitor.hashes import BadHashList
from monitor.web.auth import Admin, Analyst
from monitor.web.ui import back, render

router = APIRouter()


def _opt(value: str) -> str | None:
    value = value.strip()
    return value or None


def case_json(view: CaseView, figures: Figures | None = None) -> dict[str, Any]:
    """A case as the API gives it: no contact detail (POST .../contact for those)."""
    data: dict[str, Any] = {
        "id": view.id,
        "name": view.name,
        "status": view.status,
        "language": view.language,
        "alerts": view.alerts,
        "country": view.country,
        "auto_confirm_exact": view.auto_confirm_exact,
        "has_email": view.email is not None,
        "has_alert_to": view.alert_to is not None,
        "notes": view.notes,
        "created_at": view.created_at.isoformat(),
        "withdrawn_at": view.withdrawn_at.isoformat() if view.withdrawn_at else None,
    }
    if figures is not None:
        data["hits"] = figures.hits
        data["notices"] = figures.notices
        data["open_notices"] = figures.open_notices
    return data


def _upload_bytes(file: UploadFile) -> bytes:
    """The uploaded file's bytes, read into memory (one byte past the cap, so that a
    larger file is refused as such)."""
    return file.file.read(hashes.MAX_LIST_BYTES + 1)


def _upload_name(file: UploadFile) -> str:
    name = (file.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:100] or "the uploaded file"


# -- pages ----------------------------------------------------------------------------------------


@router.get("/cases", include_in_schema=False)
def case_list_page(request: Request, ctx: Analyst) -> Response:
    views = cases.list_cases(ctx.app)
    figures = cases.case_figures(ctx.app)
    rows = [(v, figures.get(v.id, Figures({}, 0, 0))) for v in views]
    return render(request, "cases/list.html", ctx, rows=rows)


@router.get("/cases/new", include_in_schema=False)
def case_new_page(request: Request, ctx: Analyst) -> Response:
    return render(
        request,
        "cases/new.html",
        ctx,
        languages=LANGUAGES,
        alert_choices=ALERTS,
        form={"language": "en", "alerts": "never"},
    )


@router.post("/cases", include_in_schema=False)
def case_create(
    request: Request,
    ctx: Analyst,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "en",
    alerts: Annotated[str, Form()] = "never",
    alert_to: Annotated[str, Form()] = "",
    country: Annotated[str, Form()] = "",
    auto_confirm_exact: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
) -> Response:
    try:
        case_id = cases.add_case(
            ctx.app,
            name,
            email=_opt(email),
            language=language,
            alerts=alerts,
            alert_to=_opt(alert_to),
            country=_opt(country),
            auto_confirm_exact=bool(auto_confirm_exact),
            notes=_opt(notes),
        )
    except InvalidInput as exc:
        return render(
            request,
            "cases/new.html",
            ctx,
            status_code=400,
            languages=LANGUAGES,
            alert_choices=ALERTS,
            error=str(exc),
            form={
                "name": name,
                "email": email,
                "language": language,
                "alerts": alerts,
                "alert_to": alert_to,
                "country": country,
                "auto_confirm_exact": bool(auto_confirm_exact),
                "notes": notes,
            },
        )
    return back(f"/cases/{case_id}", done=f"Case {case_id} opened.")


@router.get("/cases/{case_id}", include_in_schema=False)
def case_page(request: Request, ctx: Analyst, case_id: int) -> Response:
    view = cases.get_case(ctx.app, case_id)
    found = hits.list_hits(ctx.app, case_id=case_id)
    by_status: dict[str, int] = {}
    for hit in found:
        by_status[hit.status] = by_status.get(hit.status, 0) + 1
    return render(
        request,
        "cases/case.html",
        ctx,
        case=view,
        hits=found,
        hits_by_status=by_status,
        notices=takedowns.list_notices(ctx.app, case_id),
        hash_counts=hashes.count_hashes(ctx.app, case_id),
        laws=list(takedowns.LAWS),
        languages=LANGUAGES,
    )


@router.get("/cases/{case_id}/edit", include_in_schema=False)
def case_edit_page(request: Request, ctx: Analyst, case_id: int) -> Response:
    view = cases.get_case(ctx.app, case_id)
    return render(
        request,
        "cases/edit.html",
        ctx,
        case=view,
        languages=LANGUAGES,
        alert_choices=ALERTS,
    )


@router.post("/cases/{case_id}/edit", include_in_schema=False)
def case_edit(
    request: Request,
    ctx: Analyst,
    case_id: int,
    language: Annotated[str, Form()] = "",
    alerts: Annotated[str, Form()] = "",
    country: Annotated[str, Form()] = "",
    auto_confirm_exact: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    alert_to: Annotated[str, Form()] = "",
    clear_alert_to: Annotated[str, Form()] = "",
    notes: Annotated[str | None, Form()] = None,
) -> Response:
    changed = cases.edit_case(
        ctx.app,
        case_id,
        language=_opt(language),
        alerts=_opt(alerts),
        country=country.strip(),  # empty: no country
        auto_confirm_exact=bool(auto_confirm_exact),
        email=_opt(email),  # empty: unchanged
        alert_to="" if clear_alert_to else _opt(alert_to),
        notes=None if notes is None else notes.strip(),  # the whole text; empty: none
    )
    done = ("Changed: " + ", ".join(changed) + ".") if changed else "Nothing to change."
    return back(f"/cases/{case_id}", done=done)


@router.post("/cases/{case_id}/withdraw", include_in_schema=False)
def case_withdraw(
    request: Request, ctx: Admin, case_id: int, confirm: Annotated[str, Form()] = ""
) -> Response:
    if confirm.strip() != str(case_id):
        raise InvalidInput(f"type the case's number ({case_id}) to withdraw it")
    done = cases.withdraw_case(ctx.app, case_id)
    return back(f"/cases/{case_id}", done=_withdrawn_text(case_id, done))


def _withdrawn_text(case_id: int, done: cases.Withdrawn) -> str:
    return (
        f"Case {case_id} withdrawn: {done.hashes} hashes, {done.hits} hits, {done.messages} "
        f"emails and {done.drafts} draft notices deleted with her personal data; "
        f"{done.notices_kept} sent notices kept without their text."
    )


@router.post("/cases/{case_id}/contact", include_in_schema=False)
def case_contact_page(request: Request, ctx: Analyst, case_id: int) -> Response:
    contact = cases.reveal_contact(ctx.app, case_id)
    return render(request, "cases/contact.html", ctx, case_id=case_id, contact=contact)


@router.get("/cases/{case_id}/alert-preview", include_in_schema=False)
def alert_preview_page(request: Request, ctx: Analyst, case_id: int) -> Response:
    view = cases.get_case(ctx.app, case_id)
    draft = preview_alert(ctx.app, case_id)
    return render(request, "cases/alert_preview.html", ctx, case=view, draft=draft)


def _hashes_page(
    request: Request, ctx: Analyst, case_id: int, *, status_code: int = 200, **extra: Any
) -> Response:
    view = cases.get_case(ctx.app, case_id)
    return render(
        request,
        "cases/hashes.html",
        ctx,
        status_code=status_code,
        case=view,
        counts=hashes.count_hashes(ctx.app, case_id),
        max_mb=hashes.MAX_LIST_BYTES // (1024 * 1024),
        **extra,
    )


@router.get("/cases/{case_id}/hashes", include_in_schema=False)
def hashes_page(request: Request, ctx: Analyst, case_id: int) -> Response:
    return _hashes_page(request, ctx, case_id)


@router.post("/cases/{case_id}/hashes", include_in_schema=False)
def hashes_upload(
    request: Request,
    ctx: Analyst,
    case_id: int,
    file: Annotated[UploadFile, File()],
    strict: Annotated[str, Form()] = "",
    trust_once: Annotated[str, Form()] = "",
) -> Response:
    try:
        report = hashes.import_hash_bytes(
            ctx.app,
            case_id,
            _upload_bytes(file),
            _upload_name(file),
            strict=bool(strict),
            trust_once=bool(trust_once),
        )
    except BadHashList as exc:
        return _hashes_page(
            request, ctx, case_id, status_code=400, error=str(exc), error_line=exc.line
        )
    if not report.rejected:
        notes = "".join(f" {note[:1].upper()}{note[1:]}." for note in report.notes)
        return back(
            f"/cases/{case_id}/hashes",
            done=f"Imported {report.added} hashes ({report.duplicates} already in the case)."
            + notes,
        )
    return _hashes_page(request, ctx, case_id, report=report, report_lines=report.lines())


def _export(
    ctx: Admin, case_id: int, format: str = "ncii-monitor", labels: bool = False
) -> Response:
    exported = hashes.export_hashes(ctx.app, case_id, format=format, labels=labels)
    name = f"hashes-{format}.{exported.suffix}"  # no case number in the file's name
    return Response(
        exported.text,
        media_type=exported.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/cases/{case_id}/hashes/export", include_in_schema=False)
def hashes_export(
    request: Request,
    ctx: Admin,
    case_id: int,
    format: str = "ncii-monitor",
    labels: str = "",
) -> Response:
    return _export(ctx, case_id, format, bool(labels))


@router.post("/cases/{case_id}/hashes/delete", include_in_schema=False)
def hashes_delete(
    request: Request, ctx: Analyst, case_id: int, algorithm: Annotated[str, Form()] = ""
) -> Response:
    deleted = hashes.delete_hashes(ctx.app, case_id, _opt(algorithm))
    what = f"{_opt(algorithm)} hashes" if _opt(algorithm) else "hashes"
    return back(
        f"/cases/{case_id}/hashes",
        done=f"Deleted {deleted.hashes} {what} ({deleted.entries} entries with their other"
        f" views) and {deleted.hits} hits found with them.",
    )


# -- API ------------------------------------------------------------------------------------------


class NewCase(BaseModel):
    name: str = Field(description="The victim's name or a code for her (stored encrypted).")
    email: str | None = Field(None, description="Her address (stored encrypted).")
    language: str = Field("en", description="One of " + ", ".join(LANGUAGES) + ".")
    alerts: str = Field("never", description="One of " + ", ".join(ALERTS) + ".")
    alert_to: str | None = Field(None, description="Where alerts go instead of her address.")
    country: str | None = Field(None, description="ISO 3166 two-letter code.")
    auto_confirm_exact: bool = Field(
        False, description="Confirm hits on byte-for-byte copies of her files without review."
    )
    notes: str | None = Field(None, description="The analysts' notes (stored encrypted).")


class CaseChanges(BaseModel):
    """Only the fields given change."""

    email: str | None = None
    language: str | None = None
    alerts: str | None = Field(None, description="One of " + ", ".join(ALERTS) + ".")
    alert_to: str | None = Field(None, description='"" goes back to her own address.')
    country: str | None = Field(None, description='"" for none.')
    auto_confirm_exact: bool | None = None
    notes: str | None = Field(None, description='The analysts\' notes (encrypted); "" for none.')


@router.get("/api/cases", tags=["cases"])
def api_cases(ctx: Analyst) -> list[dict[str, Any]]:
    """Every case, with its hits by review status and its notices (open ones too). No
    contact details. Analysts."""
    figures = cases.case_figures(ctx.app)
    return [case_json(v, figures.get(v.id)) for v in cases.list_cases(ctx.app)]


@router.post("/api/cases", tags=["cases"], status_code=201)
def api_case_create(ctx: Analyst, body: NewCase) -> dict[str, Any]:
    """Open a case. Analysts."""
    case_id = cases.add_case(
        ctx.app,
        body.name,
        email=body.email or None,
        language=body.language,
        alerts=body.alerts,
        alert_to=body.alert_to or None,
        country=body.country or None,
        auto_confirm_exact=body.auto_confirm_exact,
        notes=body.notes or None,
    )
    return case_json(cases.get_case(ctx.app, case_id))


@router.get("/api/cases/{case_id}", tags=["cases"])
def api_case(ctx: Analyst, case_id: int) -> dict[str, Any]:
    """A case: its preferences (no contact details), its hits, its notices, its hashes
    counted by algorithm. Audit-logged. Analysts."""
    view = cases.get_case(ctx.app, case_id)
    return {
        **case_json(view, cases.case_figures(ctx.app).get(case_id)),
        "hit_list": [h.to_json() for h in hits.list_hits(ctx.app, case_id=case_id)],
        "notice_list": [
            {
                "id": n.id,
                "host": n.host,
                "law": n.law,
                "status": n.status,
                "created_at": n.created_at.isoformat(),
                "sent_at": n.sent_at.isoformat() if n.sent_at else None,
            }
            for n in takedowns.list_notices(ctx.app, case_id)
        ],
        "hashes": hashes.count_hashes(ctx.app, case_id),
    }


@router.patch("/api/cases/{case_id}", tags=["cases"])
def api_case_edit(ctx: Analyst, case_id: int, body: CaseChanges) -> dict[str, Any]:
    """Change a case's preferences (only the fields given). Analysts."""
    changed = cases.edit_case(
        ctx.app,
        case_id,
        email=body.email,
        language=body.language,
        alerts=body.alerts,
        alert_to=body.alert_to,
        country=body.country,
        auto_confirm_exact=body.auto_confirm_exact,
        notes=body.notes,
    )
    return {"changed": changed, "case": case_json(cases.get_case(ctx.app, case_id))}


@router.post("/api/cases/{case_id}/withdraw", tags=["cases"])
def api_case_withdraw(ctx: Admin, case_id: int) -> dict[str, Any]:
    """Withdraw a case, irrevocably: its hashes, hits, emails, draft notices and her
    personal data are deleted; the sent notices' record (without text) and the audit log
    stay. Admins."""
    done = cases.withdraw_case(ctx.app, case_id)
    return {
        "hashes": done.hashes,
        "hits": done.hits,
        "messages": done.messages,
        "drafts": done.drafts,
        "notices_kept": done.notices_kept,
    }


@router.post("/api/cases/{case_id}/contact", tags=["cases"])
def api_case_contact(ctx: Analyst, case_id: int) -> dict[str, Any]:
    """The victim's contact details (her address, the alert-to address): audit-logged as
    case.contact_view. Analysts."""
    contact = cases.reveal_contact(ctx.app, case_id)
    return {"email": contact.email, "alert_to": contact.alert_to}


@router.get("/api/cases/{case_id}/alert-preview", tags=["cases"])
def api_alert_preview(ctx: Analyst, case_id: int) -> dict[str, Any]:
    """The alert that would go to her now (subject, body, the hits it tells), whatever
    its schedule; nothing is queued. ``alert`` is null when there is nothing to tell.
    Analysts."""
    draft = preview_alert(ctx.app, case_id)
    if draft is None:
        return {"alert": None}
    return {"alert": {"subject": draft.subject, "body": draft.body, "hit_ids": list(draft.hit_ids)}}


@router.get("/api/cases/{case_id}/hashes", tags=["hashes"])
def api_hashes(ctx: Analyst, case_id: int) -> dict[str, Any]:
    """The case's hashes counted by algorithm (one per image and algorithm). Analysts."""
    return {"counts": hashes.count_hashes(ctx.app, case_id)}


@router.post("/api/cases/{case_id}/hashes", tags=["hashes"])
def api_hashes_import(
    ctx: Analyst,
    case_id: int,
    file: Annotated[UploadFile, File()],
    strict: bool = False,
    trust_once: bool = False,
) -> Response:
    """Import a hash-list file (multipart field ``file``): this tool's JSON (signed or
    not), StopNCII's or ThreatExchange's JSON, ``TYPE HEX [label]`` lines, CSV, or bare
    PDQ lines. A file that is not a hash list, or whose signature fails or is not
    trusted (``?trust_once=true`` accepts a valid one once), answers 400; otherwise bad
    entries are rejected one by one (``rejected``: where, number, reason) and the rest
    imported (``?strict=true``: all or nothing, 400 with the first bad ``line``). Only
    hash lists, never images. Analysts."""
    try:
        report = hashes.import_hash_bytes(
            ctx.app,
            case_id,
            _upload_bytes(file),
            _upload_name(file),
            strict=strict,
            trust_once=trust_once,
        )
    except BadHashList as exc:
        return JSONResponse({"detail": str(exc), "line": exc.line}, status_code=400)
    return JSONResponse(report.as_dict())


@router.get("/api/cases/{case_id}/hashes/export", tags=["hashes"])
def api_hashes_export(
    ctx: Admin, case_id: int, format: str = "ncii-monitor", labels: bool = False
) -> Response:
    """The case's hash list (a download; audit-logged) in ``format``: ncii-monitor (our
    signed JSON), stopncii, threatexchange, text, csv or pdq; labels only with
    ``?labels=true``. Admins only: a hash list leaving the system is the one copy of her
    fingerprints the system no longer controls."""
    return _export(ctx, case_id, format, labels)


@router.delete("/api/cases/{case_id}/hashes", tags=["hashes"])
def api_hashes_delete(ctx: Analyst, case_id: int, algorithm: str | None = None) -> dict[str, int]:
    """Delete the case's hashes (every one, or ``?algorithm=``'s), with the hits found
    with them; refused (400) while a notice covers one of those hits. Analysts."""
    deleted = hashes.delete_hashes(ctx.app, case_id, algorithm or None)
    return {"hashes": deleted.hashes, "entries": deleted.entries, "hits": deleted.hits}

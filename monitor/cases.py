"""Cases: one per victim. Name and contact address are stored encrypted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from monitor import audit
from monitor.app import App
from monitor.db.models import Case, HashEntry, Hit, Notice, OutboxMessage, utcnow
from monitor.errors import InvalidInput, NotFound

LANGUAGES = ("en", "es")
#: How often a victim is alerted (only what she chose): never, at once, or in digests.
ALERTS = ("never", "immediate", "daily", "weekly")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class CaseView:
    id: int
    name: str
    email: str | None
    language: str
    status: str
    created_at: datetime
    auto_confirm_exact: bool = False
    alerts: str = "never"
    alert_to: str | None = None
    country: str | None = None
    notes: str | None = None
    withdrawn_at: datetime | None = None


#: What a withdrawn case keeps in place of its name (a name is required).
WITHDRAWN_NAME = "(withdrawn)"
#: What a sent notice of a withdrawn case keeps in place of its text.
WITHDRAWN_NOTICE = "(withdrawn: the text of this notice was deleted with the case's personal data)"
MAX_NOTES = 10_000


def add_case(
    app: App,
    name: str,
    *,
    email: str | None = None,
    language: str = "en",
    auto_confirm_exact: bool = False,
    alerts: str = "never",
    alert_to: str | None = None,
    country: str | None = None,
    notes: str | None = None,
) -> int:
    name = name.strip()
    if not name:
        raise InvalidInput("a case needs a name or code")
    if len(name) > 200:
        raise InvalidInput("the case name is longer than 200 characters")
    _check_email(email)
    _check_email(alert_to)
    _check_language(language)
    _check_alerts(alerts)
    _check_notes(notes)
    country = _check_country(country)
    with app.db.session() as session:
        case = Case(
            name_enc=app.cipher.encrypt(name),
            email_enc=app.cipher.encrypt_optional(email),
            language=language,
            status="open",
            auto_confirm_exact=auto_confirm_exact,
            alerts=alerts,
            alert_to_enc=app.cipher.encrypt_optional(alert_to),
            country=country,
            notes_enc=app.cipher.encrypt_optional(notes or None),
        )
        session.add(case)
        session.flush()
        audit.record(session, app.actor, "case.create", "case", case.id)
        return case.id


def edit_case(
    app: App,
    case_id: int,
    *,
    email: str | None = None,
    language: str | None = None,
    auto_confirm_exact: bool | None = None,
    alerts: str | None = None,
    alert_to: str | None = None,
    country: str | None = None,
    notes: str | None = None,
) -> list[str]:
    """Change the settings given (None: unchanged; ``alert_to=""`` goes back to her own
    address, ``notes=""`` removes the notes); returns the names of those changed."""
    _check_email(email)
    _check_notes(notes)
    _check_email(alert_to or None)
    if language is not None:
        _check_language(language)
    if alerts is not None:
        _check_alerts(alerts)
    if country is not None:
        country = _check_country(country)
    with app.db.session() as session:
        case = require_case(session, case_id)
        _check_not_withdrawn(case)
        changed = []
        if email is not None and app.cipher.decrypt_optional(case.email_enc) != email:
            case.email_enc = app.cipher.encrypt(email)
            changed.append("email")
        if language is not None and case.language != language:
            case.language = language
            changed.append("language")
        if auto_confirm_exact is not None and case.auto_confirm_exact != auto_confirm_exact:
            case.auto_confirm_exact = auto_confirm_exact
            changed.append("auto-confirm-exact")
        if alerts is not None and case.alerts != alerts:
            case.alerts = alerts
            changed.append("alerts")
        if alert_to is not None and app.cipher.decrypt_optional(case.alert_to_enc) != (
            alert_to or None
        ):
            case.alert_to_enc = app.cipher.encrypt_optional(alert_to or None)
            changed.append("alert-to")
        if country is not None and case.country != country:
            case.country = country
            changed.append("country")
        if notes is not None and app.cipher.decrypt_optional(case.notes_enc) != (notes or None):
            case.notes_enc = app.cipher.encrypt_optional(notes or None)
            changed.append("notes")
        audit.record(session, app.actor, "case.edit", "case", case.id, changed=changed)
        return changed


def _check_email(email: str | None) -> None:
    if email is not None and not _EMAIL.match(email):
        raise InvalidInput(f"not an email address: {email!r}")


def _check_notes(notes: str | None) -> None:
    if notes is not None and len(notes) > MAX_NOTES:
        raise InvalidInput(f"the notes are longer than {MAX_NOTES} characters")


def _check_not_withdrawn(case: Case) -> None:
    if case.status == "withdrawn":
        raise InvalidInput(f"case {case.id} was withdrawn: it cannot be changed")


def _check_alerts(alerts: str) -> None:
    if alerts not in ALERTS:
        raise InvalidInput(f"alerts must be one of {', '.join(ALERTS)}")


def _check_country(country: str | None) -> str | None:
    if country is None or country == "":
        return None
    if not re.fullmatch(r"[A-Za-z]{2}", country):
        raise InvalidInput(f"not a two-letter country code: {country!r}")
    return country.upper()


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")


def require_case(session: Session, case_id: int, *, open_for_changes: bool = False) -> Case:
    """The case; with ``open_for_changes``, refused (InvalidInput) if it was withdrawn."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case with id {case_id}")
    if open_for_changes:
        _check_not_withdrawn(case)
    return case


def get_case(app: App, case_id: int) -> CaseView:
    with app.db.session() as session:
        case = require_case(session, case_id)
        audit.record(session, app.actor, "case.view", "case", case.id)
        return _view(app, case)


def list_cases(app: App) -> list[CaseView]:
    with app.db.session() as session:
        cases = session.scalars(select(Case).order_by(Case.id)).all()
        audit.record(session, app.actor, "case.list", "case", None, count=len(cases))
        return [_view(app, case) for case in cases]


@dataclass(frozen=True)
class Contact:
    """A victim's contact details: her address, and where alerts go instead (an
    advocate's), when set."""

    email: str | None
    alert_to: str | None


def reveal_contact(app: App, case_id: int) -> Contact:
    """The case's contact details, for an analyst who asked to see them: audit-logged as
    ``case.contact_view`` (the web app's case page does not show them otherwise)."""
    with app.db.session() as session:
        case = require_case(session, case_id)
        audit.record(session, app.actor, "case.contact_view", "case", case.id)
        return Contact(
            email=app.cipher.decrypt_optional(case.email_enc),
            alert_to=app.cipher.decrypt_optional(case.alert_to_enc),
        )


@dataclass(frozen=True)
class Figures:
    """Counts about a case (nothing about her): hits by review status, notices."""

    hits: dict[str, int]
    notices: int
    open_notices: int


def case_figures(app: App) -> dict[int, Figures]:
    """Each case's figures, by case id (cases without hits or notices included)."""
    from monitor.reports import OPEN_NOTICE_STATUSES

    with app.db.session() as session:
        ids = session.scalars(select(Case.id)).all()
        hits: dict[int, dict[str, int]] = {i: {} for i in ids}
        for case_id, status, count in session.execute(
            select(Hit.case_id, Hit.status, func.count()).group_by(Hit.case_id, Hit.status)
        ):
            hits.setdefault(case_id, {})[status] = int(count)
        notices: dict[int, list[int]] = {i: [0, 0] for i in ids}
        for case_id, status, count in session.execute(
            select(Notice.case_id, Notice.status, func.count()).group_by(
                Notice.case_id, Notice.status
            )
        ):
            row = notices.setdefault(case_id, [0, 0])
            row[0] += int(count)
            if status in OPEN_NOTICE_STATUSES:
                row[1] += int(count)
    return {i: Figures(hits.get(i, {}), *notices.get(i, [0, 0])) for i in ids}


def _view(app: App, case: Case) -> CaseView:
    return CaseView(
        id=case.id,
        name=app.cipher.decrypt(case.name_enc),
        email=app.cipher.decrypt_optional(case.email_enc),
        language=case.language,
        status=case.status,
        created_at=case.created_at,
        auto_confirm_exact=case.auto_confirm_exact,
        alerts=case.alerts,
        alert_to=app.cipher.decrypt_optional(case.alert_to_enc),
        country=case.country,
        notes=app.cipher.decrypt_optional(case.notes_enc),
        withdrawn_at=case.withdrawn_at,
    )


@dataclass(frozen=True)
class Withdrawn:
    hashes: int
    hits: int
    messages: int
    drafts: int
    #: Sent notices kept (where, when, to whom, under which law), their text deleted.
    notices_kept: int


def withdraw_case(app: App, case_id: int) -> Withdrawn:
    """Withdraw a case, irrevocably: delete its hashes, its hits (and their review
    decisions), the emails to her, the draft notices, and her personal data (name,
    contact addresses, notes, her country); the text of sent notices is replaced.

    What the audit requires stays: the case's number and dates, that notices were sent
    (host, recipient, law, dates, their timeline) and the audit log. On SQLite the freed
    pages are overwritten (``secure_delete``) and the write-ahead log is emptied."""
    with app.db.session() as session:
        case = require_case(session, case_id)
        _check_not_withdrawn(case)
        hits = session.execute(delete(Hit).where(Hit.case_id == case_id)).rowcount
        hashes = session.execute(delete(HashEntry).where(HashEntry.case_id == case_id)).rowcount
        messages = session.execute(
            delete(OutboxMessage).where(OutboxMessage.case_id == case_id)
        ).rowcount
        drafts = session.execute(
            delete(Notice).where(Notice.case_id == case_id, Notice.status == "draft")
        ).rowcount
        kept = session.execute(
            update(Notice)
            .where(Notice.case_id == case_id)
            .values(body_enc=app.cipher.encrypt(WITHDRAWN_NOTICE))
        ).rowcount
        case.name_enc = app.cipher.encrypt(WITHDRAWN_NAME)
        case.email_enc = case.alert_to_enc = case.notes_enc = None
        case.country = None
        case.alerts = "never"
        case.alerts_paused_until = None
        case.auto_confirm_exact = False
        case.status = "withdrawn"
        case.withdrawn_at = utcnow()
        result = Withdrawn(
            hashes=int(hashes or 0),
            hits=int(hits or 0),
            messages=int(messages or 0),
            drafts=int(drafts or 0),
            notices_kept=int(kept or 0),
        )
        audit.record(
            session,
            app.actor,
            "case.withdraw",
            "case",
            case_id,
            hashes=result.hashes,
            hits=result.hits,
            messages=result.messages,
            drafts=result.drafts,
            notices_kept=result.notices_kept,
        )
    if app.db.backend == "sqlite":
        with app.db.engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return result

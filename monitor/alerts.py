"""Victim alerts by email: what was found, what was done, what happens next, where to get help.

Only confirmed hits are announced, each once (``alerted_hits``), with what was done
about them: each notice sent, and each removal, is told once too (``alerted_events``),
also in an update of its own when nothing new was found. Alerts go only to a case
that asked for them (``cases.alerts``: immediate, daily or weekly digests), at
her address or at an advocate's instead. Messages are plain text from templates
(``monitor/templates/<language>/``): no image, no thumbnail, no link to the
material, no web address of where it was found, and a subject and sender name that
say nothing to someone looking over her shoulder.

Sending goes through the ``outbox`` table: ``queue_alerts`` writes the messages
that are due, ``deliver`` sends them over SMTP (``MONITOR_SMTP_URL``) and logs
every attempt (``deliveries``); a failed attempt is retried later with backoff,
so nothing is lost while the SMTP server is down.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import audit, links
from monitor.app import App
from monitor.cases import require_case
from monitor.db.models import (
    AlertedEvent,
    AlertedHit,
    Case,
    Delivery,
    Hit,
    Notice,
    NoticeEvent,
    OutboxMessage,
    Sighting,
    utcnow,
)
from monitor.errors import MonitorError

PERIODS = {"immediate": timedelta(0), "daily": timedelta(days=1), "weekly": timedelta(days=7)}
#: Attempts before a message is given up (marked failed, and kept with its log).
MAX_ATTEMPTS = 8
SMTP_TIMEOUT = 20.0
#: How long a sender holds a message it is sending before another may try it.
LEASE = timedelta(minutes=10)
TEMPLATES = Path(__file__).resolve().parent / "templates"
BUNDLED_HELPLINES = Path(__file__).resolve().parent / "data" / "helplines.json"

_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
}


class MailError(MonitorError):
    """The mail settings cannot be used."""


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: 2, 4, 8 ... minutes, at most 6 h."""
    return min(timedelta(minutes=2**attempts), timedelta(hours=6))


@dataclass(frozen=True)
class Draft:
    case_id: int
    recipient: str
    subject: str
    body: str
    hit_ids: tuple[int, ...]
    event_ids: tuple[int, ...] = ()  # the notices' steps it tells (sent, removed)


@dataclass
class Report:
    queued: list[int] = field(default_factory=list)  # outbox ids
    sent: list[int] = field(default_factory=list)
    retrying: list[tuple[int, str]] = field(default_factory=list)  # (outbox id, error)
    failed: list[int] = field(default_factory=list)
    no_address: list[int] = field(default_factory=list)  # case ids


# -- what is due ---------------------------------------------------------------------------


def queue_alerts(app: App, now: datetime | None = None) -> Report:
    """Write to the outbox one message per case whose alert is due: confirmed hits not yet
    announced, and for digests, a day or a week since its last alert."""
    now = now or utcnow()
    report = Report()
    with app.db.session() as session:
        cases = session.scalars(
            select(Case)
            .where(Case.status == "open", Case.alerts != "never")
            .order_by(Case.id)
            .with_for_update(skip_locked=True)
        ).all()
        for case in cases:
            last = session.scalar(
                select(func.max(OutboxMessage.created_at)).where(
                    OutboxMessage.case_id == case.id, OutboxMessage.kind == "alert"
                )
            )
            if last is not None and now - last < PERIODS[case.alerts]:
                continue
            if case.alerts_paused_until is not None and case.alerts_paused_until > now:
                continue  # she paused them (the link in every alert)
            draft = _draft(app, session, case, now)
            if draft is None:
                continue
            if not draft.recipient:
                report.no_address.append(case.id)
                continue
            message = OutboxMessage(
                case_id=case.id,
                kind="alert",
                recipient_enc=app.cipher.encrypt(draft.recipient),
                subject=draft.subject,
                body_enc=app.cipher.encrypt(draft.body),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            try:
                with session.begin_nested():  # a savepoint: this case only, if it fails
                    session.add(message)
                    session.flush()
                    session.add_all(
                        AlertedHit(hit_id=h, outbox_id=message.id) for h in draft.hit_ids
                    )
                    session.add_all(
                        AlertedEvent(event_id=e, outbox_id=message.id) for e in draft.event_ids
                    )
                    session.flush()
            except IntegrityError:
                continue  # another `alerts send` queued these meanwhile: theirs goes out
            audit.record(
                session,
                app.actor,
                "alerts.queue",
                "case",
                case.id,
                outbox_id=message.id,
                hit_ids=list(draft.hit_ids),
                event_ids=list(draft.event_ids),
            )
            report.queued.append(message.id)
    return report


def preview_alert(app: App, case_id: int, now: datetime | None = None) -> Draft | None:
    """The alert that would go out for the case's confirmed hits and notices' steps not
    yet told, whatever its schedule; None if there are none. Nothing is queued."""
    now = now or utcnow()
    with app.db.session() as session:
        case = require_case(session, case_id)
        draft = _draft(app, session, case, now)
        audit.record(
            session,
            app.actor,
            "alerts.preview",
            "case",
            case_id,
            hit_ids=list(draft.hit_ids) if draft else [],
        )
        return draft


def _draft(app: App, session: Session, case: Case, now: datetime) -> Draft | None:
    rows = session.execute(
        select(Hit.id, Hit.first_seen, Sighting.page_url, Sighting.image_url, Sighting.site_id)
        .join(Sighting, Sighting.id == Hit.sighting_id)
        .outerjoin(AlertedHit, AlertedHit.hit_id == Hit.id)
        .where(Hit.case_id == case.id, Hit.status == "confirmed", AlertedHit.hit_id.is_(None))
        .order_by(Hit.id)
    ).all()
    notices, event_ids = _notices(session, case)
    if not rows and not event_ids:
        return None
    schedule = case.alerts if case.alerts != "never" else "immediate"
    context = {
        "schedule": schedule,
        "count": len({(r.page_url, r.image_url) for r in rows}),
        "pages": len({r.page_url for r in rows}),
        "sites": len({r.site_id for r in rows}),
        "first": min((r.first_seen for r in rows), default=now),
        "last": max((r.first_seen for r in rows), default=now),
        "notices": notices,
        "earlier": _sent_before(session, case),
        "next_update": now + PERIODS[schedule],
        "helplines": helplines(app, case.country, case.language),
        "pause_link": links.link(app, case.id, "pause"),
        "stop_link": links.link(app, case.id, "stop"),
    }
    subject, body = render(case.language, context)
    recipient = app.cipher.decrypt_optional(case.alert_to_enc) or app.cipher.decrypt_optional(
        case.email_enc
    )
    return Draft(
        case.id, recipient or "", subject, body, tuple(r.id for r in rows), tuple(event_ids)
    )


#: Who a notice went to, as an alert says it (never the site's name or address).
RECIPIENT_KINDS = {
    "en": {
        "platform": "the platform",
        "host": "the website's hosting provider",
        "cdn": "the network that delivers the website",
        "registrar": "the domain's registrar",
        "agent": "the website's designated agent",
        "search-engine": "a search engine, to take the pages out of its results",
    },
    "es": {
        "platform": "la plataforma",
        "host": "el proveedor de alojamiento del sitio",
        "cdn": "la red que distribuye el sitio",
        "registrar": "el registrador del dominio",
        "agent": "el agente designado del sitio",
        "search-engine": "un buscador, para que quite las páginas de sus resultados",
    },
}
LAW_NAMES = {
    "en": {
        "us-take-it-down": "the US TAKE IT DOWN Act",
        "dmca": "US copyright law (DMCA)",
        "eu-dsa": "the EU Digital Services Act",
        "uk-iic": "UK law on intimate image abuse",
        "delisting": "its rules on intimate images and data-protection law",
        "ar-olimpia": "Argentina's Ley Olimpia (Law 27,736)",
        "es-197-7": "the Spanish Criminal Code (art. 197.7)",
        "generic": "the site's own rules",
    },
    "es": {
        "us-take-it-down": "la ley TAKE IT DOWN de Estados Unidos",
        "dmca": "la ley de derechos de autor de Estados Unidos (DMCA)",
        "eu-dsa": "el Reglamento de Servicios Digitales de la UE",
        "uk-iic": "la ley británica sobre abuso con imágenes íntimas",
        "delisting": "sus normas sobre imágenes íntimas y la ley de protección de datos",
        "ar-olimpia": "la Ley Olimpia (Ley 27.736)",
        "es-197-7": "el Código Penal español (art. 197.7)",
        "generic": "las propias normas del sitio",
    },
}


def _notices(session: Session, case: Case) -> tuple[list[dict[str, Any]], list[int]]:
    """The case's notices with a step (sent, removed) not told to her yet, as the alert
    tells them: when, to what kind of recipient, under which law, by when the site must
    act, and whether it did; and those steps' ids."""
    from monitor.takedowns import LAWS

    untold = session.execute(
        select(NoticeEvent.id, NoticeEvent.notice_id)
        .join(Notice, Notice.id == NoticeEvent.notice_id)
        .outerjoin(AlertedEvent, AlertedEvent.event_id == NoticeEvent.id)
        .where(
            Notice.case_id == case.id,
            NoticeEvent.status.in_(("sent", "removed")),
            AlertedEvent.event_id.is_(None),
        )
        .order_by(NoticeEvent.id)
    ).all()
    if not untold:
        return [], []
    kinds, laws = RECIPIENT_KINDS[case.language], LAW_NAMES[case.language]
    out = []
    for notice in session.scalars(
        select(Notice)
        .where(Notice.id.in_({u.notice_id for u in untold}), Notice.sent_at.is_not(None))
        .order_by(Notice.sent_at, Notice.id)
    ):
        sent_at = notice.sent_at
        assert sent_at is not None
        deadline = LAWS.get(notice.law)
        out.append(
            {
                "date": sent_at,
                "recipient": kinds.get(notice.recipient.get("kind", ""), kinds["host"]),
                "law": laws.get(notice.law, notice.law),
                "deadline": sent_at + deadline if deadline else None,
                "removed": notice.removed_at,
            }
        )
    return out, [u.id for u in untold]


def _sent_before(session: Session, case: Case) -> int:
    """How many of the case's notices were sent and told to her in an earlier alert."""
    return len(
        set(
            session.scalars(
                select(NoticeEvent.notice_id)
                .join(Notice, Notice.id == NoticeEvent.notice_id)
                .join(AlertedEvent, AlertedEvent.event_id == NoticeEvent.id)
                .where(Notice.case_id == case.id, NoticeEvent.status == "sent")
            )
        )
    )


def render(language: str, context: dict[str, Any]) -> tuple[str, str]:
    env = template_env(language)
    subject = env.get_template("alert_subject.txt").render(**context).strip()
    body = env.get_template("alert_body.txt").render(**context)
    return subject, body


def template_env(language: str) -> Environment:
    """The plain-text templates of ``language`` (alerts and notices), with a ``date`` filter."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES / language),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # plain text, never HTML
    )
    env.filters["date"] = date_filter(language)
    return env


def date_filter(language: str) -> Any:
    """Jinja2 filter: a date as people write it in ``language`` (28 November 2026)."""
    months = _MONTHS[language].split()

    def date(value: datetime) -> str:
        if language == "es":
            return f"{value.day} de {months[value.month - 1]} de {value.year}"
        return f"{value.day} {months[value.month - 1]} {value.year}"

    return date


def helplines(app: App, country: str | None, language: str) -> list[dict[str, str]]:
    path = app.config.helplines or BUNDLED_HELPLINES
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MailError(f"cannot read the helplines file {path}: {exc}") from exc
    entries = [*data.get((country or "").upper(), []), *data.get("*", [])]
    return [
        {"name": e["name"].get(language) or e["name"]["en"], "contact": e["contact"]}
        for e in entries
    ]


# -- delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool  # smtps: TLS from the first byte
    starttls: bool
    user: str | None
    password: str | None


def smtp_settings(url: str) -> SmtpSettings:
    if not url:
        raise MailError("MONITOR_SMTP_URL is not set: messages stay in the outbox")
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailError("MONITOR_SMTP_URL must look like smtp://user:pass@host:587?starttls=true")
    query = parse_qs(parts.query)
    starttls = (query.get("starttls", ["false"])[0]).lower() in ("1", "true", "yes")
    tls = parts.scheme == "smtps"
    return SmtpSettings(
        host=parts.hostname,
        port=parts.port or (465 if tls else 587 if starttls else 25),
        tls=tls,
        starttls=starttls and not tls,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def deliver(app: App, now: datetime | None = None) -> Report:
    """Send the outbox messages that are due. Each attempt is logged; a failure is
    retried after ``backoff(attempts)``, and after MAX_ATTEMPTS the message is marked
    failed (kept, with its log, for an operator to look at)."""
    now = now or utcnow()
    if not app.config.mail_from:
        raise MailError("MONITOR_MAIL_FROM is not set: messages stay in the outbox")
    settings = smtp_settings(app.config.smtp_url)
    report = Report()
    with app.db.session() as session:
        due = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
        ).all()
        if not due:
            return report
        try:
            connection = _connect(settings)
        except (OSError, smtplib.SMTPException) as exc:
            for message in _claim(session, due, now):
                _failed(session, message, now, f"cannot reach the SMTP server: {exc}", report)
            return report
        try:
            for message in _claim(session, due, now):
                email = _email(app, message, now)
                try:
                    connection.send_message(email)
                except (OSError, smtplib.SMTPException) as exc:
                    _failed(session, message, now, str(exc), report)
                    continue
                message.status, message.sent_at = "sent", now
                message.attempts += 1
                message.message_id = email["Message-ID"]
                session.add(Delivery(outbox_id=message.id, at=now, outcome="sent"))
                report.sent.append(message.id)
                session.commit()  # each message durable as soon as it is sent
        finally:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                pass
    return report


def _claim(session: Session, ids: Sequence[int], now: datetime) -> Iterator[OutboxMessage]:
    """Each message in turn that is still due, leased to this sender: an atomic UPDATE
    moves its next attempt ``LEASE`` ahead and is committed before the message is sent,
    so another ``alerts send`` running at the same time (a scheduler and an operator) finds
    it not due and skips it: no message is sent twice. If this sender dies while sending,
    the lease runs out and the message is tried again (at least once, never lost)."""
    for message_id in ids:
        claimed = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + LEASE)
        ).rowcount
        session.commit()
        if claimed:
            message = session.get(OutboxMessage, message_id)
            if message is not None:
                yield message


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    connection: smtplib.SMTP
    if settings.tls:
        connection = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=SMTP_TIMEOUT, context=context
        )
    else:
        connection = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT)
        if settings.starttls:
            connection.starttls(context=context)
    if settings.user:
        connection.login(settings.user, settings.password or "")
    return connection


#: CRLF line ends, and header lines up to RFC 5322's 998 characters: a link header is not
#: folded into encoded words (which would break it).
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


def _email(app: App, message: OutboxMessage, now: datetime) -> EmailMessage:
    email = EmailMessage(policy=SMTP_POLICY)
    email["From"] = formataddr((app.config.mail_from_name, app.config.mail_from))
    email["To"] = app.cipher.decrypt(message.recipient_enc)
    email["Subject"] = message.subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = make_msgid(domain=app.config.mail_from.rpartition("@")[2] or None)
    email["Auto-Submitted"] = "auto-generated"
    stop = links.link(app, message.case_id, "stop") if message.case_id else None
    if stop:  # "unsubscribe" in her mail client stops them in one click (RFC 8058)
        email["List-Unsubscribe"] = f"<{stop}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(app.cipher.decrypt(message.body_enc))  # text/plain, utf-8
    return email


def _failed(
    session: Session, message: OutboxMessage, now: datetime, error: str, report: Report
) -> None:
    message.attempts += 1
    detail = error[:500]
    session.add(Delivery(outbox_id=message.id, at=now, outcome="error", detail=detail))
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        report.failed.append(message.id)
    else:
        message.next_attempt_at = now + backoff(message.attempts)
        report.retrying.append((message.id, detail))
    session.commit()

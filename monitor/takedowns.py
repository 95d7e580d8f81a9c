"""Takedown notice drafts: a case's confirmed hits, grouped per site, to the recipient that
discovery finds first (``monitor.recipients``), under a legal basis, in English or Spanish.
A de-listing request (``delisting``: the search engine's policy on intimate images, and
GDPR Art. 17 for a case in the EU, the EEA or the UK) goes instead to each search
engine, one per engine for all the sites, filed under the engine's domain.

Each legal basis is a template (``monitor/templates/<language>/notice_<law>.txt``) that
lists what its law requires; whatever the system does not know (a signature, an
authorisation to act for her, the organisation's details when not configured) is
written as ``[MISSING: ...]`` and listed in ``Notice.missing``, never invented. A draft
becomes an RFC 5322 ``.eml`` file (and plain text) with ``export_notice``; an analyst
sends it and marks it sent. Until then a draft can be edited (``edit_notice``: what is
missing follows the markers left) and readdressed (``set_recipient``). Notice bodies
are stored encrypted (they locate her images).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from monitor import audit
from monitor.alerts import template_env
from monitor.app import App
from monitor.cases import LANGUAGES, require_case
from monitor.db.models import Hit, Image, Notice, NoticeHit, Sighting, utcnow
from monitor.errors import InvalidInput
from monitor.recipients import (
    KINDS,
    Fetch,
    Recipient,
    Resolve,
    find_recipients,
    search_engines,
)
from monitor.tracking import add_event, require_notice

#: Legal bases, with the removal deadline their law sets (None: "without undue delay").
LAWS: dict[str, timedelta | None] = {
    "us-take-it-down": timedelta(hours=48),
    "dmca": None,
    "eu-dsa": None,
    "uk-iic": timedelta(hours=48),
    "ar-olimpia": None,
    "es-197-7": None,
    "delisting": None,
    "generic": None,
}
#: Legal bases whose notices go to search engines, not to the sites' recipients.
DELISTING = frozenset({"delisting"})
#: Where the GDPR (or the UK GDPR) gives her the right to erasure (Art. 17).
GDPR_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"
    " IS LI NO GB".split()
)


@dataclass(frozen=True)
class NoticeView:
    id: int
    case_id: int
    host: str
    law: str
    language: str
    recipient: dict[str, Any]
    subject: str
    body: str
    missing: list[str]
    status: str
    created_at: datetime
    sent_at: datetime | None
    hit_ids: list[int]


def draft_notices(
    app: App,
    case_id: int,
    law: str,
    *,
    language: str | None = None,
    now: datetime | None = None,
    fetch: Fetch | None = None,
    resolve: Resolve | None = None,
) -> list[int]:
    """Draft one notice per site for the case's confirmed hits that no notice under
    ``law`` covers yet; returns the new notices' ids."""
    if law not in LAWS:
        raise InvalidInput(f"law must be one of {', '.join(LAWS)}")
    if language is not None and language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    now = now or utcnow()
    if law in DELISTING:
        return _draft_delisting(app, case_id, law, language, now)
    with app.db.session() as session:
        case = require_case(session, case_id)
        language = language or case.language
        rows = _uncovered(session, case_id, law)
    groups: dict[str, list[Any]] = defaultdict(list)
    for hit, sighting, sha256 in rows:
        groups[(urlsplit(sighting.page_url).hostname or "").lower()].append((hit, sighting, sha256))
    created = []
    for host, members in sorted(groups.items()):
        recipients = find_recipients(
            app, members[0][1].page_url, now=now, fetch=fetch, resolve=resolve
        )
        recipient = next((r for r in recipients if r.email or r.form_url), None) or Recipient(
            "other", "the operators of " + host, None, None, "none", guess=True
        )
        created.append(
            _create(app, case_id, law, language, host, members, recipient.to_json(), now)
        )
    return created


def _uncovered(session: Any, case_id: int, law: str, host: str | None = None) -> list[Any]:
    """The case's confirmed hits (with their sighting and sha256) that no notice under
    ``law`` (to ``host``, when given) covers yet."""
    covered = (
        select(NoticeHit.hit_id)
        .join(Notice, Notice.id == NoticeHit.notice_id)
        .where(Notice.law == law)
    )
    if host is not None:
        covered = covered.where(Notice.host == host)
    return list(
        session.execute(
            select(Hit, Sighting, Image.sha256)
            .join(Sighting, Sighting.id == Hit.sighting_id)
            .join(Image, Image.id == Sighting.image_id)
            .where(Hit.case_id == case_id, Hit.status == "confirmed", Hit.id.not_in(covered))
            .order_by(Sighting.page_url, Sighting.image_url, Hit.id)
        ).all()
    )


def _draft_delisting(
    app: App, case_id: int, law: str, language: str | None, now: datetime
) -> list[int]:
    """One request per search engine for all the case's confirmed hits it was not asked
    to de-list yet, whatever site they are on."""
    with app.db.session() as session:
        case = require_case(session, case_id)
        language, country = language or case.language, case.country
    extra = _country(country)
    created = []
    for engine in search_engines(app, gdpr=extra["gdpr"]):
        with app.db.session() as session:
            members = _uncovered(session, case_id, law, engine.domain)
        if members:
            created.append(
                _create(
                    app, case_id, law, language, engine.domain, members, engine.to_json(), now,
                    extra=extra,
                )
            )  # fmt: skip
    return created


def _country(country: str | None) -> dict[str, Any]:
    return {"country": country, "gdpr": (country or "").upper() in GDPR_COUNTRIES}


def escalate(app: App, notice_id: int, now: datetime | None = None) -> int:
    """A new draft for a notice's hits, the notice marked escalated: first a re-notice to
    the same recipient; when that one was ignored too, the next recipient discovery found
    that no notice of the chain went to yet (host → network → registrar), or the same one
    again when there is none. A de-listing request is only ever re-sent to its engine."""
    now = now or utcnow()
    with app.db.session() as session:
        notice = require_notice(session, notice_id)
        case_id, law, language, host = notice.case_id, notice.law, notice.language, notice.host
        address = notice.recipient.get("email") or notice.recipient.get("form_url")
        used, link, times = set(), notice, 0
        while link is not None:
            used.add(link.recipient.get("email") or link.recipient.get("form_url"))
            times += (link.recipient.get("email") or link.recipient.get("form_url")) == address
            link = session.get(Notice, link.follows_id) if link.follows_id else None
        members = session.execute(
            select(Hit, Sighting, Image.sha256)
            .join(NoticeHit, NoticeHit.hit_id == Hit.id)
            .join(Sighting, Sighting.id == Hit.sighting_id)
            .join(Image, Image.id == Sighting.image_id)
            .where(NoticeHit.notice_id == notice_id)
            .order_by(Sighting.page_url, Sighting.image_url, Hit.id)
        ).all()
        same = dict(notice.recipient)
    following = None
    if times >= 2 and law not in DELISTING:  # re-noticed already: on to the next recipient
        recipients = find_recipients(app, members[0][1].page_url, now=now)
        following = next(
            (
                r.to_json()
                for r in recipients
                if (r.email or r.form_url) and (r.email or r.form_url) not in used
            ),
            None,
        )
    with app.db.session() as session:
        extra = _country(require_case(session, case_id).country)
    new_id = _create(
        app, case_id, law, language, host, members, following or same, now, notice_id, extra
    )
    with app.db.session() as session:
        notice = require_notice(session, notice_id)
        target = following or same
        how = "escalated to" if following else "re-notice to"
        add_event(
            session,
            notice,
            "escalated",
            app.actor,
            now,
            f"{how} {target.get('name')}: notice {new_id}",
        )
    return new_id


def _create(
    app: App,
    case_id: int,
    law: str,
    language: str,
    host: str,
    members: Any,
    recipient: dict[str, Any],
    now: datetime,
    follows_id: int | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    items, seen = [], set()
    for hit, sighting, sha256 in members:
        if (sighting.page_url, sighting.image_url) in seen:
            continue  # one line per image on a page, whatever the number of hashes
        seen.add((sighting.page_url, sighting.image_url))
        items.append(
            dict(
                page_url=sighting.page_url,
                image_url=sighting.final_url or sighting.image_url,
                first_seen=hit.first_seen,
                sha256=sha256,
                algorithm=hit.algorithm,
                distance=hit.distance,
            )
        )
    deadline = LAWS[law]
    subject, body, missing = render_notice(
        language,
        law,
        {
            "host": host,
            "recipient_name": recipient.get("name", ""),
            "items": items,
            "org_name": app.config.org_name,
            "org_email": app.config.org_email,
            "deadline": now + deadline if deadline else None,
            "country": None,
            "gdpr": False,
            **(extra or {}),
        },
    )
    with app.db.session() as session:
        notice = Notice(
            case_id=case_id,
            host=host,
            law=law,
            language=language,
            recipient=recipient,
            subject=subject,
            body_enc=app.cipher.encrypt(body),
            missing=missing,
            status="draft",
            created_at=now,
            created_by=app.actor,
            follows_id=follows_id,
        )
        session.add(notice)
        session.flush()
        session.add_all(NoticeHit(notice_id=notice.id, hit_id=h.id) for h, _, _ in members)
        add_event(session, notice, "draft", app.actor, now)
        audit.record(
            session, app.actor, "takedowns.draft", "notice", notice.id, case_id=case_id, law=law
        )
        return notice.id


def render_notice(language: str, law: str, context: dict[str, Any]) -> tuple[str, str, list[str]]:
    """(subject, body, the missing fields) of a notice; the template's first line is its
    ``Subject:``."""
    missing: list[str] = []

    def mark(what: str) -> str:
        if what not in missing:
            missing.append(what)
        return f"[MISSING: {what}]"

    env = template_env(language)
    env.globals["missing"] = mark
    text = env.get_template(f"notice_{law}.txt").render(**context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"notice_{law}.txt must start with a Subject: line")
    return first.removeprefix("Subject: ").strip(), body.lstrip("\n"), missing


def list_notices(
    app: App, case_id: int | None = None, *, status: str | None = None
) -> list[NoticeView]:
    with app.db.session() as session:
        query = select(Notice).order_by(Notice.id)
        if case_id is not None:
            query = query.where(Notice.case_id == case_id)
        if status is not None:
            query = query.where(Notice.status == status)
        notices = session.scalars(query).all()
        views = [_view(app, session, n) for n in notices]
        audit.record(
            session, app.actor, "takedowns.list", "notice", None, notice_ids=[v.id for v in views]
        )
        return views


def get_notice(app: App, notice_id: int) -> NoticeView:
    with app.db.session() as session:
        notice = require_notice(session, notice_id)
        audit.record(session, app.actor, "takedowns.view", "notice", notice_id)
        return _view(app, session, notice)


def mark_sent(app: App, notice_id: int, now: datetime | None = None) -> NoticeView:
    with app.db.session() as session:
        notice = require_notice(session, notice_id)
        if notice.status != "draft":
            raise InvalidInput(f"notice {notice_id} was marked sent already ({notice.status})")
        notice.sent_at, notice.sent_by = now or utcnow(), app.actor
        add_event(session, notice, "sent", app.actor, notice.sent_at)
        audit.record(session, app.actor, "takedowns.mark_sent", "notice", notice_id)
        return _view(app, session, notice)


#: How a draft marks what the system does not know; an analyst's edit removes them.
MISSING_MARK = re.compile(r"\[MISSING: ([^\]\n]*)\]")
MAX_SUBJECT = 300
MAX_BODY = 100_000


def missing_in(body: str) -> list[str]:
    """The ``[MISSING: ...]`` items still in a notice's text, each once, in order."""
    return list(dict.fromkeys(m.strip() for m in MISSING_MARK.findall(body)))


def edit_notice(
    app: App, notice_id: int, subject: str | None = None, body: str | None = None
) -> NoticeView:
    """Change a draft's subject and body (None: unchanged). ``missing`` becomes the
    ``[MISSING: ...]`` items left in the body. Only a draft: what was sent stays as sent."""
    if subject is not None:
        subject = subject.strip()
        if not subject or "\n" in subject or "\r" in subject:
            raise InvalidInput("the subject must be one line of text")
        if len(subject) > MAX_SUBJECT:
            raise InvalidInput(f"the subject is longer than {MAX_SUBJECT} characters")
    if body is not None:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
        if not body.strip():
            raise InvalidInput("the body is empty")
        if len(body) > MAX_BODY:
            raise InvalidInput(f"the body is longer than {MAX_BODY} characters")
    with app.db.session() as session:
        notice = require_notice(session, notice_id)
        _require_draft(notice)
        changed = []
        if subject is not None and subject != notice.subject:
            notice.subject = subject
            changed.append("subject")
        if body is not None and body != app.cipher.decrypt(notice.body_enc):
            notice.body_enc = app.cipher.encrypt(body)
            notice.missing = missing_in(body)
            changed.append("body")
        audit.record(
            session,
            app.actor,
            "takedowns.edit",
            "notice",
            notice_id,
            changed=changed,
            missing=len(notice.missing),
        )
        return _view(app, session, notice)


def set_recipient(app: App, notice_id: int, recipient: Recipient) -> NoticeView:
    """Send a draft to another recipient (one discovery found, or one an analyst knows).
    The greeting is readdressed where the draft names the old recipient."""
    name = recipient.name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a recipient needs a name (at most 200 characters)")
    if recipient.kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
    email = (recipient.email or "").strip() or None
    form_url = (recipient.form_url or "").strip() or None
    if not email and not form_url:
        raise InvalidInput("give the recipient's email address or web form (or both)")
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise InvalidInput(f"not an email address: {email!r}")
    if form_url is not None and (
        urlsplit(form_url).scheme not in ("http", "https") or not urlsplit(form_url).hostname
    ):
        raise InvalidInput(f"not a web address: {form_url!r}")
    with app.db.session() as session:
        notice = require_notice(session, notice_id)
        _require_draft(notice)
        old = dict(notice.recipient)
        new = replace(
            recipient,
            name=name,
            email=email,
            form_url=form_url,
            source=(recipient.source or "analyst")[:40],
            found_at=recipient.found_at or utcnow().date().isoformat(),
            domain=old.get("domain", "") or recipient.domain,
        ).to_json()
        notice.recipient = new
        body = app.cipher.decrypt(notice.body_enc)
        if old.get("name") and old["name"] != name and old["name"] in body:
            notice.body_enc = app.cipher.encrypt(body.replace(old["name"], name, 1))
        audit.record(
            session,
            app.actor,
            "takedowns.recipient",
            "notice",
            notice_id,
            kind=new["kind"],
            source=new["source"],
        )
        return _view(app, session, notice)


def _require_draft(notice: Notice) -> None:
    if notice.status != "draft":
        raise InvalidInput(f"notice {notice.id} is {notice.status}: only a draft can be changed")


def notice_email(app: App, notice_id: int, from_address: str) -> EmailMessage:
    """The notice as an RFC 5322 message ready to send, built in memory (audit-logged as
    an export)."""
    view = get_notice(app, notice_id)
    with app.db.session() as session:
        audit.record(session, app.actor, "takedowns.export", "notice", notice_id)
    return _email(app, view, from_address)


def _email(app: App, view: NoticeView, from_address: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = formataddr((app.config.org_name or "", from_address))
    to = view.recipient.get("email")
    if to:
        email["To"] = to
    email["Subject"] = view.subject
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    email.set_content(view.body)
    return email


def notice_text(view: NoticeView) -> str:
    """The notice as plain text, with whom it goes to (an address, or the form to file)."""
    to = view.recipient.get("email")
    form = view.recipient.get("form_url")
    header = (
        f"To: {to or '(no address: file it at ' + (form or '?') + ')'}\nSubject: {view.subject}\n\n"
    )
    return header + view.body


def export_notice(app: App, notice_id: int, folder: Path, from_address: str) -> list[Path]:
    """Write the notice as ``notice-<id>.eml`` (RFC 5322, ready to send) and ``.txt``."""
    view = get_notice(app, notice_id)
    folder.mkdir(parents=True, exist_ok=True)
    eml = folder / f"notice-{notice_id}.eml"
    txt = folder / f"notice-{notice_id}.txt"
    eml.write_bytes(bytes(_email(app, view, from_address)))
    txt.write_text(notice_text(view), encoding="utf-8")
    return [eml, txt]


def _view(app: App, session: Any, notice: Notice) -> NoticeView:
    hit_ids = list(
        session.scalars(
            select(NoticeHit.hit_id)
            .where(NoticeHit.notice_id == notice.id)
            .order_by(NoticeHit.hit_id)
        )
    )
    return NoticeView(
        id=notice.id,
        case_id=notice.case_id,
        host=notice.host,
        law=notice.law,
        language=notice.language,
        recipient=dict(notice.recipient),
        subject=notice.subject,
        body=app.cipher.decrypt(notice.body_enc),
        missing=list(notice.missing),
        status=notice.status,
        created_at=notice.created_at,
        sent_at=notice.sent_at,
        hit_ids=hit_ids,
    )

"""Victim alerts: a real SMTP server (aiosmtpd) on 127.0.0.1 receives them and the tests
read what arrived: content rules, once per hit, digests, an advocate's address, retries
while the server is down. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from email.utils import parseaddr

import pytest
from aiosmtpd.controller import Controller
from conftest import Env, observation
from sqlalchemy import select

from monitor.alerts import backoff, deliver, queue_alerts
from monitor.cases import add_case, edit_case
from monitor.db.models import AlertedHit, Delivery, Hit, OutboxMessage, utcnow
from monitor.hashes import NewHash, store_hashes
from monitor.matching import Match
from monitor.recording import record_page
from monitor.review import confirm_hits
from monitor.sites import add_site

#: Words that must never be in a subject or a sender name (someone may look over her shoulder).
REVEALING = (
    "image", "photo", "picture", "intimate", "nude", "naked", "sex", "porn", "explicit",
    "revenge", "leak", "abuse", "victim", "takedown", "removal", "imagen", "foto", "íntim",
    "desnud", "sexual", "porno", "víctima", "filtr",
)  # fmt: skip


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def mail_env(env: Env, url: str) -> Env:
    return env.reconfigure(MONITOR_SMTP_URL=url, MONITOR_MAIL_FROM="updates@ngo.example")


def make_hits(env: Env, case_id: int, pages: dict[str, list[str]]) -> list[int]:
    """Record the pages' images as hits of the case's one entry; their hit ids, in order."""
    app = env.app
    store_hashes(app, case_id, [NewHash("phash", "c2924c5532bddfc8", "her.jpg")], source="file")
    site = add_site(app, "http://bad.test/", allow_private=False)
    with app.db.session() as session:
        from monitor.db.models import HashEntry

        entry = session.scalar(select(HashEntry.id).where(HashEntry.case_id == case_id))
    assert entry is not None
    for page, shas in pages.items():
        record_page(
            app,
            site_id=site,
            run_id=None,
            page_url=f"http://bad.test/{page}",
            observations=[
                observation(
                    sha, f"http://cdn.bad.test/{page}/{i}.jpg", Match(entry, case_id, "phash", 4)
                )
                for i, sha in enumerate(shas)
            ],
        )
    with app.db.session() as session:
        return list(session.scalars(select(Hit.id).where(Hit.case_id == case_id).order_by(Hit.id)))


def assert_safe(message: Message) -> str:
    """The content rules: plain text only, nothing attached, nothing that links to the
    material or says where it is, a subject and a sender name that reveal nothing."""
    assert message.get_content_type() == "text/plain" and not message.is_multipart()
    body = message.get_payload(decode=True).decode("utf-8")
    assert "bad.test" not in body and "http://" not in body.replace("https://", "")
    for word in REVEALING:
        assert word not in message["Subject"].lower(), (word, message["Subject"])
        assert word not in parseaddr(message["From"])[0].lower(), (word, message["From"])
    return body


def test_confirmed_hits_are_announced_once_in_her_language(env: Env, smtp: SmtpServer) -> None:
    env = mail_env(env, smtp.url)
    case_id = add_case(
        env.app, "V", email="ella@example.org", language="es", alerts="immediate", country="ES"
    )
    hits = make_hits(env, case_id, {"a": ["01" * 32, "02" * 32], "b": ["03" * 32]})
    confirm_hits(env.app, hits[:2])  # the third waits for review: not announced

    first = env.cli("alerts", "send")
    assert first.returncode == 0, first.stderr
    assert "sent 1 message" in first.stdout
    assert len(smtp.inbox.messages) == 1
    recipients, message = smtp.inbox.messages[0]
    assert recipients == ["ella@example.org"]
    assert message["Subject"] == "Novedades sobre tu solicitud"
    assert parseaddr(message["From"]) == ("Notifications", "updates@ngo.example")
    body = assert_safe(message)
    assert "2 copias nuevas de tu material en 1 página de 1 sitio web" in body
    assert "Todavía no enviamos solicitudes de retiro" in body  # what has been done
    assert "El " in body.split("LO QUE ENCONTRAMOS")[1][:5]  # found on one day
    assert "016" in body and "stopncii.org" in body  # Spain's helplines and everyone's
    assert "Volverás a saber de nosotros" in body  # what happens next

    # Again: nothing new, nothing sent; a hit confirmed later makes a message of its own.
    assert "queued 0 message" in env.cli("alerts", "send", check=True).stdout
    assert len(smtp.inbox.messages) == 1
    confirm_hits(env.app, [hits[2]])
    env.cli("alerts", "send", check=True)
    assert len(smtp.inbox.messages) == 2
    assert "1 copia nueva de tu material en 1 página" in assert_safe(smtp.inbox.messages[1][1])
    with env.app.db.session() as session:
        announced = sorted(session.scalars(select(AlertedHit.hit_id)))
        assert announced == sorted(hits)  # each hit by exactly one message (primary key)
        stored = session.scalars(select(OutboxMessage)).all()
        assert all(b"ella@example.org" not in m.recipient_enc for m in stored)  # encrypted
        assert {d.outcome for d in session.scalars(select(Delivery))} == {"sent"}


def test_weekly_digest_to_an_advocate(env: Env, smtp: SmtpServer) -> None:
    env = mail_env(env, smtp.url)
    case_id = add_case(env.app, "W", email="her@example.org", alerts="weekly", country="GB")
    assert edit_case(env.app, case_id, alert_to="advocate@example.org") == ["alert-to"]
    hits = make_hits(env, case_id, {"a": ["11" * 32], "b": ["12" * 32], "c": ["13" * 32]})
    confirm_hits(env.app, hits[:2])
    now = utcnow()
    assert len(queue_alerts(env.app, now).queued) == 1
    confirm_hits(env.app, [hits[2]])
    assert queue_alerts(env.app, now + timedelta(days=1)).queued == []  # a week not over
    assert len(queue_alerts(env.app, now + timedelta(days=7)).queued) == 1
    assert len(deliver(env.app, now + timedelta(days=7)).sent) == 2
    assert [r for r, _ in smtp.inbox.messages] == [["advocate@example.org"]] * 2
    first = assert_safe(smtp.inbox.messages[0][1])
    assert "weekly update" in first and "2 new copies of your material on 2 pages" in first
    assert "Revenge Porn Helpline" in first and "Your next update is due on" in first
    assert smtp.inbox.messages[0][1]["Subject"] == "An update on your request"
    assert "1 new copy of your material on 1 page" in assert_safe(smtp.inbox.messages[1][1])


def test_nothing_is_lost_while_the_smtp_server_is_down(env: Env) -> None:
    server = SmtpServer()  # not started yet: its port refuses connections
    env = mail_env(env, server.url)
    case_id = add_case(env.app, "D", email="d@example.org", alerts="immediate")
    confirm_hits(env.app, make_hits(env, case_id, {"a": ["21" * 32]}))
    down = env.cli("alerts", "send")  # queued, not delivered: says so, and fails
    assert down.returncode == 1 and "queued 1 message" in down.stdout
    assert "will be retried: cannot reach the SMTP server" in down.stdout
    with env.app.db.session() as session:
        message = session.scalars(select(OutboxMessage)).one()
        assert (message.status, message.attempts) == ("pending", 1)
        failed_at = message.next_attempt_at - backoff(1)
        assert [d.outcome for d in session.scalars(select(Delivery))] == ["error"]
    assert deliver(env.app, failed_at + timedelta(minutes=1)).retrying == []  # not due yet
    again = deliver(env.app, failed_at + backoff(1))  # due, still down: backs off further
    assert len(again.retrying) == 1
    with env.app.db.session() as session:
        message = session.scalars(select(OutboxMessage)).one()
        assert message.attempts == 2
        assert message.next_attempt_at == failed_at + backoff(1) + backoff(2)
    server.start()
    try:
        later = deliver(env.app, failed_at + backoff(1) + backoff(2))
        assert len(later.sent) == 1
        assert [r for r, _ in server.inbox.messages] == [["d@example.org"]]
        assert deliver(env.app, failed_at + timedelta(days=1)).sent == []  # sent once only
    finally:
        server.stop()
    with env.app.db.session() as session:
        outcomes = [d.outcome for d in session.scalars(select(Delivery).order_by(Delivery.id))]
        assert outcomes == ["error", "error", "sent"]


def test_preview_and_preferences_from_the_cli(sqlite_env: Env) -> None:
    env = sqlite_env
    case_id = int(
        env.cli("case", "add", "P", "--alerts", "daily", "--country", "ar", check=True).stdout
    )
    hits = make_hits(env, case_id, {"a": ["31" * 32]})
    assert (
        "no confirmed hit waits to be announced"
        in env.cli("alerts", "preview", str(case_id), check=True).stdout
    )
    confirm_hits(env.app, hits)
    shown = env.cli("alerts", "preview", str(case_id), check=True).stdout
    assert "To: (no address" in shown and "Subject: An update on your request" in shown
    assert "daily update" in shown and "Línea 144" in shown
    with env.app.db.session() as session:
        assert session.scalar(select(OutboxMessage.id)) is None  # a preview sends nothing
    # Alerts on without an address: said, nothing queued; the settings are checked.
    env.vars.update(MONITOR_SMTP_URL="smtp://127.0.0.1:9", MONITOR_MAIL_FROM="u@ngo.example")
    sent = env.cli("alerts", "send")
    assert f"case {case_id}: alerts are on but there is no address" in sent.stdout
    bad = env.cli("case", "edit", str(case_id), "--alerts", "hourly")
    assert bad.returncode != 0 and "hourly" in bad.stderr
    assert env.cli("case", "edit", str(case_id), "--country", "Spain").returncode != 0
    env.vars["MONITOR_SMTP_URL"] = "http://127.0.0.1:9"
    assert "MONITOR_SMTP_URL must look like" in env.cli("alerts", "send").stderr


class SlowInbox(Inbox):
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await asyncio.sleep(1.0)  # long enough for a second sender to start meanwhile
        return await super().handle_DATA(server, session, envelope)


def test_two_senders_at_once_send_each_message_once(env: Env) -> None:
    """A scheduler and an operator may run `alerts send` at the same time: each message is
    leased by one of them (committed before it is sent); the other skips it."""
    server = SmtpServer()
    server.inbox = SlowInbox()
    server.start()
    try:
        env = mail_env(env, server.url)
        case_id = add_case(env.app, "C", email="c@example.org", alerts="immediate")
        confirm_hits(env.app, make_hits(env, case_id, {"a": ["41" * 32]}))
        now = utcnow()
        assert len(queue_alerts(env.app, now).queued) == 1
        reports: list[list[int]] = []

        def send() -> None:
            reports.append(deliver(env.app, now).sent)

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(map(len, reports)) == [0, 1]
        assert len(server.inbox.messages) == 1
    finally:
        server.stop()


def test_a_hit_queued_by_another_sender_meanwhile_is_not_queued_twice(sqlite_env: Env) -> None:
    """Two `alerts send` queueing at once on SQLite (PostgreSQL has the second skip the
    cases the first holds, FOR UPDATE SKIP LOCKED): the second finds the hits announced
    already (the primary key of alerted_hits) and queues nothing for them, without error."""
    from monitor import alerts

    env = sqlite_env

    case_id = add_case(env.app, "Q", email="q@example.org", alerts="immediate")
    confirm_hits(env.app, make_hits(env, case_id, {"a": ["71" * 32]}))
    real_draft = alerts._draft

    def racing_draft(app, session, case, now):  # type: ignore[no-untyped-def]
        draft = real_draft(app, session, case, now)
        # The other sender commits its message for the same hits right now.
        with env.app.db.session() as other:
            message = OutboxMessage(
                case_id=case.id,
                kind="alert",
                recipient_enc=app.cipher.encrypt("q@example.org"),
                subject="s",
                body_enc=app.cipher.encrypt("b"),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            other.add(message)
            other.flush()
            other.add_all(AlertedHit(hit_id=h, outbox_id=message.id) for h in draft.hit_ids)
        return draft

    alerts._draft = racing_draft  # type: ignore[assignment]
    try:
        assert queue_alerts(env.app).queued == []
    finally:
        alerts._draft = real_draft  # type: ignore[assignment]
    with env.app.db.session() as session:
        assert len(session.scalars(select(OutboxMessage)).all()) == 1

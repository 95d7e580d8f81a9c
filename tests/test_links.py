"""The pause and stop links of alerts, through a real SMTP server and the real link
endpoint on 127.0.0.1: opening a link changes nothing, pressing its button does; the
mail client's one-click unsubscribe (RFC 8058) stops alerts; forged links do nothing.
On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from conftest import Env
from sqlalchemy import select
from test_alerts import SmtpServer, make_hits, smtp  # noqa: F401 (the fixture)

from monitor import links
from monitor.alerts import queue_alerts
from monitor.cases import add_case, get_case
from monitor.db.models import AuditEvent, Case, utcnow
from monitor.review import confirm_hits


class Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint(env: Env) -> Iterator[str]:
    server = make_server(
        "127.0.0.1",
        0,
        lambda environ, start: links.wsgi_app(env.app)(environ, start),
        handler_class=Quiet,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def request(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method)) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def paused_until(env: Env, case_id: int):  # type: ignore[no-untyped-def]
    with env.app.db.session() as session:
        return session.get(Case, case_id).alerts_paused_until


def test_pause_and_stop_links(env: Env, smtp: SmtpServer, endpoint: str) -> None:  # noqa: F811
    env.reconfigure(
        MONITOR_PUBLIC_URL=endpoint, MONITOR_SMTP_URL=smtp.url, MONITOR_MAIL_FROM="u@ngo.example"
    )
    case_id = add_case(env.app, "L", email="l@example.org", alerts="immediate", language="es")
    hits = make_hits(env, case_id, {"a": ["61" * 32], "b": ["62" * 32]})
    confirm_hits(env.app, hits[:1])
    env.cli("alerts", "send", check=True)
    (_, message) = smtp.inbox.messages[0]
    stop = message["List-Unsubscribe"].strip("<>")
    assert stop.startswith(endpoint + "/alerts/stop?t=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = message.get_payload(decode=True).decode()
    pause = next(w for w in body.split() if w.startswith(endpoint + "/alerts/pause?t="))
    assert "Para pausar estas actualizaciones por 30 días" in body
    assert endpoint + "/alerts/stop?t=" in body  # (another token: each one is encrypted anew)

    # Opening the link (a mail scanner would) shows a button, in her language; nothing changes.
    status, page = request(pause)
    assert status == 200 and '<form method="post"' in page and "Pausar" in page
    assert paused_until(env, case_id) is None
    # Pressing it pauses her alerts for 30 days.
    status, page = request(pause, "POST", b"")
    assert status == 200 and "pausadas por 30 días" in page
    until = paused_until(env, case_id)
    assert until is not None and timedelta(days=29) < until - utcnow() <= timedelta(days=30)
    confirm_hits(env.app, hits[1:])
    assert queue_alerts(env.app).queued == []  # paused
    assert len(queue_alerts(env.app, utcnow() + timedelta(days=31)).queued) == 1

    # Forged or misused links do nothing.
    forged = stop[:-5] + ("AAAAA" if not stop.endswith("AAAAA") else "BBBBB")
    assert request(forged, "POST", b"")[0] == 400
    assert request(pause.replace("/pause?", "/stop?"), "POST", b"")[0] == 400
    assert get_case(env.app, case_id).alerts == "immediate"

    # Her mail client's one-click unsubscribe posts to the stop link: alerts stop.
    status, _ = request(stop, "POST", b"List-Unsubscribe=One-Click")
    assert status == 200 and get_case(env.app, case_id).alerts == "never"
    with env.app.db.session() as session:
        actions = [
            (e.actor, e.action)
            for e in session.scalars(select(AuditEvent).where(AuditEvent.actor == "victim-link"))
        ]
    assert actions == [("victim-link", "alerts.pause"), ("victim-link", "alerts.stop")]


def test_without_a_public_url_there_are_no_links(sqlite_env: Env) -> None:
    case_id = add_case(sqlite_env.app, "N", email="n@example.org", alerts="immediate")
    assert links.link(sqlite_env.app, case_id, "stop") is None

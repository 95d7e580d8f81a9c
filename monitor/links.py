"""The pause and stop links in every alert, and the small web endpoint that answers them.

A link carries a token encrypted and authenticated with the monitor's key (Fernet): the
case and the action, nothing readable, nothing that can be forged. Opening a link shows
a page with one button, in her language; only pressing it (a POST) acts, so a mail
scanner that fetches every link never pauses anything. Mail clients that offer
"unsubscribe" post to the stop link directly (RFC 8058 ``List-Unsubscribe-Post``).

``monitor alerts serve-links`` serves it with the standard library's WSGI server on
127.0.0.1; in production, behind the reverse proxy that answers ``MONITOR_PUBLIC_URL``.
The web app (a later issue) will serve the same two routes.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from monitor import audit
from monitor.app import App
from monitor.crypto import CryptoError
from monitor.db.models import Case, utcnow
from monitor.errors import InvalidInput

ACTIONS = ("pause", "stop")
PAUSE = timedelta(days=30)

PAGES = {
    "en": {
        "pause": ("Pause these updates for 30 days?", "Pause", "Updates are paused for 30 days."),
        "stop": (
            "Stop these updates?",
            "Stop",
            "Updates are stopped. Tell the person handling your case if you want them again.",
        ),
        "bad": "This link is not valid. Reply to one of our messages instead.",
    },
    "es": {
        "pause": (
            "¿Pausar estas actualizaciones por 30 días?",
            "Pausar",
            "Las actualizaciones quedan pausadas por 30 días.",
        ),
        "stop": (
            "¿Detener estas actualizaciones?",
            "Detener",
            "Las actualizaciones se detuvieron. Avísale a quien lleva tu caso si quieres volver a recibirlas.",
        ),
        "bad": "Este enlace no es válido. Responde a uno de nuestros mensajes.",
    },
}


def link(app: App, case_id: int, action: str) -> str | None:
    """The URL of ``action`` for the case, or None without ``MONITOR_PUBLIC_URL``."""
    if not app.config.public_url:
        return None
    token = app.cipher.encrypt(f"{case_id}:{action}").decode("ascii")
    return f"{app.config.public_url}/alerts/{action}?t={token}"


def read_token(app: App, token: str, action: str) -> int:
    """The case a token is for; InvalidInput if it is not a token of ``action``."""
    try:
        case_id, _, tokened = app.cipher.decrypt(token.encode("ascii")).partition(":")
        if tokened != action:
            raise ValueError
        return int(case_id)
    except (CryptoError, ValueError, UnicodeError) as exc:
        raise InvalidInput("not a valid link") from exc


def language_of(app: App, case_id: int) -> str:
    with app.db.session() as session:
        case = session.get(Case, case_id)
        return case.language if case is not None else "en"


def apply(app: App, token: str, action: str) -> int:
    """Pause (30 days) or stop the alerts of the token's case; returns the case id."""
    case_id = read_token(app, token, action)
    with app.db.session() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise InvalidInput("not a valid link")
        if action == "pause":
            case.alerts_paused_until = utcnow() + PAUSE
        else:
            case.alerts = "never"
        audit.record(session, "victim-link", f"alerts.{action}", "case", case_id)
    return case_id


def wsgi_app(app: App) -> Callable[..., Iterable[bytes]]:
    def respond(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        action = path.removeprefix("/alerts/")
        if action not in ACTIONS or not path.startswith("/alerts/"):
            return _page(start_response, "404 Not Found", "en", "Not found")
        token = (query.get("t") or [""])[0]
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            case_id = read_token(app, token, action)
        except InvalidInput:
            return _page(start_response, "400 Bad Request", "en", PAGES["en"]["bad"])
        language = language_of(app, case_id)
        question, button, done = PAGES[language][action]
        if method == "POST":
            apply(app, token, action)
            return _page(start_response, "200 OK", language, done)
        form = (
            f'<form method="post" action="/alerts/{action}?t={html.escape(token)}">'
            f'<button type="submit">{html.escape(button)}</button></form>'
        )
        return _page(start_response, "200 OK", language, question, form)

    return respond


def _page(
    start_response: Callable[..., Any], status: str, language: str, text: str, extra: str = ""
) -> list[bytes]:
    body = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width"><meta name="robots" content="noindex">'
        f"<title>{html.escape(text)}</title></head><body><p>{html.escape(text)}</p>{extra}</body></html>"
    ).encode()
    start_response(
        status,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]

"""The web app in-process (FastAPI's TestClient), signed in with the roles a test needs."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from monitor.app import App
from monitor.users import add_user
from monitor.web.app import create_app

PASSWORD = "correct-horse-battery-staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Web:
    """One browser's worth of cookies. ``sign_in("analyst")`` makes the account (once) and
    signs in; ``post`` sends a form with the session's CSRF token, ``api_post`` JSON with
    the X-CSRF-Token header. Redirects are not followed unless asked."""

    def __init__(self, app: App) -> None:
        self.app = app
        # https: the session cookie is Secure, and a cookie jar sends it back over TLS only.
        self.client = TestClient(
            create_app(app), base_url="https://testserver", follow_redirects=False
        )
        self.csrf = ""

    def new_browser(self) -> Web:
        return Web(self.app)

    def sign_in(self, *roles: str, email: str | None = None) -> Web:
        email = email or f"{'-'.join(roles) or 'nobody'}@ngo.example"
        try:
            add_user(self.app, email, list(roles), PASSWORD)
        except Exception:  # made by an earlier sign_in
            pass
        page = self.client.get("/login")
        token = _CSRF.search(page.text)
        assert token, page.text
        answer = self.client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token[1], "next": "/"},
        )
        assert answer.status_code == 303, answer.text
        me = self.client.get("/api/me")
        assert me.status_code == 200, me.text
        self.csrf = me.json()["csrf_token"]
        return self

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """A form post, as a page's form sends it (with the CSRF token)."""
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def api_get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def api_post(self, path: str, json: Any = None, method: str = "POST", **kwargs: Any) -> Any:
        return self.client.request(
            method, path, json=json, headers={"X-CSRF-Token": self.csrf}, **kwargs
        )

"""End to end in a real browser: Debian's Chromium, driven by Playwright through its
``executable_path`` (no browser is downloaded), against ``monitor web`` served on
127.0.0.1 with the scheduler in the same process, crawling the sample site on 127.0.0.1.

Screenshots of the main pages are written to ``var/screenshots/`` (or
``MONITOR_SCREENSHOTS``) for a person to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import LOOPBACK, ROOT, Env, make_app, make_env
from test_scheduling import INTERVALS

from monitor import cases, hashes
from monitor.scheduler import start_scheduler_thread
from monitor.users import add_user
from monitor.web.server import Background, serve_in_background

CHROMIUM = os.environ.get("MONITOR_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("MONITOR_SCREENSHOTS") or ROOT / "var" / "screenshots")
PASSWORD = "correct-horse-battery-staple"
#: Chromium's own calls home are switched off; anything else not on loopback fails the test.
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-features=Translate,OptimizationHints,MediaRouter",
]  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Site:
    """The web app served on 127.0.0.1 (with the scheduler), for one test."""

    def __init__(self, env: Env, web: Background) -> None:
        self.env = env
        self.web = web
        self.url = web.url
        self.outside: list[str] = []

    def page(self, chromium: Any, email: str | None = None) -> Any:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)

        def guard(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if host in ("127.0.0.1", "localhost") or route.request.url.startswith(
                ("data:", "blob:")
            ):
                route.continue_()
            else:
                self.outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        if email:
            self.sign_in(page, email)
        return page

    def sign_in(self, page: Any, email: str) -> None:
        page.goto(self.url + "/")
        assert "/login" in page.url
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(self.url + "/")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def site(sqlite_env: Env) -> Iterator[Site]:
    env = sqlite_env.reconfigure(
        MONITOR_ALLOWED_ADDRESSES=LOOPBACK,
        MONITOR_RDAP_BOOTSTRAP="http://127.0.0.1:9/",  # no RDAP server is asked
        MONITOR_SCHEDULER_INTERVALS=INTERVALS,
    )
    for email, roles in (
        ("ana@ngo.example", ["analyst", "operator"]),
        ("op@ngo.example", ["operator"]),
        ("root@ngo.example", ["admin"]),
    ):
        add_user(env.app, email, roles, PASSWORD)
    web = serve_in_background(env.app)
    scheduler = start_scheduler_thread(env.app)
    served = Site(env, web)
    yield served
    scheduler.stop()
    web.stop()
    assert served.outside == [], f"the browser tried to leave loopback: {served.outside}"


def hash_list_of(tmp_path: Path, photos: list[Path]) -> Path:
    """A hash-list file as a victim's or a partner's tool would send it: made by another
    installation from the photos, which never reach the web app."""
    other = make_app(make_env(tmp_path / "elsewhere", f"sqlite:///{tmp_path / 'elsewhere.db'}"))
    try:
        case_id = cases.add_case(other, "elsewhere")
        hashes.hash_files(other, case_id, photos)
        path = tmp_path / "her-hashes.json"
        path.write_text(hashes.export_hash_list(other, case_id))
        return path
    finally:
        other.close()


# -- the flows ---------------------------------------------------------------------------------


def test_sign_in_dashboard_and_the_admins_pages(site: Site, chromium: Any) -> None:
    page = site.page(chromium)
    page.goto(site.url + "/admin/audit")
    assert "/login" in page.url
    shot(page, "01-login")
    page.fill("input[name=email]", "root@ngo.example")
    page.fill("input[name=password]", "not the password at all")
    page.click("button[type=submit]")
    assert "Wrong address or password" in page.inner_text("[role=alert]")
    page.fill("input[name=email]", "root@ngo.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/audit$"))  # back where she was going
    cookie = next(c for c in page.context.cookies() if c["name"] == "ncii_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    assert "user.login_failed" in page.inner_text("#audit")
    page.fill("input[name=action]", "user.login")
    page.fill("input[name=actor]", "root")
    page.click("#audit-search button[type=submit]")
    assert page.inner_text("[data-figure=audit-total]") == "1"
    shot(page, "09-audit-log")
    page.click("nav >> text=Users")
    page.fill("#new-email", "newcomer@ngo.example")
    page.click("text=Add account")
    password = page.inner_text("#password")
    assert len(password) >= 12
    page.click("nav >> text=Settings")
    assert "MONITOR_WEB_SESSION_HOURS" in page.inner_text("#settings")
    page.click("nav >> text=Dashboard")
    assert page.locator("#chart-hits rect").count() >= 12
    shot(page, "02-dashboard")
    # The newcomer signs in with the password shown once.
    other = site.page(chromium)
    other.goto(site.url + "/login")
    other.fill("input[name=email]", "newcomer@ngo.example")
    other.fill("input[name=password]", password)
    other.click("button[type=submit]")
    other.wait_for_url(site.url + "/")
    assert other.locator("nav >> text=Review").count() == 1
    # Signing out ends the session.
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto(site.url + "/admin/users")
    assert "/login" in page.url


def test_a_wrong_role_is_refused_and_not_offered(site: Site, chromium: Any) -> None:
    page = site.page(chromium, "op@ngo.example")
    nav = page.inner_text("nav")
    assert "Sites" in nav and "Review" not in nav and "Cases" not in nav and "Audit" not in nav
    for path in ("/review", "/cases", "/takedowns", "/admin/audit"):
        answer = page.goto(site.url + path)
        assert answer is not None and answer.status == 403, path
        assert "This needs the" in page.inner_text("[role=alert]")
    shot(page, "10-refused")

"""End to end in a real browser: Debian's Chromium, driven by Playwright through its
``executable_path`` (no browser is downloaded), against ``monitor web`` served on
127.0.0.1 with the scheduler in the same process, crawling the sample site on 127.0.0.1.

Screenshots of the main pages are written to ``var/screenshots/`` (or
``MONITOR_SCREENSHOTS``) for a person to look at.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import LOOPBACK, PHOTOS, ROOT, Env, make_app, make_env
from test_scheduling import INTERVALS

from monitor import cases, hashes, recipients
from monitor.samplesite import SiteServer
from monitor.scheduler import start_scheduler_thread
from monitor.users import add_user
from monitor.web.server import Background, serve_in_background

SHOTS = Path(os.environ.get("MONITOR_SCREENSHOTS") or ROOT / "var" / "screenshots")
PASSWORD = "correct-horse-battery-staple"


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


def loaded(image: Any, timeout: float = 20) -> None:
    """Wait until an <img> has loaded a picture (the page's CSP forbids Playwright's
    string predicates, so this polls from here)."""
    deadline = time.monotonic() + timeout
    while not image.evaluate("img => img.complete && img.naturalWidth > 0"):
        assert time.monotonic() < deadline, "the image did not load"
        time.sleep(0.1)


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
    (tmp_path / "elsewhere").mkdir()
    other = make_app(make_env(tmp_path / "elsewhere", f"sqlite:///{tmp_path / 'elsewhere.db'}"))
    try:
        case_id = cases.add_case(other, "elsewhere")
        hashes.hash_files(other, case_id, photos)
        path = tmp_path / "her-hashes.json"
        path.write_text(hashes.export_hashes(other, case_id).text)
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


def test_an_analyst_opens_a_case_watches_a_site_reviews_and_drafts_a_notice(
    site: Site, chromium: Any, server: SiteServer, tmp_path: Path
) -> None:
    """The issue's walk: log in, create a case, import hashes, add a site, run a crawl
    against the loopback fixture site, review the hits, draft a notice."""
    hash_file = hash_list_of(tmp_path, [PHOTOS / "astronaut.jpg", PHOTOS / "coffee.jpg"])
    recipients.set_override(
        site.env.app, "127.0.0.1", kind="host", name="Sample hosting, abuse desk",
        email="abuse@hosting.example",
    )  # fmt: skip
    page = site.page(chromium, "ana@ngo.example")
    page.on("dialog", lambda dialog: dialog.accept())  # the "are you sure?" confirmations
    shot(page, "02-dashboard-empty")

    # A case, and her hash list (a file: her photos never reach the app).
    page.click("nav >> text=Cases")
    page.goto(site.url + "/cases/new")
    page.fill("#f-name", "Case A")
    page.click("text=Open the case")
    page.wait_for_url(re.compile(r".*/cases/\d+"))
    case_id = int(re.search(r"/cases/(\d+)", page.url)[1])  # type: ignore[index]
    page.goto(f"{site.url}/cases/{case_id}/hashes")
    page.set_input_files("input[name=file]", str(hash_file))
    page.check("input[name=trust_once]")  # signed by the other installation's key
    page.click("button:has-text('Import')")
    assert re.search(r"Imported \d+ hashes", page.inner_text("main")), page.inner_text("main")
    assert "pdq" in page.inner_text("main")
    shot(page, "04-hash-list")

    # The sample site on the watchlist, crawled now.
    page.click("nav >> text=Sites")
    page.goto(site.url + "/sites/new")
    page.fill("#f-url", server.main_url + "/")
    page.fill("#f-name", "sample-site")
    page.check("input[name=allow_private]")
    page.fill("#f-delay", "0")
    page.fill("#f-pages", "200")
    page.click("text=Add to the watchlist")
    page.wait_for_url(re.compile(r".*/sites/\d+"))
    shot(page, "05-site")
    page.click("button:has-text('Run now')")
    page.wait_for_url(re.compile(r".*/runs/\d+"))
    # runs.js follows the run live and reloads the page when it ends.
    page.locator("#run[data-run-status=completed]").wait_for(timeout=180_000)
    hits = int(page.inner_text("[data-run-field=hits] >> nth=0"))
    assert hits > 0 and int(page.inner_text(".figure[data-run-field=pages]")) > 5
    shot(page, "06-run")
    page.click("nav >> text=Sites")
    assert "completed" in page.inner_text("main")
    shot(page, "05-sites")

    # Review: blurred previews fetched live, revealed on request, decided by keyboard.
    page.click("nav >> text=Review")
    items = int(page.inner_text("[data-figure=items]"))
    assert items > 2
    first = page.locator(".review-item").first
    image = first.locator(".preview img")
    image.scroll_into_view_if_needed()
    loaded(image)
    assert "reveal" not in (image.get_attribute("src") or "")
    sources = page.locator("img").evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")
    assert sources and all(s.startswith("/review/hits/") for s in sources), sources
    shot(page, "07-review")
    page.keyboard.press("v")
    assert "reveal=1" in (image.get_attribute("src") or "")
    loaded(image)
    page.keyboard.press("c")  # confirm the current item: it leaves the queue
    page.locator(f"[data-figure=items]:text-is('{items - 1}')").wait_for()
    assert page.locator(".review-item.current").count() == 1  # the next one is current
    boxes = page.locator(".review-item input.select")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#batch button[value=confirm]")
    page.wait_for_load_state()
    assert "confirmed" in page.inner_text("[role=status]")
    assert int(page.inner_text("[data-figure=items]")) == items - 3

    # A notice for the confirmed hits: drafted, edited, sent.
    page.goto(f"{site.url}/cases/{case_id}")
    page.select_option("#f-law", "us-take-it-down")
    page.click("button:has-text('Draft')")
    page.click("#drafted a >> nth=0")
    page.wait_for_url(re.compile(r".*/takedowns/\d+"))
    assert "Sample hosting, abuse desk" in page.inner_text("#recipient")
    missing = page.locator("#missing li").count()
    assert missing > 0
    body = page.input_value("textarea[name=body]")
    page.fill("textarea[name=body]", body + "\nOur reference: NGO-2026-17\n")
    page.click("text=Save the draft")
    assert "NGO-2026-17" in page.inner_text("#body")
    shot(page, "08-notice")
    page.click("button:has-text('Mark sent')")
    page.wait_for_load_state()
    assert "sent" in page.inner_text("#timeline")
    assert page.locator("textarea[name=body]").count() == 0  # no more edits once sent

    page.click("nav >> text=Takedowns")
    shot(page, "08-takedowns")
    page.click("nav >> text=Status")
    shot(page, "11-status")
    page.click("nav >> text=Dashboard")
    assert int(page.inner_text("[data-figure=open-notices]")) >= 1
    shot(page, "02-dashboard")

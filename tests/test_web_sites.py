"""The operators' pages and API: the watchlist (add with the address guard, edit,
schedules and where they come from, pause/resume, groups), run-now and cancel with the
one-active-run rule, a real crawl of the sample site followed live through the API, run
pages, and the status page."""

from __future__ import annotations

import html
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from conftest import CASE_PHOTOS, PHOTOS
from sqlalchemy import insert
from websupport import Web

from monitor import health
from monitor.cases import add_case
from monitor.crawls import execute_run
from monitor.db.models import apscheduler_jobs
from monitor.hashes import hash_files
from monitor.runs import create_run, finish_run, get_run, mark_started
from monitor.samplesite import SiteServer
from monitor.scheduler import acquire_lock, release_lock
from monitor.sites import add_site, get_site


def text(answer: Any) -> str:
    """A page's text with entities decoded (a message's quotes come escaped)."""
    return html.unescape(answer.text)


def csp_clean(page: str) -> None:
    """No inline styles or scripts: the CSP would refuse them."""
    assert "style=" not in page and "onclick" not in page.lower()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline script"


def operator(web: Web) -> Web:
    return web.sign_in("operator")


def new_site(web: Web, **fields: str) -> Any:
    form = {
        "url": "http://127.0.0.1:9/",
        "name": "",
        "max_pages": "50",
        "max_depth": "3",
        "crawl_delay": "0",
        "obey_robots": "1",
        **fields,
    }
    return web.post("/sites", form)


def site_id_from(answer: Any) -> int:
    assert answer.status_code == 303, answer.text[:2000]
    match = re.match(r"/sites/(\d+)\?done=", answer.headers["location"])
    assert match, answer.headers["location"]
    return int(match[1])


# -- the watchlist --------------------------------------------------------------------------------


def test_add_a_site_through_the_form_with_the_address_guard_then_edit_it(web: Web) -> None:
    operator(web)
    form = web.get("/sites/new")
    assert form.status_code == 200 and 'name="allow_private"' in form.text
    assert "Only for a test site" in form.text  # the warning next to "allow private"
    csp_clean(form.text)

    # A loopback address without "allow private": the guard's refusal, on the form, with
    # what was typed kept.
    refused = new_site(web, name="sample", schedule="every 2h")
    assert refused.status_code == 400
    page = text(refused)
    assert "refused private address" in page and "Allow private addresses" in page
    assert 'value="http://127.0.0.1:9/"' in page and 'value="sample"' in page
    assert 'value="every 2h"' in page
    assert web.get("/api/sites").json() == []

    # A bad number is said on the form too, not as a bare 422.
    bad = new_site(web, name="sample", allow_private="1", max_pages="lots")
    assert bad.status_code == 400 and "max pages must be a whole number" in text(bad)

    site_id = site_id_from(new_site(web, name="sample", allow_private="1"))
    view = get_site(web.app, site_id)
    assert view.allow_private and view.obey_robots and view.max_pages == 50
    assert view.crawl_delay == 0 and view.enabled

    listing = web.get("/sites")
    assert listing.status_code == 200
    csp_clean(listing.text)
    row = re.search(rf'<tr data-site="{site_id}">(.*?)</tr>', listing.text, re.S)
    assert row, listing.text
    assert "sample" in row[1] and "http://127.0.0.1:9/" in row[1]
    assert "(default)" in row[1] and "never run" in row[1] and "enabled" in row[1]
    api = web.api_get(f"/api/sites/{site_id}").json()
    assert api["schedule"]["source"] == "default" and api["schedule"]["text"] == "every 1d"
    assert api["start_url"] == "http://127.0.0.1:9/" and api["runs"] == []

    # The same name twice: said on the form.
    again = new_site(web, name="sample", allow_private="1")
    assert again.status_code == 400 and "exists already" in text(again)

    # Edit: a schedule of its own.
    edit_page = web.get(f"/sites/{site_id}/edit")
    assert edit_page.status_code == 200 and 'value="50"' in edit_page.text
    csp_clean(edit_page.text)
    fields = {"schedule": "every 6h", "jitter": "", "group": "", "time_budget": "",
              "max_pages": "50", "max_depth": "3", "crawl_delay": "0"}  # fmt: skip
    edited = web.post(f"/sites/{site_id}/edit", fields)
    assert edited.status_code == 303
    location = unquote(edited.headers["location"])
    assert location.startswith(f"/sites/{site_id}?done=site {site_id}: changed schedule;")
    assert "schedule every 6h (from the site)" in location
    shown = web.get(f"/sites/{site_id}")
    assert shown.status_code == 200
    csp_clean(shown.text)
    assert '<span data-field="schedule">every 6h</span>' in shown.text
    assert '<span data-field="schedule-source">site</span>' in shown.text
    assert web.api_get(f"/api/sites/{site_id}").json()["schedule"] == {
        "text": "every 6h", "source": "site", "jitter": 600, "interval_seconds": 21600.0,
    }  # fmt: skip
    # Nothing changed: said so, and nothing is audit-logged as changed.
    same = web.post(f"/sites/{site_id}/edit", fields)
    assert same.status_code == 303 and "nothing%20changed" in same.headers["location"]

    # A bad schedule: the parser's message, on the form, with the value kept.
    bad = web.post(f"/sites/{site_id}/edit", {**fields, "schedule": "sometimes"})
    assert bad.status_code == 400
    assert "a schedule is 'every N' with a unit s, m, h, d or w" in text(bad)
    assert "not 'sometimes'" in text(bad) and 'value="sometimes"' in bad.text
    assert get_site(web.app, site_id).schedule == "every 6h"
    api_bad = web.api_post(f"/api/sites/{site_id}", {"schedule": "sometimes"}, method="PATCH")
    assert api_bad.status_code == 400 and "not 'sometimes'" in api_bad.json()["detail"]

    # Through the API: back to the default schedule (null), a new page budget.
    patched = web.api_post(
        f"/api/sites/{site_id}", {"schedule": None, "max_pages": 70}, method="PATCH"
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["changed"] == ["max_pages", "schedule"]
    assert body["schedule"]["source"] == "default" and body["max_pages"] == 70
    nothing = web.api_post(f"/api/sites/{site_id}", {}, method="PATCH")
    assert nothing.status_code == 400

    # Pause and resume, from the list and through the API.
    paused = web.post(f"/sites/{site_id}/pause", {"next": "/sites"})
    assert paused.status_code == 303 and paused.headers["location"].startswith("/sites?done=")
    assert get_site(web.app, site_id).enabled is False
    assert ">paused</span>" in web.get("/sites").text
    resumed = web.api_post(f"/api/sites/{site_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["enabled"] is True
    assert get_site(web.app, site_id).enabled is True
    assert web.api_post(f"/api/sites/{site_id}/pause").json()["enabled"] is False
    assert (
        web.post(f"/sites/{site_id}/resume")
        .headers["location"]
        .startswith(f"/sites/{site_id}?done=")
    )
    assert get_site(web.app, site_id).enabled is True

    assert web.get("/sites/999999").status_code == 404
    assert web.api_get("/api/sites/999999").status_code == 404


def test_groups_their_schedules_and_the_site_list_by_group(web: Web) -> None:
    operator(web)
    app = web.app
    in_group = add_site(app, "http://a.example/", name="a", group="nightly")
    other = add_site(app, "http://b.example/", name="b")

    # Set through the form; a bad schedule is refused on the form.
    bad = web.post("/groups", {"name": "nightly", "schedule": "now and then", "jitter": ""})
    assert bad.status_code == 400 and "not 'now and then'" in text(bad)
    assert 'value="now and then"' in bad.text
    done = web.post("/groups", {"name": "nightly", "schedule": "0 3 * * *", "jitter": "60"})
    assert done.status_code == 303
    page = web.get("/groups")
    csp_clean(page.text)
    row = re.search(r'<tr data-group="nightly">(.*?)</tr>', page.text, re.S)
    assert row and "0 3 * * *" in row[1] and "60 s" in row[1]
    assert web.api_get("/api/groups/nightly").json() == {
        "name": "nightly", "schedule": "0 3 * * *", "jitter": 60, "sites": 1,
    }  # fmt: skip
    site = web.api_get(f"/api/sites/{in_group}").json()
    assert site["schedule"] == {
        "text": "0 3 * * *", "source": "group", "jitter": 60, "interval_seconds": None,
    }  # fmt: skip

    # The list filtered by group.
    filtered = web.get("/sites?group=nightly").text
    assert f'data-site="{in_group}"' in filtered and f'data-site="{other}"' not in filtered
    assert [s["id"] for s in web.api_get("/api/sites?group=nightly").json()] == [in_group]

    # The API: set, list, remove.
    put = web.api_post("/api/groups/weekly", {"schedule": "every 1w"}, method="PUT")
    assert put.status_code == 200 and put.json()["schedule"] == "every 1w"
    names = {g["name"] for g in web.api_get("/api/groups").json()}
    assert names == {"nightly", "weekly"}
    assert web.api_post("/api/groups/weekly", {"schedule": "x"}, method="PUT").status_code == 400
    assert web.api_post("/api/groups/weekly", method="DELETE").json()["removed"] is True
    assert web.api_get("/api/groups/weekly").status_code == 404
    assert web.api_post("/api/groups/weekly", method="DELETE").status_code == 404

    removed = web.post("/groups/nightly/remove")
    assert removed.status_code == 303
    site = web.api_get(f"/api/sites/{in_group}").json()
    assert site["group"] == "nightly" and site["schedule"]["source"] == "default"


# -- runs ------------------------------------------------------------------------------------------


def test_run_now_one_active_run_and_cancel(web: Web) -> None:
    operator(web)
    site_id = add_site(web.app, "http://127.0.0.1:9/", name="local", allow_private=True)

    queued = web.post(f"/sites/{site_id}/run-now")
    assert queued.status_code == 303
    match = re.match(r"/runs/(\d+)\?done=(.*)", queued.headers["location"])
    assert match, queued.headers["location"]
    run_id = int(match[1])
    # No scheduler and no broker: the message says so (as `monitor site run-now`).
    assert "no%20scheduler%20is%20running" in match[2]
    run = get_run(web.app, run_id)
    assert (run.status, run.trigger, run.site_id) == ("queued", "manual", site_id)

    page = web.get(f"/runs/{run_id}")
    assert page.status_code == 200
    csp_clean(page.text)
    assert f'data-run-id="{run_id}" data-run-status="queued"' in page.text
    assert '<script src="/static/runs.js" defer></script>' in page.text
    assert f'<a href="/runs/{run_id}" id="refresh">Refresh</a>' in page.text  # without JS
    assert f'action="/runs/{run_id}/cancel"' in page.text
    assert 'id="no-scheduler"' in page.text
    for field in ("pages", "images", "hits", "new_hits", "errors_total", "status"):
        assert f'data-run-field="{field}"' in page.text

    # A second run-now while it is queued: refused, naming the active run.
    second = web.post(f"/sites/{site_id}/run-now")
    assert second.status_code == 400
    assert f"has run {run_id} queued or running already" in text(second)
    assert f'data-run-id="{run_id}"' in second.text  # the active run is shown
    api_second = web.api_post(f"/api/sites/{site_id}/run-now")
    assert api_second.status_code == 400 and api_second.json()["run_id"] == run_id
    assert f"run {run_id}" in api_second.json()["detail"]
    listing = web.get(f"/sites/{site_id}").text
    assert f'<a href="/runs/{run_id}">Run {run_id} is queued…</a>' in listing

    # The runs list, filtered.
    assert f'data-run="{run_id}"' in web.get("/runs").text
    assert f'data-run="{run_id}"' in web.get("/runs?status=queued").text
    assert f'data-run="{run_id}"' not in web.get("/runs?status=running").text
    assert f'data-run="{run_id}"' in web.get(f"/runs?site={site_id}").text
    assert web.get("/runs?status=bogus").status_code == 400
    api_runs = web.api_get("/api/runs?status=active&site=local").json()
    assert [r["id"] for r in api_runs] == [run_id] and api_runs[0]["status"] == "queued"

    # Cancel: a queued run ends at once.
    cancelled = web.post(f"/runs/{run_id}/cancel")
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == f"/runs/{run_id}?done=run%20{run_id}%3A%20cancelled"
    assert get_run(web.app, run_id).status == "cancelled"
    after = web.get(f"/runs/{run_id}").text
    assert 'data-run-status="cancelled"' in after and "/cancel" not in after
    assert 'id="refresh"' not in after
    again = web.post(f"/runs/{run_id}/cancel")
    assert again.status_code == 400 and "is cancelled already" in text(again)

    # Run now through the API, then cancel through the API.
    answer = web.api_post(f"/api/sites/{site_id}/run-now")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["run"]["status"] == "queued" and "no scheduler" in body["message"]
    second_id = body["run"]["id"]
    stopped = web.api_post(f"/api/runs/{second_id}/cancel")
    assert stopped.status_code == 200
    assert stopped.json()["done"] == "cancelled" and stopped.json()["status"] == "cancelled"
    shown = web.api_get(f"/api/runs/{second_id}").json()
    assert shown["status"] == "cancelled" and shown["finish_reason"] == "cancelled"
    assert web.api_get("/api/runs/999999").status_code == 404
    assert web.get("/runs/999999").status_code == 404


def enrol(web: Web) -> int:
    case_id = add_case(web.app, "Test victim", email="v@example.org")
    added = hash_files(web.app, case_id, [PHOTOS / f"{name}.jpg" for name in CASE_PHOTOS])
    assert added.files == len(CASE_PHOTOS)
    return case_id


def test_a_real_crawl_started_through_the_web_and_followed_live(
    sqlite_web: Web, server: SiteServer
) -> None:
    web = operator(sqlite_web)
    enrol(web)
    site_id = site_id_from(
        new_site(web, url=server.main_url + "/", name="sample", allow_private="1", max_pages="200")
    )
    queued = web.post(f"/sites/{site_id}/run-now")
    run_id = int(re.match(r"/runs/(\d+)", queued.headers["location"])[1])  # type: ignore[index]
    seen = [web.api_get(f"/api/runs/{run_id}").json()]
    assert seen[0]["status"] == "queued" and seen[0]["pages"] == 0

    # A supervisor carries it out (as the scheduler's would) while the test polls the API
    # as the run page's script does.
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(run=execute_run(web.app, run_id)), daemon=True
    )
    worker.start()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        answer = web.api_get(f"/api/runs/{run_id}")
        assert answer.status_code == 200
        seen.append(answer.json())
        if not seen[-1]["active"]:
            break
        time.sleep(0.2)
    worker.join(timeout=60)
    final = seen[-1]
    assert final["status"] == "completed", final
    assert result["run"].status == "completed"
    pages = [s["pages"] for s in seen]
    images = [s["images"] for s in seen]
    assert pages == sorted(pages) and images == sorted(images)  # they only grow
    assert final["pages"] > pages[0] and final["images"] > images[0]
    assert final["hits"] > 0 and final["new_hits"] > 0
    assert final["finish_reason"] == "finished" and final["duration_seconds"] is not None
    assert final["errors_total"] == sum(final["errors"].values()) > 0  # the sample's traps

    page = web.get(f"/runs/{run_id}").text
    csp_clean(page)
    assert f'<span class="figure" data-run-field="pages">{final["pages"]}</span>' in page
    assert f'<span class="figure" data-run-field="hits">{final["hits"]}</span>' in page
    assert 'data-run-status="completed"' in page and 'id="refresh"' not in page
    assert 'id="run-errors"' in page and next(iter(final["errors"])) in page
    site_page = web.get(f"/sites/{site_id}").text
    assert f'<a href="/runs/{run_id}">{run_id}</a>' in site_page
    row = re.search(rf'<tr data-site="{site_id}">(.*?)</tr>', web.get("/sites").text, re.S)
    assert row and f"run {run_id}" in row[1] and ">completed<" in row[1]
    listing = web.get("/runs?status=completed").text
    assert re.search(rf'<tr data-run="{run_id}">.*?<td>{final["pages"]}</td>', listing, re.S)


def test_status_page_shows_the_scheduler_running_runs_and_failing_sites(
    sqlite_web: Web,
) -> None:
    web = operator(sqlite_web)
    app = web.app
    site_id = add_site(app, "http://127.0.0.1:9/", name="local", allow_private=True)

    page = web.get("/status")
    assert page.status_code == 200
    csp_clean(page.text)
    assert 'data-field="scheduler">not running<' in page.text
    assert '<span data-figure="running">0</span>' in page.text

    assert acquire_lock(app, "web-test:1", ttl=30)
    run_id = create_run(app, site_id, "manual")
    mark_started(app, run_id, pid=12345)
    page = web.get("/status").text
    assert 'data-field="scheduler">alive<' in page and "web-test:1" in page
    row = re.search(rf'<tr data-run="{run_id}">(.*?)</tr>', page, re.S)
    assert row and f'<a href="/sites/{site_id}">local</a>' in row[1]
    assert '<span data-figure="running">1</span>' in page
    api = web.api_get("/api/status").json()
    assert api["scheduler"]["alive"] is True
    assert [r["id"] for r in api["runs"]["running"]] == [run_id]
    # A running run's page offers to cancel it; cancelling asks its supervisor.
    assert 'data-run-status="running"' in web.get(f"/runs/{run_id}").text
    cancelling = web.post(f"/runs/{run_id}/cancel")
    assert "cancelling" in cancelling.headers["location"]
    assert get_run(app, run_id).cancel_requested
    assert "(cancelling)" in web.get(f"/runs/{run_id}").text
    finish_run(app, run_id, "cancelled")
    release_lock(app, "web-test:1")

    # Failed runs make the site failing: on the status page and in the list.
    for _ in range(app.config.health_failures):
        failed = create_run(app, site_id, "manual")
        finish_run(app, failed, "error: connection refused")
    assert health.check_sites(app)
    page = web.get("/status").text
    assert '<span data-figure="failing">1</span>' in page
    failing = re.search(r'<table id="failing">(.*?)</table>', page, re.S)
    assert failing and "local" in failing[1] and "connection refused" in failing[1]
    assert "badge failing" in web.get("/sites").text
    assert "failing" in web.get(f"/sites/{site_id}").text

    # The scheduler's next start for the site, from its job store.
    at = datetime.now(UTC) + timedelta(hours=5)
    with app.db.session() as session:
        session.execute(
            insert(apscheduler_jobs).values(
                id=f"site:{site_id}", next_run_time=at.timestamp(), job_state=b"x"
            )
        )
    assert f"{at:%Y-%m-%d %H:%M} UTC (plus jitter)" in web.get(f"/sites/{site_id}").text
    assert (
        web.api_get(f"/api/sites/{site_id}").json()["next_start"].startswith(f"{at:%Y-%m-%dT%H:%M}")
    )


def test_analysts_may_not_use_the_operators_pages(sqlite_web: Web) -> None:
    analyst = sqlite_web.sign_in("analyst")
    assert analyst.get("/sites").status_code == 403
    assert analyst.api_get("/api/sites").status_code == 403

"""The review queue in the web app, "review without harm": hits grouped by image, previews
fetched live from a real HTTP server on 127.0.0.1 (greyscale, small, blurred until
revealed, never stored, each audit-logged), decisions by form and by API, and who may.
Cheap tests on SQLite and PostgreSQL, the rest on SQLite."""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, LocalServer, observation
from PIL import Image
from sqlalchemy import select
from websupport import Web

from monitor.app import App
from monitor.cases import add_case
from monitor.db.models import AuditEvent, HashEntry, Hit, Sighting
from monitor.hashes import NewHash, store_hashes
from monitor.hits import get_hit
from monitor.matching import Match
from monitor.preview import PREVIEW_SIZE, PreviewUnavailable, make_preview
from monitor.recording import record_page
from monitor.sites import add_site

PHOTO = (PHOTOS / "astronaut.jpg").read_bytes()
OTHER = (PHOTOS / "rocket.jpg").read_bytes()
ANALYST = "analyst@ngo.example"


@dataclass
class Source:
    """A site on 127.0.0.1 serving images; ``files`` maps a path to its answer."""

    server: LocalServer
    files: dict[str, tuple[int, bytes, dict[str, str]]]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def hits_on(self, path: str) -> int:
        return self.server.requests.count(path)


@pytest.fixture
def source() -> Iterator[Source]:
    jpeg = {"Content-Type": "image/jpeg"}
    files: dict[str, tuple[int, bytes, dict[str, str]]] = {
        "/img/her.jpg": (200, PHOTO, jpeg),
        "/img/again.jpg": (200, PHOTO, jpeg),
        "/img/other.jpg": (200, OTHER, jpeg),
        "/img/gone.jpg": (404, b"not here", {"Content-Type": "text/plain"}),
        "/img/broken.jpg": (200, PHOTO[:600], jpeg),
        "/img/page.jpg": (200, b"<html><body>removed</body></html>", {"Content-Type": "text/html"}),
    }
    server = LocalServer(lambda path: files.get(path, (404, b"", {})))
    yield Source(server, files)
    server.close()


def record_hits(
    app: App,
    origin: str,
    pages: dict[str, list[tuple[str, str]]],
    *,
    case: str = "Case A",
    allow_private: bool = True,
) -> tuple[int, dict[str, int]]:
    """A case with one reference hash, and the pages' images recorded as its hits (no crawl):
    pages maps a page path to its (image path, sha256) pairs. The case id, and the hit ids by
    "page image"."""
    case_id = add_case(app, case)
    store_hashes(app, case_id, [NewHash("phash", "c2924c5532bddfc8", "her.jpg")], source="file")
    # A site on 127.0.0.1 needs allow_private; one elsewhere may still link images there.
    site = add_site(
        app,
        origin + "/" if allow_private else "http://bad.test/",
        name=f"site-{case_id}",
        allow_private=allow_private,
    )
    with app.db.session() as session:
        entry = session.scalar(select(HashEntry.id).where(HashEntry.case_id == case_id))
    assert entry is not None
    for page, images in pages.items():
        record_page(
            app,
            site_id=site,
            run_id=None,
            page_url=f"{origin}{page}",
            observations=[
                observation(sha, f"{origin}{image}", Match(entry, case_id, "phash", 4))
                for image, sha in images
            ],
        )
    with app.db.session() as session:
        rows = session.execute(
            select(Hit.id, Sighting.page_url, Sighting.image_url)
            .join(Sighting, Sighting.id == Hit.sighting_id)
            .where(Hit.case_id == case_id)
        ).all()
    strip = len(origin)
    ids = {f"{page[strip:]} {image[strip:]}": hit_id for hit_id, page, image in rows}
    return case_id, ids


SAME = "aa" * 32  # the same image on two pages
OTHER_SHA = "bb" * 32


def queue_setup(web: Web, source: Source) -> tuple[int, dict[str, int]]:
    return record_hits(
        web.app,
        source.origin,
        {
            "/p/one": [("/img/her.jpg", SAME)],
            "/p/two": [("/img/again.jpg", SAME)],
            "/p/three": [("/img/other.jpg", OTHER_SHA)],
        },
    )


def items(html: str) -> list[str]:
    return re.findall(
        r'<article class="review-item[^"]*" id="item-\d+" data-hit-ids="([\d,]+)"', html
    )


def audit_rows(app: App, action: str) -> list[AuditEvent]:
    with app.db.session() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()
        session.expunge_all()
        return list(rows)


def sharpness(image: Image.Image) -> float:
    """High-frequency energy: the mean squared difference of neighbouring pixels."""
    a = np.asarray(image, dtype=float)
    return float(np.mean(np.diff(a, axis=0) ** 2) + np.mean(np.diff(a, axis=1) ** 2))


def files_under(*roots: Path) -> dict[str, int]:
    found = {}
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in names:
                path = os.path.join(dirpath, name)
                found[path] = os.path.getsize(path)
    return found


# -- the queue ---------------------------------------------------------------------------------


def test_the_queue_groups_the_same_image_and_never_points_at_the_source(
    web: Web, source: Source
) -> None:
    case_id, ids = queue_setup(web, source)
    web.sign_in("analyst")
    page = web.get("/review")
    assert page.status_code == 200, page.text
    html = page.text
    # Two items: the same image on two pages is one, with both hits; the other image alone.
    same = sorted([ids["/p/one /img/her.jpg"], ids["/p/two /img/again.jpg"]])
    assert sorted(items(html)) == sorted(
        [",".join(map(str, same)), str(ids["/p/three /img/other.jpg"])]
    )
    for page_path in ("/p/one", "/p/two", "/p/three"):
        assert f"{source.origin}{page_path}</span>" in html  # the page URL, as text
    assert f"Case #{case_id} Case A" in html
    assert "<b>phash</b>, distance <b>4</b>" in html and "her.jpg" in html  # the hash's label
    assert "UTC" in html  # first seen
    # The preview comes from this server; the source is never an <img> (nor any src or href).
    assert f'src="/review/hits/{same[0]}/preview"' in html
    assert not re.search(r'(src|href)="https?://', html)
    assert "127.0.0.1" not in "".join(re.findall(r"<img[^>]*>", html))
    assert 'src="/static/review.js"' in html and "<script>" not in html and "style=" not in html
    assert "onclick" not in html and "<kbd>c</kbd> confirm" in html  # the keys' help line
    assert source.server.requests == []  # showing the queue fetched nothing itself
    # Listed hits are audit-logged; a filter on another status shows nothing waiting.
    listed = audit_rows(web.app, "hits.list")[-1]
    assert listed.actor == ANALYST and sorted(listed.detail["hit_ids"]) == sorted(ids.values())
    confirmed = web.get(f"/review?case_id={case_id}&status=confirmed")
    assert confirmed.status_code == 200 and items(confirmed.text) == []
    everything = web.get("/review?status=all")
    assert len(items(everything.text)) == 2
    assert web.get("/review?status=maybe").status_code == 400
    assert web.get("/review?case_id=999").status_code == 404


def test_the_hit_page_shows_its_details_and_is_audit_logged(
    sqlite_web: Web, source: Source
) -> None:
    web = sqlite_web
    case_id, ids = queue_setup(web, source)
    hit_id = ids["/p/three /img/other.jpg"]
    web.sign_in("analyst")
    html = web.get(f"/review/hits/{hit_id}").text
    assert f"#{case_id} Case A" in html and "<b>phash</b>, distance <b>4</b>" in html
    assert f"{source.origin}/p/three" in html and f"{source.origin}/img/other.jpg" in html
    assert f'src="/review/hits/{hit_id}/preview"' in html
    assert not re.search(r'(src|href)="https?://', html)
    assert f'name="hit_ids" value="{hit_id}"' in html
    revealed = web.get(f"/review/hits/{hit_id}?reveal=1").text  # the no-JS "Reveal" link
    assert f'src="/review/hits/{hit_id}/preview?reveal=1"' in revealed
    views = audit_rows(web.app, "hit.view")
    assert [(v.actor, v.object_id) for v in views] == [(ANALYST, str(hit_id))] * 2
    assert web.get("/review/hits/9999").status_code == 404
    assert source.server.requests == []


# -- previews ----------------------------------------------------------------------------------


def test_previews_are_live_greyscale_small_blurred_until_revealed_and_kept_nowhere(
    sqlite_web: Web, source: Source, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    web = sqlite_web
    _, ids = queue_setup(web, source)
    hit_id = ids["/p/one /img/her.jpg"]
    web.sign_in("analyst")
    before = files_under(tmp_path)
    system_tmp = set(os.listdir(tempfile.gettempdir()))
    caplog.set_level(logging.DEBUG)

    blurred = web.get(f"/review/hits/{hit_id}/preview")
    assert blurred.status_code == 200, blurred.text[:300]
    assert blurred.headers["content-type"].startswith("image/")
    assert "no-store" in blurred.headers["cache-control"]
    assert blurred.headers["x-content-type-options"] == "nosniff"
    assert blurred.headers["content-disposition"].startswith("inline")
    assert source.hits_on("/img/her.jpg") == 1  # fetched now, from the source

    revealed = web.get(f"/review/hits/{hit_id}/preview?reveal=1")
    assert revealed.status_code == 200 and "no-store" in revealed.headers["cache-control"]
    assert source.hits_on("/img/her.jpg") == 2  # again: nothing was kept from the first
    web.get(f"/review/hits/{hit_id}/preview")
    assert source.hits_on("/img/her.jpg") == 3

    soft, sharp = Image.open(io.BytesIO(blurred.content)), Image.open(io.BytesIO(revealed.content))
    for image in (soft, sharp):
        assert image.mode == "L"  # greyscale
        assert max(image.size) <= PREVIEW_SIZE and max(image.size) >= PREVIEW_SIZE - 1
        assert not image.info.get("exif")
    assert blurred.content != revealed.content
    assert sharpness(soft) * 20 < sharpness(sharp)  # strongly blurred
    # The revealed preview is her image (greyscale, small), not something else.
    expected = Image.open(io.BytesIO(PHOTO)).convert("L").resize(sharp.size)
    assert np.mean(np.abs(np.asarray(sharp, float) - np.asarray(expected, float))) < 8
    assert np.mean(np.abs(np.asarray(soft, float) - np.asarray(expected, float))) > 8

    # Audit-logged, naming the user; the URL is neither there nor in any log record.
    previews, reveals = audit_rows(web.app, "hit.preview"), audit_rows(web.app, "hit.reveal")
    assert [(p.actor, p.object_id, p.detail["outcome"]) for p in previews] == [
        (ANALYST, str(hit_id), "shown")
    ] * 2
    assert [(r.actor, r.object_id) for r in reveals] == [(ANALYST, str(hit_id))]
    assert all("127.0.0.1" not in str(e.detail) for e in previews + reveals)
    assert "127.0.0.1" not in caplog.text and "/img/her.jpg" not in caplog.text

    # Nothing was written: no new file, and no file holds the image's bytes or a preview's.
    after = files_under(tmp_path)
    new = set(after) - set(before)
    assert not {p for p in new if not os.path.basename(p).startswith("monitor.db")}, new
    marks = (PHOTO[20000:20064], blurred.content[-64:], revealed.content[-64:])
    for path in after:
        data = Path(path).read_bytes()
        assert not any(mark in data for mark in marks), path
    for name in set(os.listdir(tempfile.gettempdir())) - system_tmp:
        path = Path(tempfile.gettempdir()) / name
        if path.is_file():
            assert not any(mark in path.read_bytes() for mark in marks), path


def test_no_preview_says_why_and_the_review_goes_on(sqlite_web: Web, source: Source) -> None:
    web = sqlite_web
    case_id, ids = record_hits(
        web.app,
        source.origin,
        {
            "/p/gone": [("/img/gone.jpg", "c1" * 32)],
            "/p/broken": [("/img/broken.jpg", "c2" * 32)],
            "/p/page": [("/img/page.jpg", "c3" * 32)],
        },
    )
    web.sign_in("analyst")
    cases = {
        "/p/gone /img/gone.jpg": (404, "gone at the source: 404"),
        "/p/broken /img/broken.jpg": (502, "corrupt image"),
        "/p/page /img/page.jpg": (502, "not an image at the source"),
    }
    for key, (status, message) in cases.items():
        answer = web.get(f"/review/hits/{ids[key]}/preview")
        assert answer.status_code == status, (key, answer.status_code)
        assert message in answer.headers["x-preview-error"], answer.headers["x-preview-error"]
        assert "no-store" in answer.headers["cache-control"]
        placeholder = Image.open(io.BytesIO(answer.content))  # a neutral image, for the <img>
        assert answer.headers["content-type"] == "image/png" and placeholder.mode == "L"
        outcome = audit_rows(web.app, "hit.preview")[-1].detail["outcome"]
        assert message in outcome
    # The page still renders, and a decision can be made.
    assert len(items(web.get(f"/review?case_id={case_id}").text)) == 3
    gone = ids["/p/gone /img/gone.jpg"]
    done = web.post("/review/decide", {"action": "reject", "hit_ids": str(gone), "reason": "gone"})
    assert done.status_code == 303
    with pytest.raises(PreviewUnavailable, match="not an image"):
        make_preview(b"GIF89a nonsense", max_pixels=10_000)


def test_the_address_guard_and_the_sites_allow_private(sqlite_web: Web, source: Source) -> None:
    """A site added without allow_private: its image URL on 127.0.0.1 is refused, and the
    server is never asked; the size cap refuses too large an answer."""
    web = sqlite_web
    _, ids = record_hits(
        web.app, source.origin, {"/p/x": [("/img/her.jpg", "d1" * 32)]}, allow_private=False
    )
    web.sign_in("analyst")
    answer = web.get(f"/review/hits/{ids['/p/x /img/her.jpg']}/preview?reveal=1")
    assert answer.status_code == 502
    assert "refused by the address guard" in answer.headers["x-preview-error"]
    assert source.server.requests == []
    assert audit_rows(web.app, "hit.reveal")[-1].detail["outcome"].startswith("refused")


def test_too_large_an_image_is_not_fetched_whole(sqlite_env, source: Source) -> None:  # type: ignore[no-untyped-def]
    app = sqlite_env.reconfigure(MONITOR_MAX_IMAGE_BYTES="10000").app
    web = Web(app)
    try:
        _, ids = record_hits(app, source.origin, {"/p/big": [("/img/her.jpg", "e1" * 32)]})
        web.sign_in("analyst")
        answer = web.get(f"/review/hits/{ids['/p/big /img/her.jpg']}/preview")
        assert answer.status_code == 502
        assert "larger than the image size cap" in answer.headers["x-preview-error"]
    finally:
        web.client.close()


# -- decisions ---------------------------------------------------------------------------------


def test_decisions_by_form_a_batch_for_the_same_image_and_a_rejection_with_reason(
    web: Web, source: Source
) -> None:
    case_id, ids = queue_setup(web, source)
    web.sign_in("analyst")
    same = [ids["/p/one /img/her.jpg"], ids["/p/two /img/again.jpg"]]
    other = ids["/p/three /img/other.jpg"]
    # The item's Confirm: both hits of the same image, back to the queue with a note.
    answer = web.post(
        "/review/decide",
        {
            "action": "confirm",
            "hit_ids": [str(i) for i in same],
            "next": f"/review?case_id={case_id}&done=old",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/review?case_id={case_id}&done=2%20hits%20confirmed"
    for hit_id in same:
        view = get_hit(web.app, hit_id)
        assert (view.status, view.decided_by) == ("confirmed", ANALYST)
    assert items(web.get("/review").text) == [str(other)]  # left the queue
    # Reject with a reason, through the batch form's comma-joined item value.
    answer = web.post(
        "/review/decide",
        {"action": "reject", "hit_ids": f"{other}", "reason": "  a different person "},
    )
    assert answer.status_code == 303 and "1%20hit%20rejected" in answer.headers["location"]
    view = get_hit(web.app, other)
    assert (view.status, view.decided_by, view.reason) == (
        "rejected",
        ANALYST,
        "a different person",
    )
    assert items(web.get("/review").text) == []
    assert "Nothing waiting for review" in web.get("/review").text
    # Undo by a batch of two items (one value per item, ids joined by commas).
    answer = web.post(
        "/review/decide", {"action": "confirm", "hit_ids": [f"{same[0]},{same[1]}", str(other)]}
    )
    assert "1%20hit%20confirmed" in answer.headers["location"]
    assert "2%20already%20confirmed" in answer.headers["location"]
    assert get_hit(web.app, other).status == "confirmed"
    # Nowhere else to go than a review page; nothing selected or a wrong action: 400.
    answer = web.post(
        "/review/decide",
        {"action": "confirm", "hit_ids": str(other), "next": "https://evil.example/"},
    )
    assert answer.headers["location"].startswith("/review?done=")
    assert web.post("/review/decide", {"action": "confirm"}).status_code == 400
    assert web.post("/review/decide", {"action": "delete", "hit_ids": "1"}).status_code == 400
    assert web.post("/review/decide", {"action": "confirm", "hit_ids": "9999"}).status_code == 404
    # Without the CSRF token, nothing is decided.
    forged = web.client.post("/review/decide", data={"action": "reject", "hit_ids": str(other)})
    assert forged.status_code == 403 and get_hit(web.app, other).status == "confirmed"
    decisions = audit_rows(web.app, "hits.confirm") + audit_rows(web.app, "hits.reject")
    assert {d.actor for d in decisions} == {ANALYST}


def test_the_api_lists_shows_confirms_and_rejects(web: Web, source: Source) -> None:
    case_id, ids = queue_setup(web, source)
    web.sign_in("analyst")
    listed = web.api_get(f"/api/hits?case_id={case_id}&status=new")
    assert listed.status_code == 200
    assert sorted(h["id"] for h in listed.json()) == sorted(ids.values())
    one = ids["/p/one /img/her.jpg"]
    shown = web.api_get(f"/api/hits/{one}").json()
    assert shown["page_url"] == f"{source.origin}/p/one" and shown["distance"] == 4
    assert audit_rows(web.app, "hit.view")[-1].object_id == str(one)
    assert web.api_get("/api/hits/9999").status_code == 404
    assert web.api_get("/api/hits?status=maybe").status_code == 400

    confirmed = web.api_post("/api/review/confirm", {"hit_ids": [one]})
    assert confirmed.status_code == 200 and confirmed.json()["confirmed"] == [one]
    assert confirmed.json()["note"] == "1 hit confirmed"
    two = ids["/p/two /img/again.jpg"]
    rejected = web.api_post("/api/review/reject", {"hit_ids": [two], "reason": "not her"})
    assert rejected.status_code == 200 and rejected.json()["rejected"] == [two]
    view = get_hit(web.app, two)
    assert (view.status, view.reason, view.decided_by) == ("rejected", "not her", ANALYST)
    assert web.api_post("/api/review/confirm", {"hit_ids": []}).status_code == 422
    assert web.api_post("/api/review/reject", {"hit_ids": [9999]}).status_code == 404
    left = web.api_get("/api/hits?status=new").json()
    assert [h["id"] for h in left] == [ids["/p/three /img/other.jpg"]]
    # Without the CSRF header: refused.
    assert web.client.post("/api/review/confirm", json={"hit_ids": [two]}).status_code == 403


def test_only_analysts_review(sqlite_web: Web, source: Source) -> None:
    web = sqlite_web
    _, ids = queue_setup(web, source)
    hit_id = ids["/p/one /img/her.jpg"]
    operator = web.new_browser().sign_in("operator")
    for path in ("/review", f"/review/hits/{hit_id}", f"/review/hits/{hit_id}/preview",
                 f"/review/hits/{hit_id}/preview?reveal=1", "/api/hits", f"/api/hits/{hit_id}"):  # fmt: skip
        assert operator.get(path).status_code == 403, path
    assert (
        operator.post("/review/decide", {"action": "confirm", "hit_ids": str(hit_id)}).status_code
        == 403
    )
    assert operator.api_post("/api/review/confirm", {"hit_ids": [hit_id]}).status_code == 403
    assert source.server.requests == []  # a refused preview fetches nothing
    assert get_hit(web.app, hit_id).status == "new"
    assert audit_rows(web.app, "hit.preview") == []
    anonymous = web.new_browser()
    assert anonymous.get(f"/review/hits/{hit_id}/preview").status_code == 303
    assert anonymous.get("/api/hits").status_code == 401


def test_a_video_hits_page_shows_the_matched_stretch_and_its_frame_blurred(
    sqlite_web: Web,
) -> None:
    """A video hit: its page says which stretch of the copy is which of hers; its preview
    is the copy's frame where the match starts, fetched live and previewed like an image
    (greyscale, small, blurred until revealed)."""
    from monitor.preview import make_video_preview
    from monitor.recording import Observation
    from monitor.video import Frame, VideoHashes
    from monitor.video.detection import VideoHit
    from monitor.video.synth import camera_video

    copy = camera_video(
        [PHOTOS / "astronaut.jpg", PHOTOS / "coffee.jpg"],
        seconds=4,
        fps=10,
        size=(320, 180),
        seed=1,
        shot_seconds=2,
    )
    source = LocalServer(lambda path: (200, copy, {"Content-Type": "video/mp4"}))
    try:
        web = sqlite_web
        origin = f"http://127.0.0.1:{source.port}"
        case_id = add_case(web.app, "Case V")
        store_hashes(web.app, case_id, [NewHash("md5", "ab" * 16, "her video")], source="file")
        with web.app.db.session() as session:
            entry = session.scalar(select(HashEntry.id))
        site = add_site(web.app, origin + "/", allow_private=True)
        video = VideoHashes(
            "cd" * 32, "ab" * 16, 1000, 320, 180, "mp4", 4.0, (Frame(0, "0f" * 32, 90),)
        )
        match = VideoHit(entry, case_id, "vpdq", 7, "mirrored", 2.5, 64, 61, 123)
        record_page(
            web.app,
            site_id=site,
            run_id=None,
            page_url=origin + "/watch",
            observations=[
                Observation(origin + "/v.mp4", None, "video/mp4", None, None, video, (match,))
            ],
        )
        with web.app.db.session() as session:
            hit_id = session.scalar(select(Hit.id))
        web.sign_in("analyst")
        html = web.get(f"/review/hits/{hit_id}").text
        assert "0:02-1:04 of the copy is 1:01-2:03 of the case&#39;s video" in html, html
        api = web.get(f"/api/hits/{hit_id}").json()
        assert (api["kind"], api["view"], api["query_start"], api["ref_end"]) == (
            "video",
            "mirrored",
            2.5,
            123,
        )
        blurred = web.get(f"/review/hits/{hit_id}/preview")
        assert blurred.headers["content-type"] == "image/jpeg", blurred.text[:200]
        picture = Image.open(io.BytesIO(blurred.content))
        assert picture.mode == "L" and max(picture.size) <= PREVIEW_SIZE
        revealed = web.get(f"/review/hits/{hit_id}/preview?reveal=1").content
        # The frame at 2.5 s (the second shot), not the first one.
        at_start = make_video_preview(copy, 2.5, max_pixels=10**8, reveal=True).data
        at_zero = make_video_preview(copy, 0.0, max_pixels=10**8, reveal=True).data
        assert revealed == at_start != at_zero
        assert sharpness(Image.open(io.BytesIO(revealed))) > 2 * sharpness(picture)
        assert source.requests == ["/v.mp4", "/v.mp4"]  # live, each time: nothing kept
    finally:
        source.close()


def test_a_video_preview_refuses_what_it_cannot_show() -> None:
    from monitor.preview import make_video_preview
    from monitor.video.synth import camera_video

    short = camera_video([PHOTOS / "coffee.jpg"], seconds=1, fps=10, size=(160, 90), seed=1)
    for data, at, why in (
        (b"\x00\x00\x00\x18ftypisom" + bytes(500), 0.0, "a corrupt video at the source"),
        (short, 5.0, "the video at the source is shorter than the matched stretch"),
        (short, 0.0, "too large a video (more pixels than allowed)"),
    ):
        with pytest.raises(PreviewUnavailable, match=re.escape(why)):
            make_video_preview(data, at, max_pixels=100 if "large" in why else 10**8)

"""Tracking notices until removal: a real HTTP server on 127.0.0.1 serves the noticed
images, then removes one, replaces another, re-posts one behind a redirect; re-checks
decide by hash; a notice still online is escalated to the next recipient; statistics.
On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import LOOPBACK, PHOTOS, Env, LocalServer
from sqlalchemy import select

from monitor.alerts import preview_alert, queue_alerts
from monitor.cases import add_case
from monitor.db.models import AlertedHit, HashEntry, Hit, Notice, utcnow
from monitor.hashes import hash_files
from monitor.hashing import hash_image_bytes
from monitor.matching import Match
from monitor.recording import Observation, record_page
from monitor.review import confirm_hits
from monitor.sites import add_site
from monitor.takedowns import draft_notices, get_notice, mark_sent
from monitor.tracking import mark_removed, recheck, removal_stats, timeline

ASTRONAUT = (PHOTOS / "astronaut.jpg").read_bytes()
COFFEE = (PHOTOS / "coffee.jpg").read_bytes()
CHELSEA = (PHOTOS / "chelsea.jpg").read_bytes()


class Images:
    """path -> (status, body, location); change ``routes`` between re-checks."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, str | None]] = {}

        def serve(path: str) -> tuple[int, bytes, dict[str, str]]:
            status, body, location = self.routes.get(path, (404, b"", None))
            headers = {"Content-Type": "image/jpeg", **({"Location": location} if location else {})}
            return status, body, headers

        self.local = LocalServer(serve)
        self.base = f"http://localhost:{self.local.port}"


@pytest.fixture
def images() -> Iterator[Images]:
    served = Images()
    yield served
    served.local.close()


def fake_rdap(url: str) -> dict:  # type: ignore[type-arg]
    """RDAP answers for localhost: its network's abuse desk, then its registrar."""
    if url.endswith("/ipv4.json"):
        return {"services": [[["127.0.0.0/8"], ["http://rdap.invalid/"]]]}
    if url.endswith("/dns.json"):
        return {"services": [[["localhost"], ["http://rdap.invalid/"]]]}
    card = lambda name, email: ["vcard", [["fn", {}, "text", name], ["email", {}, "text", email]]]  # noqa: E731
    if "/ip/" in url:
        return {
            "name": "LOOPNET",
            "entities": [
                {"roles": ["abuse"], "vcardArray": card("Net abuse", "abuse@net.example")}
            ],
        }
    if "/domain/" in url:
        return {
            "entities": [
                {
                    "roles": ["registrar"],
                    "vcardArray": card("Loop Registrar", "abuse@registrar.example"),
                }
            ]
        }
    return {}


def first_entry(app) -> int:  # type: ignore[no-untyped-def]
    with app.db.session() as session:
        return session.scalar(select(HashEntry.id).order_by(HashEntry.id))


def setup_case(env: Env, images: Images) -> tuple[int, list[int]]:
    env.reconfigure(MONITOR_ALLOWED_ADDRESSES=LOOPBACK, MONITOR_ESCALATE_DAYS="7")
    app = env.app
    case_id = add_case(app, "T", email="t@example.org", alerts="immediate")
    hash_files(app, case_id, [PHOTOS / "astronaut.jpg", PHOTOS / "coffee.jpg"])
    with app.db.session() as session:
        entries = {
            label: entry_id
            for entry_id, label in session.execute(select(HashEntry.id, HashEntry.label_enc)).all()
        }
    entry = next(iter(entries.values()))
    site = add_site(app, images.base + "/", allow_private=True)
    images.routes = {"/a.jpg": (200, ASTRONAUT, None), "/c.jpg": (200, COFFEE, None)}
    record_page(
        app,
        site_id=site,
        run_id=None,
        page_url=images.base + "/gallery",
        observations=[
            Observation(
                image_url=images.base + path,
                final_url=None,
                content_type="image/jpeg",
                etag=None,
                last_modified=None,
                hashes=hash_image_bytes(data, max_pixels=64_000_000),
                matches=(Match(entry, case_id, "pdq", 0),),
            )
            for path, data in (("/a.jpg", ASTRONAUT), ("/c.jpg", COFFEE))
        ],
    )
    with app.db.session() as session:
        hits = list(session.scalars(select(Hit.id).order_by(Hit.id)))
    confirm_hits(app, hits)
    return case_id, hits


def test_removal_reappearance_and_statistics(env: Env, images: Images) -> None:
    case_id, hits = setup_case(env, images)
    app = env.app
    (notice_id,) = draft_notices(
        app, case_id, "generic", fetch=fake_rdap, resolve=lambda h: ["127.0.0.1"]
    )
    assert get_notice(app, notice_id).recipient["email"] == "abuse@net.example"
    t0 = utcnow()
    mark_sent(app, notice_id, t0)
    first = preview_alert(app, case_id, t0)
    assert first is not None and first.hit_ids == tuple(hits) and len(first.event_ids) == 1
    assert (
        "a removal request to the website's hosting provider under the site's own rules"
        in first.body
    )
    assert queue_alerts(app, t0).queued  # she was told about these hits and the notice

    # Both images still served: online, nothing changes.
    (check,) = recheck(app, t0 + timedelta(hours=1))
    assert check.outcome == "online" and set(check.verdicts.values()) == {"same"}
    assert f"notice {notice_id}: online" in env.cli("takedowns", "recheck", check=True).stdout

    # One gone (404), the other replaced by another photo: removed.
    images.routes = {"/c.jpg": (200, CHELSEA, None)}
    (check,) = recheck(app, t0 + timedelta(hours=30))
    assert check.outcome == "removed"
    assert sorted(check.verdicts.values()) == ["different", "gone"]
    assert get_notice(app, notice_id).status == "removed"
    # Good news is news: an update of its own, though no new copy was found; told once.
    update = preview_alert(app, case_id, t0 + timedelta(hours=30))
    assert update is not None and update.hit_ids == () and len(update.event_ids) == 1
    assert "We have found no new copies since our last update." in update.body
    assert "Removed on" in update.body and "localhost" not in update.body
    assert len(queue_alerts(app, t0 + timedelta(hours=30)).queued) == 1
    assert preview_alert(app, case_id, t0 + timedelta(hours=31)) is None

    # Re-posted behind a redirect (same bytes elsewhere): reappeared, and her next alert
    # announces these hits again.
    images.routes = {"/a.jpg": (302, b"", "/moved/a.jpg"), "/moved/a.jpg": (200, ASTRONAUT, None)}
    (check,) = recheck(app, t0 + timedelta(hours=40))
    assert check.outcome == "reappeared" and check.verdicts[images.base + "/a.jpg"] == "same"
    with app.db.session() as session:
        assert session.scalar(select(AlertedHit.hit_id).where(AlertedHit.hit_id.in_(hits))) is None
    # Her next alert re-announces them and says what was done (never the site's name).
    draft = preview_alert(app, case_id, t0 + timedelta(hours=41))
    assert draft is not None and draft.hit_ids == tuple(hits) and draft.event_ids == ()
    assert "the 1 sent before is being followed" in draft.body and "localhost" not in draft.body
    statuses = [status for _at, status, _detail, _actor in timeline(app, notice_id)]
    assert statuses == ["draft", "sent", "removed", "reappeared"]

    stats = removal_stats(app)
    (host,) = stats["host"]
    assert (host["sent"], host["removed"], host["median_hours"]) == (1, 1, 30.0)
    assert stats["recipient kind"][0]["name"] == "host"

    # Removed again; then the same bytes turn up on another page: reappeared, the new hit
    # confirmed (the same bytes were confirmed before) and waiting for her next alert.
    images.routes = {}
    assert recheck(app)[0].outcome == "removed"  # now: the crawl below records after it
    with app.db.session() as session:
        site = session.scalar(select(Hit.sighting_id))  # any: only to find the site
        from monitor.db.models import Sighting

        site_id = session.get(Sighting, site).site_id
    record_page(
        app,
        site_id=site_id,
        run_id=None,
        page_url=images.base + "/another-page",
        observations=[
            Observation(
                image_url="http://mirror.test/a.jpg",
                final_url=None,
                content_type="image/jpeg",
                etag=None,
                last_modified=None,
                hashes=hash_image_bytes(ASTRONAUT, max_pixels=64_000_000),
                matches=(Match(first_entry(app), case_id, "pdq", 0),),
            )
        ],
    )
    (check,) = recheck(app)
    assert check.outcome == "reappeared"
    with app.db.session() as session:
        again = session.scalars(select(Hit).where(Hit.id.not_in(hits))).one()
        assert (again.status, again.decided_by) == ("confirmed", "auto:reappeared")
    assert "found again at " + images.base + "/another-page" in timeline(app, notice_id)[-1][2]


def test_still_online_re_notice_then_escalate_to_the_next_recipient(
    env: Env, images: Images
) -> None:
    case_id, _hits = setup_case(env, images)
    app = env.app

    def ignored(notice_id: int, sent: datetime, checked: datetime) -> int:
        mark_sent(app, notice_id, sent)
        assert recheck(app, sent + timedelta(days=3))[-1].escalated_to is None  # not yet due
        (check,) = [r for r in recheck(app, checked) if r.notice_id == notice_id]
        assert check.outcome == "online" and check.escalated_to is not None
        assert get_notice(app, notice_id).status == "escalated"
        with app.db.session() as session:
            assert session.get(Notice, check.escalated_to).follows_id == notice_id
        return check.escalated_to

    (first,) = draft_notices(
        app, case_id, "eu-dsa", fetch=fake_rdap, resolve=lambda h: ["127.0.0.1"]
    )
    assert get_notice(app, first).recipient["email"] == "abuse@net.example"
    t0 = utcnow()
    second = ignored(first, t0, t0 + timedelta(days=8))  # a re-notice to the same network
    assert get_notice(app, second).recipient["email"] == "abuse@net.example"
    assert "re-notice to" in timeline(app, first)[-1][2]
    third = ignored(second, t0 + timedelta(days=8), t0 + timedelta(days=16))  # then onwards
    escalated = get_notice(app, third)
    assert escalated.recipient["email"] == "abuse@registrar.example"  # network → registrar
    assert escalated.status == "draft" and escalated.hit_ids == get_notice(app, first).hit_ids
    assert "escalated to Loop Registrar" in timeline(app, second)[-1][2]


def test_delisting_is_re_sent_to_its_engine_and_not_rechecked_once_delisted(
    env: Env, images: Images
) -> None:
    case_id, hits = setup_case(env, images)
    app = env.app
    bing, google = draft_notices(
        app, case_id, "delisting", fetch=fake_rdap, resolve=lambda h: ["127.0.0.1"]
    )
    assert get_notice(app, google).host == "google.com" and get_notice(app, google).hit_ids == hits
    t0 = utcnow()
    mark_sent(app, bing, t0)
    mark_sent(app, google, t0)
    mark_removed(app, google, "de-listed", t0 + timedelta(days=1))

    # Google de-listed them: the pages still online do not make it a reappearance, and
    # it is not re-checked. Bing ignored it: a re-notice to Bing, again and again, never
    # to the site's hosting network or registrar.
    (check,) = recheck(app, t0 + timedelta(days=8))
    assert (check.notice_id, check.outcome) == (bing, "online") and check.escalated_to
    again = get_notice(app, check.escalated_to)
    assert again.host == "bing.com" and again.recipient["kind"] == "search-engine"
    mark_sent(app, again.id, t0 + timedelta(days=8))
    (check,) = recheck(app, t0 + timedelta(days=16))
    third = get_notice(app, check.escalated_to)  # type: ignore[arg-type]
    assert third.recipient == again.recipient and "re-notice to" in timeline(app, again.id)[-1][2]
    assert get_notice(app, google).status == "removed"

    # The images gone from the site: the de-listing request is moot, marked removed.
    images.routes = {}
    mark_sent(app, third.id, t0 + timedelta(days=16))
    outcomes = {r.notice_id: r.outcome for r in recheck(app, t0 + timedelta(days=17))}
    assert outcomes == {third.id: "removed"}


def test_fetch_image_connects_to_the_address_the_guard_checked(
    sqlite_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: a name that resolves to an allowed address for the check and to
    another one for the connection. The fetch (re-checks, the review's previews) connects
    to the checked address and asks DNS once."""
    import socket

    from monitor.tracking import fetch_image

    photo = (PHOTOS / "coffee.jpg").read_bytes()
    server = LocalServer(lambda path: (200, photo, {"Content-Type": "image/jpeg"}))
    env = sqlite_env.reconfigure(MONITOR_ALLOWED_ADDRESSES=LOOPBACK)
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        asked.append(host)
        # First the allowed address, then one the guard refuses (127.0.0.2 is not in
        # the allowed 127.0.0.1/32; nothing listens there).
        address = "127.0.0.1" if len(asked) == 1 else "127.0.0.2"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a proxy would be ignored too
    try:
        status, body = fetch_image(env.app, f"http://rebind.test:{server.port}/x.jpg")
    finally:
        server.close()
    assert (status, body) == (200, photo)
    assert asked == ["rebind.test"]  # the connection did not look the name up again
    assert server.requests == ["/x.jpg"]


def test_a_noticed_video_is_still_online_re_encoded_and_removed_when_replaced(
    sqlite_env: Env, images: Images, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A video hit's notice: the same video served re-encoded is still online (its frames
    match in order); another video, or a page, where it was: removed."""
    from monitor.video.detection import VideoHit
    from monitor.video.hashing import hash_video
    from monitor.video.synth import camera_video, transform

    env = sqlite_env
    env.reconfigure(MONITOR_ALLOWED_ADDRESSES=LOOPBACK)
    app = env.app
    photos = [PHOTOS / f"{n}.jpg" for n in ("astronaut", "coffee", "chelsea")]
    hers = camera_video(photos, seconds=9, fps=10, size=(192, 108), seed=2, shot_seconds=3)
    other = camera_video(
        [PHOTOS / f"{n}.jpg" for n in ("hubble", "brick", "grass")],
        seconds=9,
        fps=10,
        size=(192, 108),
        seed=5,
        shot_seconds=3,
    )
    case_id = add_case(app, "T", email="t@example.org")
    (tmp_path / "her.mp4").write_bytes(hers)
    assert hash_files(app, case_id, [tmp_path / "her.mp4"]).videos == 1
    with app.db.session() as session:
        entry = session.scalar(select(HashEntry.id).where(HashEntry.algorithm == "vpdq"))
    site = add_site(app, images.base + "/", allow_private=True)
    copy = transform(hers, bitrate=150_000)
    images.routes = {"/v.mp4": (200, copy, None)}
    record_page(
        app,
        site_id=site,
        run_id=None,
        page_url=images.base + "/clips",
        observations=[
            Observation(
                image_url=images.base + "/v.mp4",
                final_url=None,
                content_type="video/mp4",
                etag=None,
                last_modified=None,
                hashes=hash_video(copy, max_pixels=64_000_000),
                matches=(VideoHit(entry, case_id, "vpdq", 3, "original", 0.0, 8.0, 0.0, 8.0),),
            )
        ],
    )
    with app.db.session() as session:
        hit_ids = list(session.scalars(select(Hit.id)))
    confirm_hits(app, hit_ids)
    (notice_id,) = draft_notices(
        app, case_id, "generic", fetch=fake_rdap, resolve=lambda h: ["127.0.0.1"]
    )
    t0 = utcnow()
    mark_sent(app, notice_id, t0)
    # Re-encoded at the source (other bytes, same video): still online.
    images.routes = {"/v.mp4": (200, transform(hers, bitrate=90_000, size=(160, 90)), None)}
    (check,) = recheck(app, t0 + timedelta(hours=1))
    assert check.outcome == "online" and set(check.verdicts.values()) == {"same"}
    # Another video where it was: removed.
    images.routes = {"/v.mp4": (200, other, None)}
    (check,) = recheck(app, t0 + timedelta(hours=30))
    assert check.outcome == "removed" and set(check.verdicts.values()) == {"different"}

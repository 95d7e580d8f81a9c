"""Tracking notices until removal: re-checks by hash, escalation, reappearance, statistics.

A notice's status moves draft → sent → (acknowledged) → removed, or → escalated when
the images are still online ``MONITOR_ESCALATE_DAYS`` after it was sent (a new draft to
the next recipient discovery found, or to the same one again when there is none), and
removed → reappeared when a re-check finds an image back. Every change is an event of
the notice's timeline (``notice_events``).

``recheck`` fetches each noticed image URL, in memory, through the same address guard
as the crawler, and decides by hash: a 404/410, or an answer that is not the same image
(another image, a "removed" page), counts as removed; the same image, also after
redirects, does not; an error decides nothing. A reappearance makes the case's alert
announce those hits again.

A recipient's own word counts too: ``mark_removed`` records a removal (or a search
engine's de-listing) it confirmed. A de-listing request is re-checked only until it is
removed: the images going from the site makes it moot, but the engine's removal of the
results cannot be checked from here (the system never queries search engines), so a
de-listed result whose page is still online is not a reappearance.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import socket
import statistics
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor import audit
from monitor.app import App
from monitor.db.models import (
    AlertedHit,
    Hit,
    Image,
    ImageHash,
    Notice,
    NoticeEvent,
    NoticeHit,
    Sighting,
    utcnow,
)
from monitor.errors import InvalidInput, NotFound
from monitor.hashing import ALGORITHMS, ImageRejected, hash_image_bytes
from monitor.hashing.pipeline import ORIGINAL
from monitor.netguard import AddressRefused, check_resolved, check_url, parse_networks
from monitor.video import VPDQ, VideoRejected, frames_from_json
from monitor.video.hashing import hash_video
from monitor.video.matching import VideoIndex

TRACKED = ("sent", "acknowledged", "removed", "reappeared")
MAX_REDIRECTS = 5


def add_event(
    session: Session,
    notice: Notice,
    status: str,
    actor: str,
    at: datetime,
    detail: str | None = None,
) -> None:
    notice.status = status
    session.add(
        NoticeEvent(
            notice_id=notice.id,
            at=at,
            status=status,
            detail=(detail or None) and detail[:500],
            actor=actor,
        )
    )


def acknowledge(app: App, notice_id: int, now: datetime | None = None) -> None:
    with app.db.session() as session:
        notice = require_notice(session, notice_id)
        if notice.status not in ("sent", "escalated"):
            raise InvalidInput(
                f"notice {notice_id} is {notice.status}: only a sent notice is acknowledged"
            )
        add_event(session, notice, "acknowledged", app.actor, now or utcnow())
        audit.record(session, app.actor, "takedowns.acknowledge", "notice", notice_id)


def mark_removed(
    app: App, notice_id: int, detail: str | None = None, now: datetime | None = None
) -> None:
    """Record that the recipient removed the content (or de-listed it), on its word."""
    with app.db.session() as session:
        notice = require_notice(session, notice_id)
        if notice.status not in ("sent", "acknowledged", "escalated", "reappeared"):
            raise InvalidInput(
                f"notice {notice_id} is {notice.status}: only a sent notice is marked removed"
            )
        notice.removed_at = now or utcnow()
        add_event(session, notice, "removed", app.actor, notice.removed_at, detail or "on its word")
        audit.record(session, app.actor, "takedowns.mark_removed", "notice", notice_id)


def timeline(app: App, notice_id: int) -> list[tuple[datetime, str, str | None, str]]:
    with app.db.session() as session:
        require_notice(session, notice_id)
        audit.record(session, app.actor, "takedowns.timeline", "notice", notice_id)
        return [
            (e.at, e.status, e.detail, e.actor)
            for e in session.scalars(
                select(NoticeEvent)
                .where(NoticeEvent.notice_id == notice_id)
                .order_by(NoticeEvent.id)
            )
        ]


# -- re-checks -----------------------------------------------------------------------------------

Fetched = tuple[int, bytes]  # (HTTP status, body)
Fetch = Callable[[str], Fetched]


@dataclass
class CheckResult:
    notice_id: int
    outcome: str  # removed | online | reappeared | unknown
    verdicts: dict[str, str] = field(default_factory=dict)  # image URL -> gone|different|same|error
    escalated_to: int | None = None  # the new draft's id


def recheck(app: App, now: datetime | None = None, fetch: Fetch | None = None) -> list[CheckResult]:
    """Re-check every tracked notice; escalate those still online after the delay."""
    from monitor.takedowns import DELISTING, escalate  # takedowns drafts; tracking decides when

    now = now or utcnow()
    fetch = fetch or (lambda url: fetch_image(app, url))
    results = []
    with app.db.session() as session:
        notices = [
            n
            for n in session.scalars(
                select(Notice).where(Notice.status.in_(TRACKED)).order_by(Notice.id)
            )
            if not (n.law in DELISTING and n.status == "removed")
        ]
        targets = {n.id: _targets(session, n.id) for n in notices}
    for notice_id, urls in targets.items():
        result = CheckResult(notice_id, "unknown")
        for url, (sha256, hashes) in urls.items():
            result.verdicts[url] = _verdict(app, fetch, url, sha256, hashes)
        verdicts = set(result.verdicts.values())
        with app.db.session() as session:
            notice = require_notice(session, notice_id)
            notice.checked_at = now
            detail = "; ".join(f"{v}: {u}" for u, v in result.verdicts.items())
            elsewhere = _found_elsewhere(session, notice) if notice.status == "removed" else []
            if elsewhere:
                result.outcome = "reappeared"
                for hit in elsewhere:
                    if hit.status == "new":  # the same bytes as a confirmed hit: confirmed
                        hit.status, hit.decided_by, hit.decided_at = (
                            "confirmed",
                            "auto:reappeared",
                            now,
                        )
                pages = sorted(
                    {
                        s.page_url
                        for s in session.scalars(
                            select(Sighting).where(
                                Sighting.id.in_([h.sighting_id for h in elsewhere])
                            )
                        )
                    }
                )
                add_event(
                    session,
                    notice,
                    "reappeared",
                    "recheck",
                    now,
                    "found again at " + ", ".join(pages),
                )
                result.verdicts.update({page: "same" for page in pages})
            elif "same" in verdicts:
                if notice.status == "removed":
                    result.outcome = "reappeared"
                    add_event(session, notice, "reappeared", "recheck", now, detail)
                    hit_ids = select(NoticeHit.hit_id).where(NoticeHit.notice_id == notice_id)
                    session.execute(delete(AlertedHit).where(AlertedHit.hit_id.in_(hit_ids)))
                else:
                    result.outcome = "online"
            elif verdicts and verdicts <= {"gone", "different"}:
                if notice.status != "removed":
                    notice.removed_at = now
                    add_event(session, notice, "removed", "recheck", now, detail)
                result.outcome = "removed"
            due = notice.sent_at is not None and now - notice.sent_at >= timedelta(
                days=app.config.escalate_days
            )
            escalate_now = (
                result.outcome == "online" and notice.status in ("sent", "acknowledged") and due
            )
            audit.record(
                session, "recheck", "takedowns.recheck", "notice", notice_id, outcome=result.outcome
            )
        if escalate_now:
            result.escalated_to = escalate(app, notice_id, now)
        results.append(result)
    return results


def _found_elsewhere(session: Session, notice: Notice) -> list[Hit]:
    """Hits recorded since the notice's images were removed on the same bytes (another
    URL, another page, another site), which no notice covers yet."""
    images = (
        select(Sighting.image_id)
        .join(Hit, Hit.sighting_id == Sighting.id)
        .join(NoticeHit, NoticeHit.hit_id == Hit.id)
        .where(NoticeHit.notice_id == notice.id)
    )
    covered = select(NoticeHit.hit_id)
    return list(
        session.scalars(
            select(Hit)
            .join(Sighting, Sighting.id == Hit.sighting_id)
            .where(
                Hit.case_id == notice.case_id,
                Sighting.image_id.in_(images),
                Hit.first_seen > notice.removed_at,
                Hit.status != "rejected",
                Hit.id.not_in(covered),
            )
        )
    )


def _targets(session: Session, notice_id: int) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """The notice's image URLs -> (sha256 of the image seen, its plain hashes)."""
    rows = session.execute(
        select(Sighting.final_url, Sighting.image_url, Image.id, Image.sha256, Image.frames)
        .join(Hit, Hit.sighting_id == Sighting.id)
        .join(NoticeHit, NoticeHit.hit_id == Hit.id)
        .join(Image, Image.id == Sighting.image_id)
        .where(NoticeHit.notice_id == notice_id)
    ).all()
    out = {}
    for final_url, image_url, image_id, sha256, frames in rows:
        if frames:  # a video: its frames, to recognise it re-encoded
            out[final_url or image_url] = (sha256, [(VPDQ, json.dumps(frames))])
            continue
        hashes = [
            (h.algorithm, h.value)
            for h in session.scalars(
                select(ImageHash).where(ImageHash.image_id == image_id, ImageHash.view == ORIGINAL)
            )
        ]
        out[final_url or image_url] = (sha256, hashes)
    return out


def _verdict(app: App, fetch: Fetch, url: str, sha256: str, hashes: list[tuple[str, str]]) -> str:
    try:
        status, body = fetch(url)
    except (OSError, AddressRefused, ValueError):
        return "error"
    if status in (404, 410):
        return "gone"
    if status != 200:
        return "error"
    if hashlib.sha256(body).hexdigest() == sha256:
        return "same"
    if hashes and hashes[0][0] == VPDQ:
        return _video_verdict(app, body, hashes[0][1])
    try:
        seen = hash_image_bytes(body, max_pixels=app.config.max_image_pixels)
    except ImageRejected:
        return "different"  # a page or a placeholder where the image was
    for value in seen.hashes:
        for algorithm, reference in hashes:
            if algorithm == value.algorithm:
                kind = ALGORITHMS[algorithm]
                if kind.distance(value.value, reference) <= kind.default_threshold:
                    return "same"
    return "different"


def _video_verdict(app: App, body: bytes, frames_json: str) -> str:
    """ "same" when the video now at the URL is still the one seen (its frames match in
    order, as a crawl decides), "different" otherwise (a page, a placeholder, another video)."""
    try:
        now = hash_video(body, max_pixels=app.config.max_image_pixels, fast=True)
    except VideoRejected:
        return "different"
    index = VideoIndex()
    index.add(0, 0, frames_from_json(json.loads(frames_json)))
    return "same" if index.match(now.frames) else "different"


def fetch_image(app: App, url: str, *, allow_private: bool = False) -> Fetched:
    """GET ``url`` into memory (never to disk), through the crawler's address guard at
    every redirect, within the size cap and the download timeout. ``allow_private``: as
    for a site added with private addresses allowed (the guard still refuses other
    schemes than http(s)). The connection goes to the address the guard checked, not to
    whatever a second DNS lookup would say (a name that resolves to a public address for
    the check and to a private one for the connection gets nowhere), and never through a
    proxy from the environment."""
    allowed = parse_networks(app.config.allowed_addresses)
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, allow_private=allow_private, allowed=allowed)
        host = urlsplit(url).hostname or ""
        addresses = list(
            dict.fromkeys(
                info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            )
        )
        check_resolved(host, addresses, allow_private=allow_private, allowed=allowed)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            _NoRedirect,
            _PinnedHTTP(addresses[0]),
            _PinnedHTTPS(addresses[0]),
        )
        request = urllib.request.Request(url, headers={"User-Agent": app.config.user_agent})
        try:
            with opener.open(request, timeout=app.config.download_timeout) as response:
                body = response.read(app.config.max_image_bytes + 1)
                if len(body) > app.config.max_image_bytes:
                    raise ValueError("larger than the image size cap")
                return response.status, body
        except urllib.error.HTTPError as exc:
            if exc.code in (301, 302, 303, 307, 308) and exc.headers.get("Location"):
                url = urljoin(url, exc.headers["Location"])
                continue
            return exc.code, b""
    raise ValueError("too many redirects")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # fetch_image follows redirects itself, checking each address


class _PinnedConnection(http.client.HTTPConnection):
    """Connects to ``address`` (checked by the guard) whatever the URL's host resolves to
    now; the Host header still names the host."""

    def __init__(self, *args: Any, address: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection(
            (self.address, self.port), self.timeout, self.source_address
        )


class _PinnedTLSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, address: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection(
            (self.address, self.port), self.timeout, self.source_address
        )
        # The certificate is checked against the host's name, as for any other connection.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTP(urllib.request.HTTPHandler):
    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(functools.partial(_PinnedConnection, address=self.address), req)


class _PinnedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(
            functools.partial(_PinnedTLSConnection, address=self.address),
            req,
            context=self._context,  # type: ignore[attr-defined]
        )


# -- statistics -----------------------------------------------------------------------------------


def removal_stats(app: App) -> dict[str, list[dict[str, Any]]]:
    """Time from sending to removal, per host and per recipient kind: notices sent,
    removed, and the median hours."""
    with app.db.session() as session:
        notices = session.scalars(select(Notice).where(Notice.sent_at.is_not(None))).all()
        audit.record(session, app.actor, "takedowns.stats", "notice", None)
        by: dict[str, dict[str, list[Notice]]] = {
            "host": defaultdict(list),
            "recipient kind": defaultdict(list),
        }
        for n in notices:
            by["host"][n.host].append(n)
            by["recipient kind"][n.recipient.get("kind", "?")].append(n)
        out: dict[str, list[dict[str, Any]]] = {}
        for key, groups in by.items():
            out[key] = []
            for name, group in sorted(groups.items()):
                hours = [
                    (n.removed_at - n.sent_at).total_seconds() / 3600
                    for n in group
                    if n.removed_at is not None and n.sent_at is not None
                ]
                out[key].append(
                    {
                        "name": name,
                        "sent": len(group),
                        "removed": len(hours),
                        "median_hours": round(statistics.median(hours), 1) if hours else None,
                    }
                )
        return out


def require_notice(session: Session, notice_id: int) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"no notice with id {notice_id}")
    return notice

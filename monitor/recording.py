"""What a crawl reads and writes: references to match, known images, sightings and hits.

The crawl calls these from one writer thread; each page is one transaction, so
a hit is durable as soon as its page is recorded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from monitor.app import App
from monitor.db.models import Case, HashEntry, Hit, Image, ImageHash, Rejection, Sighting, utcnow
from monitor.hashing import (
    DEFAULT_ALGORITHMS,
    HashValue,
    ImageHashes,
    current_versions,
)
from monitor.hashing.pipeline import ORIGINAL
from monitor.hashing.rule import QueryHash, ViewMatch
from monitor.matching import Match
from monitor.video import VideoHashes, frames_from_json, frames_to_json
from monitor.video.detection import VideoHit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    """One image (or video) found on one page, hashed, with what it matched."""

    image_url: str
    final_url: str | None
    content_type: str | None
    etag: str | None
    last_modified: str | None
    hashes: ImageHashes | VideoHashes
    matches: tuple[ViewMatch | Match | VideoHit, ...]


_SEEN = select(Image.id, Image.views_version).where(Image.sha256 == bindparam("sha256"))


def known_image(app: App, sha256: str, views_version: int | None = None) -> ImageHashes | None:
    """The stored hashes of bytes seen before, so they need not be decoded again.

    With ``views_version``, only if the decision rule of that version made the
    stored views (they are returned in ``views``); None otherwise, so that the
    image is hashed again.
    """
    # Most crawled images are new: a miss costs one Core query, no ORM session.
    with app.db.engine.connect() as conn:
        seen = conn.execute(_SEEN, {"sha256": sha256}).first()
    if seen is None or (views_version is not None and seen.views_version != views_version):
        return None
    with app.db.session() as session:
        image = session.get(Image, seen.id)
        if image is None:  # deleted meanwhile
            return None
        current = current_versions()
        rows = [
            r
            for r in session.scalars(
                select(ImageHash).where(ImageHash.image_id == image.id).order_by(ImageHash.id)
            )
            if r.rules_version == current.get(r.algorithm)
        ]
        originals = [r for r in rows if r.view == ORIGINAL]
        if not set(DEFAULT_ALGORITHMS) <= {r.algorithm for r in originals}:
            return None  # hashed by older rules (or not by every algorithm): hash it again
        views: tuple[QueryHash, ...] = ()
        if views_version is not None:
            views = tuple(
                QueryHash(HashValue(r.algorithm, r.value, r.quality), r.view) for r in rows
            )
        return ImageHashes(
            sha256=image.sha256,
            size=image.size,
            width=image.width,
            height=image.height,
            format=image.format,
            hashes=tuple(HashValue(r.algorithm, r.value, r.quality) for r in originals),
            views=views,
            views_version=views_version,
        )


def known_video(app: App, sha256: str) -> VideoHashes | None:
    """The stored frames of video bytes seen before, so they need not be decoded again."""
    with app.db.engine.connect() as conn:
        row = conn.execute(
            select(Image).where(Image.sha256 == sha256, Image.kind == "video")
        ).first()
    if row is None or row.frames is None or row.md5 is None:
        return None
    try:
        frames = frames_from_json(row.frames)
    except ValueError:
        return None
    return VideoHashes(
        sha256=row.sha256,
        md5=row.md5,
        size=row.size,
        width=row.width,
        height=row.height,
        format=row.format,
        duration=row.duration,
        frames=frames,
    )


def _insert(conn: Connection) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def sighting_key(page_url: str, image_url: str, sha256: str) -> str:
    return hashlib.sha256(f"{page_url}\n{image_url}\n{sha256}".encode()).hexdigest()


def record_page(
    app: App,
    *,
    site_id: int,
    run_id: int | None,
    page_url: str,
    observations: Sequence[Observation],
) -> tuple[int, int]:
    """Store the sightings of one page and their hits. Returns (hits, new hits).

    One transaction, and a few statements per page whatever its number of images
    (each an executemany or an ``IN``): per image and per hit, building and running
    a statement cost more than the database's own work (py-spy during
    benchmarks/crawl.py: 60 % fewer samples in recording than one statement per row)."""
    if not observations:
        return 0, 0
    now = utcnow()
    with app.db.session() as session:
        # Core statements on the session's connection: the ORM's bulk-insert machinery
        # costs more than the database itself here (one page, many images, their views).
        conn = session.connection()
        image_ids = _image_ids(
            conn, [o.hashes for o in observations if isinstance(o.hashes, ImageHashes)], now
        )
        image_ids |= _video_ids(
            conn, [o.hashes for o in observations if isinstance(o.hashes, VideoHashes)], now
        )
        sighting_ids = _sighting_ids(conn, site_id, run_id, page_url, observations, image_ids, now)
        images = [image_ids[obs.hashes.sha256] for obs in observations]
        return _hits(conn, observations, sighting_ids, images, run_id, now)


def _video_ids(conn: Connection, videos: Sequence[VideoHashes], now: datetime) -> dict[str, int]:
    """Insert the videos not yet known, with their digests and frames; sha256 -> id."""
    if not videos:
        return {}
    by_sha = {v.sha256: v for v in videos}
    conn.execute(
        _insert(conn)(Image).on_conflict_do_nothing(index_elements=["sha256"]),
        [
            dict(
                sha256=v.sha256,
                size=v.size,
                width=v.width,
                height=v.height,
                format=v.format[:16],
                first_seen=now,
                kind="video",
                md5=v.md5,
                duration=v.duration,
                frames=frames_to_json(v.frames),
            )
            for v in by_sha.values()
        ],
    )
    return dict(
        conn.execute(select(Image.sha256, Image.id).where(Image.sha256.in_(list(by_sha)))).all()
    )


def _image_ids(conn: Connection, images: Sequence[ImageHashes], now: datetime) -> dict[str, int]:
    """Insert the images not yet known and their hashes; sha256 -> image id."""
    if not images:
        return {}
    insert = _insert(conn)
    by_sha: dict[str, ImageHashes] = {}
    for hashes in images:
        by_sha.setdefault(hashes.sha256, hashes)
    conn.execute(
        insert(Image).on_conflict_do_nothing(index_elements=["sha256"]),
        [
            dict(
                sha256=h.sha256,
                size=h.size,
                width=h.width,
                height=h.height,
                format=h.format,
                first_seen=now,
                views_version=h.views_version,
            )
            for h in by_sha.values()
        ],
    )
    stored = conn.execute(
        select(Image.sha256, Image.id, Image.views_version).where(Image.sha256.in_(list(by_sha)))
    ).all()
    ids = {row.sha256: row.id for row in stored}
    for row in stored:
        hashes = by_sha[row.sha256]
        if hashes.views and row.views_version != hashes.views_version:
            # Views of another rule version: replaced by these, whole.
            conn.execute(
                ImageHash.__table__.delete().where(
                    ImageHash.image_id == row.id, ImageHash.view != ORIGINAL
                )
            )
            conn.execute(
                Image.__table__.update()
                .where(Image.id == row.id)
                .values(views_version=hashes.views_version)
            )
    current = current_versions()
    rows = [
        dict(
            image_id=ids[sha],
            algorithm=view.value.algorithm,
            view=view.view,
            value=view.value.value,
            quality=view.value.quality,
            rules_version=current[view.value.algorithm],
        )
        for sha, hashes in by_sha.items()
        for view in _distinct(
            hashes.views or tuple(QueryHash(value, ORIGINAL) for value in hashes.hashes)
        )
    ]
    if rows:
        statement = insert(ImageHash)
        # A hash made by older rules is replaced by the one made now.
        statement = statement.on_conflict_do_update(
            index_elements=["image_id", "algorithm", "view"],
            set_={
                "value": statement.excluded.value,
                "quality": statement.excluded.quality,
                "rules_version": statement.excluded.rules_version,
            },
            where=ImageHash.rules_version != statement.excluded.rules_version,
        )
        conn.execute(statement, rows)
    return ids


def _distinct(views: Sequence[QueryHash]) -> list[QueryHash]:
    """One hash per (algorithm, view): the first, should a rule name two views alike."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for view in views:
        key = (view.value.algorithm, view.view)
        if key not in seen:
            seen.add(key)
            kept.append(view)
    return kept


_LATEST = ("final_url", "content_type", "etag", "last_modified", "last_seen", "last_run_id")


def _sighting_ids(
    conn: Connection,
    site_id: int,
    run_id: int | None,
    page_url: str,
    observations: Sequence[Observation],
    image_ids: dict[str, int],
    now: datetime,
) -> list[int]:
    """Insert or refresh the page's sightings; their ids, in the order of ``observations``."""
    keys = [sighting_key(page_url, obs.image_url, obs.hashes.sha256) for obs in observations]
    statement = _insert(conn)(Sighting)
    statement = statement.on_conflict_do_update(
        index_elements=["key"], set_={name: statement.excluded[name] for name in _LATEST}
    )
    conn.execute(
        statement,
        [
            dict(
                key=key,
                site_id=site_id,
                image_id=image_ids[obs.hashes.sha256],
                page_url=page_url,
                image_url=obs.image_url,
                first_seen=now,
                final_url=obs.final_url,
                content_type=obs.content_type,
                etag=obs.etag,
                last_modified=obs.last_modified,
                last_seen=now,
                last_run_id=run_id,
            )
            for key, obs in zip(keys, observations, strict=True)
        ],
    )
    ids = dict(conn.execute(select(Sighting.key, Sighting.id).where(Sighting.key.in_(keys))).all())
    return [ids[key] for key in keys]


def _hits(
    conn: Connection,
    observations: Sequence[Observation],
    sighting_ids: Sequence[int],
    image_ids: Sequence[int],
    run_id: int | None,
    now: datetime,
) -> tuple[int, int]:
    """Insert or refresh the hits of the page's sightings: (hits, new hits). The unique
    constraint (sighting, hash entry) forbids duplicates. An image an analyst rejected
    for an entry raises no hit for it; a new hit on an exact copy of a case's file is
    confirmed at once where the case asks for it."""
    rows = [
        dict(
            sighting_id=sighting_id,
            hash_entry_id=match.entry_id,
            case_id=match.case_id,
            algorithm=match.algorithm,
            status="new",
            first_seen=now,
            last_seen=now,
            last_run_id=run_id,
            distance=match.distance,
            view=getattr(match, "query_view", ORIGINAL),
            query_start=getattr(match, "query_start", None),
            query_end=getattr(match, "query_end", None),
            ref_start=getattr(match, "ref_start", None),
            ref_end=getattr(match, "ref_end", None),
            decided_by=None,
            decided_at=None,
            _image=(image_id, obs.hashes.sha256),
        )
        for obs, sighting_id, image_id in zip(observations, sighting_ids, image_ids, strict=True)
        for match in obs.matches
    ]
    if rows:
        rejected = {
            (image_id, entry_id)
            for image_id, entry_id in conn.execute(
                select(Rejection.image_id, Rejection.hash_entry_id).where(
                    Rejection.image_id.in_(sorted({r["_image"][0] for r in rows}))
                )
            )
        }
        rows = [r for r in rows if (r["_image"][0], r["hash_entry_id"]) not in rejected]
    if not rows:
        return 0, 0
    known = {
        (sighting_id, entry_id)
        for sighting_id, entry_id in conn.execute(
            select(Hit.sighting_id, Hit.hash_entry_id).where(
                Hit.sighting_id.in_(sorted({row["sighting_id"] for row in rows}))
            )
        )
    }
    new = [r for r in rows if (r["sighting_id"], r["hash_entry_id"]) not in known]
    if new:
        _auto_confirm(conn, new, now)
    for row in rows:
        del row["_image"]
    statement = _insert(conn)(Hit)
    statement = statement.on_conflict_do_update(
        index_elements=["sighting_id", "hash_entry_id"],
        set_={
            name: statement.excluded[name]
            for name in (
                "last_seen",
                "last_run_id",
                "distance",
                "view",
                "query_start",
                "query_end",
                "ref_start",
                "ref_end",
            )
        },
    )
    conn.execute(statement, rows)
    return len(rows), len(new)


#: Who ``Hit.decided_by`` names for hits confirmed because they are exact copies.
AUTO_EXACT = "auto:exact"


def _auto_confirm(conn: Connection, new: list[dict[str, Any]], now: datetime) -> None:
    """Mark as confirmed the new hits whose image is byte for byte the file their entry
    was made from, in cases that confirm exact copies without review."""
    exact = dict(
        conn.execute(
            select(HashEntry.id, HashEntry.sha256)
            .join(Case, Case.id == HashEntry.case_id)
            .where(
                HashEntry.id.in_(sorted({r["hash_entry_id"] for r in new})),
                HashEntry.sha256.is_not(None),
                Case.auto_confirm_exact.is_(True),
            )
        ).all()
    )
    for row in new:
        if exact.get(row["hash_entry_id"]) == row["_image"][1]:
            row.update(status="confirmed", decided_by=AUTO_EXACT, decided_at=now)

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

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from monitor.app import App
from monitor.db.models import Hit, Image, ImageHash, Sighting, utcnow
from monitor.hashing import (
    DEFAULT_ALGORITHMS,
    HashValue,
    ImageHashes,
    current_versions,
)
from monitor.hashing.pipeline import ORIGINAL
from monitor.hashing.rule import QueryHash, ViewMatch
from monitor.matching import Match

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    """One image found on one page, hashed, with what it matched."""

    image_url: str
    final_url: str | None
    content_type: str | None
    etag: str | None
    last_modified: str | None
    hashes: ImageHashes
    matches: tuple[ViewMatch | Match, ...]


def known_image(app: App, sha256: str, views_version: int | None = None) -> ImageHashes | None:
    """The stored hashes of bytes seen before, so they need not be decoded again.

    With ``views_version``, only if the decision rule of that version made the
    stored views (they are returned in ``views``); None otherwise, so that the
    image is hashed again.
    """
    with app.db.session() as session:
        image = session.scalar(select(Image).where(Image.sha256 == sha256))
        if image is None:
            return None
        if views_version is not None and image.views_version != views_version:
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
    """Store the sightings of one page and their hits. Returns (hits, new hits)."""
    now = utcnow()
    hits = new_hits = 0
    with app.db.session() as session:
        # Core statements on the session's connection: the ORM's bulk-insert machinery
        # costs more than the database itself here (one page, many images, their views).
        conn = session.connection()
        for obs in observations:
            image_id = _image_id(conn, obs.hashes, now)
            sighting_id = _sighting_id(conn, site_id, run_id, page_url, obs, image_id, now)
            for match in obs.matches:
                hits += 1
                new_hits += _hit(conn, sighting_id, match, run_id, now)
    return hits, new_hits


def _image_id(conn: Connection, hashes: ImageHashes, now: datetime) -> int:
    insert = _insert(conn)
    conn.execute(
        insert(Image)
        .values(
            sha256=hashes.sha256,
            size=hashes.size,
            width=hashes.width,
            height=hashes.height,
            format=hashes.format,
            first_seen=now,
            views_version=hashes.views_version,
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    image = conn.execute(
        select(Image.id, Image.views_version).where(Image.sha256 == hashes.sha256)
    ).one()
    image_id = image.id
    current = current_versions()
    views = hashes.views or tuple(QueryHash(value, ORIGINAL) for value in hashes.hashes)
    if hashes.views and image.views_version != hashes.views_version:
        # Views of another rule version: replaced by these, whole.
        conn.execute(
            ImageHash.__table__.delete().where(
                ImageHash.image_id == image_id, ImageHash.view != ORIGINAL
            )
        )
        conn.execute(
            Image.__table__.update()
            .where(Image.id == image_id)
            .values(views_version=hashes.views_version)
        )
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
    rows = [
        dict(
            image_id=image_id,
            algorithm=view.value.algorithm,
            view=view.view,
            value=view.value.value,
            quality=view.value.quality,
            rules_version=current[view.value.algorithm],
        )
        for view in _distinct(views)
    ]
    if rows:
        conn.execute(statement, rows)
    return image_id


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


def _sighting_id(
    conn: Connection,
    site_id: int,
    run_id: int | None,
    page_url: str,
    obs: Observation,
    image_id: int,
    now: datetime,
) -> int:
    key = sighting_key(page_url, obs.image_url, obs.hashes.sha256)
    latest: dict[str, Any] = dict(
        final_url=obs.final_url,
        content_type=obs.content_type,
        etag=obs.etag,
        last_modified=obs.last_modified,
        last_seen=now,
        last_run_id=run_id,
    )
    statement = _insert(conn)(Sighting).values(
        key=key,
        site_id=site_id,
        image_id=image_id,
        page_url=page_url,
        image_url=obs.image_url,
        first_seen=now,
        **latest,
    )
    conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_=latest))
    sighting_id = conn.scalar(select(Sighting.id).where(Sighting.key == key))
    assert sighting_id is not None
    return sighting_id


def _hit(
    conn: Connection,
    sighting_id: int,
    match: ViewMatch | Match,
    run_id: int | None,
    now: datetime,
) -> int:
    """Insert or refresh one hit; 1 if it is new. The unique constraint forbids duplicates."""
    existed = conn.scalar(
        select(Hit.id).where(Hit.sighting_id == sighting_id, Hit.hash_entry_id == match.entry_id)
    )
    latest = dict(
        last_seen=now,
        last_run_id=run_id,
        distance=match.distance,
        view=getattr(match, "query_view", ORIGINAL),
    )
    statement = _insert(conn)(Hit).values(
        sighting_id=sighting_id,
        hash_entry_id=match.entry_id,
        case_id=match.case_id,
        algorithm=match.algorithm,
        status="new",
        first_seen=now,
        **latest,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["sighting_id", "hash_entry_id"], set_=latest
        )
    )
    return 0 if existed else 1

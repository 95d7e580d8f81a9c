"""Incremental recrawls: what the last crawl of a site saw, so the next one asks only
for what changed.

Pages: their validators (ETag, Last-Modified), image URLs and in-scope links
(``page_states``); the next crawl sends a conditional request (If-None-Match,
If-Modified-Since), and a page answered 304 Not Modified — or named by a sitemap whose
``lastmod`` is older than its last fetch — is not fetched and parsed again: its image
list and links are reused. Images: the validators and sha256 of their last sighting on
the site; a 304 reuses the stored hashes of those bytes. Bytes whose sha256 is known are
never decoded again either (``monitor.recording.known_image``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from monitor.app import App
from monitor.db.models import Image, PageState, Sighting, utcnow


@dataclass(frozen=True)
class SeenPage:
    url: str
    etag: str | None
    last_modified: str | None
    image_urls: tuple[str, ...]
    links: tuple[str, ...]
    fetched_at: datetime
    #: The page's videos: (url, kind) pairs, kind "file", "hls" or "dash".
    videos: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SeenImage:
    etag: str | None
    last_modified: str | None
    sha256: str
    final_url: str | None


def _key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def load_pages(app: App, site_id: int) -> dict[str, SeenPage]:
    with app.db.session() as session:
        return {
            p.url: SeenPage(
                p.url,
                p.etag,
                p.last_modified,
                tuple(p.image_urls),
                tuple(p.links),
                p.fetched_at,
                tuple((url, kind) for url, kind in p.videos or ()),
            )
            for p in session.scalars(select(PageState).where(PageState.site_id == site_id))
        }


def save_page(app: App, site_id: int, page: SeenPage) -> None:
    with app.db.session() as session:
        row = session.scalar(
            select(PageState).where(
                PageState.site_id == site_id, PageState.url_key == _key(page.url)
            )
        )
        if row is None:
            row = PageState(site_id=site_id, url_key=_key(page.url), url=page.url)
            session.add(row)
        row.etag, row.last_modified = page.etag, page.last_modified
        row.image_urls, row.links = list(page.image_urls), list(page.links)
        row.videos = [list(video) for video in page.videos] or None
        row.fetched_at = page.fetched_at or utcnow()


def load_images(app: App, site_id: int) -> dict[str, SeenImage]:
    """Each image URL's latest sighting on the site that carried a validator."""
    out: dict[str, SeenImage] = {}
    with app.db.session() as session:
        rows = session.execute(
            select(
                Sighting.image_url,
                Sighting.etag,
                Sighting.last_modified,
                Sighting.final_url,
                Image.sha256,
            )
            .join(Image, Image.id == Sighting.image_id)
            .where(
                Sighting.site_id == site_id,
                (Sighting.etag.is_not(None)) | (Sighting.last_modified.is_not(None)),
            )
            .order_by(Sighting.last_seen)
        )
        for url, etag, last_modified, final_url, sha256 in rows:
            out[url] = SeenImage(etag, last_modified, sha256, final_url)  # the latest wins
    return out


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers

"""What flows through the pipelines: one item per crawled page."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.hashing import ImageHashes
from monitor.incremental import SeenPage
from monitor.video import VideoHashes


@dataclass(frozen=True)
class ImageResult:
    """A downloaded image after hashing; its bytes are already gone."""

    url: str
    final_url: str
    content_type: str | None
    etag: str | None
    last_modified: str | None
    hashes: ImageHashes


@dataclass(frozen=True)
class VideoResult:
    """A fetched video after hashing: its frames' hashes and digests, no bytes left."""

    url: str
    final_url: str
    content_type: str | None
    etag: str | None
    last_modified: str | None
    hashes: VideoHashes


@dataclass
class PageItem:
    page_url: str
    image_urls: list[str]
    referer: str | None = None  # sent with image requests (hotlink protection)
    results: list[ImageResult] = field(default_factory=list)
    #: The page's videos, (url, kind) with kind "file", "hls" or "dash", and their results.
    videos: list[tuple[str, str]] = field(default_factory=list)
    video_results: list[VideoResult] = field(default_factory=list)


@dataclass(frozen=True)
class PageStateItem:
    """What a page looked like, kept for the next crawl's conditional request."""

    page: SeenPage

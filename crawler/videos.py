"""Videos: fetched into memory (a long one in part), hashed frame by frame, bytes dropped.

``VideoHashPipeline`` is a ``MediaPipeline`` like ``ImageHashPipeline``: it keeps
Scrapy's per-run de-duplication (each video URL fetched once per crawl) and stores
nothing. How a video is fetched, at most MONITOR_MAX_VIDEO_BYTES of it:

- a file (``<video src>``, a link to an .mp4...): asked with ``Range: bytes=0-(cap-1)``.
  A server that honours ranges answers 206; when the file is longer than that (its
  ``Content-Range`` says so), its last bytes are asked too (an MP4 written without
  "fast start" keeps its index, the moov box, at the end) and the two parts are hashed
  as one sparse file: the frames of the start are. A server that ignores ranges sends
  the whole file: up to the cap; past it the download is cancelled (``too_large``).
- HLS and DASH (``.m3u8``, ``.mpd``): the playlist, then (for an HLS master playlist)
  the variant at most 720 p high, then its init segment and media segments in order
  through the engine (each request passes the address guard, politeness, robots),
  until the cap. Encrypted or DRM-protected streams are not fetched (``video_drm``).

The bytes are then hashed in a hashing worker process, like images (or on the crawl's
CPU thread without workers; ``monitor.video.hashing``); bytes seen before (by sha256)
reuse their stored frames. Nothing is written to disk: the bytes reach a worker through
a pipe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response

from crawler import playlists
from crawler.errors import ImageSkipped
from crawler.items import PageItem, VideoResult
from crawler.pipelines import InMemoryMediaPipeline, header
from crawler.runtime import Runtime, runtime
from monitor.hashing.workers import HASH_TIMEOUT, crawl_video_hashes
from monitor.incremental import conditional_headers
from monitor.recording import known_video
from monitor.video import VideoHashes, VideoRejected
from monitor.video.hashing import SparseBytes

logger = logging.getLogger(__name__)

#: Playlists and manifests larger than this are refused.
MAX_PLAYLIST_BYTES = 2 * 1024 * 1024
#: Of a file longer than the cap, its end is fetched too: this share of the cap, at most
#: TAIL_MAX (an MP4's index is some kilobytes per minute).
TAIL_SHARE = 8
TAIL_MAX = 8 * 1024 * 1024
#: The tallest HLS/DASH variant chosen: more pixels would not hash better.
MAX_HEIGHT = 720

_CONTENT_RANGE = re.compile(rb"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def content_range(response: Response) -> tuple[int, int, int | None] | None:
    """(first, last, total or None) of a 206 response's Content-Range, None if unreadable."""
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range") or b"")
    if match is None:
        return None
    total = None if match[3] == b"*" else int(match[3])
    return int(match[1]), int(match[2]), total


class VideoHashPipeline(InMemoryMediaPipeline):
    what = "video"

    def __init__(self, crawler: Crawler, rt: Runtime) -> None:
        super().__init__(crawler=crawler)
        self.rt = rt
        self.stats = crawler.stats
        config = rt.app.config
        self.cap = config.max_video_bytes
        self.tail = min(self.cap // TAIL_SHARE, TAIL_MAX)
        self.max_pixels = config.max_image_pixels
        self.seconds = config.video_seconds

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> VideoHashPipeline:
        return cls(crawler, runtime(crawler))

    # -- requests ---------------------------------------------------------------------
    def get_media_requests(self, item: Any, info: Any) -> list[Request]:
        if not isinstance(item, PageItem) or not item.videos or self.cap <= 0:
            return []
        headers = {"Referer": item.referer or item.page_url}
        seen_before = getattr(info.spider, "seen_images", {})
        requests = []
        for url, kind in item.videos:
            if kind == "file":
                request = self._request(url, kind, self.cap, headers)
                request.headers["Range"] = f"bytes=0-{self.cap - 1}"
            else:
                request = self._request(url, kind, MAX_PLAYLIST_BYTES, headers)
            seen = seen_before.get(url)
            if seen is not None:  # seen on the last crawl: fetched again only if it changed
                request.meta["monitor_seen"] = seen
                for name, value in conditional_headers(seen.etag, seen.last_modified).items():
                    request.headers[name] = value
            requests.append(request)
        return requests

    def _request(self, url: str, kind: str, maxsize: int, headers: dict[str, Any]) -> Request:
        meta: dict[str, Any] = {
            "allow_offsite": True,  # a CDN's videos of an allowed page are wanted
            "download_maxsize": max(1, maxsize),
            "monitor_video": kind,
            "handle_httpstatus_all": True,
        }
        slot = getattr(self.crawler.spider, "download_slot", None)
        if slot:
            meta["download_slot"] = slot  # counts against the site's politeness
        return Request(url, meta=meta, headers=dict(headers), dont_filter=True)

    def media_to_download(self, request: Request, info: Any, *, item: Any = None) -> None:
        return None

    async def _fetch(self, request: Request) -> Response:
        assert self.crawler.engine is not None
        return await self.crawler.engine.download_async(request)

    # -- downloads --------------------------------------------------------------------
    async def media_downloaded(  # type: ignore[override]
        self, response: Response, request: Request, info: Any, *, item: Any = None
    ) -> VideoResult:
        kind = request.meta.get("monitor_video", "file")
        seen = request.meta.get("monitor_seen")
        if response.status == 304 and seen is not None:
            known = await self.rt.read(known_video, seen.sha256)
            if known is not None:  # unchanged (a stream: its playlist is): as seen
                self.stats.inc_value("monitor/videos/not_modified")
                self.stats.inc_value("monitor/videos/ok")
                return VideoResult(
                    url=request.url,
                    final_url=seen.final_url or request.url,
                    content_type=None,
                    etag=seen.etag,
                    last_modified=seen.last_modified,
                    hashes=known,
                )
            # Not known after all (deleted meanwhile): fetched again, whole.
            response = await self._fetch(
                request.replace(
                    headers={k: v for k, v in request.headers.items()
                             if k not in (b"If-None-Match", b"If-Modified-Since")},
                )
            )  # fmt: skip
        if kind == "file":
            data, partial = await self._file(response, request)
        else:
            data, partial = await self._stream(response, request, kind)
        size = len(data) if isinstance(data, bytes) else data.held
        self.stats.inc_value("monitor/videos/bytes", size)
        sha256 = _sha256(data)
        hashes = await self.rt.read(known_video, sha256)
        if hashes is None:
            hashes = await self._hash(data)
        else:
            self.stats.inc_value("monitor/videos/known")
        if partial and not hashes.partial:
            hashes = dataclasses.replace(hashes, partial=True)
        self.stats.inc_value("monitor/videos/ok")
        self.stats.inc_value("monitor/videos/frames", len(hashes.frames))
        if partial:
            self.stats.inc_value("monitor/videos/partial")
        return VideoResult(
            url=request.url,
            final_url=response.url,
            content_type=header(response, "Content-Type"),
            etag=header(response, "ETag"),
            last_modified=header(response, "Last-Modified"),
            hashes=hashes,
        )

    async def _hash(self, data: bytes | SparseBytes) -> VideoHashes:
        """Decoded and hashed in a hashing worker, like images (a decoder that crashes on
        hostile bytes takes a worker with it, not the crawl), or on the CPU thread when
        there are none (MONITOR_HASH_WORKERS=0)."""
        payload = data if isinstance(data, bytes) else (data.total, data.parts)
        try:
            if self.rt.hashing is not None:
                # The budget is enforced inside; past it and a margin the decoder is stuck.
                hashes = await self.in_worker(
                    self.seconds + HASH_TIMEOUT,
                    crawl_video_hashes,
                    payload,
                    self.max_pixels,
                    self.seconds,
                )
            else:
                hashes = await self.rt.cpu(
                    crawl_video_hashes, payload, self.max_pixels, self.seconds
                )
        except VideoRejected as exc:
            raise ImageSkipped(exc.kind, str(exc)) from None
        self.stats.inc_value("monitor/videos/hashed")
        return hashes

    async def _file(self, response: Response, request: Request) -> tuple[bytes | SparseBytes, bool]:
        """A video file's bytes: whole, or its start and end when it is longer than the cap."""
        if response.status == 200:
            return response.body, False
        if response.status != 206:
            raise ImageSkipped(f"http_{response.status}")
        span = content_range(response)
        body = response.body
        if span is None or span[0] != 0:
            raise ImageSkipped("video_bad_range", "the server answered another range")
        total = span[2]
        if total is None or total <= len(body):
            return body, False
        # Longer than the cap: its end too, for an index (moov) written last.
        tail_request = self._request(
            request.url, "file", self.tail + 1024, {"Referer": request.headers.get("Referer")}
        )
        tail_request.headers["Range"] = f"bytes={total - self.tail}-{total - 1}"
        parts = [(0, body)]
        tail = await self._fetch(tail_request)
        tail_span = content_range(tail) if tail.status == 206 else None
        if tail_span is not None and tail_span[0] >= len(body):
            parts.append((tail_span[0], tail.body))
        return SparseBytes(total, parts), True

    async def _stream(self, response: Response, request: Request, kind: str) -> tuple[bytes, bool]:
        """An HLS or DASH stream's segments, in order, joined, up to the cap."""
        if response.status != 200:
            raise ImageSkipped(f"http_{response.status}")
        try:
            if kind == "hls":
                playlist = playlists.parse_hls(response.body, response.url)
                if playlist.variants:
                    variant = playlists.choose_variant(playlist, max_height=MAX_HEIGHT)
                    if variant is None:
                        raise ImageSkipped("video_bad_playlist", "no variant to fetch")
                    media = await self._fetch(
                        self._request(variant.url, kind, MAX_PLAYLIST_BYTES, {})
                    )
                    if media.status != 200:
                        raise ImageSkipped(f"http_{media.status}")
                    playlist = playlists.parse_hls(media.body, media.url)
            else:
                playlist = playlists.parse_dash(response.body, response.url)
        except playlists.PlaylistError as exc:
            raise ImageSkipped("video_bad_playlist", str(exc)) from None
        if playlist.protected:
            raise ImageSkipped("video_drm", "encrypted or DRM-protected stream")
        segments = playlists.segments_for(playlist, None)
        if not segments:
            raise ImageSkipped("video_bad_playlist", "no segments")
        chunks: list[bytes] = []
        held = 0
        for segment in segments:
            room = self.cap - held
            if room <= 0:
                return b"".join(chunks), True
            part = self._request(segment.url, kind, room, {"Referer": response.url})
            if segment.byte_range is not None:
                first, last = segment.byte_range
                part.headers["Range"] = f"bytes={first}-{last}"
            got = await self._fetch(part)
            if got.status not in (200, 206):
                if not chunks:
                    raise ImageSkipped(f"http_{got.status}")
                return b"".join(chunks), True  # what came before is still a video
            chunks.append(got.body)
            held += len(got.body)
        return b"".join(chunks), False


def _sha256(data: bytes | SparseBytes) -> str:
    if isinstance(data, bytes):
        return hashlib.sha256(data).hexdigest()
    return data.digests()[0]

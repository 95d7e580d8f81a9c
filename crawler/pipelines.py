"""Item pipelines: images are fetched and hashed in memory, then matched and recorded.

``ImageHashPipeline`` subclasses Scrapy's ``MediaPipeline`` itself, not
``ImagesPipeline``/``FilesPipeline``: those always store files. It keeps
MediaPipeline's per-run de-duplication (each image URL is fetched once per
crawl while it is among the last MONITOR_MEDIA_CACHE_SIZE images used: see
``crawler.mediacache``) and drops the bytes as soon as they are hashed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.pipelines.media import MediaPipeline
from sqlalchemy.exc import SQLAlchemyError
from twisted.python.failure import Failure

from crawler.errors import ImageSkipped, classify
from crawler.items import ImageResult, PageItem, PageStateItem, VideoResult
from crawler.mediacache import DEFAULT_LIMIT, RecentResults
from crawler.runtime import Runtime, runtime
from monitor.hashing import ImageRejected
from monitor.hashing.pipeline import ORIGINAL
from monitor.hashing.rule import QueryHash
from monitor.hashing.workers import HASH_TIMEOUT, WorkerCrashed, crawl_hashes
from monitor.incremental import conditional_headers, save_page
from monitor.recording import Observation, known_image, record_page

logger = logging.getLogger(__name__)


def database_trouble(exc: SQLAlchemyError) -> str | None:
    """ "full" or "read-only" for a database that cannot take writes for now (the crawl is
    stopped: every page would fail alike), None for any other database error."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if any(
        sign in text
        for sign in ("database or disk is full", "no space left", "could not extend", "disk full")
    ):
        return "full"
    if any(sign in text for sign in ("readonly database", "read-only", "read only")):
        return "read-only"
    return None


def stop_for_database(crawler: Crawler, exc: SQLAlchemyError, what: str) -> None:
    """Count a failed write; on a full or read-only database, stop the crawl, its finish
    reason saying why (what was recorded before stays: each page is its own transaction,
    and the next run, the database writable again, redoes the rest)."""
    trouble = database_trouble(exc)
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    crawler.stats.inc_value(f"monitor/errors/database/{trouble or 'error'}")
    if trouble is None:
        logger.error("database error while recording %s (not recorded): %s", what, detail)
        return
    if crawler.engine is None or crawler.stats.get_value("monitor/database_stop") is not None:
        logger.error("database %s: %s not recorded (%s)", trouble, what, detail)
        return
    logger.error("database %s: %s not recorded (%s); stopping the crawl", trouble, what, detail)
    crawler.stats.set_value("monitor/database_stop", trouble)
    reason = f"error: database {trouble} ({detail})"[:200]
    asyncio.ensure_future(crawler.engine.close_spider_async(reason=reason))


#: How long a page's state waits for its images to be recorded, at most: longer than any
#: page's images take (their downloads time out first), a guard against a hang only.
PAGE_WAIT_SECONDS = 3600.0


class RecordedPages:
    """Which pages have their images recorded (or failed to), so that a page's state is
    saved only after them: a crawl killed in between leaves no page state whose page's
    sightings and hits are missing (the next crawl fetches such a page in full)."""

    def __init__(self) -> None:
        self._done: dict[str, bool] = {}
        self._waiting: dict[str, list[asyncio.Future[bool]]] = {}

    def finished(self, page_url: str, recorded: bool) -> None:
        self._done[page_url] = recorded
        for waiter in self._waiting.pop(page_url, []):
            if not waiter.done():
                waiter.set_result(recorded)

    async def wait(self, page_url: str) -> bool:
        """Whether the page's images were recorded, once they are (or failed to be)."""
        if page_url in self._done:
            return self._done[page_url]
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(page_url, []).append(waiter)
        try:
            return await asyncio.wait_for(waiter, PAGE_WAIT_SECONDS)
        except TimeoutError:  # never said (it should not happen): no state, no hang
            logger.warning("page %s: its images not recorded in time; state not kept", page_url)
            return False


def recorded_pages(crawler: Crawler) -> RecordedPages:
    existing = getattr(crawler, "_monitor_recorded_pages", None)
    if existing is None:
        existing = RecordedPages()
        crawler._monitor_recorded_pages = existing  # type: ignore[attr-defined]
    return existing


def header(response: Response, name: str) -> str | None:
    """A response header as text (latin-1, at most 400 characters), or None."""
    value = response.headers.get(name)
    return value.decode("latin-1")[:400] if value else None


class InMemoryMediaPipeline(MediaPipeline):
    """What the image and the video pipelines share: results in a bounded cache, failures
    counted by kind (``monitor/errors/<what>/<kind>``), hashing in a worker with one
    retry, and nothing ever stored."""

    LOG_FAILED_RESULTS = False  # failures are counted by kind instead, see media_failed
    #: "image" or "video": the statistics' and the log's word.
    what = "image"

    class SpiderInfo(MediaPipeline.SpiderInfo):
        """Scrapy's, with the run's results in a bounded cache (crawler.mediacache)."""

        def __init__(self, spider: Any) -> None:
            super().__init__(spider)
            limit = spider.crawler.settings.getint("MONITOR_MEDIA_CACHE_SIZE", DEFAULT_LIMIT)
            self.downloaded = RecentResults(limit)

    rt: Runtime

    async def in_worker(self, timeout: float, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in a hashing worker process, beside the crawl
        (monitor.hashing.workers). Work whose worker died is tried once more in a new one:
        the worker may have died of other work (killed for taking too long) rather than of
        this. Past ``timeout`` the workers are killed (a decoder caught in a loop)."""
        pool = self.rt.hashing
        assert pool is not None
        for attempt in (1, 2):
            future = pool.call(fn, *args)
            try:
                return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
            except TimeoutError:
                pool.kill()
                raise ImageSkipped("hash_timeout", f"not hashed within {timeout:g} s") from None
            except WorkerCrashed as exc:
                if attempt == 2:
                    raise ImageSkipped("hash_worker_crashed", str(exc)) from None
        raise AssertionError("unreachable")

    def media_failed(self, failure: Failure, request: Request, info: Any) -> None:  # type: ignore[override]
        """Count the failure by kind. Returning None (not raising) makes the result None,
        cached like any result, so the failure is neither retried within the run nor
        logged as an error with a traceback by MediaPipeline."""
        kind = classify(failure)
        self.stats.inc_value(f"monitor/errors/{self.what}/{kind}")
        logger.info("%s not hashed (%s): %s", self.what, kind, request.url)

    def item_completed(self, results: list[Any], item: Any, info: Any) -> Any:
        if isinstance(item, PageItem):
            done = [value for ok, value in results if ok and value is not None]
            setattr(item, "results" if self.what == "image" else "video_results", done)
        return item

    def file_path(
        self, request: Request, response: Any = None, info: Any = None, *, item: Any = None
    ) -> str:
        raise NotImplementedError("nothing is ever stored")


class ImageHashPipeline(InMemoryMediaPipeline):
    def __init__(self, crawler: Crawler, rt: Runtime) -> None:
        super().__init__(crawler=crawler)
        self.rt = rt
        self.stats = crawler.stats
        self.max_bytes = rt.app.config.max_image_bytes
        self.max_pixels = rt.app.config.max_image_pixels
        self.rule = rt.detector.rule

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImageHashPipeline:
        return cls(crawler, runtime(crawler))

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        try:
            return await super().process_item(item)
        except BaseException:
            if isinstance(item, PageItem):  # never reaches the recording: not recorded
                recorded_pages(self.crawler).finished(item.page_url, False)
            raise

    # -- Overridable interface -------------------------------------------------------
    def get_media_requests(self, item: Any, info: Any) -> list[Request]:
        if not isinstance(item, PageItem):
            return []
        slot = getattr(info.spider, "download_slot", None)
        meta: dict[str, Any] = {
            "allow_offsite": True,  # CDN images of an allowed page are wanted
            "download_maxsize": self.max_bytes,
            "monitor_image": True,
        }
        if slot:
            meta["download_slot"] = slot  # CDN fetches count against the site's politeness
        headers = {"Referer": item.referer or item.page_url}
        seen_images = getattr(info.spider, "seen_images", {})
        requests = []
        for url in item.image_urls:
            seen = seen_images.get(url)
            if seen is None:
                requests.append(Request(url, meta=dict(meta), headers=headers))
                continue
            # Seen on the last crawl: asked only if it changed (a 304 reuses its hashes).
            requests.append(
                Request(
                    url,
                    meta={**meta, "monitor_seen": seen},
                    headers={**headers, **conditional_headers(seen.etag, seen.last_modified)},
                )
            )
        return requests

    def media_to_download(self, request: Request, info: Any, *, item: Any = None) -> None:
        return None  # always ask (conditionally, when it was seen before)

    async def media_downloaded(  # type: ignore[override]
        self, response: Response, request: Request, info: Any, *, item: Any = None
    ) -> ImageResult:
        seen = request.meta.get("monitor_seen")
        if response.status == 304 and seen is not None:
            hashes = await self.rt.read(known_image, seen.sha256, self.rule.version)
            if hashes is not None:
                self.stats.inc_value("monitor/images/not_modified")
                self.stats.inc_value("monitor/images/ok")
                return ImageResult(
                    url=request.url,
                    final_url=seen.final_url or request.url,
                    content_type=None,
                    etag=seen.etag,
                    last_modified=seen.last_modified,
                    hashes=hashes,
                )
            # Hashed by an older rule: the bytes are needed after all.
            unconditional = request.replace(
                headers={k: v for k, v in request.headers.items()
                         if k not in (b"If-None-Match", b"If-Modified-Since")},
                meta={k: v for k, v in request.meta.items() if k != "monitor_seen"},
            )  # fmt: skip
            assert self.crawler.engine is not None
            response = await self.crawler.engine.download_async(unconditional)
        if response.status != 200:
            raise ImageSkipped(f"http_{response.status}")
        body = response.body
        self.stats.inc_value("monitor/images/bytes", len(body))
        sha256 = hashlib.sha256(body).hexdigest()
        hashes = await self.rt.read(known_image, sha256, self.rule.version)
        if hashes is None:
            hashes = await self._hash(body, sha256)
        else:
            self.stats.inc_value("monitor/images/known")
        self.stats.inc_value("monitor/images/ok")
        return ImageResult(
            url=request.url,
            final_url=response.url,
            content_type=header(response, "Content-Type"),
            etag=header(response, "ETag"),
            last_modified=header(response, "Last-Modified"),
            hashes=hashes,
        )

    async def _hash(self, body: bytes, sha256: str):  # type: ignore[no-untyped-def]
        try:
            if self.rt.hashing is not None:
                hashes = await self.in_worker(
                    HASH_TIMEOUT, crawl_hashes, body, self.max_pixels, sha256
                )
            else:
                # Decoding is CPU work: off the event loop, on the crawl's cpu thread.
                hashes = await self.rt.cpu(crawl_hashes, body, self.max_pixels, sha256)
        except ImageRejected as exc:
            raise ImageSkipped(exc.kind, str(exc)) from None
        self.stats.inc_value("monitor/images/hashed")
        return hashes


class PageStatePipeline:
    """Keeps what each page looked like (validators, images, links) for the next crawl.

    Only once the page's images are recorded (the spider yields a page's images, if it
    has any, as a PageItem of the same URL before its state): the next crawl sends a
    conditional request for a page with a state, and a state saved before its images
    were would let a kill in between leave a page whose hits are missing looking done.
    A page whose images could not be recorded gets no new state: fetched in full again.
    """

    def __init__(self, crawler: Crawler, rt: Runtime) -> None:
        self.crawler = crawler
        self.rt = rt
        self.pages = recorded_pages(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PageStatePipeline:
        return cls(crawler, runtime(crawler))

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, PageStateItem):
            return item
        waits = item.page.image_urls or item.page.videos
        if waits and not await self.pages.wait(item.page.url):
            return item
        site = self.crawler.spider.site  # type: ignore[union-attr]
        try:
            await self.rt.db(save_page, site.id, item.page)
        except SQLAlchemyError as exc:
            stop_for_database(self.crawler, exc, f"the state of {item.page.url}")
        return item


class MatchPipeline:
    """Matches each hashed image with the decision rule against every hash entry of every
    open case, and records the page's sightings and hits.

    The index is loaded when the spider opens; before each page is matched, the
    entries stored since are added and those of closed cases dropped, so a hash
    added while the crawl runs is matched from the next page on.
    """

    def __init__(self, crawler: Crawler, rt: Runtime) -> None:
        self.crawler = crawler
        self.rt = rt
        self.stats = crawler.stats
        self.detector = rt.detector
        self.pages = recorded_pages(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchPipeline:
        return cls(crawler, runtime(crawler))

    def open_spider(self, spider: Any = None) -> None:
        loaded = self.rt.db_sync(self.detector.load)
        logger.info(
            "matching against %d reference hashes (%d made by older rules left out)",
            len(self.detector),
            loaded.older_rules,
        )
        videos = self.rt.db_sync(self.rt.videos.load)
        if videos.added:
            logger.info("matching videos against %d reference video hashes", videos.added)

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, PageItem):
            return item
        recorded = False
        try:
            if item.results or item.video_results:
                await self._record(item)
            recorded = True
        except SQLAlchemyError as exc:
            stop_for_database(self.crawler, exc, f"the images of {item.page_url}")
        finally:
            self.pages.finished(item.page_url, recorded)
        return item

    async def _record(self, item: PageItem) -> None:
        """Match the page's images and record them, in one transaction; counted once
        committed, so that the run's counters never claim more than the tables hold."""
        refreshed = await self.rt.db(self.detector.refresh)
        if item.video_results:
            await self.rt.db(self.rt.videos.refresh)
        if refreshed.added or refreshed.removed:
            logger.info(
                "reference hashes: %d added, %d removed while crawling",
                refreshed.added,
                refreshed.removed,
            )
        # Matching is CPU work: off the event loop, like hashing.
        observations = await self.rt.cpu(self._observe_all, item.results, item.video_results)
        site = self.crawler.spider
        hits, new_hits = await self.rt.db(
            record_page,
            site_id=site.site.id,  # type: ignore[union-attr]
            run_id=site.run_id,  # type: ignore[union-attr]
            page_url=item.page_url,
            observations=observations,
        )
        self.stats.inc_value("monitor/sightings", len(observations))
        if item.video_results:
            self.stats.inc_value("monitor/video_sightings", len(item.video_results))
        if hits:
            self.stats.inc_value("monitor/hits", hits)
            self.stats.inc_value("monitor/hits_new", new_hits)

    def _observe_all(
        self, results: list[ImageResult], videos: list[VideoResult]
    ) -> list[Observation]:
        return [self._observe(result) for result in results] + [
            self._observe_video(video) for video in videos
        ]

    def _observe_video(self, result: VideoResult) -> Observation:
        return _observation(result, self.rt.videos.detect(result.hashes))

    def _observe(self, result: ImageResult) -> Observation:
        views = result.hashes.views
        if not views:  # should not happen: every image is hashed with the rule's views
            views = tuple(QueryHash(value, ORIGINAL) for value in result.hashes.hashes)
        return _observation(result, self.detector.detect(views))


def _observation(result: ImageResult | VideoResult, matches: Any) -> Observation:
    return Observation(
        image_url=result.url,
        final_url=result.final_url if result.final_url != result.url else None,
        content_type=result.content_type,
        etag=result.etag,
        last_modified=result.last_modified,
        hashes=result.hashes,
        matches=tuple(matches),
    )

"""The watchlist spider: follows a site's pages and hands every image it finds to the pipelines."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.utils.response import get_base_url
from twisted.python.failure import Failure
from w3lib.url import canonicalize_url

from crawler.errors import classify
from crawler.extract import extract_images, video_kind
from crawler.items import PageItem, PageStateItem
from crawler.pipelines import header
from crawler.runtime import runtime
from crawler.settings import site_settings
from crawler.sitemaps import parse_robots_sitemaps, parse_sitemap
from monitor.db.models import utcnow
from monitor.incremental import SeenImage, SeenPage, conditional_headers, load_images, load_pages
from monitor.runs import create_run
from monitor.sites import SiteView, get_site

logger = logging.getLogger(__name__)


class WatchlistSpider(Spider):
    name = "watchlist"

    site: SiteView
    run_id: int
    allowed_domains: list[str]
    download_slot: str | None
    links: LinkExtractor
    #: What the last crawl saw (incremental recrawls): pages and images by URL.
    seen_pages: dict[str, SeenPage]
    seen_images: dict[str, SeenImage]
    videos_wanted: bool

    def __init__(self, site: str | None = None, run_id: str | int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if site is None:
            raise ValueError("the watchlist spider needs a site: -a site=ID_OR_NAME")
        self.site_ref = site
        self.requested_run_id = int(run_id) if run_id is not None else None
        self._pages: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> WatchlistSpider:
        spider: WatchlistSpider = super().from_crawler(crawler, *args, **kwargs)
        rt = runtime(crawler)
        spider.site = rt.db_sync(get_site, spider.site_ref)
        spider.run_id = spider.requested_run_id or rt.db_sync(create_run, spider.site.id)
        spider.allowed_domains = list(spider.site.allowed_domains)
        # Since Scrapy 2.11 settings may still change here, before the engine is built.
        crawler.settings.setdict(site_settings(rt.app.config, spider.site), priority="spider")
        spider.download_slot = urlsplit(spider.site.start_urls[0]).hostname or None
        # Not LinkExtractor(allow_domains=...): it compares host *and port* with the domains.
        spider.links = LinkExtractor(unique=True)
        spider.seen_pages = rt.db_sync(load_pages, spider.site.id)
        spider.seen_images = rt.db_sync(load_images, spider.site.id)
        #: MONITOR_MAX_VIDEO_BYTES=0 turns videos off.
        spider.videos_wanted = rt.app.config.max_video_bytes > 0
        return spider

    # -- start -----------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Request]:
        for url in self.site.start_urls:
            if self._claim_page(url):
                yield self._page_request(url)
        for origin in self._origins():
            yield Request(
                f"{origin}/robots.txt",
                callback=self.parse_robots,
                errback=self.quiet_failure,
                dont_filter=True,
            )
            yield Request(
                f"{origin}/sitemap.xml", callback=self.parse_sitemap, errback=self.quiet_failure
            )

    def _origins(self) -> list[str]:
        origins: list[str] = []
        for url in self.site.start_urls:
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
        return origins

    def _in_scope(self, url: str) -> bool:
        """Whether a page belongs to the site: its host is an allowed domain or under one."""
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            return False
        return any(host == d or host.endswith(f".{d}") for d in self.allowed_domains)

    def _claim_page(self, url: str) -> bool:
        """Count a page against the site's page budget; False once it is spent."""
        key = canonicalize_url(url)
        if key in self._pages:
            return False
        if len(self._pages) >= self.site.max_pages:
            self.crawler.stats.set_value("monitor/page_limit_reached", 1)
            return False
        self._pages.add(key)
        return True

    def _within_depth(self, response: Response) -> bool:
        """Whether pages found on ``response`` are within the site's depth limit.

        Checked here, not left to DepthMiddleware: DEPTH_LIMIT = 0 means "no limit"
        to Scrapy, not "the start pages only"; and a page too deep must not use up
        the page budget.
        """
        return int(response.meta.get("depth", 0)) < self.site.max_depth

    def _page_request(self, url: str) -> Request:
        seen = self.seen_pages.get(url)
        if seen is None:
            return Request(url, callback=self.parse_page, errback=self.page_failed)
        return Request(  # asked only if it changed since the last crawl
            url,
            callback=self.parse_page,
            errback=self.page_failed,
            headers=conditional_headers(seen.etag, seen.last_modified),
            meta={"handle_httpstatus_list": [304]},
        )

    # -- pages ------------------------------------------------------------------------
    def parse_page(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            seen = self.seen_pages.get(response.request.url)  # type: ignore[union-attr]
            if seen is not None:
                self.crawler.stats.inc_value("monitor/pages/not_modified")
                yield from self._reuse(seen, self._within_depth(response))
            return
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("monitor/skipped/page/not_html")
            return
        self.crawler.stats.inc_value("monitor/pages")
        extraction = extract_images(response.body, get_base_url(response))
        for reason, count in [*extraction.skipped.items(), *extraction.video_skipped.items()]:
            self.crawler.stats.inc_value(f"monitor/skipped/reference/{reason}", count)
        image_urls = [i.url for i in extraction.images]
        videos = [(v.url, v.kind) for v in extraction.videos] if self.videos_wanted else []
        if image_urls:
            self.crawler.stats.inc_value("monitor/image_references", len(image_urls))
        if videos:
            self.crawler.stats.inc_value("monitor/video_references", len(videos))
        if image_urls or videos:
            yield PageItem(page_url=response.url, image_urls=image_urls, videos=videos)
        links = [link.url for link in self.links.extract_links(response)]
        links = [url for url in links if self._in_scope(url)]
        etag, last_modified = header(response, "ETag"), header(response, "Last-Modified")
        if etag or last_modified:  # the next crawl may ask "has it changed?"
            yield PageStateItem(
                SeenPage(
                    response.url,
                    etag,
                    last_modified,
                    tuple(image_urls),
                    tuple(links),
                    utcnow(),
                    tuple(videos),
                )
            )
        if not self._within_depth(response):
            return
        for url in links:
            if self._claim_page(url):
                yield self._page_request(url)

    def _reuse(self, seen: SeenPage, follow: bool) -> Iterator[Any]:
        """A page unchanged since the last crawl: its images and links as they were."""
        self.crawler.stats.inc_value("monitor/pages")
        videos = list(seen.videos) if self.videos_wanted else []
        if seen.image_urls:
            self.crawler.stats.inc_value("monitor/image_references", len(seen.image_urls))
        if videos:
            self.crawler.stats.inc_value("monitor/video_references", len(videos))
        if seen.image_urls or videos:
            yield PageItem(page_url=seen.url, image_urls=list(seen.image_urls), videos=videos)
        if follow:
            for url in seen.links:
                if self._in_scope(url) and self._claim_page(url):
                    yield self._page_request(url)

    def page_failed(self, failure: Failure) -> None:
        kind = classify(failure)
        self.crawler.stats.inc_value(f"monitor/errors/page/{kind}")
        logger.info("page not crawled (%s): %s", kind, failure.request.url)  # type: ignore[attr-defined]

    def quiet_failure(self, failure: Failure) -> None:
        """robots.txt and sitemap.xml are optional: their absence is no error."""

    # -- robots.txt and sitemaps ----------------------------------------------------------
    def parse_robots(self, response: Response) -> Iterator[Request]:
        if isinstance(response, TextResponse):
            for url in parse_robots_sitemaps(response.text):
                yield Request(
                    response.urljoin(url), callback=self.parse_sitemap, errback=self.quiet_failure
                )

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        sitemap = parse_sitemap(
            response.body, max_bytes=self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
        )
        if sitemap is None:
            self.crawler.stats.inc_value("monitor/skipped/sitemap/unreadable")
            return
        self.crawler.stats.inc_value("monitor/sitemaps")
        for url in sitemap.sitemaps:
            yield Request(
                response.urljoin(url), callback=self.parse_sitemap, errback=self.quiet_failure
            )
        pages = sitemap.pages if self._within_depth(response) else []
        for page in pages:
            url = response.urljoin(page)
            if not (self._in_scope(url) and self._claim_page(url)):
                continue
            seen = self.seen_pages.get(url)
            if seen is not None and _older(sitemap.lastmod.get(page), seen.fetched_at):
                # The sitemap says it has not changed since it was fetched: not asked.
                self.crawler.stats.inc_value("monitor/pages/lastmod_unchanged")
                yield from self._reuse(seen, follow=True)
            else:
                yield self._page_request(url)
        videos = [response.urljoin(u) for u in sitemap.videos] if self.videos_wanted else []
        if sitemap.images or videos:
            # An image or video sitemap names them directly; the sitemap is where they were
            # found.
            if videos:
                self.crawler.stats.inc_value("monitor/video_references", len(videos))
            yield PageItem(
                page_url=response.url,
                image_urls=[response.urljoin(u) for u in sitemap.images],
                referer=self.site.start_urls[0],
                videos=[(url, video_kind(url)) for url in videos],
            )


def _older(lastmod: str | None, fetched_at: datetime) -> bool:
    """Whether a sitemap's ``lastmod`` (W3C datetime) is before ``fetched_at``."""
    if not lastmod:
        return False
    try:
        stamp = datetime.fromisoformat(lastmod.replace("Z", "+00:00"))
    except ValueError:
        return False
    if stamp.tzinfo is None:  # a date alone, or no zone: UTC
        stamp = stamp.replace(tzinfo=UTC)
    return stamp < fetched_at

"""Scrapy settings for crawling hostile sites without keeping what they serve.

Values that depend on the monitor's configuration or on the watched site are
computed by ``site_settings()`` at crawl time, never read at import.
"""

from __future__ import annotations

from typing import Any

BOT_NAME = "ncii-monitor"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# --- what a crawler of hostile sites must not run or keep -------------------------
REMOTE_CONTROL_ENABLED = False  # an HTTP server that executes code, on by default in 2.19
TELNETCONSOLE_ENABLED = False
HTTPCACHE_ENABLED = False  # it writes response bodies (images) to disk
COOKIES_ENABLED = False
FEEDS: dict[str, Any] = {}
# Only http(s): no file:, data:, ftp: or s3: handlers at all.
DOWNLOAD_HANDLERS = {"data": None, "file": None, "ftp": None, "s3": None}
JOBDIR = None

# --- limits ----------------------------------------------------------------------
DOWNLOAD_TIMEOUT = 30
DNS_TIMEOUT = 10
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024  # pages; images get their own cap per request
DOWNLOAD_WARNSIZE = 0
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 1
REACTOR_THREADPOOL_MAXSIZE = 10

# --- politeness ------------------------------------------------------------------
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 1.0
DOWNLOAD_DELAY_JITTER = 0.5  # ±50 %

# --- order -----------------------------------------------------------------------
# Breadth first, so that a page's depth is the number of links from the start page, which
# the site's max_depth limits (and its page budget goes to the pages nearest the start).
# Scrapy's default order is depth first (LIFO): a page is often first reached through a
# long chain of links (depth 50 on a 10,000-page site where every page is 4 links from the
# start page), and pages found only beyond max_depth were never crawled (benchmarks/soak.py:
# 66-94 of 10,000 pages missed).
DEPTH_PRIORITY = 1
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"

# --- components ------------------------------------------------------------------
DOWNLOADER = "crawler.downloader.Downloader"  # Scrapy's, with per-site concurrency enforced
TWISTED_DNS_RESOLVER = "crawler.middlewares.GuardedResolver"
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.AddressGuardMiddleware": 75,  # after offsite (50), before robots (100)
}
ITEM_PIPELINES = {
    "crawler.pipelines.ImageHashPipeline": 100,
    "crawler.videos.VideoHashPipeline": 150,
    "crawler.pipelines.MatchPipeline": 200,
    "crawler.pipelines.PageStatePipeline": 300,
}
EXTENSIONS = {
    "crawler.extensions.RunRecorder": 0,
}
MEDIA_ALLOW_REDIRECTS = True  # each hop passes the address guard again
MONITOR_ALLOW_PRIVATE = False
MONITOR_ALLOWED_ADDRESSES: list[str] = []
MONITOR_PROGRESS_INTERVAL = 2.0  # seconds between progress writes to the run's row
MONITOR_MEDIA_CACHE_SIZE = 4096  # image results kept for reuse within a run (mediacache)

LOG_LEVEL = "INFO"
LOG_FORMATTER = "crawler.logformatter.QuietLogFormatter"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def site_settings(config: Any, site: Any) -> dict[str, Any]:
    """The settings one crawl of ``site`` needs, from the monitor's ``config``."""
    return {
        "USER_AGENT": config.user_agent,
        "DOWNLOAD_TIMEOUT": config.download_timeout,
        "DNS_TIMEOUT": config.dns_timeout,
        "DOWNLOAD_MAXSIZE": config.max_page_bytes,
        "ROBOTSTXT_OBEY": site.obey_robots,
        "DOWNLOAD_DELAY": site.crawl_delay,
        "DEPTH_LIMIT": site.max_depth,
        "MONITOR_ALLOW_PRIVATE": site.allow_private,
        "MONITOR_ALLOWED_ADDRESSES": list(config.allowed_addresses),
        # The run's time budget: the crawl closes itself ("closespider_timeout"); its
        # supervisor kills it if it overruns by more than the grace period.
        "CLOSESPIDER_TIMEOUT": site.time_budget or config.run_time_budget,
    }

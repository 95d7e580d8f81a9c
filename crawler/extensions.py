"""RunRecorder: keeps the crawl run's row up to date, from start to finish reason."""

from __future__ import annotations

import ctypes
import logging
import os
import time
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from twisted.internet import task
from twisted.internet.threads import deferToThread

from crawler.pipelines import database_trouble
from crawler.runtime import Runtime, runtime
from monitor.runs import RunStats, finish_run, mark_started, update_progress

logger = logging.getLogger(__name__)

#: How long a crawl that ends on a full or read-only database tries to record its end.
FINISH_RETRY_SECONDS = 20.0


def run_stats(stats: dict[str, Any]) -> RunStats:
    """The run's counters from Scrapy's statistics."""
    errors: dict[str, int] = {}
    for key, value in stats.items():
        for prefix in ("monitor/errors/", "monitor/skipped/"):
            if key.startswith(prefix):
                errors[key[len(prefix) :]] = int(value)
    return RunStats(
        pages=int(stats.get("monitor/pages", 0)),
        images=int(stats.get("monitor/images/ok", 0)),
        bytes=int(stats.get("downloader/response_bytes", 0)),
        hits=int(stats.get("monitor/hits", 0)),
        new_hits=int(stats.get("monitor/hits_new", 0)),
        errors=errors,
    )


#: glibc's mallopt parameter for the number of malloc arenas.
M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process (as MALLOC_ARENA_MAX would), unless the
    environment sets them. glibc gives each thread that allocates an arena of its own (up
    to 8 a core); the crawl's threads (database, reads, hashing, Twisted's pool) parse and
    free pages in theirs, and the freed memory stays scattered in them: a crawl of 10,000
    pages without images held 584 MB at its end against 329 MB at 2,000, and 282 against
    264 MB with two arenas (benchmarks/soak.py --images-per-page 0). Returns whether set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc only: elsewhere there is none
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))


class RunRecorder:
    def __init__(self, crawler: Crawler, rt: Runtime, interval: float) -> None:
        self.crawler = crawler
        self.rt = rt
        self.interval = interval
        self._loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunRecorder:
        interval = crawler.settings.getfloat("MONITOR_PROGRESS_INTERVAL", 2.0)
        if interval <= 0:
            raise NotConfigured("MONITOR_PROGRESS_INTERVAL is not positive")
        limit_malloc_arenas()  # before the crawl's threads start allocating (most of them)
        recorder = cls(crawler, runtime(crawler), interval)
        crawler.signals.connect(recorder.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(recorder.spider_closed, signal=signals.spider_closed)
        return recorder

    def _run_id(self) -> int:
        return self.crawler.spider.run_id  # type: ignore[union-attr]

    def spider_opened(self, spider: Any) -> None:
        self.rt.db_sync(mark_started, self._run_id(), os.getpid())
        self._loop = task.LoopingCall(self._progress)
        self._loop.start(self.interval, now=False)

    def _progress(self) -> Any:
        stats = run_stats(self.crawler.stats.get_stats())
        # Written on the database thread; the looping call waits for it. A failed write
        # (a read-only moment) must not stop the progress reports that come after it.
        done = deferToThread(self.rt.db_sync, update_progress, self._run_id(), stats)
        done.addErrback(self._progress_failed)
        return done

    def _progress_failed(self, failure: Any) -> None:
        if not failure.check(SQLAlchemyError):
            failure.raiseException()
        detail = str(getattr(failure.value, "orig", None) or failure.value).splitlines()[0]
        logger.warning("run %s: progress not recorded: %s", self._run_id(), detail)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        stats = run_stats(self.crawler.stats.get_stats())
        try:
            self._finish(reason, stats)
        finally:
            self.rt.close()

    def _finish(self, reason: str, stats: RunStats) -> None:
        """Record the run's end; on a full or read-only database, or a lost connection, try
        again for a while (a read-only moment passes), so that the run ends with its own
        reason and counts."""
        deadline = time.monotonic() + FINISH_RETRY_SECONDS
        while True:
            try:
                status = self.rt.db_sync(finish_run, self._run_id(), reason, stats)
            except SQLAlchemyError as exc:
                detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                passing = database_trouble(exc) is not None or isinstance(exc, OperationalError)
                if not passing or time.monotonic() > deadline:
                    logger.error(
                        "run %s (%s): end not recorded: %s", self._run_id(), reason, detail
                    )
                    return
                logger.warning(
                    "run %s: end not recorded yet (%s), trying again", self._run_id(), detail
                )
                time.sleep(1.0)
                continue
            logger.info("run %s %s (%s): %s", self._run_id(), status, reason, stats)
            return

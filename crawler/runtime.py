"""The monitor's side of one crawl process: its App and the thread that talks to the database.

All database work of a crawl goes through one worker thread, so the event loop
never blocks on a write and SQLite sees one writer at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from scrapy.crawler import Crawler

from monitor.app import App, bootstrap
from monitor.config import Config
from monitor.detection import Detector
from monitor.hashing.workers import HashingPool
from monitor.video.detection import VideoDetector

T = TypeVar("T")


class Runtime:
    def __init__(self, app: App) -> None:
        self.app = app
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-db")
        #: Reads that must not wait behind the writes (has this image been hashed before?):
        #: a connection of their own (SQLite's WAL lets it read while the writer writes).
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-read")
        #: Decoding, hashing and matching: CPU work, off the event loop, one image at a
        #: time. More threads would not hash faster (they share the GIL) but would starve
        #: the event loop, whose downloads then time out.
        self._cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-cpu")
        #: The decision rule and the match index, shared by the pipelines.
        self.detector = Detector()
        #: The reference videos (frames, MD5s), shared likewise.
        self.videos = VideoDetector()
        #: Worker processes that decode and hash images (None: on the cpu thread).
        workers = app.config.hash_workers
        self.hashing = HashingPool(workers) if workers > 0 else None

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, lambda: fn(self.app, *args, **kwargs))

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run the read-only ``fn(app, ...)`` on the reading thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reads, lambda: fn(self.app, *args, **kwargs))

    async def cpu(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run CPU-bound ``fn(*args, **kwargs)`` on the crawl's one hashing thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._cpu, lambda: fn(*args, **kwargs))

    def db_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run on the database thread and wait: for start-up and shutdown only."""
        return self._db.submit(fn, self.app, *args, **kwargs).result()

    def close(self) -> None:
        if self.hashing is not None:
            self.hashing.close()
        self._cpu.shutdown(wait=True)
        self._reads.shutdown(wait=True)
        self._db.shutdown(wait=True)
        self.app.close()


def runtime(crawler: Crawler) -> Runtime:
    """The crawl's Runtime, made on first use from the environment's configuration."""
    existing = getattr(crawler, "_monitor_runtime", None)
    if existing is None:
        existing = Runtime(bootstrap(Config.from_env()))
        crawler._monitor_runtime = existing  # type: ignore[attr-defined]
    return existing

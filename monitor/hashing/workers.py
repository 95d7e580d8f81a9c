"""Hashing crawled images in worker processes.

A crawl is CPU-bound on image-heavy sites: decoding and hashing cost a few
milliseconds an image, and in the crawl process they share one interpreter lock
with the event loop that downloads, the matching and the database writes. A
``HashingPool`` moves decoding and hashing (the decision rule's query views) to
worker processes of their own, so they run on another core beside the crawl.

It also isolates the decoders from the crawl: an image that crashes a decoder
kills one worker (``WorkerCrashed``), and the pool starts a new one; the crawl
counts the image and goes on. The image bytes reach the worker through a pipe
and live in its memory only, like everywhere else: nothing is written to disk.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from threading import Lock

from monitor.hashing.pipeline import ImageHashes, hash_image_bytes

_RULE = None


def _init() -> None:
    """Each worker (or the thread hashing in the crawl process) is one core's worth of
    hashing: BLAS's own threads would only contend with it and with each other over
    products this small (measured: a third of the rate lost on one core)."""
    global _RULE
    from threadpoolctl import threadpool_limits

    from monitor.hashing.rule import DecisionRule

    threadpool_limits(1)
    _RULE = DecisionRule()


def _worker_init(crawl_pid: int) -> None:
    """A hashing worker process's start: it leaves SIGINT to its crawl (which closes the
    pool) and exits when its crawl is gone."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(crawl_pid)
    _init()


def _exit_with_parent(crawl_pid: int, poll: float = 1.0) -> None:
    """A worker whose crawl was killed (SIGKILL: no chance to close its pool) is adopted
    by another process; it notices within ``poll`` seconds and exits, instead of waiting
    for work forever (also if the crawl died before this worker got here)."""
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == crawl_pid:
            time.sleep(poll)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def crawl_hashes(data: bytes, max_pixels: int, sha256: str | None = None) -> ImageHashes:
    """What the crawler computes for an image: every hash of the rule's query views."""
    global _RULE
    if _RULE is None:
        _init()
    rule = _RULE
    assert rule is not None
    return hash_image_bytes(
        data,
        max_pixels=max_pixels,
        sha256=sha256,
        views=rule.query_views,
        views_version=rule.version,
    )


def crawl_video_hashes(
    payload: bytes | tuple[int, tuple[tuple[int, bytes], ...]],
    max_pixels: int,
    time_budget: float | None,
) -> object:
    """What the crawler computes for a video (``monitor.video.hashing.hash_video``):
    ``payload`` is the whole file, or (total size, parts) of a partial fetch."""
    from monitor.video import CRAWL_FPS
    from monitor.video.hashing import SparseBytes, hash_video

    data = payload if isinstance(payload, bytes) else SparseBytes(*payload)
    return hash_video(
        data, max_pixels=max_pixels, fps=CRAWL_FPS, time_budget=time_budget, fast=True
    )


class WorkerCrashed(Exception):
    """The worker hashing an image died (a decoder crashed, or it ran out of memory)."""


#: Seconds an image may take in a worker before the worker is killed (a decoder caught
#: in a loop by hostile bytes must not hold the crawl forever). Hashing takes milliseconds.
HASH_TIMEOUT = 60.0


def _ready() -> None:
    """Nothing: submitted once per worker when a pool starts, so that every worker is
    spawned and initialised (imports, the decision rule) while the crawl starts up,
    not when its first images arrive."""


class HashingPool:
    """``workers`` processes (spawned, not forked: the crawl process has threads),
    started at once in the background."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("a hashing pool needs at least one worker")
        self.workers = workers
        self._lock = Lock()
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )
        for _ in range(self.workers):  # each submission finding no idle worker spawns one
            executor.submit(_ready)
        return executor

    def submit(self, data: bytes, max_pixels: int, sha256: str | None = None) -> Future:
        """A future of ``crawl_hashes(data, ...)``: its ImageHashes, or the ImageRejected
        the image raised, or WorkerCrashed."""
        return self.call(crawl_hashes, data, max_pixels, sha256)

    def call(self, fn: object, *args: object) -> Future:
        """A future of ``fn(*args)`` run in a worker (a module-level function, for
        pickling): its result, the exception it raised, or WorkerCrashed."""
        with self._lock:
            executor = self._executor
        outer: Future = Future()
        try:
            inner = executor.submit(fn, *args)  # type: ignore[arg-type]
        except BrokenProcessPool:
            self._restart(executor)
            outer.set_exception(WorkerCrashed("the hashing worker had died"))
            return outer

        def done(future: Future) -> None:
            try:
                outer.set_result(future.result())
            except BrokenProcessPool:
                self._restart(executor)
                outer.set_exception(WorkerCrashed("the hashing worker died on this image"))
            except BaseException as exc:  # ImageRejected and the like: the caller's
                outer.set_exception(exc)

        inner.add_done_callback(done)
        return outer

    def kill(self) -> None:
        """Kill the workers (one of them is stuck) and start new ones. Images waiting in
        the pool fail with WorkerCrashed; the crawl submits them again."""
        with self._lock:
            stuck = self._executor
            for process in list(getattr(stuck, "_processes", {}).values()):
                process.kill()
            stuck.shutdown(wait=False, cancel_futures=True)
            self._executor = self._start()

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = self._start()

    def close(self) -> None:
        with self._lock:
            self._executor.shutdown(wait=True, cancel_futures=True)

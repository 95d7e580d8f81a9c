"""Hashing in worker processes: same hashes as in the crawl process, errors that cross,
and a worker that dies taking only its image with it."""

from __future__ import annotations

import io
import os
import signal
import time

import numpy as np
import pytest
from conftest import PHOTOS
from PIL import Image

from monitor.hashing import ImageRejected
from monitor.hashing.workers import HashingPool, WorkerCrashed, crawl_hashes

MAX_PIXELS = 64_000_000


@pytest.fixture(scope="module")
def pool():  # type: ignore[no-untyped-def]
    hashing = HashingPool(1)
    yield hashing
    hashing.close()


def test_a_worker_computes_what_the_crawl_process_computes(pool: HashingPool) -> None:
    data = (PHOTOS / "chelsea.jpg").read_bytes()
    remote = pool.submit(data, MAX_PIXELS).result(timeout=60)
    local = crawl_hashes(data, MAX_PIXELS)
    assert remote == local
    assert len(remote.views) > len(remote.hashes) == 3  # the rule's views came back too


def test_rejected_images_cross_with_their_kind(pool: HashingPool) -> None:
    with pytest.raises(ImageRejected) as caught:
        pool.submit(b"not an image at all", MAX_PIXELS).result(timeout=60)
    assert caught.value.kind == "not_image"
    buffer = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buffer, "PNG")
    with pytest.raises(ImageRejected) as caught:
        pool.submit(buffer.getvalue(), 1_000_000).result(timeout=60)
    assert caught.value.kind == "too_many_pixels"


def test_a_dead_worker_fails_its_image_only(pool: HashingPool) -> None:
    pool.submit((PHOTOS / "rocket.jpg").read_bytes(), MAX_PIXELS).result(timeout=60)
    noise = np.random.default_rng(0).integers(0, 256, (4000, 4000), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")  # slow to decode: the worker is busy
    future = pool.submit(buffer.getvalue(), MAX_PIXELS)
    time.sleep(0.05)
    assert not future.done()
    pids = list(pool._executor._processes)  # as a decoder crash would
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(WorkerCrashed):
        future.result(timeout=60)
    # The next image is hashed by a new worker.
    again = pool.submit((PHOTOS / "coffee.jpg").read_bytes(), MAX_PIXELS).result(timeout=60)
    assert again.get("pdq") is not None


def test_a_stuck_worker_is_killed_and_replaced(pool: HashingPool) -> None:
    """What the crawl does when an image takes longer than HASH_TIMEOUT."""
    noise = np.random.default_rng(1).integers(0, 256, (4000, 4000), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")
    stuck = pool.submit(buffer.getvalue(), MAX_PIXELS)
    waiting = pool.submit((PHOTOS / "rocket.jpg").read_bytes(), MAX_PIXELS)
    time.sleep(0.05)
    assert not stuck.done()
    before = set(pool._executor._processes)
    pool.kill()
    for future in (stuck, waiting):  # the waiting image fails too: the crawl resubmits it
        with pytest.raises(WorkerCrashed):
            future.result(timeout=60)
    for pid in before:
        assert _dead(pid)  # really killed, not left running
    again = pool.submit((PHOTOS / "rocket.jpg").read_bytes(), MAX_PIXELS).result(timeout=60)
    assert again.get("pdq") is not None


def _dead(pid: int, wait: float = 10.0) -> bool:
    """Whether the process is gone or a zombie (killed, not yet reaped), within ``wait`` s."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_every_worker_is_started_with_the_pool_before_any_image() -> None:
    hashing = HashingPool(2)
    try:
        deadline = time.monotonic() + 60
        while len(hashing._executor._processes) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(hashing._executor._processes) == 2
    finally:
        hashing.close()


def test_the_default_is_one_worker_per_usable_core() -> None:
    from monitor.config import Config

    config = Config.from_env({"MONITOR_VAR_DIR": "/nonexistent-unused"})
    assert config.hash_workers == len(os.sched_getaffinity(0))
    assert Config.from_env({"MONITOR_HASH_WORKERS": "3"}).hash_workers == 3


def test_hashing_on_a_crawl_thread_leaves_the_crawl_s_signals_alone() -> None:
    """MONITOR_HASH_WORKERS=0: the crawl hashes on a thread of its own. Only worker
    processes ignore SIGINT (their crawl stops them); the crawl must keep its handler."""
    import subprocess
    import sys

    code = (
        "import signal, threading\n"
        "from monitor.hashing.workers import crawl_hashes\n"
        f"data = open({str(PHOTOS / 'coffee.jpg')!r}, 'rb').read()\n"
        "before = signal.getsignal(signal.SIGINT)\n"
        "out = {}\n"
        "t = threading.Thread(target=lambda: out.update(h=crawl_hashes(data, 64_000_000)))\n"
        "t.start(); t.join()\n"
        "assert len(out['h'].hashes) == 3, out\n"
        "assert signal.getsignal(signal.SIGINT) is before\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr

"""Carrying out crawl runs: each in a process of its own, supervised.

``monitor`` never imports Scrapy: a crawl is a child process (``python -m crawler
RUN_ID``) that reports through the run's database row. ``execute_run`` is the one
supervisor, whoever calls it — ``monitor crawl`` in the foreground, the scheduler's
local executor, a Celery worker: it claims the queued run (so no two supervisors carry
out the same run), starts the crawl, stops it (SIGINT, then SIGKILL after a grace
period) when the run is cancelled or overruns its time budget, and makes sure the run
ends with a finish reason whatever happens to the crawl. The crawl dies with its
supervisor (``PR_SET_PDEATHSIG``): a worker killed with SIGKILL leaves no orphan crawl
writing to the database; the run, no longer reporting, is reaped as lost.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from monitor.app import App
from monitor.runs import (
    FINAL_STATUSES,
    RunView,
    cancel_requested,
    claim_run,
    finish_run,
    get_run,
    mark_cancel_requested,
)
from monitor.sites import get_site

#: After SIGINT a crawl gets this long to close cleanly before it is killed.
GRACE_SECONDS = 15.0


def crawl_command(run_id: int, log_level: str) -> list[str]:
    return [sys.executable, "-m", "crawler", str(run_id), "--log-level", log_level]


def execute_run(
    app: App,
    run_id: int,
    *,
    log_level: str = "WARNING",
    on_progress: Callable[[RunView], None] | None = None,
    poll: float = 0.5,
    grace: float = GRACE_SECONDS,
    should_stop: Callable[[], bool] | None = None,
) -> RunView:
    """Carry out a queued run and return it finished. A run another supervisor took, or
    one cancelled before it started, is returned as it is. ``should_stop``: the
    supervisor is shutting down (the crawl is stopped; the run ends cancelled)."""
    if not claim_run(app, run_id):
        return get_run(app, run_id)
    run = get_run(app, run_id)
    site = get_site(app, str(run.site_id))
    budget = site.time_budget or app.config.run_time_budget
    env = {**os.environ, **app.config.to_env()}
    child = subprocess.Popen(crawl_command(run_id, log_level), env=env, preexec_fn=_die_with_parent)
    started = time.monotonic()
    stopping = ""
    try:
        while child.poll() is None:
            if on_progress is not None:
                on_progress(get_run(app, run_id))
            if not stopping and (
                cancel_requested(app, run_id) or (should_stop is not None and should_stop())
            ):
                stopping = "cancelled"
            elif not stopping and time.monotonic() - started > budget + grace:
                stopping = "time budget"  # the crawl closes itself at its budget; if not:
            if stopping:
                if stopping == "cancelled":
                    mark_cancel_requested(app, run_id)
                stop(child, grace)
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        stopping = "cancelled"
        mark_cancel_requested(app, run_id)
        stop(child, grace)
    run = get_run(app, run_id)
    if run.status not in FINAL_STATUSES:
        reason = (
            "cancelled"
            if stopping == "cancelled"
            else f"error: crawl stopped ({stopping or 'exit ' + str(child.returncode)})"
        )
        finish_run(app, run_id, reason)
        run = get_run(app, run_id)
    if on_progress is not None:
        on_progress(run)
    return run


def stop(child: subprocess.Popen[bytes], grace: float = GRACE_SECONDS) -> None:
    """SIGINT first (Scrapy closes the crawl cleanly), SIGKILL after the grace period."""
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the crawl process, before it runs: SIGKILL when the supervisor dies (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

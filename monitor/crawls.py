"""Starting a crawl run in a process of its own and following its progress.

``monitor`` never imports Scrapy: a crawl is a child process
(``python -m crawler RUN_ID``) that reports through the run's database row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from monitor.app import App
from monitor.runs import FINAL_STATUSES, RunView, create_run, finish_run, get_run
from monitor.sites import get_site

#: After SIGINT a crawl gets this long to close cleanly before it is killed.
GRACE_SECONDS = 15.0


def crawl_command(run_id: int, log_level: str) -> list[str]:
    return [sys.executable, "-m", "crawler", str(run_id), "--log-level", log_level]


def run_crawl(
    app: App,
    site_ref: str,
    *,
    log_level: str = "WARNING",
    on_progress: Callable[[RunView], None] | None = None,
    poll: float = 0.5,
) -> RunView:
    """Crawl a site now, in a child process; returns the finished run."""
    site = get_site(app, site_ref)
    run_id = create_run(app, site.id)
    env = {**os.environ, **app.config.to_env()}
    child = subprocess.Popen(crawl_command(run_id, log_level), env=env)
    try:
        while child.poll() is None:
            if on_progress is not None:
                on_progress(get_run(app, run_id))
            time.sleep(poll)
    except KeyboardInterrupt:
        stop(child)
    run = get_run(app, run_id)
    if run.status not in FINAL_STATUSES:
        finish_run(app, run_id, f"error: crawl process exited with {child.returncode}")
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

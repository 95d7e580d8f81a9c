"""``python -m crawler RUN_ID``: carry out one crawl run in this process.

A Twisted reactor cannot be restarted, so every crawl gets a process of its
own; ``monitor crawl`` (and later the scheduler) starts it and watches the
run's row. SIGINT stops the crawl gracefully (finish reason "shutdown").
"""

from __future__ import annotations

import argparse
import logging
import sys

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawler.settings import site_settings
from monitor.app import bootstrap
from monitor.runs import cancel_requested, finish_run, get_run
from monitor.sites import get_site

logger = logging.getLogger(__name__)

#: Seconds a thread may hold the interpreter lock before another may take it.
SWITCH_INTERVAL = 0.0005


def crawl_settings(log_level: str) -> Settings:
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.set("LOG_LEVEL", log_level, priority="cmdline")
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    # The event loop shares the interpreter lock with the matching and database
    # threads; a shorter switch interval than 5 ms lets it answer sockets promptly.
    sys.setswitchinterval(SWITCH_INTERVAL)

    app = bootstrap()
    run = get_run(app, args.run_id)
    site = get_site(app, run.site_id)
    settings = crawl_settings(args.log_level)
    # The DNS resolver is built from the process's settings, so the site's
    # settings (private addresses allowed or not) must be known here too.
    settings.setdict(site_settings(app.config, site), priority="cmdline")
    try:
        process = CrawlerProcess(settings)
        process.crawl("watchlist", site=str(site.id), run_id=run.id)
        process.start()
    except KeyboardInterrupt:  # SIGINT before Scrapy's own handler was installed
        finish_run(app, run.id, "cancelled")
    except Exception as exc:  # the run must not stay "running" after a crash
        logger.exception("crawl run %s failed", run.id)
        finish_run(app, run.id, f"error: {type(exc).__name__}")
    final = get_run(app, run.id)
    if final.status in ("queued", "running"):
        # Stopped before Scrapy could say why (e.g. while starting): by its supervisor?
        stopped = cancel_requested(app, run.id)
        finish_run(
            app, run.id, "cancelled" if stopped else "error: crawl ended without a finish reason"
        )
        final = get_run(app, run.id)
    app.close()
    return 0 if final.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())

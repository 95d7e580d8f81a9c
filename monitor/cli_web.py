"""``monitor web``: the analysts' web app (``monitor.cli`` loads this module)."""

from __future__ import annotations

import logging
import threading

import click

from monitor.cli import friendly_errors, get_app, main


@main.command("web")
@click.option("--host", help="Address to listen on (default: MONITOR_WEB_HOST, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port (default: MONITOR_WEB_PORT, 8765)."
)
@click.option(
    "--with-scheduler",
    is_flag=True,
    help="Also run the scheduler in this process (standing by if another one is active),"
    " so that scheduled and run-now crawls start without a separate `monitor scheduler`.",
)
@click.pass_context
@friendly_errors
def web_command(
    ctx: click.Context, host: str | None, port: int | None, with_scheduler: bool
) -> None:
    """Serve the web app: review, cases, hash lists, sites, runs, takedowns, the audit log."""
    import uvicorn

    from monitor.web.app import create_app

    app = get_app(ctx)
    host = host or app.config.web_host
    port = app.config.web_port if port is None else port
    daemon = _start_scheduler(app) if with_scheduler else None
    click.echo(f"monitor web: http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    proxies = app.config.web_proxies
    try:
        uvicorn.run(
            create_app(app),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,  # URLs name cases and hits: not written to a log
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
            server_header=False,
        )
    finally:
        if daemon is not None:
            daemon.stop()


def _start_scheduler(app: object) -> object:
    from monitor import executors
    from monitor.scheduler import Intervals, Scheduler

    logging.basicConfig(level=logging.WARNING)
    daemon = Scheduler(
        app,  # type: ignore[arg-type]
        intervals=Intervals.parse(app.config.scheduler_intervals),  # type: ignore[attr-defined]
        submit=executors.remote_submitter(app),  # type: ignore[arg-type]
    )
    threading.Thread(target=daemon.run, name="scheduler", daemon=True).start()
    return daemon

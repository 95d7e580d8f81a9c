"""``monitor web``: the analysts' web app (``monitor.cli`` loads this module)."""

from __future__ import annotations

import logging

import click

from monitor.app import App
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

    from monitor.web.server import uvicorn_config

    app = get_app(ctx)
    host = host or app.config.web_host
    port = app.config.web_port if port is None else port
    daemon = _start_scheduler(app) if with_scheduler else None
    click.echo(f"monitor web: http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    try:
        uvicorn.Server(uvicorn_config(app, host, port)).run()
    finally:
        if daemon is not None:
            daemon.stop()  # type: ignore[attr-defined]


def _start_scheduler(app: App) -> object:
    from monitor.scheduler import start_scheduler_thread

    logging.basicConfig(level=logging.WARNING)
    return start_scheduler_thread(app)

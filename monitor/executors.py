"""Where queued runs are carried out: local crawl processes started by the scheduler
(the embedded default), or Celery workers on any number of machines when
``MONITOR_BROKER_URL`` is set. Everything above this — schedules, run-now, the
one-active-run rule, supervision — is the same code either way."""

from __future__ import annotations

from collections.abc import Callable

from monitor.app import App
from monitor.errors import MonitorError


def remote_submitter(app: App) -> Callable[[int], None] | None:
    """With a broker: a function that sends a queued run to the workers. Without: None
    (the scheduler's dispatcher starts queued runs itself)."""
    if not app.config.broker_url:
        return None
    from monitor.tasks import send_run

    return lambda run_id: send_run(app.config, run_id)


def submit(app: App, run_id: int) -> str:
    """Hand a queued run over; says where it went. If the broker cannot take it, the
    run ends failed (it would otherwise keep the site's one active slot) and the error
    is raised."""
    send = remote_submitter(app)
    if send is not None:
        from monitor.runs import finish_run

        try:
            send(run_id)
        except MonitorError as exc:
            finish_run(app, run_id, f"error: not queued: {exc}"[:200])
            raise
        return "sent to the Celery workers"
    from monitor.scheduler import scheduler_alive

    if scheduler_alive(app):
        return "the scheduler starts it within seconds"
    return (
        "no scheduler is running: start `monitor scheduler`, or cancel it"
        " (`monitor runs cancel`) and use `monitor site run-now SITE --foreground`"
    )

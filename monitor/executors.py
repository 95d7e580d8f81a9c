"""Where queued runs are carried out: local crawl processes started by the scheduler
(the embedded default), or Celery workers on any number of machines when
``MONITOR_BROKER_URL`` is set. Everything above this — schedules, run-now, the
one-active-run rule, supervision — is the same code either way."""

from __future__ import annotations

from collections.abc import Callable

from monitor.app import App


def remote_submitter(app: App) -> Callable[[int], None] | None:
    """With a broker: a function that sends a queued run to the workers. Without: None
    (the scheduler's dispatcher starts queued runs itself)."""
    if not app.config.broker_url:
        return None
    from monitor.tasks import send_run

    return lambda run_id: send_run(app.config, run_id)


def submit(app: App, run_id: int) -> str:
    """Hand a queued run over; says where it went."""
    send = remote_submitter(app)
    if send is not None:
        send(run_id)
        return "sent to the Celery workers"
    from monitor.scheduler import scheduler_alive

    if scheduler_alive(app):
        return "the scheduler starts it within seconds"
    return (
        "no scheduler is running: start `monitor scheduler`, or cancel it"
        " (`monitor runs cancel`) and use `monitor site run-now SITE --foreground`"
    )

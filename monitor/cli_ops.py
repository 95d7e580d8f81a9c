"""The operators' commands: schedules, runs, the scheduler daemon (``monitor.cli`` loads
this module and its commands join ``monitor``)."""

from __future__ import annotations

import logging
import signal
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from monitor import runs, schedules, sites
from monitor.cli import Fail, friendly_errors, get_app, main, print_summary, site
from monitor.errors import InvalidInput


def _optional_int(value: str | None, what: str) -> Any:
    """None: not given; "default": back to the default (None in the database)."""
    if value is None:
        return ...
    if value.strip().lower() == "default":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{what} is a number of seconds or 'default', not {value!r}") from None


# -- sites: schedules, pause, run now ----------------------------------------------------------


@site.command("edit")
@click.argument("site_ref", metavar="SITE")
@click.option("--schedule", help="'every 6h', a crontab line ('0 3 * * *'), or 'default'.")
@click.option("--jitter", help="Seconds of random delay added to each start, or 'default'.")
@click.option("--group", help="The site's group (its schedule applies), or 'none'.")
@click.option("--time-budget", help="Seconds a run may take, or 'default'.")
@click.option("--max-pages", type=click.IntRange(min=1), help="Pages a run may fetch.")
@click.option("--max-depth", type=click.IntRange(min=0))
@click.option("--crawl-delay", type=click.FloatRange(min=0))
@click.pass_context
@friendly_errors
def site_edit(
    ctx: click.Context,
    site_ref: str,
    schedule: str | None,
    jitter: str | None,
    group: str | None,
    time_budget: str | None,
    max_pages: int | None,
    max_depth: int | None,
    crawl_delay: float | None,
) -> None:
    """Change a site's schedule, budgets and crawl settings."""
    changes: dict[str, Any] = {}
    if schedule is not None:
        changes["schedule"] = None if schedule.strip().lower() == "default" else schedule
    if group is not None:
        changes["group"] = None if group.strip().lower() in ("none", "") else group
    for key, raw in (("jitter", jitter), ("time_budget", time_budget)):
        value = _optional_int(raw, key.replace("_", " "))
        if value is not ...:
            changes[key] = value
    for key, value in (
        ("max_pages", max_pages),
        ("max_depth", max_depth),
        ("crawl_delay", crawl_delay),
    ):
        if value is not None:
            changes[key] = value
    if not changes:
        raise Fail("nothing to change: give at least one option (see --help)")
    app = get_app(ctx)
    changed = sites.edit_site(app, site_ref, **changes)
    view = sites.get_site(app, site_ref)
    s = schedules.site_schedule(app, view.id)
    click.echo(
        f"site {view.id}: changed {', '.join(changed)};"
        f" schedule {s.text} (from the {s.source}), jitter {s.jitter} s"
    )


@site.command("pause")
@click.argument("site_ref", metavar="SITE")
@click.pass_context
@friendly_errors
def site_pause(ctx: click.Context, site_ref: str) -> None:
    """Stop starting the site's scheduled crawls (a run in progress goes on)."""
    view = sites.set_enabled(get_app(ctx), site_ref, False)
    click.echo(f"site {view.id} ({view.name}): paused")


@site.command("resume")
@click.argument("site_ref", metavar="SITE")
@click.pass_context
@friendly_errors
def site_resume(ctx: click.Context, site_ref: str) -> None:
    """Start the site's scheduled crawls again."""
    view = sites.set_enabled(get_app(ctx), site_ref, True)
    click.echo(f"site {view.id} ({view.name}): resumed")


@site.command("run-now")
@click.argument("site_ref", metavar="SITE")
@click.option(
    "--foreground", is_flag=True, help="Carry it out here, with a progress line, and wait."
)
@click.pass_context
@friendly_errors
def site_run_now(ctx: click.Context, site_ref: str, foreground: bool) -> None:
    """Queue a run of the site now (the scheduler or a worker starts it)."""
    from monitor import executors

    app = get_app(ctx)
    view = sites.get_site(app, site_ref)
    run_id = runs.create_run(app, view.id, "manual")
    if foreground:
        from monitor.progress import execute_with_progress

        run = execute_with_progress(app, run_id, label=view.name)
        print_summary(run)
        if run.status != "completed":
            raise Fail(f"crawl run {run.id} {run.status}: {run.finish_reason}")
        return
    where = executors.submit(app, run_id)
    click.echo(f"run {run_id} of {view.name}: queued; {where}")


# -- groups ---------------------------------------------------------------------------------------


@main.group("group")
def group_group() -> None:
    """Groups of sites sharing a schedule."""


@group_group.command("set")
@click.argument("name")
@click.option("--schedule", help="'every 6h' or a crontab line; omitted: none (the default).")
@click.option("--jitter", type=click.IntRange(min=0), help="Seconds of random delay.")
@click.pass_context
@friendly_errors
def group_set(ctx: click.Context, name: str, schedule: str | None, jitter: int | None) -> None:
    """Set a group's schedule and jitter (for its sites that have none of their own)."""
    schedules.set_group(get_app(ctx), name, schedule, jitter)
    click.echo(f"group {name}: {schedule or 'the default schedule'}")


@group_group.command("list")
@click.pass_context
@friendly_errors
def group_list(ctx: click.Context) -> None:
    """Groups, their schedules and how many sites are in each."""
    table = Table("group", "schedule", "jitter", "sites")
    for name, schedule, jitter, count in schedules.list_groups(get_app(ctx)):
        table.add_row(
            name, schedule or "(default)", "" if jitter is None else str(jitter), str(count)
        )
    Console().print(table)


@group_group.command("remove")
@click.argument("name")
@click.pass_context
@friendly_errors
def group_remove(ctx: click.Context, name: str) -> None:
    """Forget a group's schedule (its sites keep the group name)."""
    schedules.remove_group(get_app(ctx), name)
    click.echo(f"group {name}: schedule removed")


# -- runs -----------------------------------------------------------------------------------------


@main.group("runs")
def runs_group() -> None:
    """Crawl runs: history, live progress, cancelling."""


@runs_group.command("list")
@click.option("--site", "site_ref", help="Only this site's runs (id or name).")
@click.option(
    "--status",
    type=click.Choice(["active", "queued", "running", "completed", "failed", "cancelled"]),
)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array, for scripts.")
@click.pass_context
@friendly_errors
def runs_list(
    ctx: click.Context, site_ref: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """The newest runs first, with their progress."""
    import json

    app = get_app(ctx)
    site_id = sites.get_site(app, site_ref).id if site_ref else None
    found = runs.list_runs(app, site_id=site_id, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in found], indent=2))
        return
    table = Table("id", "site", "trigger", "status", "started", "pages", "images", "hits",
                  "errors", "finish reason")  # fmt: skip
    for r in found:
        table.add_row(
            str(r.id),
            r.site_name,
            r.trigger,
            r.status + (" (cancelling)" if r.cancel_requested and r.status == "running" else ""),
            f"{r.started_at:%Y-%m-%d %H:%M:%S}" if r.started_at else "",
            str(r.stats.pages),
            str(r.stats.images),
            str(r.stats.hits),
            str(sum(r.stats.errors.values())),
            r.finish_reason or "",
        )
    Console(width=max(140, Console().width)).print(table)


@runs_group.command("show")
@click.argument("run_id", type=int)
@click.pass_context
@friendly_errors
def runs_show(ctx: click.Context, run_id: int) -> None:
    """One run: its progress (live while it runs), its errors by kind, its end."""
    r = runs.get_run(get_app(ctx), run_id)
    print_summary(r)
    click.echo(f"trigger {r.trigger} · worker {r.worker or '–'}")
    for label, at in (
        ("queued", r.created_at),
        ("started", r.started_at),
        ("last progress", r.updated_at),
        ("finished", r.finished_at),
    ):
        if at:
            click.echo(f"{label}: {at:%Y-%m-%d %H:%M:%S} UTC")


@runs_group.command("cancel")
@click.argument("run_id", type=int)
@click.pass_context
@friendly_errors
def runs_cancel(ctx: click.Context, run_id: int) -> None:
    """Cancel a queued run, or stop a running one (SIGINT, then SIGKILL after a grace)."""
    done = runs.request_cancel(get_app(ctx), run_id)
    click.echo(
        f"run {run_id}: cancelled"
        if done == "cancelled"
        else f"run {run_id}: cancelling (its supervisor stops the crawl within seconds)"
    )


# -- the scheduler daemon -------------------------------------------------------------------------


@main.command("scheduler")
@click.option(
    "--standby",
    is_flag=True,
    help="If another scheduler is active, wait and take over when it stops.",
)
@click.pass_context
@friendly_errors
def scheduler_command(ctx: click.Context, standby: bool) -> None:
    """Run the scheduler daemon: scheduled crawls and housekeeping (alerts, re-checks)."""
    from monitor import executors
    from monitor.scheduler import Intervals, Scheduler

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = get_app(ctx)
    daemon = Scheduler(
        app,
        intervals=Intervals.parse(app.config.scheduler_intervals),
        submit=executors.remote_submitter(app),
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: daemon.stop())
    mode = (
        "Celery workers"
        if app.config.broker_url
        else f"local processes (at most {app.config.max_crawls})"
    )
    click.echo(f"scheduler {daemon.holder}: crawls run as {mode}; Ctrl-C to stop", err=True)
    daemon.run(standby=standby)
    click.echo("scheduler stopped", err=True)


@main.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Crawls this worker carries out at once (default: MONITOR_MAX_CRAWLS).",
)
@click.option("--name", help="The worker's name (default: monitor-PID), @ the host name.")
@click.pass_context
@friendly_errors
def worker_command(ctx: click.Context, concurrency: int | None, name: str | None) -> None:
    """Carry out queued crawl runs from the Celery broker (MONITOR_BROKER_URL)."""
    app = get_app(ctx)
    if not app.config.broker_url:
        raise Fail("set MONITOR_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker")
    if app.db.backend == "sqlite":
        click.echo(
            "note: the database is SQLite, which only this machine can share;"
            " use PostgreSQL for workers on several machines",
            err=True,
        )
    from monitor.tasks import run_worker

    run_worker(app.config, concurrency=concurrency or app.config.max_crawls, name=name)


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="A JSON object, for scripts and probes.")
@click.pass_context
@friendly_errors
def status_command(ctx: click.Context, as_json: bool) -> None:
    """The state of the system at a glance; exits 1 if the scheduler is down or a site
    is failing (for monitoring probes)."""
    import json

    from monitor.health import status

    s = status(get_app(ctx))
    if as_json:
        click.echo(json.dumps(s, indent=2))
    else:
        sched = s["scheduler"]
        click.echo(
            f"scheduler: {'alive' if sched['alive'] else 'NOT RUNNING'}"
            + (f" ({sched['holder']}, heartbeat {sched['heartbeat']})" if sched["holder"] else "")
            + f"; crawls run on {'Celery workers' if sched['executor'] == 'celery' else 'local processes'}"
        )
        running = s["runs"]["running"]
        click.echo(f"runs: {len(running)} running, {s['runs']['queued']} queued")
        for r in running:
            click.echo(
                f"  run {r['id']} {r['site']}: pages {r['pages']} · images {r['images']}"
                f" · hits {r['hits']} · on {r['worker']}"
            )
        sites_ = s["sites"]
        click.echo(
            f"sites: {sites_['watched']} watched, {sites_['paused']} paused,"
            f" {len(sites_['failing'])} failing"
        )
        for f in sites_["failing"]:
            click.echo(f"  {f['site']}: {f['reason']} (since {f['since']})")
        click.echo(f"review: {s['review']['hits_waiting']} hits waiting")
        a = s["alerts"]
        click.echo(
            f"alerts: {a['pending']} pending, {a['failed']} failed,"
            f" {a['operator_pending']} operator notifications pending"
            + (
                ""
                if a["mail_configured"]
                else " (mail not configured: MONITOR_SMTP_URL, MONITOR_MAIL_FROM)"
            )
        )
        n = s["notices"]
        click.echo(
            f"notices: {n['drafts']} drafts, {n['awaiting_removal']} awaiting removal,"
            f" {n['escalated']} escalated"
        )
    if not s["scheduler"]["alive"] or s["sites"]["failing"]:
        ctx.exit(1)

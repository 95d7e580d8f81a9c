"""The operators' pages: the watchlist (sites), groups' schedules, crawl runs (with live
progress) and the system's status, and the same operations in the JSON API. Operator
role only. They mirror ``monitor site …``, ``monitor group …``, ``monitor runs …`` and
``monitor status`` (``monitor.cli_ops``), on the same services."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from monitor import executors, health, runs, schedules, sites
from monitor.errors import InvalidInput, NotFound
from monitor.scheduler import scheduler_alive
from monitor.web.auth import Ctx, Operator
from monitor.web.ui import back, render

router = APIRouter()

#: Runs a list shows unless asked for more (and at most).
RUNS_PAGE, RUNS_MAX = 50, 500


# -- helpers -------------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """Seconds as "3 min 05 s" or "2 h 03 min"; "—" for none."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s" if whole else "<1 s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _for_web(exc: InvalidInput) -> str:
    """A service's message, with the command-line hints said the web's way."""
    return (
        str(exc)
        .replace(
            "use --allow-private to crawl it anyway",
            "tick “Allow private addresses” to crawl it anyway",
        )
        .replace("(use --name)", "(choose another name)")
    )


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _number(value: str | None, label: str, kind: type = int) -> Any:
    """A form field as a number; None if left empty."""
    text = _text(value)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise InvalidInput(f"{label} must be {what}, not {text!r}") from None


def _required(value: Any, label: str) -> Any:
    if value is None:
        raise InvalidInput(f"{label} is required")
    return value


def _domains(text: str | None) -> tuple[str, ...]:
    return tuple(d for d in re.split(r"[\s,]+", text or "") if d)


def _site_id(ctx: Ctx, ref: str | None) -> int | None:
    ref = _text(ref)
    return sites.get_site(ctx.app, ref).id if ref else None


def _schedule_json(s: schedules.Schedule) -> dict[str, Any]:
    return {"text": s.text, "source": s.source, "jitter": s.jitter, "interval_seconds": s.seconds}


def _health_json(h: sites.HealthView | None) -> dict[str, Any] | None:
    if h is None:
        return None
    return {
        "state": h.state,
        "reason": h.reason,
        "since": h.since.isoformat(),
        "checked_at": h.checked_at.isoformat() if h.checked_at else None,
    }


def _site_json(
    view: sites.SiteView,
    schedule: schedules.Schedule,
    health_: sites.HealthView | None,
    last_run: runs.RunView | None,
    next_start: Any = None,
) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "start_url": view.start_urls[0],
        "start_urls": view.start_urls,
        "allowed_domains": view.allowed_domains,
        "max_pages": view.max_pages,
        "max_depth": view.max_depth,
        "crawl_delay": view.crawl_delay,
        "obey_robots": view.obey_robots,
        "allow_private": view.allow_private,
        "enabled": view.enabled,
        "group": view.group_name,
        "own_schedule": view.schedule,
        "own_jitter": view.jitter,
        "time_budget": view.time_budget,
        "schedule": _schedule_json(schedule),
        "next_start": next_start.isoformat() if next_start else None,
        "health": _health_json(health_),
        "last_run": last_run.to_json() if last_run else None,
    }


def _site_rows(ctx: Ctx, group: str | None = None) -> list[dict[str, Any]]:
    """Each site with its effective schedule, health, last run and next start."""
    healths = sites.health_by_site(ctx.app)
    latest = runs.latest_runs(ctx.app)
    starts = schedules.next_starts(ctx.app)
    rows = []
    for view in sites.list_sites(ctx.app):
        if group is not None and view.group_name != group:
            continue
        rows.append(
            {
                "site": view,
                "schedule": schedules.site_schedule(ctx.app, view.id),
                "health": healths.get(view.id),
                "last_run": latest.get(view.id),
                "next_start": starts.get(view.id) if view.enabled else None,
            }
        )
    return rows


def _site_detail(ctx: Ctx, site_id: int) -> dict[str, Any]:
    view = sites.get_site(ctx.app, site_id)
    recent = runs.list_runs(ctx.app, site_id=view.id, limit=20)
    return {
        "site": view,
        "schedule": schedules.site_schedule(ctx.app, view.id),
        "health": sites.health_by_site(ctx.app).get(view.id),
        "last_run": recent[0] if recent else None,
        "next_start": schedules.next_starts(ctx.app).get(view.id) if view.enabled else None,
        "runs": recent,
    }


def _run_now(ctx: Ctx, site_id: int) -> tuple[sites.SiteView, int, str]:
    """Queue a manual run and hand it over: (site, run id, where it went)."""
    view = sites.get_site(ctx.app, site_id)
    run_id = runs.create_run(ctx.app, view.id, "manual")
    return view, run_id, executors.submit(ctx.app, run_id)


def _cancelled(run_id: int, done: str) -> str:
    return (
        f"run {run_id}: cancelled"
        if done == "cancelled"
        else f"run {run_id}: cancelling (its supervisor stops the crawl within seconds)"
    )


# -- the watchlist (pages) ----------------------------------------------------------------------


@router.get("/sites", include_in_schema=False)
def sites_page(request: Request, ctx: Operator, group: str = "") -> Response:
    chosen = _text(group)
    return render(
        request,
        "sites/list.html",
        ctx,
        rows=_site_rows(ctx, chosen),
        groups=[g[0] for g in schedules.list_groups(ctx.app)],
        group=chosen,
    )


#: The add form's fields and their defaults (as the form shows them).
NEW_SITE = {
    "url": "", "name": "", "allow_domains": "", "max_pages": "1000", "max_depth": "5",
    "crawl_delay": "1", "obey_robots": True, "allow_private": False, "schedule": "",
    "jitter": "", "group": "", "time_budget": "",
}  # fmt: skip


def _site_form(
    request: Request, ctx: Ctx, template: str, form: dict[str, Any], **extra: Any
) -> Response:
    error = extra.pop("error", None)
    return render(
        request,
        template,
        ctx,
        status_code=400 if error else 200,
        form=form,
        error=error,
        groups=[g[0] for g in schedules.list_groups(ctx.app)],
        default_schedule=ctx.app.config.schedule,
        default_jitter=ctx.app.config.schedule_jitter,
        default_budget=ctx.app.config.run_time_budget,
        **extra,
    )


@router.get("/sites/new", include_in_schema=False)
def site_new_page(request: Request, ctx: Operator) -> Response:
    return _site_form(request, ctx, "sites/new.html", dict(NEW_SITE))


@router.post("/sites", include_in_schema=False)
def site_add(
    request: Request,
    ctx: Operator,
    url: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    allow_domains: Annotated[str, Form()] = "",
    max_pages: Annotated[str, Form()] = "",
    max_depth: Annotated[str, Form()] = "",
    crawl_delay: Annotated[str, Form()] = "",
    obey_robots: Annotated[str, Form()] = "",
    allow_private: Annotated[str, Form()] = "",
    schedule: Annotated[str, Form()] = "",
    jitter: Annotated[str, Form()] = "",
    group: Annotated[str, Form()] = "",
    time_budget: Annotated[str, Form()] = "",
) -> Response:
    form = {
        "url": url, "name": name, "allow_domains": allow_domains, "max_pages": max_pages,
        "max_depth": max_depth, "crawl_delay": crawl_delay, "obey_robots": bool(obey_robots),
        "allow_private": bool(allow_private), "schedule": schedule, "jitter": jitter,
        "group": group, "time_budget": time_budget,
    }  # fmt: skip
    try:
        if not url.strip():
            raise InvalidInput("the start URL is required")
        site_id = sites.add_site(
            ctx.app,
            url,
            name=_text(name),
            allow_domains=_domains(allow_domains),
            max_pages=_required(_number(max_pages, "max pages"), "max pages"),
            max_depth=_required(_number(max_depth, "max depth"), "max depth"),
            crawl_delay=_required(_number(crawl_delay, "crawl delay", float), "crawl delay"),
            obey_robots=bool(obey_robots),
            allow_private=bool(allow_private),
            schedule=_text(schedule),
            jitter=_number(jitter, "jitter"),
            group=_text(group),
            time_budget=_number(time_budget, "time budget"),
        )
    except InvalidInput as exc:
        return _site_form(request, ctx, "sites/new.html", form, error=_for_web(exc))
    view = sites.get_site(ctx.app, site_id)
    return back(f"/sites/{site_id}", f"site {view.id} ({view.name}) added to the watchlist")


@router.get("/sites/{site_id}", include_in_schema=False)
def site_page(request: Request, ctx: Operator, site_id: int) -> Response:
    return render(
        request,
        "sites/show.html",
        ctx,
        duration=duration,
        config_budget=ctx.app.config.run_time_budget,
        **_site_detail(ctx, site_id),
    )


def _edit_values(view: sites.SiteView) -> dict[str, Any]:
    def shown(value: Any) -> str:
        return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    return {
        "schedule": shown(view.schedule),
        "jitter": shown(view.jitter),
        "group": shown(view.group_name),
        "time_budget": shown(view.time_budget),
        "max_pages": shown(view.max_pages),
        "max_depth": shown(view.max_depth),
        "crawl_delay": shown(view.crawl_delay),
    }


@router.get("/sites/{site_id}/edit", include_in_schema=False)
def site_edit_page(request: Request, ctx: Operator, site_id: int) -> Response:
    view = sites.get_site(ctx.app, site_id)
    return _site_form(request, ctx, "sites/edit.html", _edit_values(view), site=view)


@router.post("/sites/{site_id}/edit", include_in_schema=False)
def site_edit(
    request: Request,
    ctx: Operator,
    site_id: int,
    schedule: Annotated[str, Form()] = "",
    jitter: Annotated[str, Form()] = "",
    group: Annotated[str, Form()] = "",
    time_budget: Annotated[str, Form()] = "",
    max_pages: Annotated[str, Form()] = "",
    max_depth: Annotated[str, Form()] = "",
    crawl_delay: Annotated[str, Form()] = "",
) -> Response:
    view = sites.get_site(ctx.app, site_id)
    form = {
        "schedule": schedule, "jitter": jitter, "group": group, "time_budget": time_budget,
        "max_pages": max_pages, "max_depth": max_depth, "crawl_delay": crawl_delay,
    }  # fmt: skip
    try:
        wanted: dict[str, Any] = {
            "schedule": _text(schedule),  # empty: the group's or the default
            "jitter": _number(jitter, "jitter"),
            "group": _text(group),
            "time_budget": _number(time_budget, "time budget"),
            "max_pages": _required(_number(max_pages, "max pages"), "max pages"),
            "max_depth": _required(_number(max_depth, "max depth"), "max depth"),
            "crawl_delay": _required(_number(crawl_delay, "crawl delay", float), "crawl delay"),
        }
        current = {
            "schedule": view.schedule, "jitter": view.jitter, "group": view.group_name,
            "time_budget": view.time_budget, "max_pages": view.max_pages,
            "max_depth": view.max_depth, "crawl_delay": view.crawl_delay,
        }  # fmt: skip
        changes = {k: v for k, v in wanted.items() if v != current[k]}
        changed = sites.edit_site(ctx.app, view.id, **changes) if changes else []
    except InvalidInput as exc:
        return _site_form(request, ctx, "sites/edit.html", form, site=view, error=_for_web(exc))
    if not changed:
        return back(f"/sites/{view.id}", "nothing changed")
    s = schedules.site_schedule(ctx.app, view.id)
    return back(
        f"/sites/{view.id}",
        f"site {view.id}: changed {', '.join(c.replace('_', ' ') for c in changed)};"
        f" schedule {s.text} (from the {s.source}), jitter {s.jitter} s",
    )


@router.post("/sites/{site_id}/pause", include_in_schema=False)
def site_pause(ctx: Operator, site_id: int, next: Annotated[str, Form()] = "") -> Response:
    view = sites.set_enabled(ctx.app, site_id, False)
    return back(_return_to(next, view.id), f"site {view.id} ({view.name}): paused")


@router.post("/sites/{site_id}/resume", include_in_schema=False)
def site_resume(ctx: Operator, site_id: int, next: Annotated[str, Form()] = "") -> Response:
    view = sites.set_enabled(ctx.app, site_id, True)
    return back(_return_to(next, view.id), f"site {view.id} ({view.name}): resumed")


def _return_to(target: str, site_id: int) -> str:
    """Back to the list or to the site's page (nowhere else)."""
    return "/sites" if target == "/sites" else f"/sites/{site_id}"


@router.post("/sites/{site_id}/run-now", include_in_schema=False)
def site_run_now(request: Request, ctx: Operator, site_id: int) -> Response:
    try:
        view, run_id, where = _run_now(ctx, site_id)
    except runs.RunActive as exc:
        if exc.run_id is None:
            raise
        return _run_page(request, ctx, exc.run_id, status_code=400, error=str(exc))
    return back(f"/runs/{run_id}", f"run {run_id} of {view.name}: queued; {where}")


# -- groups (pages) ------------------------------------------------------------------------------


def _groups_page(
    request: Request, ctx: Ctx, form: dict[str, str], error: str | None = None
) -> Response:
    return render(
        request,
        "sites/groups.html",
        ctx,
        status_code=400 if error else 200,
        groups=schedules.list_groups(ctx.app),
        form=form,
        error=error,
        default_schedule=ctx.app.config.schedule,
        default_jitter=ctx.app.config.schedule_jitter,
    )


@router.get("/groups", include_in_schema=False)
def groups_page(request: Request, ctx: Operator, edit: str = "") -> Response:
    form = {"name": "", "schedule": "", "jitter": ""}
    for name, schedule, jitter, _count in schedules.list_groups(ctx.app):
        if name == edit:
            form = {
                "name": name,
                "schedule": schedule or "",
                "jitter": "" if jitter is None else str(jitter),
            }
    return _groups_page(request, ctx, form)


@router.post("/groups", include_in_schema=False)
def group_set(
    request: Request,
    ctx: Operator,
    name: Annotated[str, Form()] = "",
    schedule: Annotated[str, Form()] = "",
    jitter: Annotated[str, Form()] = "",
) -> Response:
    try:
        schedules.set_group(ctx.app, name, _text(schedule), _number(jitter, "jitter"))
    except InvalidInput as exc:
        form = {"name": name, "schedule": schedule, "jitter": jitter}
        return _groups_page(request, ctx, form, error=str(exc))
    return back("/groups", f"group {name.strip()}: {_text(schedule) or 'the default schedule'}")


@router.post("/groups/{name}/remove", include_in_schema=False)
def group_remove(ctx: Operator, name: str) -> Response:
    schedules.remove_group(ctx.app, name)
    return back("/groups", f"group {name}: schedule removed")


# -- runs (pages) --------------------------------------------------------------------------------


@router.get("/runs", include_in_schema=False)
def runs_page(
    request: Request,
    ctx: Operator,
    status: str = "",
    site: str = "",
    limit: Annotated[int, Query(ge=1, le=RUNS_MAX)] = RUNS_PAGE,
) -> Response:
    site_id = _site_id(ctx, site)
    found = runs.list_runs(ctx.app, site_id=site_id, status=_text(status), limit=limit)
    return render(
        request,
        "runs/list.html",
        ctx,
        runs=found,
        status=_text(status) or "",
        site_id=site_id,
        statuses=runs.STATUS_FILTERS,
        sites=sites.list_sites(ctx.app),
        limit=limit,
        more=len(found) == limit and limit < RUNS_MAX,
        duration=duration,
    )


def _run_page(
    request: Request, ctx: Ctx, run_id: int, *, status_code: int = 200, error: str | None = None
) -> Response:
    run = runs.get_run(ctx.app, run_id)
    site = sites.get_site(ctx.app, run.site_id)
    waiting = ""
    if run.status == "queued" and run.worker is None and not ctx.app.config.broker_url:
        if not scheduler_alive(ctx.app):
            waiting = (
                "No scheduler is running, so nothing will start this run: start `monitor"
                " scheduler` (or `monitor web --with-scheduler`), or cancel it and run"
                " `monitor site run-now SITE --foreground`."
            )
    return render(
        request,
        "runs/show.html",
        ctx,
        status_code=status_code,
        run=run,
        site=site,
        error=error,
        waiting=waiting,
        duration=duration,
    )


@router.get("/runs/{run_id}", include_in_schema=False)
def run_page(request: Request, ctx: Operator, run_id: int) -> Response:
    return _run_page(request, ctx, run_id)


@router.post("/runs/{run_id}/cancel", include_in_schema=False)
def run_cancel(ctx: Operator, run_id: int) -> Response:
    done = runs.request_cancel(ctx.app, run_id)
    return back(f"/runs/{run_id}", _cancelled(run_id, done))


# -- status (page) -------------------------------------------------------------------------------


@router.get("/status", include_in_schema=False)
def status_page(request: Request, ctx: Operator) -> Response:
    state = health.status(ctx.app)
    by_name = {s.name: s for s in sites.list_sites(ctx.app)}
    return render(request, "status.html", ctx, s=state, sites_by_name=by_name)


# -- API: sites -------------------------------------------------------------------------------


class NewSite(BaseModel):
    """A site to add to the watchlist (as ``monitor site add``)."""

    url: str = Field(description="The start URL (http or https).")
    name: str | None = Field(None, description="A name to refer to it by (default: its host).")
    allow_domains: list[str] = Field(
        default_factory=list, description="Other domains whose pages belong to the site."
    )
    max_pages: int = 1000
    max_depth: int = 5
    crawl_delay: float = Field(1.0, description="Seconds between requests to the site.")
    obey_robots: bool = True
    allow_private: bool = Field(
        False, description="Allow private, loopback and link-local addresses (a test site)."
    )
    schedule: str | None = Field(
        None, description="'every 6h' or a crontab line; none: its group's, else the default."
    )
    jitter: int | None = Field(None, description="Seconds of random delay added to each start.")
    group: str | None = None
    time_budget: int | None = Field(None, description="Seconds a run may take.")


class SiteChanges(BaseModel):
    """The settings to change (as ``monitor site edit``); only those given change. null
    for schedule, jitter, group or time_budget puts back the default (the group's, or the
    configured one)."""

    schedule: str | None = None
    jitter: int | None = None
    group: str | None = None
    time_budget: int | None = None
    max_pages: int | None = None
    max_depth: int | None = None
    crawl_delay: float | None = None


def _api_site(ctx: Ctx, site_id: int) -> dict[str, Any]:
    d = _site_detail(ctx, site_id)
    return _site_json(d["site"], d["schedule"], d["health"], d["last_run"], d["next_start"])


@router.get("/api/sites", tags=["sites"])
def api_sites(ctx: Operator, group: str | None = None) -> list[dict[str, Any]]:
    """The watchlist: each site's settings, effective schedule (and where it comes from:
    site, group or default), health, newest run and next scheduled start. ``group``: only
    that group's sites. Operator only."""
    return [
        _site_json(r["site"], r["schedule"], r["health"], r["last_run"], r["next_start"])
        for r in _site_rows(ctx, _text(group))
    ]


@router.post("/api/sites", tags=["sites"], status_code=201)
def api_site_add(ctx: Operator, body: NewSite) -> dict[str, Any]:
    """Add a site to the watchlist. Its start URL must not be a private address unless
    ``allow_private``. Operator only."""
    site_id = sites.add_site(
        ctx.app,
        body.url,
        name=body.name,
        allow_domains=tuple(body.allow_domains),
        max_pages=body.max_pages,
        max_depth=body.max_depth,
        crawl_delay=body.crawl_delay,
        obey_robots=body.obey_robots,
        allow_private=body.allow_private,
        schedule=body.schedule,
        jitter=body.jitter,
        group=body.group,
        time_budget=body.time_budget,
    )
    return _api_site(ctx, site_id)


@router.get("/api/sites/{site_id}", tags=["sites"])
def api_site(ctx: Operator, site_id: int) -> dict[str, Any]:
    """One site, with its 20 newest runs. Operator only."""
    d = _site_detail(ctx, site_id)
    return {
        **_site_json(d["site"], d["schedule"], d["health"], d["last_run"], d["next_start"]),
        "runs": [r.to_json() for r in d["runs"]],
    }


@router.patch("/api/sites/{site_id}", tags=["sites"])
def api_site_edit(ctx: Operator, site_id: int, body: SiteChanges) -> dict[str, Any]:
    """Change a site's schedule, jitter, group, time budget, max pages, max depth or
    crawl delay. Operator only."""
    view = sites.get_site(ctx.app, site_id)
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    if not changes:
        raise InvalidInput(f"nothing to change: give at least one of {', '.join(sites.EDITABLE)}")
    changed = sites.edit_site(ctx.app, view.id, **changes)
    return {**_api_site(ctx, view.id), "changed": changed}


@router.post("/api/sites/{site_id}/pause", tags=["sites"])
def api_site_pause(ctx: Operator, site_id: int) -> dict[str, Any]:
    """Stop starting the site's scheduled crawls (a run in progress goes on). Operator only."""
    sites.set_enabled(ctx.app, site_id, False)
    return _api_site(ctx, site_id)


@router.post("/api/sites/{site_id}/resume", tags=["sites"])
def api_site_resume(ctx: Operator, site_id: int) -> dict[str, Any]:
    """Start the site's scheduled crawls again. Operator only."""
    sites.set_enabled(ctx.app, site_id, True)
    return _api_site(ctx, site_id)


@router.post("/api/sites/{site_id}/run-now", tags=["sites"], status_code=202, response_model=None)
def api_site_run_now(ctx: Operator, site_id: int) -> dict[str, Any] | Response:
    """Queue a run of the site now and hand it to the scheduler or the Celery workers;
    ``message`` says which. 400 (with ``run_id``) if the site has a run queued or
    running already. Operator only."""
    try:
        _view, run_id, where = _run_now(ctx, site_id)
    except runs.RunActive as exc:
        return JSONResponse({"detail": str(exc), "run_id": exc.run_id}, status_code=400)
    return {"run": runs.get_run(ctx.app, run_id).to_json(), "message": where}


# -- API: groups -------------------------------------------------------------------------------


class GroupSchedule(BaseModel):
    """A group's schedule and jitter, for its sites that have none of their own."""

    schedule: str | None = Field(None, description="'every 6h' or a crontab line; none: default.")
    jitter: int | None = Field(None, description="Seconds of random delay; none: default.")


def _group_json(row: tuple[str, str | None, int | None, int]) -> dict[str, Any]:
    name, schedule, jitter, count = row
    return {"name": name, "schedule": schedule, "jitter": jitter, "sites": count}


def _group(ctx: Ctx, name: str) -> dict[str, Any]:
    for row in schedules.list_groups(ctx.app):
        if row[0] == name:
            return _group_json(row)
    raise NotFound(f"no group {name!r}")


@router.get("/api/groups", tags=["groups"])
def api_groups(ctx: Operator) -> list[dict[str, Any]]:
    """Groups (with a schedule, or named by sites), their schedules and site counts.
    Operator only."""
    return [_group_json(row) for row in schedules.list_groups(ctx.app)]


@router.get("/api/groups/{name}", tags=["groups"])
def api_group(ctx: Operator, name: str) -> dict[str, Any]:
    """One group. Operator only."""
    return _group(ctx, name)


@router.put("/api/groups/{name}", tags=["groups"])
def api_group_set(ctx: Operator, name: str, body: GroupSchedule) -> dict[str, Any]:
    """Set a group's schedule and jitter. Operator only."""
    schedules.set_group(ctx.app, name, body.schedule, body.jitter)
    return _group(ctx, name.strip())


@router.delete("/api/groups/{name}", tags=["groups"])
def api_group_remove(ctx: Operator, name: str) -> dict[str, Any]:
    """Forget a group's schedule (its sites keep the group name). Operator only."""
    schedules.remove_group(ctx.app, name)
    return {"name": name, "removed": True}


# -- API: runs and status --------------------------------------------------------------------------


@router.get("/api/runs", tags=["runs"])
def api_runs(
    ctx: Operator,
    status: str | None = None,
    site: str | None = None,
    limit: Annotated[int, Query(ge=1, le=RUNS_MAX)] = RUNS_PAGE,
) -> list[dict[str, Any]]:
    """The newest runs first. ``status``: active, queued, running, completed, failed or
    cancelled; ``site``: a site's id or name. Operator only."""
    found = runs.list_runs(ctx.app, site_id=_site_id(ctx, site), status=_text(status), limit=limit)
    return [r.to_json() for r in found]


@router.get("/api/runs/{run_id}", tags=["runs"])
def api_run(ctx: Operator, run_id: int) -> dict[str, Any]:
    """One run: status, live figures while it runs, errors by kind, finish reason.
    Operator only."""
    return runs.get_run(ctx.app, run_id).to_json()


@router.post("/api/runs/{run_id}/cancel", tags=["runs"])
def api_run_cancel(ctx: Operator, run_id: int) -> dict[str, Any]:
    """Cancel a queued run, or stop a running one (its supervisor: SIGINT, then SIGKILL
    after a grace period). ``done`` is "cancelled" or "cancelling". Operator only."""
    done = runs.request_cancel(ctx.app, run_id)
    return {
        "done": done,
        "message": _cancelled(run_id, done),
        **runs.get_run(ctx.app, run_id).to_json(),
    }


@router.get("/api/status", tags=["status"])
def api_status(ctx: Operator) -> dict[str, Any]:
    """The system at a glance, as ``monitor status --json``: scheduler, running and
    queued runs, failing sites, alerts and notices counts (no victim's data). Operator
    only."""
    return health.status(ctx.app)

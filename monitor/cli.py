"""The ``monitor`` command line: a thin layer over the services.

Every error is one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from monitor import cases, hits, sites
from monitor.app import App, bootstrap
from monitor.config import Config, ConfigError
from monitor.crypto import CryptoError
from monitor.db import Database, SchemaOutOfDate, upgrade
from monitor.errors import MonitorError
from monitor.recipients import KINDS as RECIPIENT_KINDS
from monitor.runs import RunView
from monitor.takedowns import LAWS

F = TypeVar("F", bound=Callable[..., Any])
err = Console(stderr=True)


class Fail(click.ClickException):
    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def friendly_errors(fn: F) -> F:
    """Turn the errors people can cause into one-line messages."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (MonitorError, SchemaOutOfDate, ConfigError, CryptoError) as exc:
            raise Fail(str(exc)) from exc
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise Fail(f"database error: {detail}") from exc

    return wrapper  # type: ignore[return-value]


def get_app(ctx: click.Context) -> App:
    app = ctx.obj.get("app") if ctx.obj else None
    if app is None:
        app = bootstrap(Config.from_env())
        ctx.obj["app"] = app
        ctx.call_on_close(app.close)
    return app


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ncii-monitor")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Find where a victim's images are republished, from their hashes only."""
    ctx.ensure_object(dict)


# -- db ------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    config = Config.from_env()
    database = Database(config.database_url)
    try:
        upgrade(database)
    finally:
        database.dispose()
    click.echo(f"database is up to date ({database.backend})")


# -- cases -----------------------------------------------------------------------------
@main.group()
def case() -> None:
    """Victims' cases."""


ALERTS_HELP = (
    "Email alerts about confirmed hits: never, immediate, or a daily or weekly digest"
    " (only what the victim chose)."
)
ALERT_TO_HELP = "Send alerts to this address (an advocate's) instead of the victim's; '' to undo."
COUNTRY_HELP = "Two-letter country code: which support helplines the alerts name."
NOTES_HELP = "The analysts' notes on the case (stored encrypted)."
AUTO_CONFIRM_HELP = (
    "Confirm new hits on byte-for-byte copies of the case's files without review"
    " (default: every hit waits for an analyst)."
)


@case.command("add")
@click.argument("name")
@click.option("--email", help="The victim's contact address (stored encrypted).")
@click.option("--language", type=click.Choice(cases.LANGUAGES), default="en", show_default=True)
@click.option("--auto-confirm-exact", is_flag=True, help=AUTO_CONFIRM_HELP)
@click.option(
    "--alerts",
    type=click.Choice(cases.ALERTS),
    default="never",
    show_default=True,
    help=ALERTS_HELP,
)
@click.option("--alert-to", help=ALERT_TO_HELP)
@click.option("--country", help=COUNTRY_HELP)
@click.option("--notes", help=NOTES_HELP)
@click.pass_context
@friendly_errors
def case_add(
    ctx: click.Context,
    name: str,
    email: str | None,
    language: str,
    auto_confirm_exact: bool,
    alerts: str,
    alert_to: str | None,
    country: str | None,
    notes: str | None,
) -> None:
    """Open a case; prints its id."""
    click.echo(
        cases.add_case(
            get_app(ctx),
            name,
            email=email,
            language=language,
            auto_confirm_exact=auto_confirm_exact,
            alerts=alerts,
            alert_to=alert_to,
            country=country,
            notes=notes,
        )
    )


@case.command("edit")
@click.argument("case_id", type=int)
@click.option("--email", help="A new contact address (stored encrypted).")
@click.option("--language", type=click.Choice(cases.LANGUAGES))
@click.option("--auto-confirm-exact/--no-auto-confirm-exact", default=None, help=AUTO_CONFIRM_HELP)
@click.option("--alerts", type=click.Choice(cases.ALERTS), help=ALERTS_HELP)
@click.option("--alert-to", help=ALERT_TO_HELP)
@click.option("--country", help=COUNTRY_HELP)
@click.option("--notes", help=NOTES_HELP + " '' removes them.")
@click.pass_context
@friendly_errors
def case_edit(
    ctx: click.Context,
    case_id: int,
    email: str | None,
    language: str | None,
    auto_confirm_exact: bool | None,
    alerts: str | None,
    alert_to: str | None,
    country: str | None,
    notes: str | None,
) -> None:
    """Change a case's settings (only the options given)."""
    changed = cases.edit_case(
        get_app(ctx),
        case_id,
        email=email,
        language=language,
        auto_confirm_exact=auto_confirm_exact,
        alerts=alerts,
        alert_to=alert_to,
        country=country,
        notes=notes,
    )
    click.echo(
        f"case {case_id}: " + (", ".join(changed) + " changed" if changed else "nothing to change")
    )


@case.command("list")
@click.pass_context
@friendly_errors
def case_list(ctx: click.Context) -> None:
    """List cases (their details are decrypted, and the access is audit-logged)."""
    table = Table("id", "name", "language", "status", "auto-confirm exact", "created")
    for view in cases.list_cases(get_app(ctx)):
        table.add_row(
            str(view.id),
            view.name,
            view.language,
            view.status,
            "yes" if view.auto_confirm_exact else "no",
            view.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)


# -- hashes ----------------------------------------------------------------------------
@main.group("hashes")
def hashes_group() -> None:
    """A case's hash list."""


@hashes_group.command("add")
@click.argument("case_id", type=int)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--no-labels", is_flag=True, help="Do not label hashes with their file names.")
@click.pass_context
@friendly_errors
def hashes_add(ctx: click.Context, case_id: int, paths: tuple[Path, ...], no_labels: bool) -> None:
    """Hash image and video files or folders locally; only the hashes are stored.

    A video is stored as its sampled frames' PDQ hashes (about one a second, and at
    each cut), those of its mirror image, and its file's MD5."""
    from monitor import hashes

    result = hashes.hash_files(get_app(ctx), case_id, list(paths), labels=not no_labels)
    videos = f", {result.videos} of them videos" if result.videos else ""
    click.echo(
        f"added {result.added} hashes from {result.files} files{videos}"
        f" ({result.duplicates} already in the case)"
    )
    for path, reason in result.skipped:
        click.echo(f"skipped {path}: {reason}")


@hashes_group.command("import")
@click.argument("case_id", type=int)
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--strict", is_flag=True, help="All or nothing: refuse the file at its first bad entry."
)
@click.option(
    "--trust-once",
    is_flag=True,
    help="Accept a valid signature by a key this instance does not trust, for this import.",
)
@click.pass_context
@friendly_errors
def hashes_import(
    ctx: click.Context, case_id: int, file: Path, strict: bool, trust_once: bool
) -> None:
    """Import a hash list: this tool's JSON (signed or not), StopNCII's or ThreatExchange's
    JSON, 'TYPE HEX' lines, CSV or bare PDQ lines. Bad entries are rejected one by one
    and listed; exit status 1 when nothing was imported and something was rejected (a
    file already imported, every hash already in the case, exits 0)."""
    from monitor import hashes

    report = hashes.import_hash_file(
        get_app(ctx), case_id, file, strict=strict, trust_once=trust_once
    )
    for line in report.lines():
        click.echo(line)
    if report.added == 0 and report.rejected:
        ctx.exit(1)


@hashes_group.command("export")
@click.argument("case_id", type=int)
@click.option(
    "--format",
    "format_",
    type=click.Choice(["ncii-monitor", "stopncii", "threatexchange", "text", "csv", "pdq"]),
    default="ncii-monitor",
    show_default=True,
    help="ncii-monitor: our signed JSON; stopncii / threatexchange: their JSON;"
    " text: 'pdq HEX' lines (threatexchange CLI, HMA); csv; pdq: bare 'HEX,QUALITY' lines.",
)
@click.option("--labels", is_flag=True, help="Include the labels (usually file names).")
@click.pass_context
@friendly_errors
def hashes_export(ctx: click.Context, case_id: int, format_: str, labels: bool) -> None:
    """Write a case's hash list to standard output (audit-logged). No image data, case
    number, personal data or device metadata; labels only with --labels."""
    from monitor import hashes

    exported = hashes.export_hashes(get_app(ctx), case_id, format=format_, labels=labels)
    click.echo(exported.text, nl=False)
    if exported.skipped:
        click.echo(
            f"{exported.skipped} entries not written: the {format_} format cannot hold them",
            err=True,
        )


# -- sites -----------------------------------------------------------------------------
@main.group()
def site() -> None:
    """The watchlist."""


@site.command("add")
@click.argument("url")
@click.option("--name", help="A name to refer to the site by (default: its host).")
@click.option(
    "--allow-domain",
    "allow_domains",
    multiple=True,
    help="Another domain whose pages belong to the site (repeatable).",
)
@click.option("--max-pages", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--max-depth", type=click.IntRange(min=0), default=5, show_default=True)
@click.option(
    "--crawl-delay",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds between requests to the site.",
)
@click.option("--ignore-robots", is_flag=True, help="Do not obey the site's robots.txt.")
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow private, loopback and link-local addresses (e.g. a test site).",
)
@click.option(
    "--schedule", help="'every 6h' or a crontab line (default: its group's, else MONITOR_SCHEDULE)."
)
@click.option("--jitter", type=click.IntRange(min=0), help="Seconds of random delay per start.")
@click.option("--group", help="A group of sites sharing a schedule (monitor group set).")
@click.option("--time-budget", type=click.IntRange(min=1), help="Seconds a run may take.")
@click.pass_context
@friendly_errors
def site_add(
    ctx: click.Context,
    url: str,
    name: str | None,
    allow_domains: tuple[str, ...],
    max_pages: int,
    max_depth: int,
    crawl_delay: float,
    ignore_robots: bool,
    allow_private: bool,
    schedule: str | None,
    jitter: int | None,
    group: str | None,
    time_budget: int | None,
) -> None:
    """Add a site to the watchlist; prints its id."""
    click.echo(
        sites.add_site(
            get_app(ctx),
            url,
            name=name,
            allow_domains=allow_domains,
            max_pages=max_pages,
            max_depth=max_depth,
            crawl_delay=crawl_delay,
            obey_robots=not ignore_robots,
            allow_private=allow_private,
            schedule=schedule,
            jitter=jitter,
            group=group,
            time_budget=time_budget,
        )
    )


@site.command("list")
@click.pass_context
@friendly_errors
def site_list(ctx: click.Context) -> None:
    """List the watchlist, with each site's schedule and state."""
    from monitor.schedules import site_schedule

    app = get_app(ctx)
    table = Table("id", "name", "start URL", "group", "schedule", "state", "pages", "robots",
                  "private")  # fmt: skip
    for view in sites.list_sites(app):
        schedule = site_schedule(app, view.id)
        table.add_row(
            str(view.id),
            view.name,
            view.start_urls[0],
            view.group_name or "",
            schedule.text + ("" if schedule.source == "site" else f" ({schedule.source})"),
            "active" if view.enabled else "paused",
            str(view.max_pages),
            "obey" if view.obey_robots else "ignore",
            "allowed" if view.allow_private else "refused",
        )
    Console(width=max(140, Console().width)).print(table)


# -- crawl ---------------------------------------------------------------------------------
@main.command()
@click.argument("site_ref", metavar="SITE")
@click.option("-v", "--verbose", is_flag=True, help="Show the crawler's log.")
@click.pass_context
@friendly_errors
def crawl(ctx: click.Context, site_ref: str, verbose: bool) -> None:
    """Crawl a site (id or name) now, in the foreground."""
    from monitor.progress import crawl_with_progress

    run = crawl_with_progress(get_app(ctx), site_ref, verbose=verbose)
    print_summary(run)
    if run.status != "completed":
        raise Fail(f"crawl run {run.id} {run.status}: {run.finish_reason}")


def print_summary(run: RunView) -> None:
    s = run.stats
    click.echo(f"run {run.id} of {run.site_name}: {run.status} ({run.finish_reason})")
    click.echo(
        f"pages {s.pages} · images {s.images} · bytes {s.bytes} · "
        f"hits {s.hits} ({s.new_hits} new) · errors {sum(s.errors.values())}"
    )
    for kind, count in sorted(s.errors.items()):
        click.echo(f"  {kind}: {count}")


# -- hits --------------------------------------------------------------------------------
@main.group("hits")
def hits_group() -> None:
    """Where a case's images were found."""


@hits_group.command("list")
@click.option("--case", "case_id", type=int, help="Only this case's hits.")
@click.option("--status", type=click.Choice(["new", "confirmed", "rejected"]))
@click.option("--json", "as_json", is_flag=True, help="A JSON array, for scripts.")
@click.pass_context
@friendly_errors
def hits_list(ctx: click.Context, case_id: int | None, status: str | None, as_json: bool) -> None:
    """List hits (each listing is audit-logged)."""
    views = hits.list_hits(get_app(ctx), case_id=case_id, status=status)
    if as_json:
        click.echo(json.dumps([v.to_json() for v in views], indent=2))
        return
    print_hits(views)


@hits_group.command("confirm")
@click.argument("hit_ids", nargs=-1, required=True, type=int)
@click.pass_context
@friendly_errors
def hits_confirm(ctx: click.Context, hit_ids: tuple[int, ...]) -> None:
    """Confirm hits: the image is the victim's. Only confirmed hits lead to alerts and
    notices. Unknown ids change nothing."""
    from monitor import review

    decision = review.confirm_hits(get_app(ctx), hit_ids)
    print_decision("confirmed", decision)


@hits_group.command("reject")
@click.argument("hit_ids", nargs=-1, required=True, type=int)
@click.option("--reason", help="Why (stored encrypted, shown to analysts).")
@click.pass_context
@friendly_errors
def hits_reject(ctx: click.Context, hit_ids: tuple[int, ...], reason: str | None) -> None:
    """Reject hits: not the victim's image. The same image bytes never raise a hit for
    that reference image again; its other hits waiting for review are rejected too."""
    from monitor import review

    decision = review.reject_hits(get_app(ctx), hit_ids, reason)
    print_decision("rejected", decision)


def print_decision(verb: str, decision: Any) -> None:
    ids = ", ".join(map(str, decision.hit_ids)) or "none"
    click.echo(f"{verb}: {ids}")
    if decision.also:
        click.echo(
            f"also {verb} (same image, same reference image): " + ", ".join(map(str, decision.also))
        )
    if decision.unchanged:
        click.echo(f"already {verb}: " + ", ".join(map(str, decision.unchanged)))


def print_hits(views: list[hits.HitView]) -> None:
    table = Table(
        "id", "case", "label", "page", "image", "alg", "dist", "status", "decided by", "last seen"
    )
    for name in ("page", "image"):
        column = next(c for c in table.columns if c.header == name)
        column.overflow = "fold"  # URLs are evidence: never cut them short
    if any(v.short_stretch for v in views):  # a video's stretch on one line
        next(c for c in table.columns if c.header == "alg").min_width = 34
    for v in views:
        table.add_row(
            str(v.id),
            str(v.case_id),
            v.label or "",
            v.page_url,
            v.image_url,
            v.algorithm + (f"\n{v.short_stretch}" if v.short_stretch else ""),
            str(v.distance),
            v.status,
            v.decided_by or "",
            v.last_seen.strftime("%Y-%m-%d %H:%M"),
        )
    Console(width=max(160, Console().width)).print(table)


# -- alerts --------------------------------------------------------------------------------
@main.group("alerts")
def alerts_group() -> None:
    """Email alerts to victims about their confirmed hits."""


@alerts_group.command("send")
@click.pass_context
@friendly_errors
def alerts_send(ctx: click.Context) -> None:
    """Queue the alerts that are due and deliver the outbox (retrying failures later)."""
    from monitor import alerts

    app = get_app(ctx)
    queued = alerts.queue_alerts(app)
    for case_id in queued.no_address:
        click.echo(f"case {case_id}: alerts are on but there is no address to send them to")
    click.echo(f"queued {len(queued.queued)} message(s)")
    report = alerts.deliver(app)
    click.echo(f"sent {len(report.sent)} message(s)")
    for outbox_id, error in report.retrying:
        click.echo(f"message {outbox_id} not sent, will be retried: {error}")
    for outbox_id in report.failed:
        click.echo(f"message {outbox_id} given up after {alerts.MAX_ATTEMPTS} attempts")
    if report.retrying or report.failed:
        sys.exit(1)


@alerts_group.command("preview")
@click.argument("case_id", type=int)
@click.pass_context
@friendly_errors
def alerts_preview(ctx: click.Context, case_id: int) -> None:
    """Show the alert that would go out now for the case's confirmed hits and notices not
    yet told to her (nothing is sent)."""
    from monitor import alerts

    draft = alerts.preview_alert(get_app(ctx), case_id)
    if draft is None:
        click.echo(
            f"case {case_id}: nothing to tell her: no confirmed hit waits to be announced"
            " and no notice was sent or acted on since her last alert"
        )
        return
    click.echo(f"To: {draft.recipient or '(no address: set --email or --alert-to)'}")
    click.echo(f"Subject: {draft.subject}")
    click.echo(f"Hits: {', '.join(map(str, draft.hit_ids)) or 'none new'}")
    click.echo("")
    click.echo(draft.body)


@alerts_group.command("serve-links")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.pass_context
@friendly_errors
def alerts_serve_links(ctx: click.Context, host: str, port: int) -> None:
    """Answer the pause and stop links of alerts (behind the proxy of MONITOR_PUBLIC_URL)."""
    from wsgiref.simple_server import make_server

    from monitor import links

    with make_server(host, port, links.wsgi_app(get_app(ctx))) as server:
        click.echo(f"serving the alert links on http://{host}:{server.server_port}/alerts/")
        server.serve_forever()


# -- recipients of takedown notices ---------------------------------------------------------
@main.group("recipients")
def recipients_group() -> None:
    """Who receives takedown notices: overrides per domain, and discovery."""


@recipients_group.command("set")
@click.argument("domain")
@click.option(
    "--kind",
    type=click.Choice(RECIPIENT_KINDS),
    required=True,
)
@click.option("--name", required=True, help="Who it is, as a notice names them.")
@click.option("--email", help="Where notices go.")
@click.option("--form", "form_url", help="The web form notices are filed through.")
@click.pass_context
@friendly_errors
def recipients_set(
    ctx: click.Context, domain: str, kind: str, name: str, email: str | None, form_url: str | None
) -> None:
    """Name the recipient for a domain and its subdomains (used before anything discovered)."""
    from monitor import recipients

    recipients.set_override(
        get_app(ctx), domain, kind=kind, name=name, email=email, form_url=form_url
    )
    click.echo(f"{domain}: {name}")


@recipients_group.command("remove")
@click.argument("domain")
@click.pass_context
@friendly_errors
def recipients_remove(ctx: click.Context, domain: str) -> None:
    """Remove a domain's override."""
    from monitor import recipients

    recipients.remove_override(get_app(ctx), domain)
    click.echo(f"{domain}: override removed")


@recipients_group.command("find")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, for scripts.")
@click.pass_context
@friendly_errors
def recipients_find(ctx: click.Context, url: str, as_json: bool) -> None:
    """Who should receive a notice about URL, most direct first (RDAP answers are cached)."""
    from monitor import recipients

    found = recipients.find_recipients(get_app(ctx), url)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in found], indent=2))
        return
    table = Table("kind", "name", "email", "form", "source", "found")
    for r in found:
        table.add_row(
            r.kind,
            r.name,
            (r.email or "") + (" (guess)" if r.guess else ""),
            r.form_url or "",
            r.source,
            r.found_at,
        )
    Console(width=max(140, Console().width)).print(table)
    click.echo(
        "Search engines get de-listing requests separately: monitor recipients search-engines"
    )


@recipients_group.command("search-engines")
@click.option("--gdpr", is_flag=True, help="Their GDPR Art. 17 forms (EU, EEA and UK cases).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, for scripts.")
@click.pass_context
@friendly_errors
def recipients_search_engines(ctx: click.Context, gdpr: bool, as_json: bool) -> None:
    """The search engines de-listing requests go to (--law delisting), with their forms."""
    from monitor import recipients

    engines = recipients.search_engines(get_app(ctx), gdpr=gdpr)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in engines], indent=2))
        return
    for r in engines:  # plain lines: the addresses are copied whole
        click.echo(f"{r.domain}: {r.name} ({r.source}, checked {r.found_at})")
        for label, value in (("form", r.form_url), ("email", r.email)):
            if value:
                click.echo(f"  {label}: {value}")
    click.echo(
        "Forms move: check each before use (monitor recipients set DOMAIN --kind search-engine)."
    )


# -- takedown notices -------------------------------------------------------------------------
@main.group("takedowns")
def takedowns_group() -> None:
    """Takedown notices for confirmed hits: drafts, export, marking sent."""


@takedowns_group.command("draft")
@click.argument("case_id", type=int)
@click.option("--law", type=click.Choice(list(LAWS)), required=True, help="The legal basis.")
@click.option("--language", type=click.Choice(cases.LANGUAGES), help="Default: the case's.")
@click.pass_context
@friendly_errors
def takedowns_draft(ctx: click.Context, case_id: int, law: str, language: str | None) -> None:
    """Draft one notice per site for the case's confirmed hits not yet noticed under LAW
    (--law delisting: one per search engine, for all the sites)."""
    from monitor import takedowns

    app = get_app(ctx)
    ids = takedowns.draft_notices(app, case_id, law, language=language)
    if not ids:
        click.echo(f"case {case_id}: no confirmed hit waits for a notice under {law}")
    for notice in (takedowns.get_notice(app, i) for i in ids):
        to = notice.recipient.get("email") or notice.recipient.get("form_url") or "?"
        guess = " (a guess)" if notice.recipient.get("guess") else ""
        click.echo(
            f"notice {notice.id}: {notice.host} → {notice.recipient['name']} <{to}>{guess};"
            f" {len(notice.hit_ids)} hit(s); missing: {'; '.join(notice.missing) or 'nothing'}"
        )


@takedowns_group.command("list")
@click.option("--case", "case_id", type=int, help="Only this case's notices.")
@click.pass_context
@friendly_errors
def takedowns_list(ctx: click.Context, case_id: int | None) -> None:
    """List notices (audit-logged)."""
    from monitor import takedowns

    table = Table("id", "case", "site", "law", "recipient", "status", "created", "missing")
    for n in takedowns.list_notices(get_app(ctx), case_id):
        table.add_row(
            str(n.id),
            str(n.case_id),
            n.host,
            n.law,
            n.recipient.get("email") or n.recipient.get("form_url") or "",
            n.status,
            n.created_at.strftime("%Y-%m-%d"),
            str(len(n.missing)),
        )
    Console(width=max(140, Console().width)).print(table)


@takedowns_group.command("show")
@click.argument("notice_id", type=int)
@click.pass_context
@friendly_errors
def takedowns_show(ctx: click.Context, notice_id: int) -> None:
    """Print a notice (audit-logged)."""
    from monitor import takedowns

    n = takedowns.get_notice(get_app(ctx), notice_id)
    click.echo(f"To: {n.recipient.get('email') or n.recipient.get('form_url') or '?'}")
    click.echo(f"Subject: {n.subject}\n")
    click.echo(n.body)


@takedowns_group.command("export")
@click.argument("notice_id", type=int)
@click.option("--out", "folder", type=click.Path(path_type=Path), required=True)
@click.pass_context
@friendly_errors
def takedowns_export(ctx: click.Context, notice_id: int, folder: Path) -> None:
    """Write the notice as an .eml file ready to send, and as plain text."""
    from monitor import takedowns

    app = get_app(ctx)
    sender = app.config.org_email or app.config.mail_from
    if not sender:
        raise Fail("set MONITOR_ORG_EMAIL (or MONITOR_MAIL_FROM): the notice needs a sender")
    for path in takedowns.export_notice(app, notice_id, folder, sender):
        click.echo(str(path))


@takedowns_group.command("mark-sent")
@click.argument("notice_id", type=int)
@click.pass_context
@friendly_errors
def takedowns_mark_sent(ctx: click.Context, notice_id: int) -> None:
    """Record that the notice was sent (by whom and when)."""
    from monitor import takedowns

    n = takedowns.mark_sent(get_app(ctx), notice_id)
    click.echo(f"notice {n.id}: sent {n.sent_at:%Y-%m-%d %H:%M}")


@takedowns_group.command("ack")
@click.argument("notice_id", type=int)
@click.pass_context
@friendly_errors
def takedowns_ack(ctx: click.Context, notice_id: int) -> None:
    """Record that the recipient acknowledged the notice."""
    from monitor import tracking

    tracking.acknowledge(get_app(ctx), notice_id)
    click.echo(f"notice {notice_id}: acknowledged")


@takedowns_group.command("mark-removed")
@click.argument("notice_id", type=int)
@click.option("--detail", help="What the recipient said (e.g. 'de-listed, their ref 123').")
@click.pass_context
@friendly_errors
def takedowns_mark_removed(ctx: click.Context, notice_id: int, detail: str | None) -> None:
    """Record a removal (or a search engine's de-listing) the recipient confirmed."""
    from monitor import tracking

    tracking.mark_removed(get_app(ctx), notice_id, detail)
    click.echo(f"notice {notice_id}: removed")


@takedowns_group.command("timeline")
@click.argument("notice_id", type=int)
@click.pass_context
@friendly_errors
def takedowns_timeline(ctx: click.Context, notice_id: int) -> None:
    """A notice's status changes, oldest first."""
    from monitor import tracking

    for at, status, detail, actor in tracking.timeline(get_app(ctx), notice_id):
        click.echo(f"{at:%Y-%m-%d %H:%M}  {status:<12} {actor}{'  ' + detail if detail else ''}")


@takedowns_group.command("recheck")
@click.pass_context
@friendly_errors
def takedowns_recheck(ctx: click.Context) -> None:
    """Fetch every tracked notice's images and decide by hash: removed, still online,
    reappeared; escalate notices still online MONITOR_ESCALATE_DAYS after sending."""
    from monitor import tracking

    for r in tracking.recheck(get_app(ctx)):
        more = f"; escalated: draft notice {r.escalated_to}" if r.escalated_to else ""
        click.echo(f"notice {r.notice_id}: {r.outcome}{more}")


@takedowns_group.command("stats")
@click.pass_context
@friendly_errors
def takedowns_stats(ctx: click.Context) -> None:
    """Time from sending to removal, per host and per recipient kind."""
    from monitor import tracking

    for key, rows in tracking.removal_stats(get_app(ctx)).items():
        table = Table(key, "sent", "removed", "median hours to removal")
        for row in rows:
            median = row["median_hours"]
            table.add_row(
                row["name"],
                str(row["sent"]),
                str(row["removed"]),
                "–" if median is None else str(median),
            )
        Console().print(table)


# -- demo ---------------------------------------------------------------------------------
@main.command()
@click.option(
    "--serve",
    is_flag=True,
    help="Keep the sample site up afterwards (until Ctrl-C), to try the commands on it.",
)
@click.pass_context
@friendly_errors
def demo(ctx: click.Context, serve: bool) -> None:
    """Run the whole path on a bundled sample site served on 127.0.0.1."""
    from monitor.demo import run_demo

    sys.exit(run_demo(serve=serve))


# The operators' commands (schedules, runs, the scheduler daemon, workers) live apart.
from monitor import cli_hasher, cli_ops, cli_privacy, cli_users, cli_web  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()

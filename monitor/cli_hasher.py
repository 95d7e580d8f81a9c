"""``monitor hasher``: the victim's offline hashing page, as one file to send her."""

from __future__ import annotations

from pathlib import Path

import click

from monitor import hasherpage
from monitor.cli import friendly_errors, get_app, main


@main.group("hasher")
def hasher_group() -> None:
    """The page on which a victim hashes her photos on her own device."""


@hasher_group.command("page")
@click.option(
    "--case",
    "case_id",
    type=int,
    default=None,
    help="Make the page for this case: its files are sealed with the case's key.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the page to this file (default: standard output).",
)
@click.pass_context
@friendly_errors
def hasher_page(ctx: click.Context, case_id: int | None, out: Path | None) -> None:
    """Write the hashing page: one HTML file that works offline in any current browser.
    Send it to her (or link to /hasher.html of `monitor web`); she opens it, picks her
    photos, and saves a hash-list file to send back for `monitor hashes import`."""
    app = get_app(ctx)
    if case_id is None:
        body, _csp = hasherpage.generic_page(app)
    else:
        body, _csp = hasherpage.case_page(app, case_id)
    if out is None:
        click.echo(body, nl=False)
        return
    out.write_text(body, encoding="utf-8")
    sealed = f"sealed for case {case_id}" if case_id is not None else "unsealed (generic)"
    click.echo(f"wrote the hashing page to {out} ({len(body.encode()) // 1024} KB, {sealed})")

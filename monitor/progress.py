"""A live progress line for a crawl in the foreground (rich, on stderr)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from monitor.app import App
from monitor.crawls import execute_run
from monitor.runs import RunView, create_run, this_worker
from monitor.sites import get_site


def crawl_with_progress(
    app: App, site_ref: str, *, verbose: bool = False, quiet_level: str = "WARNING"
) -> RunView:
    """Crawl a site now, in the foreground, with a live progress line."""
    site = get_site(app, site_ref)
    # Named as its supervisor at once: killed before the crawl starts, the run is known dead.
    run_id = create_run(app, site.id, "manual", worker=this_worker())
    return execute_with_progress(
        app, run_id, label=site_ref, log_level="INFO" if verbose else quiet_level
    )


def execute_with_progress(
    app: App, run_id: int, *, label: str, log_level: str = "WARNING"
) -> RunView:
    """Carry out a queued run here, with a live progress line on stderr."""
    return _with_progress(
        label, lambda show: execute_run(app, run_id, log_level=log_level, on_progress=show)
    )


def _with_progress(label: str, go: Callable[[Callable[[RunView], None]], RunView]) -> RunView:
    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(f"crawling {label}", counts="starting")

        def show(run: RunView) -> None:
            s = run.stats
            progress.update(
                task,
                counts=(
                    f"{run.status} · pages {s.pages} · images {s.images} · hits {s.hits} · "
                    f"errors {sum(s.errors.values())}"
                ),
            )

        return go(show)

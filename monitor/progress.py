"""A live progress line for a crawl in the foreground (rich, on stderr)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from monitor.app import App
from monitor.crawls import run_crawl
from monitor.runs import RunView


def crawl_with_progress(
    app: App, site_ref: str, *, verbose: bool = False, quiet_level: str = "WARNING"
) -> RunView:
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
        task = progress.add_task(f"crawling {site_ref}", counts="starting")

        def show(run: RunView) -> None:
            s = run.stats
            progress.update(
                task,
                counts=(
                    f"{run.status} · pages {s.pages} · images {s.images} · hits {s.hits} · "
                    f"errors {sum(s.errors.values())}"
                ),
            )

        return run_crawl(
            app, site_ref, log_level="INFO" if verbose else quiet_level, on_progress=show
        )

"""``monitor demo``: the whole path on the embedded default, with nothing to configure.

A fresh SQLite database under ./var, a sample case whose hashes come from
sample photos, the bundled sample site served on 127.0.0.1, one crawl, and the
hits it found. Each step prints the CLI command that does the same.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from monitor import alerts, cases, hashes, review, sites
from monitor.app import bootstrap
from monitor.config import Config
from monitor.db import Database, upgrade
from monitor.hits import HitView, list_hits
from monitor.progress import crawl_with_progress
from monitor.samplesite import SiteServer, build_sample_site

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"
CASE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def demo_config() -> Config:
    config = Config.from_env()
    database = config.var_dir / "demo.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return dataclasses.replace(config, database_url=f"sqlite:///{database}")


def run_demo() -> int:
    out = Console(highlight=False, width=max(Console().width, 150))
    started = time.monotonic()
    config = demo_config()
    out.print(
        "[bold]ncii-monitor demo[/bold]: everything stays on this machine; "
        "no image is stored, only hashes."
    )
    out.print(f"database: {config.database_url}\n")

    step(out, "monitor db upgrade")
    database = Database(config.database_url)
    upgrade(database)
    database.dispose()

    app = bootstrap(config)
    try:
        step(
            out,
            'monitor case add "Demo case" --email victim@example.org --language en'
            " --alerts weekly --country US --auto-confirm-exact",
        )
        case_id = cases.add_case(
            app,
            "Demo case",
            email="victim@example.org",
            alerts="weekly",
            country="US",
            auto_confirm_exact=True,
        )
        out.print(f"  case {case_id}")

        photos = [PHOTOS / f"{name}.jpg" for name in CASE_PHOTOS]
        step(
            out,
            f"monitor hashes add {case_id} "
            + " ".join(
                str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(p)
                for p in photos
            ),
        )
        added = hashes.hash_files(app, case_id, photos)
        out.print(
            f"  added {added.added} hashes from {added.files} photos"
            " (PDQ, pHash and dHash of each; PDQ and pHash of 693 crops and fills of each;"
            " PDQ of six slight turns of each)"
        )

        sample = build_sample_site(PHOTOS, include_slow=False)
        with SiteServer(sample) as server:
            url = server.main_url + "/"
            out.print(
                f"\nsample site: {url} (copies of the case photos — resized, recompressed, "
                "cropped, watermarked — among unrelated photos and broken files)"
            )
            step(out, f"monitor site add {url} --name sample-site --allow-private --crawl-delay 0")
            site_id = sites.add_site(
                app, url, name="sample-site", allow_private=True, crawl_delay=0.0, max_pages=200
            )
            out.print(f"  site {site_id}")
            step(out, "monitor crawl sample-site")
            # The sample site is full of broken files on purpose: the run counts them by
            # kind (below), so the crawler's own log is kept out of the way.
            run = crawl_with_progress(app, "sample-site", quiet_level="CRITICAL")
        s = run.stats
        out.print(
            f"  run {run.id}: {run.status} ({run.finish_reason}) — pages {s.pages}, "
            f"images {s.images}, hits {s.hits}, errors {sum(s.errors.values())} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(s.errors.items())) or 'none'})"
        )

        step(out, f"monitor hits list --case {case_id}   (shown here one row per image and page)")
        views = list_hits(app, case_id=case_id)
        out.print(hits_by_sighting(views, origin=server.main_url))
        images = {v.image_url for v in views}
        out.print(
            f"\n{len(views)} hits: {len(images)} distinct image URLs on "
            f"{len({v.page_url for v in views})} pages, in {time.monotonic() - started:.1f} s."
        )
        exact = sorted(v.id for v in views if v.status == "confirmed")
        out.print(
            f"{len(exact)} of them confirmed at once (byte-for-byte copies of her files);"
            " the rest wait for an analyst."
        )

        # An analyst confirms the hits on one page (the rest stay in the review queue),
        # and looks at the alert the victim would get (her weekly digest; nothing is sent).
        waiting = [v for v in views if v.status == "new"]
        page = waiting[0].page_url if waiting else None
        chosen = [v.id for v in waiting if v.page_url == page]
        if chosen:
            step(out, f"monitor hits confirm {' '.join(map(str, chosen))}")
            decision = review.confirm_hits(app, chosen)
            out.print(f"  confirmed: {', '.join(map(str, decision.hit_ids))}")
        step(out, f"monitor alerts preview {case_id}")
        draft = alerts.preview_alert(app, case_id)
        if draft is not None:
            out.print(f"  To: {draft.recipient}\n  Subject: {draft.subject}\n", markup=False)
            out.print("\n".join("  " + line for line in draft.body.splitlines()), markup=False)
        out.print(
            f"\nExplore: MONITOR_DATABASE_URL={config.database_url} .venv/bin/monitor hits list"
            " --status new   (the review queue; --json for scripts)"
        )
        return 0 if run.status == "completed" and views and draft is not None else 1
    finally:
        app.close()


def hits_by_sighting(views: list[HitView], origin: str) -> Table:
    """A compact table: one row per (page, image), the distances of each algorithm side by side."""
    rows: dict[tuple[str, str], dict[str, object]] = {}
    for v in views:
        row = rows.setdefault((v.page_url, v.image_url), {"label": v.label, "ids": []})
        row[v.algorithm] = v.distance
        row["ids"].append(v.id)  # type: ignore[union-attr]
    table = Table("page", "image", "matches", "pdq", "phash", "hit ids")
    for (page, image), row in sorted(rows.items()):
        table.add_row(
            page.removeprefix(origin),
            image.removeprefix(origin),
            str(row["label"] or ""),
            str(row.get("pdq", "–")),
            str(row.get("phash", "–")),
            ",".join(map(str, row["ids"])),  # type: ignore[call-overload]
        )
    return table


def step(out: Console, command: str) -> None:
    out.print(f"[cyan]$ {command}[/cyan]")

"""``monitor demo``: the whole path on the embedded default, with nothing to configure.

A fresh SQLite database under ./var, a sample case whose hashes come from
sample photos, the bundled sample site served on 127.0.0.1, one crawl, and the
hits it found. Each step prints the CLI command that does the same. With ``serve``, the
sample site stays up afterwards (until Ctrl-C), so that the same commands can be tried on
the demo database from another terminal, the re-check included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from monitor import (
    alerts,
    cases,
    hasherpage,
    hashes,
    recipients,
    review,
    sites,
    takedowns,
    tracking,
)
from monitor.app import App, bootstrap
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
    # Everything stays on this machine: the sample site on 127.0.0.1 may be fetched (also
    # by the re-check), and no RDAP server is asked (nothing listens on port 9).
    return dataclasses.replace(
        config,
        database_url=f"sqlite:///{database}",
        allowed_addresses=("127.0.0.1/32",),
        rdap_bootstrap="http://127.0.0.1:9/",
    )


def run_demo(serve: bool = False) -> int:
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
    stack = contextlib.ExitStack()
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

        # Her video: made for the demo from the case photos (camera moves over them), as a
        # file on her computer would be; hashed where it lies, then deleted: only its
        # hashes stay, like her photos'.
        sample = build_sample_site(PHOTOS, include_slow=False)
        video_file = config.var_dir / "her-video.mp4"
        video_file.write_bytes(sample.reference_video)
        step(out, f"monitor hashes add {case_id} {video_file}")
        try:
            video = hashes.hash_files(app, case_id, [video_file])
        finally:
            video_file.unlink()
        out.print(
            f"  added {video.added} hashes from her video (its frames' PDQ, four a second,"
            " and its mirror image's; its MD5); the file is deleted, its hashes stay"
        )

        page_file = config.var_dir / "hashing-page.html"
        step(out, f"monitor hasher page --case {case_id} --out {page_file}")
        body, _csp = hasherpage.case_page(app, case_id)
        page_file.write_text(body, encoding="utf-8")
        out.print(
            f"  the page on which she would hash her photos herself, offline: open {page_file}"
            " in a browser (its file imports with `monitor hashes import`)",
            markup=False,
        )

        server = SiteServer(sample).start()
        stack.callback(server.stop)
        # The sample site stays up until the end: the re-check fetches from it.
        url = server.main_url + "/"
        out.print(
            f"\nsample site: {url} (copies of the case photos — resized, recompressed, "
            "cropped, watermarked — and of her video — cut, rescaled, mirrored, streamed —"
            " among unrelated photos, videos and broken files)"
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
        images = {v.image_url for v in views if v.kind == "image"}
        videos = [v for v in views if v.kind == "video"]
        out.print(
            f"\n{len(views)} hits: {len(images)} distinct image URLs and {len(videos)} videos"
            f" on {len({v.page_url for v in views})} pages, in"
            f" {time.monotonic() - started:.1f} s."
        )
        for v in videos:
            out.print(f"  {v.image_url.removeprefix(server.main_url)}: {v.stretch}", markup=False)
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
        removed = takedown(out, app, server, case_id, views)
        out.print(
            f"\nExplore: MONITOR_DATABASE_URL={config.database_url} .venv/bin/monitor hits list"
            " --status new   (the review queue; --json for scripts)"
        )
        ok = run.status == "completed" and views and draft is not None and removed
        if serve and ok:
            serve_web(out, app, config, url)
        return 0 if ok else 1
    finally:
        stack.close()
        app.close()


DEMO_ACCOUNT = "demo@ngo.example"


def serve_web(out: Console, app: App, config: Config, site_url: str) -> None:
    """Keep the sample site up, serve the web app (with the scheduler, so that "Run now"
    crawls) and make a demo account with every role, until Ctrl-C."""
    from monitor.scheduler import start_scheduler_thread
    from monitor.users import ROLES, add_user, generate_password
    from monitor.web.server import serve_in_background

    password = generate_password()
    add_user(app, DEMO_ACCOUNT, ROLES, password)
    web = serve_in_background(app, config.web_host, config.web_port)
    scheduler = start_scheduler_thread(app)
    try:
        out.print(
            f"\nThe web app is at {web.url}/ — sign in as {DEMO_ACCOUNT}"
            f" with the password {password}\n(an account with every role: admin, analyst,"
            " operator; it lasts as long as this demo database).\n"
            f"The victim's hashing page (it works offline): {web.url}/hasher.html\n"
            f"The sample site stays up at {site_url} and the scheduler runs here (Run now"
            " crawls it). Ctrl-C to stop. In another terminal, the CLI on the same database:\n"
            f"  export MONITOR_DATABASE_URL={config.database_url}"
            " MONITOR_ALLOWED_ADDRESSES=127.0.0.1/32 MONITOR_RDAP_BOOTSTRAP=http://127.0.0.1:9/\n"
            "  .venv/bin/monitor hits list --status new · .venv/bin/monitor takedowns recheck",
            markup=False,
        )
        wait_for_interrupt()
    finally:
        scheduler.stop()
        web.stop()


def takedown(
    out: Console, app: App, server: SiteServer, case_id: int, views: list[HitView]
) -> bool:
    """Notices for the confirmed hits, marked sent; the sample site then takes the images
    down, and the re-check sees it. True if it did."""
    step(
        out,
        "monitor recipients set 127.0.0.1 --kind host --name 'Sample hosting, abuse desk'"
        " --email abuse@hosting.example",
    )
    recipients.set_override(
        app,
        "127.0.0.1",
        kind="host",
        name="Sample hosting, abuse desk",
        email="abuse@hosting.example",
    )
    step(out, f"monitor takedowns draft {case_id} --law us-take-it-down")
    ids = takedowns.draft_notices(app, case_id, "us-take-it-down")
    for notice_id in ids:
        notice = takedowns.get_notice(app, notice_id)
        out.print(
            f"  notice {notice.id}: {notice.host} → {notice.recipient['name']}"
            f" <{notice.recipient.get('email')}>, {len(notice.hit_ids)} hits;"
            f" missing: {'; '.join(notice.missing)}",
            markup=False,
        )
    if not ids:
        return False
    step(out, f"monitor takedowns draft {case_id} --law delisting   (search engines, separately)")
    for notice_id in takedowns.draft_notices(app, case_id, "delisting"):
        notice = takedowns.get_notice(app, notice_id)
        out.print(
            f"  notice {notice.id}: {notice.recipient['name']} <{notice.recipient.get('form_url')}>"
            f", {len(notice.hit_ids)} hits (check the form before use)",
            markup=False,
        )
    first = takedowns.get_notice(app, ids[0])
    step(out, f"monitor takedowns mark-sent {first.id}")
    takedowns.mark_sent(app, first.id)
    urls = {u for v in views if v.id in first.hit_ids for u in (v.image_url, v.final_url) if u}
    for url in urls:  # the host complies: every image of the notice is gone
        routes = server.site.main if url.startswith(server.main_url) else server.site.cdn
        routes.pop(urlsplit(url).path, None)
    out.print(f"  (the sample site complies: 404 for the notice's {len(urls)} image URLs)")
    step(out, "monitor takedowns recheck")
    results = {r.notice_id: r.outcome for r in tracking.recheck(app)}
    out.print(f"  notice {first.id}: {results.get(first.id)}")
    step(out, f"monitor takedowns timeline {first.id}")
    for at, status, _detail, actor in tracking.timeline(app, first.id):
        out.print(f"  {at:%Y-%m-%d %H:%M}  {status:<10} {actor}")
    return results.get(first.id) == "removed"


def hits_by_sighting(views: list[HitView], origin: str) -> Table:
    """A compact table: one row per (page, image), the distances of each algorithm side by side."""
    rows: dict[tuple[str, str], dict[str, object]] = {}
    for v in views:
        row = rows.setdefault((v.page_url, v.image_url), {"label": v.label, "ids": []})
        row[v.algorithm] = v.distance
        row["ids"].append(v.id)  # type: ignore[union-attr]
    table = Table("page", "image", "matches", "pdq", "phash", "video", "hit ids")
    for (page, image), row in sorted(rows.items()):
        video = [f"{alg} {row[alg]}" for alg in ("vpdq", "md5") if alg in row]
        table.add_row(
            page.removeprefix(origin),
            image.removeprefix(origin),
            str(row["label"] or ""),
            str(row.get("pdq", "–")),
            str(row.get("phash", "–")),
            ", ".join(video) or "–",
            ",".join(map(str, row["ids"])),  # type: ignore[call-overload]
        )
    return table


def wait_for_interrupt() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def step(out: Console, command: str) -> None:
    out.print(f"[cyan]$ {command}[/cyan]")

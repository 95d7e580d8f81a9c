"""The victim's hashing page (monitor/hasherpage.py, monitor/web/hasher/) in real Chromium.

The page is opened as she would open it: the single HTML file from disk, in a browser
context that is offline, or fetched once from a server on 127.0.0.1 that counts the
requests. Photos are picked through its file and folder inputs and its saved file is
taken from the browser's download. Its hashes are compared with what `monitor hashes add`
stores for the same files; the file is imported with `monitor hashes import`, and a crawl
of the sample site then finds the copies of the photos.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import CASE_PHOTOS, LOOPBACK, PHOTOS, Env, LocalServer
from PIL import Image
from sqlalchemy import select

from monitor import hasherpage
from monitor.cases import add_case
from monitor.db.models import HashEntry
from monitor.hashing import hamming_hex
from monitor.samplesite import SiteServer

#: The agreement the page promises with `monitor hashes add` on the same file (README,
#: "The hashing page"), in bits per hash: the plain hashes (and PDQ's quality) are the same
#: bits; a derived view (turn, crop, fill) may differ by a rounding now and then (one crop in
#: some 32,000 differed by 2 bits in tests/test_hasher_core.py).
PLAIN_BOUND = {"pdq": 0, "phash": 0, "dhash": 0}
VIEW_BOUND = {"pdq": 2, "phash": 2}


class Page:
    """One hashing page open in its own offline browser context, every request recorded."""

    def __init__(self, browser: Any, url: str, *, offline: bool = True) -> None:
        self.context = browser.new_context(accept_downloads=True)
        self.requests: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        self.loaded = list(self.requests)
        if offline:
            self.context.set_offline(True)

    def pick(self, files: list[Path], selector: str = "#files", expect: int | None = None) -> None:
        self.page.set_input_files(selector, [str(f) for f in files])
        self.wait(len(files) if expect is None else expect)

    def wait(self, count: int, timeout: float = 120) -> None:
        """Until ``count`` files are listed and none is still being read. (Polled from
        here: the page's policy forbids the string evaluation wait_for_function uses.)"""
        deadline = time.monotonic() + timeout
        while True:
            listed, waiting = self.page.evaluate(
                "() => [document.querySelectorAll('#items li').length,"
                " document.querySelectorAll('#items li[data-state=waiting]').length]"
            )
            if listed == count and not waiting:
                return
            assert time.monotonic() < deadline, (listed, waiting, self.errors)
            time.sleep(0.05)

    def states(self) -> dict[str, tuple[str, str]]:
        """File name -> (state, the words shown)."""
        rows = self.page.eval_on_selector_all(
            "#items li",
            "rows => rows.map(r => [r.querySelector('.name').textContent,"
            " r.dataset.state, r.querySelector('.state').textContent])",
        )
        return {name: (state, text) for name, state, text in rows}

    def save(self, *, names: bool = False) -> tuple[str, dict[str, Any]]:
        if names:
            self.page.check("#with-names")
        else:
            self.page.uncheck("#with-names")
        with self.page.expect_download() as download:
            self.page.click("#save")
        text = Path(download.value.path()).read_text(encoding="utf-8")
        return text, json.loads(text)

    def close(self) -> None:
        assert not self.errors, self.errors
        self.context.close()


def write_page(app: Any, tmp_path: Path, case_id: int | None = None) -> Path:
    if case_id is None:
        body, _csp = hasherpage.generic_page(app)
    else:
        body, _csp = hasherpage.case_page(app, case_id)
    path = tmp_path / "hashing-page.html"
    path.write_text(body, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- test photos


def exif_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def photo_set(folder: Path) -> list[Path]:
    """The photos of tests/data in JPEG (as they are), PNG, WebP (lossy and lossless), with
    each EXIF orientation, at phone sizes (decoded at 1/2, 1/4 and 1/8 scale), with
    transparency, in grey, and as GIF and BMP."""
    folder.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []

    def save(image: Image.Image, name: str, **options: Any) -> None:
        path = folder / name
        image.save(path, **options)
        made.append(path)

    for source in sorted(PHOTOS.glob("*.jpg")):
        made.append(source)
    for stem in ("chelsea", "hubble", "rocket"):
        rgb = Image.open(PHOTOS / f"{stem}.jpg").convert("RGB")
        save(rgb, f"{stem}.png")
        save(rgb, f"{stem}.webp", quality=80)
    astronaut = Image.open(PHOTOS / "astronaut.jpg").convert("RGB")
    coffee = Image.open(PHOTOS / "coffee.jpg").convert("RGB")
    save(astronaut, "astronaut-lossless.webp", lossless=True)
    for orientation in range(2, 9):
        save(
            coffee, f"coffee-exif{orientation}.jpg", quality=90, exif=exif_orientation(orientation)
        )
    for width, height in ((1600, 1200), (3000, 2250), (4600, 3450)):
        big = coffee.resize((width, height), Image.Resampling.BICUBIC)
        save(big, f"coffee-{width}x{height}.jpg", quality=92)
    save(astronaut.resize((2000, 1500)), "astronaut-2000.png")
    progressive = astronaut.resize((1300, 1000))
    save(progressive, "astronaut-progressive.jpg", quality=85, progressive=True, subsampling=2)
    rgba = astronaut.convert("RGBA")
    alpha = Image.linear_gradient("L").resize(rgba.size)
    rgba.putalpha(alpha)
    save(rgba, "astronaut-alpha.png")
    save(astronaut.convert("L"), "astronaut-grey.png")
    save(astronaut.convert("L"), "astronaut-grey.jpg", quality=90)
    save(coffee.quantize(256), "coffee.gif")
    save(coffee, "coffee.bmp")
    return made


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return photo_set(tmp_path_factory.mktemp("photos"))


# --------------------------------------------------------------------------- comparing


def entries_by_file(document: dict[str, Any]) -> dict[str, dict[tuple[str, str], dict]]:
    """The page's entries, by file name (its labels) and (algorithm, view)."""
    out: dict[str, dict[tuple[str, str], dict]] = defaultdict(dict)
    for entry in document["hashes"]:
        out[entry["label"]][entry["algorithm"], entry["view"]] = entry
    return out


def stored_by_file(env: Env, case_id: int) -> dict[str, dict[tuple[str, str], HashEntry]]:
    out: dict[str, dict[tuple[str, str], HashEntry]] = defaultdict(dict)
    with env.app.db.session() as session:
        for entry in session.scalars(select(HashEntry).where(HashEntry.case_id == case_id)):
            label = env.app.cipher.decrypt_optional(entry.label_enc)
            out[label][entry.algorithm, entry.view] = entry
    return out


def kind(view: str) -> str:
    return view.split(":", 1)[0]


# --------------------------------------------------------------------------- tests


def test_the_page_hashes_as_monitor_hashes_add_does(
    chromium: Any, sqlite_env: Env, photos: list[Path], tmp_path: Path
) -> None:
    env = sqlite_env
    case_id = add_case(env.app, "Victim", email="v@example.org")
    # `monitor hashes add` runs beside the browser (each keeps a core busy).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        adding = pool.submit(
            env.cli, "hashes", "add", str(case_id), *map(str, photos), check=True, timeout=400
        )
        page = Page(chromium, write_page(env.app, tmp_path).as_uri())
        page.pick(photos)
        added = adding.result()
    assert f"from {len(photos)} files" in added.stdout, added.stdout
    stored = stored_by_file(env, case_id)
    states = page.states()
    assert all(state == "done" for state, _ in states.values()), states
    _text, document = page.save(names=True)
    page.close()
    made = entries_by_file(document)
    assert set(made) == {p.name for p in photos} == set(stored)

    plain: dict[str, list[int]] = defaultdict(list)
    views: dict[tuple[str, str], list[int]] = defaultdict(list)
    missing = extra = 0
    values = {(a, e.value) for entries in stored.values() for (a, _view), e in entries.items()}
    for name, ours in made.items():
        theirs = stored[name]
        assert ours["md5", "original"]["hash"] == theirs["md5", "original"].value, name
        for key, entry in ours.items():
            algorithm, view = key
            if algorithm == "md5":
                continue
            if key not in theirs:
                # A case stores each value once: the same photo in another format gave it.
                extra += (algorithm, entry["hash"]) not in values
                continue
            distance = hamming_hex(entry["hash"], theirs[key].value)
            if view == "original":
                plain[algorithm].append(distance)
                if algorithm == "pdq":
                    assert entry["quality"] == theirs[key].quality, (name, entry)
            else:
                views[algorithm, kind(view)].append(distance)
        missing += len(set(theirs) - set(ours))
    total = sum(len(v) for v in stored.values())
    print()
    for algorithm, distances in sorted(plain.items()):
        print(
            f"plain {algorithm}: {len(distances)} files, {distances.count(0)} identical,"
            f" max {max(distances)}, mean {statistics.mean(distances):.3f} bits"
        )
        assert max(distances) <= PLAIN_BOUND[algorithm], (algorithm, distances)
    for (algorithm, view_kind), distances in sorted(views.items()):
        print(
            f"{view_kind} {algorithm}: {len(distances)} views,"
            f" {distances.count(0) / len(distances):.1%} identical,"
            f" max {max(distances)}, mean {statistics.mean(distances):.3f} bits"
        )
        assert max(distances) <= VIEW_BOUND[algorithm], (algorithm, view_kind, max(distances))
    print(f"views only on one side: {missing} missing, {extra} extra, of {total}")
    assert {"pdq", "phash", "dhash"} <= set(plain)
    assert missing + extra <= total // 100, (missing, extra, total)
    # A bound must be able to fail: the photos are distinct, so unrelated hashes are far.
    a, b = sorted(made)[:2]
    assert hamming_hex(made[a]["pdq", "original"]["hash"], made[b]["pdq", "original"]["hash"]) > 31


def test_no_request_leaves_the_page_after_it_has_loaded(
    chromium: Any, sqlite_env: Env, photos: list[Path], tmp_path: Path
) -> None:
    body, csp = hasherpage.generic_page(sqlite_env.app)
    served = LocalServer(lambda path: (200, body.encode(), {"Content-Security-Policy": csp}))
    url = f"http://127.0.0.1:{served.port}"
    try:
        # Served, online: the page is one request, and nothing follows it.
        page = Page(chromium, url + "/hasher.html", offline=False)
        page.pick(photos[:6])
        page.save()
        assert served.requests == ["/hasher.html"], served.requests
        # Besides blob: URLs (the page's own worker, her files), the page itself only.
        assert [u for u in page.requests if not u.startswith("blob:")] == [url + "/hasher.html"]
        # Its own policy forbids any request: a fetch from the page is refused.
        refused = page.page.evaluate(
            "u => fetch(u).then(() => 'fetched', e => 'refused: ' + e.message)", url + "/probe"
        )
        assert refused.startswith("refused"), refused
        assert served.requests == ["/hasher.html"]
        page.close()
    finally:
        served.close()
    # From a file on disk, with the network off from the moment it has loaded.
    page = Page(chromium, write_page(sqlite_env.app, tmp_path).as_uri(), offline=True)
    page.pick(photos[:6])
    _text, document = page.save()
    assert len({e["group"] for e in document["hashes"]}) == 6
    assert [u for u in page.requests if not u.startswith(("file:", "blob:"))] == []
    page.close()


def test_the_saved_file_holds_hashes_only(
    chromium: Any, sqlite_env: Env, photos: list[Path], tmp_path: Path
) -> None:
    page = Page(chromium, write_page(sqlite_env.app, tmp_path).as_uri())
    page.pick(photos[:4])
    user_agent = page.page.evaluate("navigator.userAgent")
    text, document = page.save(names=False)
    # No file names unless she asks, no image data, nothing about her device.
    assert set(document) == {"format", "version", "origin", "exported_at", "hashing", "hashes"}
    assert document["format"] == "ncii-monitor-hashlist" and document["version"] == 2
    assert document["hashing"] == {"pdq": 2, "phash": 2, "dhash": 1, "rule": 2}
    for entry in document["hashes"]:
        assert set(entry) <= {"algorithm", "hash", "view", "group", "quality"}, entry
        assert len(entry["hash"]) in (16, 32, 64)
    for path in photos[:4]:
        assert path.stem not in text
    for clue in (user_agent, "Chrome", "Linux", "Mozilla", "file:", "blob:", str(tmp_path)):
        assert clue not in text, clue
    assert len(text) < 400 * 4 * 1024  # hashes, not pictures
    # With names when she asks: the name only, never the folder it was in.
    _text, named = page.save(names=True)
    assert {e["label"] for e in named["hashes"]} == {p.name for p in photos[:4]}
    page.close()


def test_thumbnails_stay_on_her_screen_and_blurred_unless_she_asks(
    chromium: Any, sqlite_env: Env, photos: list[Path], tmp_path: Path
) -> None:
    page = Page(chromium, write_page(sqlite_env.app, tmp_path).as_uri())
    page.pick(photos[:3])
    sources = page.page.eval_on_selector_all("#items img", "imgs => imgs.map(i => i.src)")
    assert len(sources) == 3 and all(s.startswith("blob:") for s in sources), sources
    blur = "document.querySelector('#items img') && getComputedStyle(document.querySelector('#items img')).filter"
    assert "blur" in page.page.evaluate(blur)
    page.page.check("#show-previews")
    assert page.page.evaluate(blur) == "none"
    page.page.click("#clear")
    assert page.page.eval_on_selector_all("#items li", "rows => rows.length") == 0
    page.close()


def test_folders_and_bad_files(
    chromium: Any, sqlite_env: Env, photos: list[Path], tmp_path: Path
) -> None:
    folder = tmp_path / "phone" / "DCIM"
    folder.mkdir(parents=True)
    for path in photos[:3]:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / ".thumbnails").write_bytes(b"hidden: left out")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "cut.jpg").write_bytes(photos[0].read_bytes()[:3000])
    (folder / "empty.png").write_bytes(b"")
    heic = io.BytesIO(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")
    (folder / "IMG_0001.HEIC").write_bytes(heic.getvalue())
    (folder / "again.jpg").write_bytes(photos[0].read_bytes())  # the same photo twice
    page = Page(chromium, write_page(sqlite_env.app, tmp_path).as_uri())
    page.pick([tmp_path / "phone"], selector="#folder", expect=8)
    states = page.states()
    assert ".thumbnails" not in states
    assert {n for n, (s, _) in states.items() if s == "done"} == {p.name for p in photos[:3]}
    said = {name: text for name, (_state, text) in states.items()}
    assert said["notes.txt"] == "This file is not a photo this page can read."
    assert said["cut.jpg"] == "This photo seems damaged or incomplete."
    assert said["empty.png"] == "This file is empty."
    assert "HEIC" in said["IMG_0001.HEIC"]
    assert said["again.jpg"] == "This photo is already in the list."
    _text, document = page.save()
    assert len({e["group"] for e in document["hashes"]}) == 3
    page.close()


def test_spanish_and_english(
    chromium: Any, sqlite_env: Env, photos: list[Path], tmp_path: Path
) -> None:
    uri = write_page(sqlite_env.app, tmp_path).as_uri()
    page = Page(chromium, uri + "#es")
    assert page.page.evaluate("document.documentElement.lang") == "es"
    assert page.page.text_content("h1") == "Crea una lista privada de huellas de tus fotos"
    page.pick(photos[:2] + [tmp_path / "hashing-page.html"])
    states = page.states()
    assert (
        states["hashing-page.html"][1] == "Este archivo no es una foto que esta página pueda leer."
    )
    assert page.page.text_content("#summary") == "2 fotos listas, 1 no se pudo usar."
    page.page.click("[data-lang=en]")
    assert page.page.evaluate("document.documentElement.lang") == "en"
    assert page.page.text_content("#summary") == "2 photos ready, 1 could not be used."
    assert page.page.text_content("#save") == "Save the file of fingerprints"
    # Every string has both languages, and each element that names one finds it.
    keys = page.page.evaluate(
        "[Object.keys(NciiStrings.en).sort(), Object.keys(NciiStrings.es).sort(),"
        " [...document.querySelectorAll('[data-i18n]')].map(n => n.dataset.i18n)]"
    )
    assert keys[0] == keys[1] and set(keys[2]) <= set(keys[0])
    page.close()


def test_her_file_imports_into_her_case_and_the_crawl_finds_the_copies(
    chromium: Any, sqlite_env: Env, server: SiteServer, tmp_path: Path
) -> None:
    env = sqlite_env
    env.vars["MONITOR_ALLOWED_ADDRESSES"] = LOOPBACK
    case_id = add_case(env.app, "Victim", email="v@example.org")
    other = add_case(env.app, "Someone else", email="w@example.org")
    page = Page(chromium, write_page(env.app, tmp_path, case_id).as_uri())
    assert "made for your case" in page.page.text_content("#signed")
    page.pick([PHOTOS / f"{name}.jpg" for name in CASE_PHOTOS])
    text, document = page.save(names=True)
    page.close()
    assert document["signature"]["algorithm"] == "hmac-sha256"
    sent = tmp_path / "from-her.json"
    sent.write_text(text, encoding="utf-8")

    # Changed on the way, or sent to the wrong case: refused whole.
    changed = tmp_path / "changed.json"
    first = document["hashes"][0]["hash"]
    flipped = ("0" if first[0] != "0" else "1") + first[1:]
    changed.write_text(text.replace(first, flipped, 1), encoding="utf-8")
    refused = env.cli("hashes", "import", str(case_id), str(changed))
    assert refused.returncode != 0 and "changed" in refused.stderr + refused.stdout, refused
    wrong = env.cli("hashes", "import", str(other), str(sent))
    assert wrong.returncode != 0 and "another case" in wrong.stderr + wrong.stdout, wrong

    imported = env.cli("hashes", "import", str(case_id), str(sent), check=True)
    assert f"imported {len(document['hashes'])} hashes" in imported.stdout, imported.stdout
    env.cli(
        "site", "add", server.main_url + "/", "--name", "sample", "--crawl-delay", "0", check=True
    )
    result = env.cli("crawl", "sample", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    hits = json.loads(env.cli("hits", "list", "--json", check=True).stdout)
    found = {(h["page_url"], h["image_url"]) for h in hits}
    expected = {(page_, image) for page_, image, _original in server.expected_hit_urls()}
    assert expected and found == expected
    originals = {image: original for _page, image, original in server.expected_hit_urls()}
    assert all(h["label"] == f"{originals[h['image_url']]}.jpg" for h in hits)
    assert all(h["case_id"] == case_id for h in hits)


def test_the_web_app_serves_both_pages(web: Any) -> None:
    # The generic page: anyone may fetch it, with its own strict policy.
    answer = web.get("/hasher.html")
    assert answer.status_code == 200 and "text/html" in answer.headers["content-type"]
    csp = answer.headers["content-security-policy"]
    assert "connect-src 'none'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'sha256-" in csp and "Content-Disposition" not in answer.headers
    assert '"signing": null' in answer.text
    saved = web.get("/hasher.html?download=1")
    assert saved.headers["content-disposition"] == 'attachment; filename="hashing-page.html"'
    # The page for one case: analysts only, made anew each time, and audit-logged.
    case_id = add_case(web.app, "Victim", email="v@example.org")
    assert web.get(f"/cases/{case_id}/hasher.html").status_code == 303  # to the login page
    web.sign_in("analyst")
    assert f'href="/cases/{case_id}/hasher.html"' in web.get(f"/cases/{case_id}/hashes").text
    first = web.get(f"/cases/{case_id}/hasher.html")
    second = web.get(f"/cases/{case_id}/hasher.html")
    assert first.status_code == second.status_code == 200
    assert first.headers["content-disposition"] == 'attachment; filename="hashing-page.html"'
    tokens = [
        json.loads(page.text.split('id="config">', 1)[1].split("</script>", 1)[0])["signing"]
        for page in (first, second)
    ]
    assert tokens[0]["keyId"] != tokens[1]["keyId"] and tokens[0]["key"] != tokens[1]["key"]
    assert "Victim" not in first.text and "v@example.org" not in first.text
    assert web.get("/cases/999999/hasher.html").status_code == 404
    with web.app.db.session() as session:
        from monitor.db.models import AuditEvent

        made = session.scalars(select(AuditEvent).where(AuditEvent.action == "hasher.page")).all()
    assert len(made) == 2 and {e.object_id for e in made} == {str(case_id)}


def test_monitor_hasher_page_writes_the_file(sqlite_env: Env, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = sqlite_env.cli("hasher", "page", "--out", str(out), check=True)
    assert "unsealed" in result.stdout and out.read_text().startswith("<!DOCTYPE html>")
    case_id = add_case(sqlite_env.app, "Victim", email="v@example.org")
    sealed = sqlite_env.cli("hasher", "page", "--case", str(case_id), "--out", str(out), check=True)
    assert f"sealed for case {case_id}" in sealed.stdout and '"keyId"' in out.read_text()
    missing = sqlite_env.cli("hasher", "page", "--case", "999", "--out", str(out))
    assert missing.returncode == 1 and missing.stderr == "error: no case with id 999\n"


def test_many_photos_are_saved_as_several_files_that_each_import(
    chromium: Any, sqlite_env: Env, tmp_path: Path
) -> None:
    # About 160 kB of hashes a photo: a limit of 400 kB holds two photos a file.
    options = hasherpage.PageOptions(
        max_pixels=64_000_000, max_bytes=1 << 20, max_list_bytes=400_000
    )
    path = tmp_path / "page.html"
    path.write_text(hasherpage.build_page(options)[0], encoding="utf-8")
    page = Page(chromium, path.as_uri())
    page.pick([PHOTOS / f"{name}.jpg" for name in CASE_PHOTOS])
    page.page.click("#save")
    names = page.page.eval_on_selector_all("#parts button", "bs => bs.map(b => b.textContent)")
    assert len(names) == 2 and names[0].endswith("-1-of-2.json"), names
    case_id = add_case(sqlite_env.app, "Victim", email="v@example.org")
    total = 0
    for index in range(2):
        with page.page.expect_download() as download:
            page.page.click(f"#parts button >> nth={index}")
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert len(text.encode()) <= 400_000
        document = json.loads(text)
        assert {e["group"] for e in document["hashes"]} == {0, 1}
        sent = tmp_path / f"part{index}.json"
        sent.write_text(text, encoding="utf-8")
        sqlite_env.cli("hashes", "import", str(case_id), str(sent), check=True)
        total += len(document["hashes"])
    page.close()
    with sqlite_env.app.db.session() as session:
        stored = session.scalars(select(HashEntry).where(HashEntry.case_id == case_id)).all()
    assert len(stored) == total and len({e.group_key for e in stored}) == len(CASE_PHOTOS)

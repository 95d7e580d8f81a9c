"""The sample reposting site: its content, its hashes and its in-memory server."""

from __future__ import annotations

import builtins
import http.client
import io
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.robotparser
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageOps

from monitor.samplesite import (
    BOMB_SIZE,
    CDN,
    FORMS,
    MAIN,
    PRIVATE_REDIRECT_TARGET,
    RULE_TRANSFORMS,
    TRANSFORMS,
    ExpectedImage,
    Route,
    SampleSite,
    SiteServer,
    build_sample_site,
)

PHOTOS = Path(__file__).parent / "data" / "photos"
ROOT = Path(__file__).resolve().parent.parent
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@pytest.fixture(scope="module")
def site() -> SampleSite:
    return build_sample_site(PHOTOS)


@pytest.fixture(scope="module")
def server(site: SampleSite) -> Iterator[SiteServer]:
    with SiteServer(site) as running:
        yield running


# ----------------------------------------------------------------------- helpers


def fetch(
    base_url: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on a fresh connection; redirects are not followed."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, path, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def route_url(server: SiteServer, host: str) -> str:
    return server.main_url if host == "main" else server.cdn_url


def image_body(site: SampleSite, image: ExpectedImage) -> bytes:
    routes = site.main if image.host == "main" else site.cdn
    return routes[image.path.split("?")[0]].body


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def hashes(image: Image.Image) -> tuple[imagehash.ImageHash, np.ndarray]:
    vector, _quality = pdqhash.compute(np.asarray(image))
    return imagehash.phash(image), vector.astype(bool)


def distances(a: Image.Image, b: Image.Image) -> tuple[int, int]:
    (phash_a, pdq_a), (phash_b, pdq_b) = hashes(a), hashes(b)
    return int(phash_a - phash_b), int((pdq_a != pdq_b).sum())


def raw_request(base_url: str, path: str) -> socket.socket:
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# ---------------------------------------------- an independent reference extractor


_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+?)['"]?\s*\)""")
_IMAGE_FILE = re.compile(r"\.(jpe?g|png|webp|gif)(\?.*)?$", re.IGNORECASE)


def _srcset_urls(value: str) -> list[str]:
    return [candidate.split()[0] for candidate in value.split(",") if candidate.strip()]


class Extractor(HTMLParser):
    """Every image reference in a page, as (form, raw URL), plus links and <base>.

    Written from the form list, independently of samplesite: it checks that the
    HTML really contains what ``SampleSite.expected`` says it does.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str]] = []
        self.links: list[str] = []
        self.base: str | None = None
        self._in_picture = False
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        add = self.refs.append
        if tag == "base" and "href" in a:
            self.base = a["href"]
        elif tag == "picture":
            self._in_picture = True
        elif tag == "style":
            self._in_style = True
        elif tag == "img":
            if "src" in a:
                add(("img-src", a["src"]))
            for url in _srcset_urls(a.get("srcset", "")):
                add(("srcset", url))
            for name in ("data-src", "data-lazy-src", "data-original"):
                if name in a:
                    add(("lazy", a[name]))
            for url in _srcset_urls(a.get("data-srcset", "")):
                add(("lazy", url))
        elif tag == "source" and self._in_picture:
            for url in _srcset_urls(a.get("srcset", "")):
                add(("picture-source", url))
        elif tag == "meta" and a.get("property") == "og:image":
            add(("og-image", a.get("content", "")))
        elif tag == "meta" and a.get("name") == "twitter:image":
            add(("twitter-image", a.get("content", "")))
        elif tag == "link" and a.get("rel") == "image_src":
            add(("link-image-src", a.get("href", "")))
        elif tag == "link" and a.get("rel") == "preload" and a.get("as") == "image":
            add(("preload", a.get("href", "")))
        elif tag == "video" and "poster" in a:
            add(("video-poster", a["poster"]))
        elif tag == "a" and "href" in a:
            if _IMAGE_FILE.search(a["href"]):
                add(("link-href", a["href"]))
            else:
                self.links.append(a["href"])
        if "data-bg" in a:
            add(("lazy", a["data-bg"]))
        for url in _CSS_URL.findall(a.get("style", "")):
            add(("css-style-attr", url))

    def handle_endtag(self, tag: str) -> None:
        if tag == "picture":
            self._in_picture = False
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.refs.extend(("css-style-block", url) for url in _CSS_URL.findall(data))


def template_of(server: SiteServer, url: str) -> str:
    """Absolute URL -> the samplesite notation (main path, or {{CDN}}/path)."""
    if url.startswith(server.main_url + "/"):
        return url[len(server.main_url) :]
    if url.startswith(server.cdn_url + "/"):
        return CDN + url[len(server.cdn_url) :]
    return url


def extract(server: SiteServer, page: str) -> tuple[set[tuple[str, str, str]], list[str]]:
    """(page, image template, form) found on a served page, and its link targets."""
    status, _headers, body = fetch(server.main_url, page)
    assert status == 200, page
    parser = Extractor()
    parser.feed(body.decode("utf-8"))
    parser.close()
    page_url = server.main_url + page
    base = urljoin(page_url, parser.base) if parser.base else page_url
    found = set()
    for form, raw in parser.refs:
        url = raw if raw.startswith(("data:", "file:")) else urljoin(base, raw)
        if url.startswith(server.cdn_url + "/"):
            form = "cdn"  # an absolute reference to the other host
        found.add((page, template_of(server, url), form))
    links = [template_of(server, urljoin(base, link)) for link in parser.links]
    return found, links


# ------------------------------------------------------------------ building


def test_build_is_fast_and_deterministic(site: SampleSite) -> None:
    start = time.perf_counter()
    again = build_sample_site(PHOTOS)
    assert time.perf_counter() - start < 2.0
    assert again.main.keys() == site.main.keys() and again.cdn.keys() == site.cdn.keys()
    for path, route in site.main.items():
        assert again.main[path].body == route.body, path
    assert again.expected == site.expected
    assert again.expected_hits() == site.expected_hits()


def test_build_writes_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = builtins.open

    def read_only_open(file, mode="r", *args, **kwargs):
        assert not set(str(mode)) & set("wax+"), f"opened {file} for writing"
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only_open)
    monkeypatch.setattr(io, "open", read_only_open)
    build_sample_site(PHOTOS)


def test_monitor_module_does_not_import_scrapy() -> None:
    code = "import sys, monitor.samplesite; assert 'scrapy' not in sys.modules, 'scrapy imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_every_discovery_form_finds_some_case_copy(site: SampleSite) -> None:
    used = {form for image in site.case_images() for form in image.forms}
    assert used == set(FORMS)
    for image in site.expected:
        assert image.forms and image.pages, image.path
        assert {form for _page, form in image.refs} == set(image.forms)
        assert {page for page, _form in image.refs} == set(image.pages)


def test_candidate_lists_hold_different_images(site: SampleSite) -> None:
    # a crawler taking only the first candidate of a srcset must miss a hit
    for form, page in (
        ("srcset", "/gallery.html"),
        ("picture-source", "/gallery.html"),
        ("lazy", "/lazy.html"),
    ):
        images = [image for image in site.case_images() if (page, form) in image.refs]
        assert len(images) >= 2, form


def test_every_case_photo_has_every_transform_and_other_formats(site: SampleSite) -> None:
    made = {(image.original, image.transform) for image in site.case_images()}
    assert made == {(stem, t) for stem in site.case_photos for t in TRANSFORMS}
    formats = {image.format for image in site.case_images()}
    assert {"jpg", "png", "webp"} <= formats
    assert {image.transform for image in site.expected if image.original is None} == {"unrelated"}
    assert {Path(p).stem for p in site.unrelated_paths()} == set(site.unrelated_photos)


def test_special_cases_are_present(site: SampleSite) -> None:
    by_tag = {tag: image for image in site.expected for tag in image.tags}
    assert len(by_tag["two-pages"].pages) == 2
    assert "?" in by_tag["query-string"].path
    assert by_tag["robots-disallowed"].pages == site.robots_disallowed == ["/private/stash.html"]
    assert by_tag["orphan"].pages == ["/orphan.html"]
    assert by_tag["sitemap-only"].pages == ["/sitemap.xml"]
    assert by_tag["hostile"].pages == ["/hostile.html"]
    assert by_tag["relative-base"].pages == ["/posts/2024/repost.html"]
    cdn = [image for image in site.expected if image.host == "cdn"]
    assert cdn and all(image.forms == ["cdn"] for image in cdn)


def test_expected_hits(site: SampleSite) -> None:
    hits = site.expected_hits()
    assert len(hits) == len(set(hits))
    assert all(original in site.case_photos for _page, _image, original in hits)
    two = next(image for image in site.expected if "two-pages" in image.tags)
    assert sum(1 for _page, image, _o in hits if image == two.path) == 2
    sitemap = next(image for image in site.expected if "sitemap-image" in image.forms)
    assert ("/sitemap.xml", sitemap.path, sitemap.original) in hits
    secret = next(image for image in site.expected if "robots-disallowed" in image.tags)
    assert all(image != secret.path for _page, image, _o in hits)
    assert site.forbidden_hits() == [("/private/stash.html", secret.path, secret.original)]
    assert any(image.startswith(CDN + "/") for _page, image, _o in hits)
    unrelated = set(site.unrelated_paths())
    assert unrelated and not unrelated & {image for _page, image, _o in hits}
    # one hit per (page, case copy) reference, nothing else
    refs = {
        (page, image.url_template)
        for image in site.case_images()
        for page, _f in image.refs
        if not page.startswith("/private/")
    }
    assert {(page, image) for page, image, _o in hits} == refs


def test_fewer_or_more_case_photos_still_use_every_form() -> None:
    one = build_sample_site(PHOTOS, case_photos=["coffee"], unrelated=["brick"], include_slow=False)
    assert {form for image in one.case_images() for form in image.forms} == set(FORMS)
    assert {image.original for image in one.case_images()} == {"coffee"}
    assert one.forbidden_hits() and one.unrelated_paths() == ["/img/stock/brick.jpg"]
    five = build_sample_site(
        PHOTOS,
        case_photos=["astronaut", "coffee", "chelsea", "rocket", "grass"],
        unrelated=["brick"],
    )
    assert "/extras.html" in five.pages
    assert {
        t for image in five.case_images() if image.original == "grass" for t in [image.transform]
    } == set(TRANSFORMS)
    with pytest.raises(ValueError):
        build_sample_site(PHOTOS, case_photos=[], unrelated=["brick"])


def test_without_slow_routes() -> None:
    quick = build_sample_site(PHOTOS, include_slow=False)
    assert not {"slow", "hang"} & set(quick.bad.values())
    assert not any(route.delay or route.hang for route in quick.main.values())


# ------------------------------------------------------------------ hashes


def test_copies_are_near_their_originals(site: SampleSite) -> None:
    """Near by one global hash, except the copies only the decision rule finds: those are
    far on both, so that a crawl finding them shows the rule at work."""
    for image in site.case_images():
        original = decoded((PHOTOS / f"{image.original}.jpg").read_bytes())
        phash, pdq = distances(decoded(image_body(site, image)), original)
        if image.transform in RULE_TRANSFORMS:
            assert phash > 10 and pdq > 31, (image.path, phash, pdq)
        else:
            assert phash <= 10 or pdq <= 31, (image.path, phash, pdq)


def test_unrelated_photos_are_far_from_every_case_photo(site: SampleSite) -> None:
    for stem in site.unrelated_photos:
        unrelated = decoded((PHOTOS / f"{stem}.jpg").read_bytes())
        for case in site.case_photos:
            phash, pdq = distances(unrelated, decoded((PHOTOS / f"{case}.jpg").read_bytes()))
            assert phash > 20 and pdq > 80, (stem, case, phash, pdq)


def test_transforms_do_what_they_say(site: SampleSite) -> None:
    for image in site.case_images():
        raw = (PHOTOS / f"{image.original}.jpg").read_bytes()
        width, height = Image.open(io.BytesIO(raw)).size
        body = image_body(site, image)
        copy = Image.open(io.BytesIO(body))
        assert copy.format == {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[image.format]
        if image.transform == "exact" and image.format == "jpg":
            assert body == raw
        elif image.transform == "resized":
            assert copy.size == (width // 2, height // 2)
        elif image.transform == "cropped":
            assert copy.size == (width - round(width * 0.03), height - round(height * 0.03))
        elif image.transform == "recompressed" and image.format == "jpg":
            assert copy.size == (width, height) and len(body) < len(raw)
        elif image.transform in ("mirrored", "rotated"):
            turned = ImageOps.mirror(decoded(raw)) if image.transform == "mirrored" else None
            if turned is not None:
                assert copy.size == (width, height)
                assert _close(copy.convert("RGB"), turned)
            else:
                assert copy.size == (height, width)
                assert _close(
                    copy.convert("RGB"), decoded(raw).transpose(Image.Transpose.ROTATE_90)
                )
        elif image.transform == "letterboxed":
            assert copy.width >= width * 1.2 and copy.height >= height * 1.2
            pixels = np.asarray(copy.convert("L"), dtype=float)
            assert pixels[:, : copy.width // 20].max() < 40  # black bars on the sides
        elif image.transform == "captioned":
            assert copy.width == width and copy.height > height * 1.1
            band = np.asarray(copy.convert("L").crop((0, 0, width, height // 12)), dtype=float)
            assert (band > 200).mean() > 0.5 and (band < 60).any()  # white band, black text
        elif image.transform == "watermarked":
            assert copy.size == (width, height)
            # the corners changed (text bottom-right, logo top-left), brighter
            before, after = decoded(raw), copy.convert("RGB")
            for box in (
                (0, 0, width // 10, height // 10),
                (width * 2 // 3, height * 9 // 10, width, height),
            ):
                assert _mean(after.crop(box)) > _mean(before.crop(box)) + 1, (image.path, box)


def _close(a: Image.Image, b: Image.Image) -> bool:
    """Same picture, up to JPEG noise."""
    diff = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    return a.size == b.size and float(diff.mean()) < 6


def _mean(image: Image.Image) -> float:
    return float(np.asarray(image.convert("L"), dtype=float).mean())


# ------------------------------------------------------------------ bad inputs


def test_bomb_declares_a_huge_size_in_a_small_file(site: SampleSite) -> None:
    body = site.main["/img/bad/bomb.png"].body
    assert len(body) < 100 * 1024 and body[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", body[16:24])
    assert (width, height) == BOMB_SIZE and width * height > 64_000_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(body))
    # the pixel data is really all there (a complete image, not a truncated one)
    idat_length = struct.unpack(">I", body[33:37])[0]
    assert body[37:41] == b"IDAT"
    inflater, total = zlib.decompressobj(), 0
    data = body[41 : 41 + idat_length]
    while data:
        chunk = inflater.decompress(data, 1 << 22)
        assert not chunk.strip(b"\x00")
        total += len(chunk)
        data = inflater.unconsumed_tail
    assert inflater.eof and total == height * (1 + (width + 7) // 8)


def test_bad_images_are_bad(site: SampleSite) -> None:
    kinds = site.bad
    assert set(kinds.values()) >= {
        "corrupt",
        "truncated",
        "not_image",
        "bomb",
        "too_large",
        "redirect_loop",
        "redirect_chain",
        "404",
        "500",
        "slow",
        "hang",
        "private_redirect",
        "data_url",
        "file_url",
    }
    corrupt = Image.open(io.BytesIO(site.main["/img/bad/corrupt.jpg"].body))
    assert corrupt.format == "JPEG"  # recognised from its header...
    with pytest.raises(OSError):
        corrupt.load()  # ...but undecodable
    truncated = Image.open(io.BytesIO(site.main["/img/bad/truncated.jpg"].body))
    with pytest.raises(OSError):
        truncated.load()
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(site.main["/img/bad/not-image.jpg"].body))
    too_large = site.main["/img/bad/too-large.jpg"]
    assert len(too_large.body) == 26 * 1024 * 1024 + 1
    assert "file:///etc/passwd" in kinds
    assert any(url.startswith("data:image/") for url in kinds)


def test_too_large_body_is_shared_between_builds(site: SampleSite) -> None:
    again = build_sample_site(PHOTOS, include_slow=False)
    assert again.main["/img/bad/too-large.jpg"].body is site.main["/img/bad/too-large.jpg"].body
    small = build_sample_site(PHOTOS, include_slow=False, too_large_bytes=1000)
    assert len(small.main["/img/bad/too-large.jpg"].body) == 1000


def test_redirects(server: SiteServer, site: SampleSite) -> None:
    path, hops = "/img/bad/chain-1.jpg", 0
    while True:
        status, headers, body = fetch(server.main_url, path)
        if status not in (301, 302, 303, 307, 308):
            break
        path, hops = headers["Location"], hops + 1
    assert hops == 3 and status == 200 and path in site.unrelated_paths()
    assert Image.open(io.BytesIO(body)).format == "JPEG"
    status, headers, _ = fetch(server.main_url, "/img/bad/loop-a.jpg")
    assert status == 302 and headers["Location"] == "/img/bad/loop-b.jpg"
    status, headers, _ = fetch(server.main_url, "/img/bad/loop-b.jpg")
    assert status == 302 and headers["Location"] == "/img/bad/loop-a.jpg"
    status, headers, _ = fetch(server.main_url, "/img/bad/private.jpg")
    assert status == 302 and headers["Location"] == PRIVATE_REDIRECT_TARGET == (
        "http://127.0.0.2:9/x.jpg"
    )


def test_bad_page_references_every_bad_input(server: SiteServer, site: SampleSite) -> None:
    found, _links = extract(server, "/bad.html")
    assert {image for _page, image, _form in found} == set(site.bad)


def test_hostile_page_is_hostile(site: SampleSite) -> None:
    body = site.main["/hostile.html"].body
    assert b"\x00" in body and b"javascript:" in body
    assert body.count(b"<div>") >= 20_000
    assert re.search(rb'="A{1048576}"', body)
    valid = next(image for image in site.expected if "hostile" in image.tags)
    # the valid image comes after all the junk
    assert body.index(valid.path.encode()) > body.rindex(b"</div>" * 100)


# ------------------------------------------------------------------ the pages


def test_pages_reference_exactly_the_expected_images(server: SiteServer, site: SampleSite) -> None:
    """An independent extractor run on every served page agrees with site.expected."""
    expected = {
        (page, image.url_template, form)
        for image in site.expected
        for page, form in image.refs
        if page != "/sitemap.xml"
    }
    known = {image.url_template for image in site.expected}
    found: set[tuple[str, str, str]] = set()
    for page in site.pages:
        refs, _links = extract(server, page)
        found |= refs
    assert {ref for ref in found if ref[1] in known} == expected
    # anything else is a bad input (or junk on the hostile page)
    stray = {ref for ref in found if ref[1] not in known}
    assert {page for page, _image, _form in stray} <= {"/bad.html", "/hostile.html"}


def test_relative_reference_needs_the_base_href(server: SiteServer, site: SampleSite) -> None:
    image = next(image for image in site.expected if "relative-base" in image.tags)
    page = image.pages[0]
    _status, _headers, body = fetch(server.main_url, page)
    parser = Extractor()
    parser.feed(body.decode())
    raw = [url for form, url in parser.refs if form == "img-src"]
    assert parser.base and raw and raw[0].startswith("../")
    page_url = server.main_url + page
    assert urljoin(urljoin(page_url, parser.base), raw[0]) == server.main_url + image.path
    ignoring_base = urljoin(page_url, raw[0])
    assert ignoring_base != server.main_url + image.path
    assert fetch(server.main_url, urlsplit(ignoring_base).path)[0] == 404


def test_all_pages_but_the_orphan_are_linked_within_depth_3(
    server: SiteServer, site: SampleSite
) -> None:
    seen, frontier = {"/"}, ["/"]
    for _depth in range(3):
        following = []
        for page in frontier:
            _refs, links = extract(server, page)
            for link in links:
                path = urlsplit(link).path if link.startswith("/") else None
                if path and path in site.pages and path not in seen:
                    seen.add(path)
                    following.append(path)
        frontier = following
    assert seen == set(site.pages) - {"/orphan.html"}
    _refs, links = extract(server, "/")
    assert CDN + "/index.html" in links and site.offsite_pages == [CDN + "/index.html"]


def test_robots_and_sitemap(server: SiteServer, site: SampleSite) -> None:
    status, headers, body = fetch(server.main_url, "/robots.txt")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    robots = urllib.robotparser.RobotFileParser()
    robots.parse(body.decode().splitlines())
    assert not robots.can_fetch("*", server.main_url + "/private/stash.html")
    for page in set(site.pages) - set(site.robots_disallowed):
        assert robots.can_fetch("*", server.main_url + page), page
    assert robots.site_maps() == [server.main_url + "/sitemap.xml"]

    status, headers, body = fetch(server.main_url, "/sitemap.xml")
    assert status == 200 and "xml" in headers["Content-Type"]
    root = ET.fromstring(body)
    ns = {
        "s": "http://www.sitemaps.org/schemas/sitemap/0.9",
        "image": "http://www.google.com/schemas/sitemap-image/1.1",
    }
    locs = [template_of(server, loc.text or "") for loc in root.findall("s:url/s:loc", ns)]
    images = [
        template_of(server, loc.text or "")
        for loc in root.findall("s:url/image:image/image:loc", ns)
    ]
    assert "/orphan.html" in locs
    listed = next(image for image in site.expected if "sitemap-image" in image.forms)
    assert images == [listed.path]
    for page in site.pages:  # the sitemap image is on no page
        refs, _links = extract(server, page)
        assert listed.path not in {image for _p, image, _f in refs}


# ------------------------------------------------------------------ the server


def test_server_serves_every_route(server: SiteServer, site: SampleSite) -> None:
    for host, routes in (("main", site.main), ("cdn", site.cdn)):
        for path, route in routes.items():
            if route.delay or route.hang or route.declared_length is not None:
                continue  # tested on their own below
            status, headers, body = fetch(route_url(server, host), path)
            assert status == route.status, (host, path)
            assert headers["Content-Type"] == route.content_type, (host, path)
            for name, value in route.headers.items():
                assert headers[name] == value, (host, path, name)
            if route.template:
                assert b"{{" not in body
                expected = route.body.replace(MAIN.encode(), server.main_url.encode()).replace(
                    CDN.encode(), server.cdn_url.encode()
                )
                assert body == expected, (host, path)
            else:
                assert body == route.body, (host, path)


def test_images_have_validators_and_right_content_types(
    server: SiteServer, site: SampleSite
) -> None:
    for image in site.expected:
        status, headers, body = fetch(route_url(server, image.host), image.path)
        assert status == 200, image.path
        assert Image.open(io.BytesIO(body)).format == FORMATS[headers["Content-Type"]]
        assert headers["ETag"].startswith('"') and headers["Last-Modified"].endswith("GMT")
    for path, route in site.main.items():
        if route.content_type.startswith("image/"):
            assert "ETag" in route.headers and "Last-Modified" in route.headers, path


def test_conditional_requests(server: SiteServer, site: SampleSite) -> None:
    path = site.unrelated_paths()[0]
    _status, headers, _body = fetch(server.main_url, path)
    etag = headers["ETag"]
    status, _headers, body = fetch(server.main_url, path, headers={"If-None-Match": etag})
    assert status == 304 and body == b""
    status, _h, _b = fetch(server.main_url, path, headers={"If-None-Match": '"other"'})
    assert status == 200
    status, _h, _b = fetch(
        server.main_url, path, headers={"If-Modified-Since": headers["Last-Modified"]}
    )
    assert status == 304
    status, _h, _b = fetch(
        server.main_url, path, headers={"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}
    )
    assert status == 200


def test_cdn_is_another_host_and_pages_are_substituted(server: SiteServer) -> None:
    main, cdn = urlsplit(server.main_url), urlsplit(server.cdn_url)
    assert main.hostname == "127.0.0.1" and cdn.hostname == "localhost"
    assert main.port != cdn.port
    _status, _headers, gallery = fetch(server.main_url, "/gallery.html")
    assert f'src="{server.cdn_url}/media/'.encode() in gallery
    _status, _headers, meta = fetch(server.main_url, "/meta.html")
    assert f'content="{server.main_url}/img/copies/'.encode() in meta
    status, _headers, _body = fetch(server.cdn_url, "/img/copies/astronaut-exact.jpg")
    assert status == 404  # the hosts have separate routes


def test_head_query_strings_and_unknown_paths(server: SiteServer, site: SampleSite) -> None:
    query = next(image for image in site.expected if "query-string" in image.tags)
    status, headers, body = fetch(server.main_url, query.path, method="HEAD")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) == len(image_body(site, query))
    # on the wire: headers only (http.client would ignore a body sent anyway)
    parts = urlsplit(server.main_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(f"HEAD {query.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n")
    status, _headers, body = fetch(server.main_url, query.path)
    assert status == 200 and body == image_body(site, query)
    status, headers, _body = fetch(server.main_url, "/img/bad/too-large.jpg", method="HEAD")
    assert int(headers["Content-Length"]) == 26 * 1024 * 1024 + 1
    assert fetch(server.main_url, "/no/such/page.html")[0] == 404


def test_requests_are_logged(server: SiteServer) -> None:
    server.clear_requests()
    fetch(server.main_url, "/lazy.html")
    fetch(server.cdn_url, "/robots.txt", method="HEAD")
    fetch(server.main_url, "/img/copies/x.jpg?a=1&b=2")
    assert server.requests == [
        ("main", "GET", "/lazy.html"),
        ("cdn", "HEAD", "/robots.txt"),
        ("main", "GET", "/img/copies/x.jpg?a=1&b=2"),
    ]
    server.requests.append(("main", "GET", "/tampered"))  # a copy: the log is unchanged
    assert len(server.requests) == 3


def test_requests_log_is_thread_safe(server: SiteServer) -> None:
    server.clear_requests()
    threads = [threading.Thread(target=fetch, args=(server.main_url, f"/n{i}")) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(path for _h, _m, path in server.requests) == sorted(f"/n{i}" for i in range(40))


def test_keep_alive(server: SiteServer) -> None:
    parts = urlsplit(server.main_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        for path in ("/", "/gallery.html", "/robots.txt"):
            connection.request("GET", path)
            response = connection.getresponse()
            assert response.status == 200 and response.read()
    finally:
        connection.close()


def test_lying_content_length_cuts_the_transfer(server: SiteServer, site: SampleSite) -> None:
    route = site.main["/img/bad/cut-off.jpg"]
    assert route.declared_length and route.declared_length > len(route.body)
    with raw_request(server.main_url, "/img/bad/cut-off.jpg") as sock:
        answer = read_until_closed(sock)
    head, _sep, body = answer.partition(b"\r\n\r\n")
    assert f"Content-Length: {route.declared_length}".encode() in head
    assert body == route.body  # then the server closed the connection


def test_slow_route_waits() -> None:
    site = SampleSite(
        main={"/s.jpg": Route(body=b"late", delay=0.5)},
        cdn={},
        expected=[],
        bad={},
        case_photos=[],
        unrelated_photos=[],
    )
    with SiteServer(site) as server:
        start = time.perf_counter()
        status, _headers, body = fetch(server.main_url, "/s.jpg")
        assert status == 200 and body == b"late"
        assert time.perf_counter() - start >= 0.5


def test_sample_slow_route_takes_two_seconds(site: SampleSite) -> None:
    assert site.main["/img/bad/slow.jpg"].delay >= 2.0


def test_stop_is_quick_with_hanging_and_slow_requests_in_flight(site: SampleSite) -> None:
    server = SiteServer(site).start()
    hanging = raw_request(server.main_url, "/img/bad/hang.jpg")
    slow = raw_request(server.main_url, "/img/bad/slow.jpg")
    idle = raw_request(server.cdn_url, "/robots.txt")  # answered, then kept alive
    try:
        first = hanging.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")  # headers (and part of the body) came
        wait_for(lambda: ("main", "GET", "/img/bad/slow.jpg") in server.requests)
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        start = time.perf_counter()
        server.stop()
        assert time.perf_counter() - start < 1.0
        # No handler left blocked (they would wait 60 s for a hanging answer): gone within
        # 2 s (stop() joins them for 0.8 s; on a loaded machine the last may end just after).
        wait_for(
            lambda: not [t for t in threading.enumerate() if t.name.startswith(server.name + "-")],
            timeout=2.0,
        )
        for sock in (hanging, slow, idle):
            sock.settimeout(2)
            read_until_closed(sock)  # the connection ends instead of hanging
        route = site.main["/img/bad/hang.jpg"]
        head = first.partition(b"\r\n\r\n")[0]
        assert f"Content-Length: {len(route.body)}".encode() in head
    finally:
        for sock in (hanging, slow, idle):
            sock.close()
        server.stop()
    with pytest.raises(OSError):
        fetch(server.main_url, "/")  # really stopped


def test_server_can_restart(site: SampleSite) -> None:
    server = SiteServer(site)
    for _round in range(2):
        with server:
            assert fetch(server.main_url, "/")[0] == 200
            assert fetch(server.cdn_url, "/robots.txt")[0] == 200

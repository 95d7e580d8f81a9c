"""A sample "reposting" website, served from memory, for the demo and the crawl tests.

``build_sample_site`` makes, from the real photos in ``tests/data/photos``, a small
site that republishes transformed copies of a victim's photos (the "case photos")
next to unrelated stock photos, and references them in every way the crawler must
understand (img src, srcset, lazy-loading attributes, CSS, meta tags, a CDN, a
sitemap...). It also holds the bad inputs the crawler must survive (corrupt and
truncated images, a decompression bomb, redirect loops, a hanging server, hostile
HTML...). Everything is kept in memory: nothing is ever written to disk.

``SiteServer`` serves it on 127.0.0.1 with two ``ThreadingHTTPServer``s: the main
host (addressed as ``127.0.0.1``) and a CDN host (addressed as ``localhost``, so that
it is a different host for an offsite filter). Page bodies are templates: the
placeholders ``{{MAIN}}`` and ``{{CDN}}`` are replaced by the real base URLs, known
only once the servers have started.

What a correct crawler must find is described by ``SampleSite.expected`` and
``SampleSite.expected_hits()``. The page URL of a hit is the page that references
the image, except for the image listed only in the sitemap (``image:image``): no
page shows it, the evidence is the sitemap, so its page is ``/sitemap.xml``.

Videos (``SampleSite.videos``, on ``/clips.html``, linked from ``/video.html``): copies of
the case's video (``SampleSite.reference_video``, made from the case photos by
``monitor.video.synth``) as an exact copy (``og:video``), a rescaled excerpt, a mirrored
and letterboxed VP8 WebM, an HLS stream in MPEG-TS segments, a DASH stream at another
frame rate, a long one at a high bitrate (served with ranges); and an unrelated video,
a corrupt one, one too large from a server without ranges, an encrypted HLS stream.
``SampleSite.expected_video_hits()`` says which must be hits and over which stretch of
the case's video.

This module must not import scrapy (``monitor/`` never does).
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import functools
import hashlib
import html
import io
import itertools
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from PIL import Image, ImageDraw, ImageFont, ImageOps

MAIN = "{{MAIN}}"  # placeholder for the main host's base URL, e.g. http://127.0.0.1:41234
CDN = "{{CDN}}"  # placeholder for the CDN host's base URL, e.g. http://localhost:41235

HTML = "text/html; charset=utf-8"
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
TRANSFORMS = (
    "exact",
    "resized",
    "recompressed",
    "cropped",
    "watermarked",
    # Copies only the decision rule finds (monitor.hashing.rule): one global hash misses them.
    "mirrored",
    "rotated",
    "letterboxed",
    "captioned",
)
#: The transforms shown on /memes.html, one copy of each case photo each.
RULE_TRANSFORMS = ("mirrored", "rotated", "letterboxed", "captioned")
FORMS = (
    "img-src",
    "srcset",
    "picture-source",
    "lazy",
    "og-image",
    "twitter-image",
    "link-image-src",
    "preload",
    "css-style-attr",
    "css-style-block",
    "link-href",
    "video-poster",
    "cdn",
    "sitemap-image",
)
SITEMAP_PATH = "/sitemap.xml"
PRIVATE_PREFIX = "/private/"  # disallowed by robots.txt
#: A redirect into a refused range. A loopback address on a closed port, not a
#: private-network one: if a crawl is allowed to follow it (a site added with
#: --allow-private), the request stays on this machine and is refused there.
PRIVATE_REDIRECT_TARGET = "http://127.0.0.2:9/x.jpg"
#: Every image route gets this date, so conditional requests have something to match.
LAST_MODIFIED = "Wed, 01 May 2024 12:00:00 GMT"
#: Declared size of the decompression bomb: 400 M pixels, above Pillow's own hard limit
#: (2 x 89.5 M) and the monitor's MONITOR_MAX_IMAGE_PIXELS (64 M). At one bit per pixel
#: it is 50 MB of zeros, which deflates to < 50 KB.
BOMB_SIZE = (20_000, 20_000)
HANG_LIMIT = 60.0  # seconds a hanging answer waits at most if stop() is never called


@dataclass
class Route:
    """What the server answers for one path."""

    status: int = 200
    body: bytes = b""
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Location, ETag, Last-Modified
    delay: float = 0.0  # seconds to wait before answering (slow server)
    hang: bool = False  # send headers and half the body, then never finish (until stop()/60 s)
    declared_length: int | None = None  # Content-Length to announce (a lie: truncated transfer)
    template: bool = False  # body holds {{MAIN}}/{{CDN}} placeholders to substitute
    ranges: bool = False  # answers "Range: bytes=..." with 206 Partial Content


@dataclass
class ExpectedVideo:
    """One video (or stream) the site serves, where it is referenced and what it holds."""

    path: str  # on the main host: the file, or the playlist/manifest of a stream
    page: str
    form: str  # video-src, video-source, og-video, link-video, hls, dash, sitemap-video
    transform: str  # exact, excerpt, mirrored, hls, dash, long; unrelated, corrupt, ...
    #: The stretch (seconds) of the case's video it holds; None: not a copy.
    ref_range: tuple[float, float] | None = None

    @property
    def copy(self) -> bool:
        return self.ref_range is not None


@dataclass
class ExpectedImage:
    """One image file the site serves, with every place a page references it."""

    path: str  # path on its host (with the query string when pages use one)
    host: str  # "main" or "cdn"
    original: str | None  # case photo stem it is a copy of ("astronaut"), None for unrelated
    transform: str  # one of TRANSFORMS, or "unrelated"
    pages: list[str]  # paths of the pages on the main host that reference it
    forms: list[str]  # the discovery forms used to reference it
    format: str = "jpg"  # "jpg", "png" or "webp"
    refs: list[tuple[str, str]] = field(default_factory=list)  # (page, form) of each reference
    tags: list[str] = field(default_factory=list)  # special cases: "two-pages", "query-string"...

    @property
    def url_template(self) -> str:
        """The path for a main-host image, ``{{CDN}}/path`` for a CDN one."""
        return self.path if self.host == "main" else CDN + self.path


Hit = tuple[str, str, str]  # (page path, image path or URL template, original stem)


@dataclass
class SampleSite:
    main: dict[str, Route]  # routes of the main host
    cdn: dict[str, Route]  # routes of the CDN host (a second server)
    expected: list[ExpectedImage]
    #: Bad inputs referenced from /bad.html: path on main -> kind. The two non-HTTP
    #: images (a data: URL and file:///etc/passwd) are keyed by their full URL.
    bad: dict[str, str]
    case_photos: list[str]
    unrelated_photos: list[str]
    #: Pages under a robots.txt Disallow rule: their images must not be found.
    robots_disallowed: list[str] = field(default_factory=list)
    #: Pages a crawler must never request (another host): URL templates.
    offsite_pages: list[str] = field(default_factory=list)
    #: Every page of the main host (robots-disallowed and orphan ones included).
    pages: list[str] = field(default_factory=list)
    #: The videos on /clips.html, and the case's own video they are copies of (what
    #: ``monitor hashes add`` is given; its hashes enter a case, never the file).
    videos: list[ExpectedVideo] = field(default_factory=list)
    reference_video: bytes = b""

    def expected_video_hits(self) -> list[tuple[str, str, tuple[float, float]]]:
        """(page, video path, stretch of the case's video) a correct crawl records."""
        return [(v.page, v.path, v.ref_range) for v in self.videos if v.ref_range is not None]

    def expected_hits(self) -> list[Hit]:
        """(page, image, original) that a correct crawler obeying robots.txt records.

        One per page referencing a case copy (an image on two pages gives two hits).
        The sitemap-only image has ``/sitemap.xml`` as its page.
        """
        return self._hits(disallowed=False)

    def forbidden_hits(self) -> list[Hit]:
        """Hits only reachable through robots-disallowed pages: must NOT be recorded."""
        allowed = set(self.expected_hits())
        return [hit for hit in self._hits(disallowed=True) if hit not in allowed]

    def unrelated_paths(self) -> list[str]:
        """Paths (on main) of the unrelated photos: fetched, but never a hit."""
        return [image.path for image in self.expected if image.original is None]

    def case_images(self) -> list[ExpectedImage]:
        return [image for image in self.expected if image.original is not None]

    def image(self, url_template: str) -> ExpectedImage:
        for image in self.expected:
            if image.url_template == url_template:
                return image
        raise KeyError(url_template)

    def is_disallowed(self, page: str) -> bool:
        """Whether robots.txt forbids ``page`` (a path on the main host)."""
        return page.startswith(PRIVATE_PREFIX) or page in self.robots_disallowed

    def _hits(self, *, disallowed: bool) -> list[Hit]:
        hits: dict[Hit, None] = {}  # ordered and de-duplicated
        for image in self.case_images():
            for page, _form in image.refs:
                if self.is_disallowed(page) == disallowed:
                    hits[(page, image.url_template, image.original or "")] = None
        return list(hits)


# --------------------------------------------------------------------------- images


@dataclass
class _Photo:
    stem: str
    data: bytes  # the original JPEG file
    image: Image.Image  # decoded, RGB


def _load_photo(photos_dir: Path, stem: str) -> _Photo:
    data = (photos_dir / f"{stem}.jpg").read_bytes()
    image = Image.open(io.BytesIO(data))
    return _Photo(stem, data, image.convert("RGB"))


def _encode(image: Image.Image, fmt: str, *, quality: int = 90) -> bytes:
    out = io.BytesIO()
    if fmt == "jpg":
        image.save(out, "JPEG", quality=quality)
    elif fmt == "png":
        image.save(out, "PNG")
    else:
        image.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()


def _resized(image: Image.Image) -> Image.Image:
    width, height = image.size
    return image.resize((max(1, width // 2), max(1, height // 2)), Image.Resampling.LANCZOS)


def _cropped(image: Image.Image) -> Image.Image:
    # Only 3% off the left and the bottom: pHash/PDQ are not crop-resistant, and
    # heavier crops are a separate problem, so this copy must still match.
    width, height = image.size
    return image.crop((round(width * 0.03), 0, width, height - round(height * 0.03)))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):  # Pillow without FreeType: bitmap font
        return ImageFont.load_default()


def _watermarked(image: Image.Image) -> Image.Image:
    """A reposting site's mark: translucent white text bottom-right, a logo box top-left."""
    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width, height = base.size
    margin = max(2, width // 50)
    text = "reposted.example"
    font = _font(max(10, height // 26))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    origin = (width - (right - left) - margin - left, height - (bottom - top) - margin - top)
    draw.text(origin, text, font=font, fill=(255, 255, 255, 120))
    box = max(8, width // 18)
    draw.rectangle(
        (margin, margin, margin + box, margin + box),
        fill=(255, 255, 255, 80),
        outline=(255, 255, 255, 200),
        width=2,
    )
    return Image.alpha_composite(base, overlay).convert("RGB")


def _letterboxed(image: Image.Image) -> Image.Image:
    """Shown inside a black 16:9 frame (bars of at least 10 % on two sides)."""
    width, height = image.size
    frame_h = round(height * 1.25)
    frame_w = max(round(frame_h * 16 / 9), round(width * 1.25))
    frame = Image.new("RGB", (frame_w, frame_h), (0, 0, 0))
    frame.paste(image, ((frame_w - width) // 2, (frame_h - height) // 2))
    return frame


def _captioned(image: Image.Image) -> Image.Image:
    """A meme: a white band with big black text above the picture."""
    width, height = image.size
    band = max(24, height // 6)
    meme = Image.new("RGB", (width, height + band), (255, 255, 255))
    meme.paste(image, (0, band))
    draw = ImageDraw.Draw(meme)
    text = "WHEN YOU SEE IT"
    font = _font(max(12, band * 2 // 3))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(
        ((width - (right - left)) // 2 - left, (band - (bottom - top)) // 2 - top),
        text,
        font=font,
        fill=(0, 0, 0),
    )
    return meme


def _copy_bytes(photo: _Photo, transform: str, fmt: str) -> bytes:
    if transform == "exact" and fmt == "jpg":
        return photo.data  # the very file: byte-identical repost
    if transform == "recompressed":
        return _encode(photo.image, fmt, quality=35)
    pixels = {
        "exact": lambda i: i,
        "resized": _resized,
        "cropped": _cropped,
        "watermarked": _watermarked,
        "mirrored": ImageOps.mirror,
        "rotated": lambda i: i.transpose(Image.Transpose.ROTATE_90),
        "letterboxed": _letterboxed,
        "captioned": _captioned,
    }[transform](photo.image)
    return _encode(pixels, fmt)


def _image_route(
    body: bytes,
    fmt: str = "jpg",
    *,
    delay: float = 0.0,
    hang: bool = False,
    declared_length: int | None = None,
) -> Route:
    # An ETag from the content and a fixed Last-Modified: conditional requests can
    # be answered 304 (see _Handler._not_modified).
    headers = {
        "ETag": f'"{hashlib.sha256(body).hexdigest()[:20]}"',
        "Last-Modified": LAST_MODIFIED,
        "Cache-Control": "public, max-age=3600",
    }
    return Route(
        body=body,
        content_type=CONTENT_TYPES[fmt],
        headers=headers,
        delay=delay,
        hang=hang,
        declared_length=declared_length,
    )


# ----------------------------------------------------------------------- bad inputs


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _zeros_zlib_stream(total: int, chunk: int = 1 << 20) -> bytes:
    """A zlib stream of ``total`` zero bytes, without compressing ``total`` bytes.

    Each 1 MiB block is deflated once on its own (so its back-references stay inside
    it) and ended with a sync flush (byte-aligned, not final); copies of it can then
    be concatenated. The Adler-32 of n zeros is (n mod 65521) << 16 | 1.
    """

    def raw_block(n: int) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(bytes(n)) + compressor.flush(zlib.Z_SYNC_FLUSH)

    full, rest = divmod(total, chunk)
    parts = [raw_block(chunk) * full if full else b""]
    if rest:
        parts.append(raw_block(rest))
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # empty final block
    adler = ((total % 65521) << 16) | 1
    return b"\x78\xda" + b"".join(parts) + final + struct.pack(">I", adler)


@functools.lru_cache(maxsize=1)
def bomb_png(width: int = BOMB_SIZE[0], height: int = BOMB_SIZE[1]) -> bytes:
    """A valid, complete, all-black 1-bit PNG that declares width x height pixels.

    Built with zlib directly: Pillow would have to allocate the pixels.
    """
    row = 1 + (width + 7) // 8  # filter byte + packed bits
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", _zeros_zlib_stream(row * height))
        + _png_chunk(b"IEND", b"")
    )


@functools.lru_cache(maxsize=1)
def too_large_body(size: int) -> bytes:
    """A small real JPEG (a grey ramp, like no photo) padded with zeros to ``size`` bytes.

    Cached: every site built with the same size shares one bytes object, so the
    26 MB body exists once per process, not once per build.
    """
    ramp = io.BytesIO()
    Image.linear_gradient("L").resize((64, 64)).save(ramp, "JPEG", quality=90)
    prefix = ramp.getvalue()
    return (prefix + bytes(max(0, size - len(prefix))))[:size]


def _corrupt_jpeg(jpeg: bytes) -> bytes:
    """The real headers up to the frame header (size known), then garbage.

    Pillow opens it (so it is recognised as a JPEG) but cannot decode it, even with
    LOAD_TRUNCATED_IMAGES; the garbage has no 0xFF byte, so no marker in it.
    """
    end = _end_of_sof(jpeg)
    return jpeg[:end] + bytes((i * 37 + 11) % 255 for i in range(8192))


def _end_of_sof(jpeg: bytes) -> int:
    offset = 2
    while offset + 4 <= len(jpeg) and jpeg[offset] == 0xFF:
        marker = jpeg[offset + 1]
        (length,) = struct.unpack(">H", jpeg[offset + 2 : offset + 4])
        offset += 2 + length
        if marker in (0xC0, 0xC1, 0xC2):
            return offset
    raise ValueError("no frame header found in the JPEG")


def _tiny_png() -> bytes:
    raw = b"\x00\x00"  # one row: filter byte, one black pixel (1-bit)
    header = struct.pack(">IIBBBBB", 1, 1, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


# ------------------------------------------------------------------------- builder


class _Builder:
    """Collects routes and references while the pages are written."""

    def __init__(self, photos_dir: Path, case: Sequence[str], unrelated: Sequence[str]) -> None:
        self.photos_dir = photos_dir
        self.case = list(case)
        self.unrelated = list(unrelated)
        self._photos: dict[str, _Photo] = {}
        self.main: dict[str, Route] = {}
        self.cdn: dict[str, Route] = {}
        self.images: dict[tuple[str, str], ExpectedImage] = {}  # (host, path) -> image
        self.bad: dict[str, str] = {}

    def photo(self, stem: str) -> _Photo:
        if stem not in self._photos:
            self._photos[stem] = _load_photo(self.photos_dir, stem)
        return self._photos[stem]

    def c(self, index: int) -> str:
        """The index-th case photo; wraps around when fewer than four were given."""
        return self.case[index % len(self.case)]

    def copy(
        self, stem: str, transform: str, fmt: str = "jpg", *, host: str = "main", query: str = ""
    ) -> ExpectedImage:
        """The ExpectedImage of one copy, creating its route the first time."""
        folder = "/img/copies/" if host == "main" else "/media/"
        path = f"{folder}{stem}-{transform}.{fmt}"
        key = (host, path + query)
        if key not in self.images:
            routes = self.main if host == "main" else self.cdn
            if path not in routes:
                routes[path] = _image_route(_copy_bytes(self.photo(stem), transform, fmt), fmt)
            self.images[key] = ExpectedImage(path + query, host, stem, transform, [], [], fmt)
        return self.images[key]

    def stock(self, stem: str) -> ExpectedImage:
        path = f"/img/stock/{stem}.jpg"
        key = ("main", path)
        if key not in self.images:
            self.main[path] = _image_route(self.photo(stem).data)
            self.images[key] = ExpectedImage(path, "main", None, "unrelated", [], [], "jpg")
        return self.images[key]

    def ref(self, image: ExpectedImage, page: str, form: str, *tags: str) -> str:
        """Record that ``page`` references ``image`` by ``form``; returns the URL to write."""
        assert form in FORMS, form
        image.refs.append((page, form))
        if page not in image.pages:
            image.pages.append(page)
        if form not in image.forms:
            image.forms.append(form)
        image.tags.extend(tag for tag in tags if tag not in image.tags)
        return html.escape(image.url_template)

    def page(self, path: str, title: str, body: str, head: str = "") -> None:
        content = _html(title, body, head).encode("utf-8")
        # Validators, as a web server gives them: recrawls ask "has it changed?" (304).
        headers = {
            "ETag": f'"{hashlib.sha256(content).hexdigest()[:20]}"',
            "Last-Modified": LAST_MODIFIED,
        }
        self.main[path] = Route(body=content, template=True, headers=headers)

    def expected(self) -> list[ExpectedImage]:
        return list(self.images.values())


def _html(title: str, body: str, head: str = "") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n{body}\n"
        f'<footer><a href="/">reposted.example</a></footer>\n</body>\n</html>\n'
    )


# Where the unrelated stock photos go (one each, round robin): (page, form).
_STOCK_SLOTS = (
    ("/", "img-src"),
    ("/gallery.html", "img-src"),
    ("/lazy.html", "lazy"),
    ("/styles.html", "css-style-attr"),
    ("/albums/summer.html", "img-src"),
    ("/video.html", "video-poster"),
)


def _stock_snippets(b: _Builder) -> dict[str, list[str]]:
    snippets: dict[str, list[str]] = {page: [] for page, _form in _STOCK_SLOTS}
    for index, stem in enumerate(b.unrelated):
        page, form = _STOCK_SLOTS[index % len(_STOCK_SLOTS)]
        url = b.ref(b.stock(stem), page, form)
        snippets[page].append(
            {
                "img-src": f'<img src="{url}" alt="stock photo">',
                "lazy": f'<img class="lazyload" data-src="{url}" alt="stock photo">',
                "css-style-attr": f'<div class="banner" style="background-image: url({url})"></div>',
                "video-poster": f'<video controls poster="{url}" width="320"></video>',
            }[form]
        )
    return snippets


def _index_page(b: _Builder, stock: dict[str, list[str]], extra_pages: list[str]) -> None:
    links = [
        ("/gallery.html", "Gallery"),
        ("/lazy.html", "Fast gallery"),
        ("/meta.html", "Shared post"),
        ("/styles.html", "Featured"),
        ("/video.html", "Videos"),
        ("/albums.html", "Albums"),
        ("/memes.html", "Memes"),
        ("/posts/2024/repost.html", "Repost of the day"),
        ("/bad.html", "Broken uploads"),
        ("/hostile.html", "Spam"),
        (PRIVATE_PREFIX + "stash.html", "Members only"),
    ] + [(page, "More") for page in extra_pages]
    nav = "\n".join(f'<li><a href="{path}">{name}</a></li>' for path, name in links)
    body = (
        f"<header>{''.join(stock['/'])}<h1>reposted.example</h1></header>\n<ul>\n{nav}\n</ul>\n"
        # Links a crawler must not follow: another host, mail, script, fragment.
        f'<p><a href="{CDN}/index.html">our CDN</a> <a href="mailto:admin@reposted.example">'
        'contact</a> <a href="javascript:void(0)">menu</a> <a href="#top">top</a></p>'
    )
    b.page("/", "reposted.example", body)


def _gallery_page(b: _Builder, stock: dict[str, list[str]]) -> None:
    page = "/gallery.html"
    c0, c1, c3 = b.c(0), b.c(1), b.c(3)
    exact = b.ref(b.copy(c0, "exact"), page, "img-src", "two-pages")
    # srcset candidates are different images: a crawler taking only one misses a hit.
    small = b.ref(b.copy(c0, "resized"), page, "srcset")
    large = b.ref(b.copy(c0, "recompressed"), page, "srcset")
    webp = b.ref(b.copy(c3, "watermarked", "webp"), page, "picture-source")
    source = b.ref(b.copy(c0, "cropped"), page, "picture-source")
    fallback = b.ref(b.copy(c0, "resized", "png"), page, "img-src")
    full = b.ref(b.copy(c1, "exact"), page, "link-href")
    cdn = b.ref(b.copy(c1, "watermarked", "webp", host="cdn"), page, "cdn")
    body = f"""<h1>Gallery</h1>
<img src="{exact}" alt="new upload" width="512">
<img srcset="{small} 256w, {large} 512w" sizes="(max-width: 600px) 256px, 512px" alt="responsive">
<picture>
  <source type="image/webp" srcset="{webp} 1x">
  <source media="(min-width: 800px)" srcset="{source} 1x">
  <img src="{fallback}" alt="picture fallback">
</picture>
<p><a href="{full}">Download full size</a></p>
<img src="{cdn}" alt="served from our CDN">
{"".join(stock["/gallery.html"])}"""
    b.page(page, "Gallery", body)


def _lazy_page(b: _Builder, stock: dict[str, list[str]]) -> None:
    page = "/lazy.html"
    c2, c3 = b.c(2), b.c(3)
    data_src = b.ref(b.copy(c2, "exact"), page, "lazy")
    set_a = b.ref(b.copy(c2, "resized"), page, "lazy")
    set_b = b.ref(b.copy(c2, "recompressed"), page, "lazy")
    lazy_src = b.ref(b.copy(c2, "cropped"), page, "lazy")
    original = b.ref(b.copy(c2, "watermarked"), page, "lazy")
    background = b.ref(b.copy(c3, "exact"), page, "lazy")
    # No src at all: only a crawler reading the lazy-loading attributes sees these.
    body = f"""<h1>Fast gallery</h1>
<img class="lazyload" data-src="{data_src}" alt="lazy 1">
<img class="lazyload" data-srcset="{set_a} 1x, {set_b} 2x" alt="lazy 2">
<img class="lazy" data-lazy-src="{lazy_src}" alt="lazy 3">
<img class="lazy" data-original="{original}" alt="lazy 4">
<div class="lazy-bg" data-bg="{background}"></div>
{"".join(stock["/lazy.html"])}"""
    b.page(page, "Fast gallery", body)


def _meta_page(b: _Builder) -> None:
    page = "/meta.html"
    c1 = b.c(1)
    # og:image is absolute (as sites write it); twitter:image is relative to the page.
    og = b.ref(b.copy(c1, "resized"), page, "og-image")
    twitter = b.ref(b.copy(c1, "recompressed"), page, "twitter-image").lstrip("/")
    image_src = b.ref(b.copy(c1, "cropped"), page, "link-image-src")
    preload = b.ref(b.copy(c1, "watermarked"), page, "preload")
    head = f"""<meta property="og:title" content="Shared post">
<meta property="og:image" content="{MAIN}{og}">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:image" content="{twitter}">
<link rel="image_src" href="{image_src}">
<link rel="preload" as="image" href="{preload}">
"""
    b.page(page, "Shared post", "<h1>Shared post</h1><p>Only the metadata has pictures.</p>", head)


def _styles_page(b: _Builder, stock: dict[str, list[str]]) -> None:
    page = "/styles.html"
    c3 = b.c(3)
    attr = b.ref(b.copy(c3, "resized"), page, "css-style-attr")
    block = b.ref(b.copy(c3, "recompressed"), page, "css-style-block")
    head = f"""<style>
  body {{ font-family: sans-serif; }}
  .hero {{ background: #000 url("{block}") no-repeat center / cover; height: 300px; }}
</style>
"""
    body = f"""<h1>Featured</h1>
<div class="hero"></div>
<div class="card" style="width: 256px; background-image: url('{attr}'); height: 256px"></div>
{"".join(stock["/styles.html"])}"""
    b.page(page, "Featured", body, head)


def _video_page(b: _Builder, stock: dict[str, list[str]]) -> None:
    page = "/video.html"
    poster = b.ref(b.copy(b.c(3), "cropped"), page, "video-poster")
    body = f"""<h1>Videos</h1>
<video controls preload="none" poster="{poster}" width="480"></video>
<p><a href="/clips.html">More clips</a></p>
{"".join(stock["/video.html"])}"""
    b.page(page, "Videos", body)


def _album_pages(b: _Builder, stock: dict[str, list[str]]) -> None:
    b.page("/albums.html", "Albums", '<h1>Albums</h1><a href="/albums/summer.html">Summer</a>')
    page = "/albums/summer.html"  # depth 2 from "/"
    again = b.ref(b.copy(b.c(0), "exact"), page, "img-src", "two-pages")
    query = b.ref(
        b.copy(b.c(3), "watermarked", query="?v=2&w=640"), page, "img-src", "query-string"
    )
    body = f"""<h1>Summer</h1>
<img src="{again}" alt="seen in the gallery too">
<img src="{query}" alt="resizing service URL">
{"".join(stock[page])}"""
    b.page(page, "Summer", body)


def _memes_page(b: _Builder) -> None:
    """Mirrored, rotated, letterboxed and captioned copies: found by the decision rule only."""
    page = "/memes.html"
    tags = [
        f'<img src="{b.ref(b.copy(b.c(i), t), page, "img-src")}" alt="lol">'
        for i in range(min(4, len(b.case)))
        for t in RULE_TRANSFORMS
    ]
    b.page(page, "Memes", "<h1>Memes</h1>\n" + "\n".join(tags))


def _base_page(b: _Builder) -> None:
    page = "/posts/2024/repost.html"
    image = b.copy(b.c(0), "watermarked")
    b.ref(image, page, "img-src", "relative-base")
    # Resolved against <base>, /img/2024/ + ../copies/x = /img/copies/x; resolved
    # against the page instead it would be /posts/copies/x (a 404).
    relative = "../copies/" + image.path.rsplit("/", 1)[1]
    head = '<base href="/img/2024/">\n'
    b.page(page, "Repost of the day", f'<h1>Repost</h1>\n<img src="{relative}" alt="repost">', head)


def _orphan_and_private_pages(b: _Builder) -> None:
    orphan = b.ref(b.copy(b.c(1), "cropped", "webp"), "/orphan.html", "img-src", "orphan")
    b.page("/orphan.html", "Unlisted", f'<h1>Unlisted</h1>\n<img src="{orphan}" alt="unlisted">')
    page = PRIVATE_PREFIX + "stash.html"
    secret = b.ref(b.copy(b.c(0), "recompressed", "webp"), page, "img-src", "robots-disallowed")
    b.page(page, "Members only", f'<h1>Members only</h1>\n<img src="{secret}" alt="stash">')


def _robots_and_sitemap(b: _Builder) -> None:
    robots = (
        f"User-agent: *\nDisallow: {PRIVATE_PREFIX}\nAllow: /\n\nSitemap: {MAIN}{SITEMAP_PATH}\n"
    )
    b.main["/robots.txt"] = Route(
        body=robots.encode(), content_type="text/plain; charset=utf-8", template=True
    )
    listed = b.copy(b.c(2), "watermarked", "png")  # a copy no page uses, whatever the photos
    b.ref(listed, SITEMAP_PATH, "sitemap-image", "sitemap-only")
    # The image entry hangs off "/", which does not show it: only the sitemap does.
    # /private/ is listed too: robots.txt still applies to URLs found in sitemaps.
    urls = ["/", "/gallery.html", "/orphan.html", PRIVATE_PREFIX + "stash.html"]
    # A video sitemap entry too: the file itself (content_loc), served by /clips.html's
    # builder; player_loc is an HTML page, not a video.
    video = (
        f"<video:video><video:content_loc>{MAIN}{SITEMAP_VIDEO}</video:content_loc>"
        f"<video:player_loc>{MAIN}/clips.html</video:player_loc></video:video>"
    )
    entries = "\n".join(
        f"  <url><loc>{MAIN}{path}</loc>"
        + (
            f"<image:image><image:loc>{MAIN}{listed.path}</image:loc></image:image>{video}"
            if path == "/"
            else ""
        )
        + "</url>"
        for path in urls
    )
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"\n'
        '        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"\n'
        '        xmlns:video="http://www.google.com/schemas/sitemap-video/1.1">\n'
        f"{entries}\n</urlset>\n"
    )
    b.main[SITEMAP_PATH] = Route(
        body=sitemap.encode(), content_type="application/xml", template=True
    )


def _bad_page(b: _Builder, *, include_slow: bool, too_large_bytes: int) -> None:
    u = [b.photo(b.unrelated[i % len(b.unrelated)]).data for i in range(5)]
    target = b.stock(b.unrelated[0]).path  # a real unrelated image, also shown elsewhere

    def bad(path: str, kind: str, route: Route) -> None:
        b.main[path] = route
        b.bad[path] = kind

    def redirect(location: str, status: int = 302) -> Route:
        return Route(status=status, headers={"Location": location})

    # Bad images are made of unrelated photos (the too-large one of a grey ramp):
    # a crawler that wrongly accepts one shows in its statistics, never as a hit.
    bad("/img/bad/corrupt.jpg", "corrupt", _image_route(_corrupt_jpeg(u[0])))
    bad("/img/bad/truncated.jpg", "truncated", _image_route(u[1][: len(u[1]) * 6 // 10]))
    # The same, cut in transit: Content-Length announces the whole file.
    bad(
        "/img/bad/cut-off.jpg",
        "truncated",
        _image_route(u[2][: len(u[2]) * 6 // 10], declared_length=len(u[2])),
    )
    bad(
        "/img/bad/not-image.jpg",
        "not_image",
        _image_route(_html("Not found", "<p>Sorry, this image was removed.</p>").encode()),
    )
    bad("/img/bad/bomb.png", "bomb", _image_route(bomb_png(), "png"))
    bad("/img/bad/too-large.jpg", "too_large", _image_route(too_large_body(too_large_bytes)))
    bad("/img/bad/missing.jpg", "404", Route(status=404, body=b"<h1>404 Not Found</h1>"))
    bad("/img/bad/error.jpg", "500", Route(status=500, body=b"<h1>500 Internal Server Error</h1>"))
    bad("/img/bad/chain-1.jpg", "redirect_chain", redirect("/img/bad/chain-2.jpg"))
    b.main["/img/bad/chain-2.jpg"] = redirect("/img/bad/chain-3.jpg", 301)
    b.main["/img/bad/chain-3.jpg"] = redirect(target, 307)
    bad("/img/bad/loop-a.jpg", "redirect_loop", redirect("/img/bad/loop-b.jpg"))
    b.main["/img/bad/loop-b.jpg"] = redirect("/img/bad/loop-a.jpg")
    bad("/img/bad/private.jpg", "private_redirect", redirect(PRIVATE_REDIRECT_TARGET))
    if include_slow:
        bad("/img/bad/slow.jpg", "slow", _image_route(u[3], delay=2.0))
        bad("/img/bad/hang.jpg", "hang", _image_route(u[4], hang=True))
    data_url = "data:image/png;base64," + base64.b64encode(_tiny_png()).decode()
    b.bad[data_url] = "data_url"
    b.bad["file:///etc/passwd"] = "file_url"
    images = "\n".join(
        f'<img src="{html.escape(url)}" alt="{kind}">' for url, kind in b.bad.items()
    )
    b.page("/bad.html", "Broken uploads", f"<h1>Broken uploads</h1>\n{images}")


def _hostile_page(b: _Builder) -> None:
    page = "/hostile.html"
    valid = b.ref(b.copy(b.c(3), "cropped", "png"), page, "img-src", "hostile")
    # The valid image comes AFTER all the junk, the 20k-deep nesting included:
    # libxml2 (lxml, parsel, Scrapy selectors) stops building the tree past its
    # depth limit and silently drops what follows, so a crawler relying on it
    # alone misses this hit.
    junk = "".join(
        [
            '<p class="broken>unterminated quote <b><i>misnested</b></i>',
            '<table><tr><td>cell</div></span></table><img src=/img/x.jpg alt="a"b">',
            '<img src="javascript:alert(document.cookie)" alt="script">',
            '<img src="JaVaScRiPt:alert(1)">',
            'NUL\x00bytes\x00here <img src="/img/n\x00ul.jpg">',
            '<div data-junk="' + "A" * (1024 * 1024) + '">one megabyte attribute</div>',
            "<div>" * 20_000 + "deep" + "</div>" * 20_000,
            "<<<>>> </closing-without-opening> <img <img src=>",
        ]
    )
    body = f'{junk}\n<img src="{valid}" alt="still a repost">\n<p>unclosed <div><span>'
    b.main[page] = Route(body=_html("Spam", body).encode("utf-8"), template=True)


def _extras_page(b: _Builder) -> list[str]:
    """Case photos beyond the four the layout uses: all their copies on one page."""
    if len(b.case) <= 4:
        return []
    page = "/extras.html"
    tags = [
        f'<img src="{b.ref(b.copy(stem, t), page, "img-src")}" alt="{stem}">'
        for stem in b.case[4:]
        for t in TRANSFORMS
    ]
    b.page(page, "More", "<h1>More</h1>\n" + "\n".join(tags))
    return [page]


# --------------------------------------------------------------------------- videos

#: The case's video: a 3-second shot of each case photo (camera moves, cuts between).
VIDEO_SHOT_SECONDS = 3.0
#: Frames per second of the case's video (small and short: made at every test run).
VIDEO_FPS = 12
#: The excerpt on /clips.html: this stretch of the case's video.
VIDEO_EXCERPT = (4.5, 10.5)
#: The video a video sitemap entry names (the DASH stream's file, on no page as a file).
SITEMAP_VIDEO = "/media/dash/her-8fps.mp4"
#: HLS segments of the stream copy.
HLS_SEGMENTS = 3


@functools.lru_cache(maxsize=4)
def _video_files(
    photos_dir: Path, case: tuple[str, ...], others: tuple[str, ...]
) -> dict[str, bytes]:
    """The videos' bytes (made once per process: encoding takes a few seconds)."""
    from monitor.video.synth import camera_video, transform

    her = camera_video(
        [photos_dir / f"{stem}.jpg" for stem in case],
        seconds=VIDEO_SHOT_SECONDS * len(case),
        fps=VIDEO_FPS,
        size=(320, 180),
        seed=9,
        shot_seconds=VIDEO_SHOT_SECONDS,
    )
    first, last = VIDEO_EXCERPT
    return {
        "her": her,
        "excerpt": transform(her, start=first, end=last, size=(256, 144), bitrate=150_000),
        "mirrored": transform(her, flip=True, letterbox=0.12, codec="libvpx-vp9", container="webm"),
        "stream": transform(her, size=(288, 162), container="mpegts"),
        "dash": transform(her, fps=8, faststart=True),
        "long": transform(her, bitrate=1_500_000),
        "unrelated": camera_video(
            [photos_dir / f"{stem}.jpg" for stem in (others * 4)[:4]],
            seconds=4 * VIDEO_SHOT_SECONDS,
            fps=VIDEO_FPS,
            size=(320, 180),
            seed=3,
            shot_seconds=VIDEO_SHOT_SECONDS,
        ),
    }


def _ts_segments(stream: bytes, count: int) -> list[bytes]:
    """An MPEG-TS file cut into ``count`` segments at packet (188-byte) boundaries."""
    packets = len(stream) // 188
    bounds = [round(i * packets / count) * 188 for i in range(count + 1)]
    return [stream[bounds[i] : bounds[i + 1]] for i in range(count)]


def _clips_page(b: _Builder, too_large_bytes: int) -> tuple[list[ExpectedVideo], bytes]:
    page = "/clips.html"
    files = _video_files(b.photos_dir, tuple(b.case), tuple(b.unrelated))
    whole = (0.0, VIDEO_SHOT_SECONDS * len(b.case))
    videos = [
        ExpectedVideo("/media/clips/her-video.mp4", page, "og-video", "exact", whole),
        ExpectedVideo("/media/clips/her-clip.mp4", page, "video-src", "excerpt", VIDEO_EXCERPT),
        ExpectedVideo("/media/clips/her-mirror.webm", page, "video-source", "mirrored", whole),
        ExpectedVideo("/media/hls/her.m3u8", page, "hls", "hls", whole),
        ExpectedVideo("/media/dash/her.mpd", page, "dash", "dash", whole),
        ExpectedVideo("/media/clips/her-long.mp4", page, "video-src", "long", whole),
        ExpectedVideo(SITEMAP_VIDEO, SITEMAP_PATH, "sitemap-video", "fps", whole),
        ExpectedVideo("/media/clips/holiday.mp4", page, "link-video", "unrelated"),
        ExpectedVideo("/media/clips/broken.mp4", page, "video-src", "corrupt"),
        ExpectedVideo("/media/clips/huge.mp4", page, "video-src", "too_large"),
        ExpectedVideo("/media/hls/locked.m3u8", page, "hls", "drm"),
    ]

    def video(path: str, body: bytes, kind: str = "video/mp4", ranges: bool = True) -> None:
        b.main[path] = Route(body=body, content_type=kind, ranges=ranges, headers=_validators(body))

    video("/media/clips/her-video.mp4", files["her"])
    video("/media/clips/her-clip.mp4", files["excerpt"])
    video("/media/clips/her-mirror.webm", files["mirrored"], "video/webm")
    video("/media/clips/her-long.mp4", files["long"])
    video("/media/clips/holiday.mp4", files["unrelated"])
    # The real start of a video, then garbage.
    video("/media/clips/broken.mp4", files["her"][:2048] + bytes(range(256)) * 64)
    # Too large, from a server that ignores ranges: its download is cancelled.
    padded = files["unrelated"] + bytes(max(0, too_large_bytes - len(files["unrelated"])))
    video("/media/clips/huge.mp4", padded, ranges=False)
    playlist = "application/vnd.apple.mpegurl"
    segments = _ts_segments(files["stream"], HLS_SEGMENTS)
    for number, segment in enumerate(segments):
        video(f"/media/hls/her-240p-{number}.ts", segment, "video/mp2t")
    media = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    seconds = whole[1] / HLS_SEGMENTS
    media += "".join(f"#EXTINF:{seconds:.3f},\nher-240p-{n}.ts\n" for n in range(HLS_SEGMENTS))
    media += "#EXT-X-ENDLIST\n"
    video("/media/hls/her-240p.m3u8", media.encode(), playlist)
    # The master playlist also names a 1080p variant, which is not there: a crawler
    # that picks it (more pixels than hashing needs) finds nothing.
    master = (
        "#EXTM3U\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080\nher-1080p.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=424x240\nher-240p.m3u8\n"
    )
    video("/media/hls/her.m3u8", master.encode(), playlist)
    locked = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.invalid/k"\n'
        "#EXTINF:4.0,\nher-240p-0.ts\n#EXT-X-ENDLIST\n"
    )
    video("/media/hls/locked.m3u8", locked.encode(), playlist)
    video(SITEMAP_VIDEO, files["dash"])
    mpd = f"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT{whole[1]:.1f}S"
     profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" minBufferTime="PT2S">
  <Period>
    <AdaptationSet mimeType="video/mp4" contentType="video">
      <Representation id="v1" bandwidth="400000" width="320" height="180" codecs="avc1.64000d">
        <BaseURL>her-8fps.mp4</BaseURL>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""
    video("/media/dash/her.mpd", mpd.encode(), "application/dash+xml")
    body = """<h1>Clips</h1>
<video controls width="320" src="/media/clips/her-clip.mp4"></video>
<video controls width="320"><source src="/media/clips/her-mirror.webm" type="video/webm"></video>
<p><a href="/media/clips/holiday.mp4">Holiday (download)</a></p>
<video controls src="/media/clips/broken.mp4"></video>
<video controls src="/media/clips/huge.mp4"></video>
<video controls src="/media/hls/her.m3u8"></video>
<video controls src="/media/hls/locked.m3u8"></video>
<video controls src="/media/dash/her.mpd"></video>
<video controls src="/media/clips/her-long.mp4"></video>"""
    head = (
        f'<meta property="og:video" content="{MAIN}/media/clips/her-video.mp4">\n'
        '<meta property="og:video:type" content="video/mp4">\n'
    )
    b.page(page, "Clips", body, head)
    return videos, files["her"]


def _validators(body: bytes) -> dict[str, str]:
    return {"ETag": f'"{hashlib.sha256(body).hexdigest()[:20]}"', "Last-Modified": LAST_MODIFIED}


def _cdn_routes(b: _Builder) -> None:
    b.cdn["/robots.txt"] = Route(
        body=b"User-agent: *\nDisallow:\n", content_type="text/plain; charset=utf-8"
    )
    # Linked from "/": another host, so a crawler must not fetch it.
    b.cdn["/index.html"] = Route(body=_html("CDN", "<p>nothing to see</p>").encode())


def build_sample_site(
    photos_dir: Path,
    *,
    case_photos: Iterable[str] = ("astronaut", "coffee", "chelsea", "rocket"),
    unrelated: Iterable[str] = ("camera", "hubble", "brick", "gravel", "grass", "ihc"),
    include_slow: bool = True,
    too_large_bytes: int = 26 * 1024 * 1024 + 1,
    too_large_video_bytes: int = 64 * 1024 * 1024 + 1,
) -> SampleSite:
    """Build the sample reposting site in memory (deterministic: same bytes every time)."""
    case, others = list(case_photos), list(unrelated)
    if not case or not others:
        raise ValueError("the sample site needs at least one case photo and one unrelated photo")
    if set(case) & set(others):
        raise ValueError("a photo cannot be both a case photo and an unrelated one")
    b = _Builder(Path(photos_dir), case, others)
    stock = _stock_snippets(b)
    extra_pages = _extras_page(b)
    _index_page(b, stock, extra_pages)
    _gallery_page(b, stock)
    _lazy_page(b, stock)
    _meta_page(b)
    _styles_page(b, stock)
    _video_page(b, stock)
    _album_pages(b, stock)
    _memes_page(b)
    _base_page(b)
    _orphan_and_private_pages(b)
    _robots_and_sitemap(b)
    _bad_page(b, include_slow=include_slow, too_large_bytes=too_large_bytes)
    _hostile_page(b)
    videos, reference_video = _clips_page(b, too_large_video_bytes)
    _cdn_routes(b)
    pages = [
        path
        for path, route in b.main.items()
        if route.content_type == HTML and route.status == 200 and not path.startswith("/img/")
    ]
    return SampleSite(
        main=b.main,
        cdn=b.cdn,
        expected=b.expected(),
        bad=b.bad,
        case_photos=case,
        unrelated_photos=others,
        robots_disallowed=[PRIVATE_PREFIX + "stash.html"],
        offsite_pages=[CDN + "/index.html"],
        pages=pages,
        videos=videos,
        reference_video=reference_video,
    )


# -------------------------------------------------------------------------- server


class _HostServer(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler never keeps the process alive
    block_on_close = False
    request_queue_size = 128  # the default 5 drops concurrent connects (1 s SYN retries)
    owner: SiteServer
    host_name: str  # "main" or "cdn"

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that
        # can take seconds in a sandbox; the name is not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up mid-answer is expected here (size limits, timeouts)

    def process_request(  # type: ignore[override]
        self, request: socket.socket, client_address: object
    ) -> None:
        # As ThreadingMixIn does, but with named threads that stop() can join.
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{self.owner.name}-{self.host_name}-handler",
            daemon=True,
        )
        self.owner._add_handler(thread)
        thread.start()


_SERIAL = itertools.count(1)
_NOT_FOUND = Route(status=404, body=b"<h1>404 Not Found</h1>")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # TCP_NODELAY, as real servers set: with Nagle's algorithm a kept-alive connection
    # waits for the client's delayed ACK (40 ms) before the tail of each answer.
    disable_nagle_algorithm = True
    server: _HostServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests and the demo read SiteServer.requests instead

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, self.server.host_name, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner._track(self.connection, self.server.host_name, add=False)

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, *, head: bool) -> None:
        owner = self.server.owner
        owner._record(self.server.host_name, self.command, self.path)
        route = owner._lookup(self.server.host_name, self.path)
        if route.delay and owner._stopping.wait(route.delay):
            self.close_connection = True  # stopping: give up without answering
            return
        body = owner._render(route)
        try:
            if route.hang:
                self._hang(route, body, head)
            elif self._not_modified(route):
                owner._record_not_modified(self.server.host_name, self.path)
                self._send_head(304, route, None)
            elif route.ranges and self.headers.get("Range"):
                self._send_range(route, body, head)
            else:
                self._send(route, body, head)
        except OSError:  # the client went away
            self.close_connection = True

    def _send_head(self, status: int, route: Route, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", route.content_type)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, route: Route, body: bytes, head: bool) -> None:
        lying = route.declared_length is not None and route.declared_length != len(body)
        self._send_head(route.status, route, route.declared_length if lying else len(body))
        if not head:
            self.wfile.write(body)
        if lying:
            self.close_connection = True  # the client sees the transfer end early

    def _send_range(self, route: Route, body: bytes, head: bool) -> None:
        """One range ("bytes=A-B", "bytes=A-", "bytes=-N") as 206; 416 if unsatisfiable."""
        spec = (self.headers.get("Range") or "").strip()
        first: int | None = None
        last = len(body) - 1
        if spec.startswith("bytes=") and "," not in spec:
            start, _, end = spec[6:].partition("-")
            try:
                if start:
                    first = int(start)
                    last = min(last, int(end)) if end else last
                elif end:
                    first = max(0, len(body) - int(end))
            except ValueError:
                first = None
        if first is None or first > last:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        part = body[first : last + 1]
        self.send_response(206)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
        for name, value in route.headers.items():  # the validators
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if not head:
            self.wfile.write(part)

    def _hang(self, route: Route, body: bytes, head: bool) -> None:
        """Headers and half the body, then nothing until stop() (or HANG_LIMIT)."""
        self._send_head(route.status, route, len(body))
        if not head:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
        self.server.owner._stopping.wait(HANG_LIMIT)
        self.close_connection = True

    def _not_modified(self, route: Route) -> bool:
        if route.status != 200:
            return False
        etag = route.headers.get("ETag")
        if_none_match = self.headers.get("If-None-Match")
        if etag and if_none_match:
            return etag in {tag.strip() for tag in if_none_match.split(",")} or if_none_match == "*"
        last_modified = route.headers.get("Last-Modified")
        since = self.headers.get("If-Modified-Since")
        if last_modified and since:
            try:
                return email.utils.parsedate_to_datetime(since) >= (
                    email.utils.parsedate_to_datetime(last_modified)
                )
            except (TypeError, ValueError):
                return False
        return False


class SiteServer:
    """Serves a SampleSite: the main host and the CDN host, both on 127.0.0.1."""

    def __init__(self, site: SampleSite) -> None:
        self.site = site
        self.main_url = ""  # "http://127.0.0.1:PORT", set by start()
        self.cdn_url = ""  # "http://localhost:PORT2": another host name for offsite filters
        self._servers: list[_HostServer] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[tuple[str, str, str]] = []
        self._not_modified: list[tuple[str, str]] = []
        self._connections: set[socket.socket] = set()
        self._open: Counter[str] = Counter()
        #: Per host ("main"/"cdn"): connections accepted, and the most open at once.
        self.connections_opened: Counter[str] = Counter()
        self.most_open: Counter[str] = Counter()
        self._handlers: list[threading.Thread] = []
        #: Prefix of the names of this server's threads.
        self.name = f"samplesite-{next(_SERIAL)}"

    # ---- life cycle

    def start(self) -> SiteServer:
        if self._servers:
            return self
        self._stopping.clear()
        for name in ("main", "cdn"):
            server = _HostServer(("127.0.0.1", 0), _Handler)
            server.owner, server.host_name = self, name
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{self.name}-{name}",
                daemon=True,
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        self.main_url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.cdn_url = f"http://localhost:{self._servers[1].server_address[1]}"
        return self

    def stop(self) -> None:
        """Stop both servers and their handler threads, within a second.

        Slow and hanging answers wait on an Event that is set first; connections
        kept alive are shut down so that handlers blocked reading them return.
        """
        deadline = time.monotonic() + 0.8
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wakes up handlers blocked on keep-alive reads
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for server in self._servers:
            server.server_close()
        with self._lock:
            threads = self._threads + self._handlers
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._handlers = [thread for thread in self._handlers if thread.is_alive()]
        self._servers, self._threads = [], []

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- for assertions

    @property
    def requests(self) -> list[tuple[str, str, str]]:
        """(host "main"/"cdn", method, path with query) of every request, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def not_modified(self) -> list[tuple[str, str]]:
        """(host, path) of every request answered 304 Not Modified, in order (a copy)."""
        with self._lock:
            return list(self._not_modified)

    def _record_not_modified(self, host: str, path: str) -> None:
        with self._lock:
            self._not_modified.append((host, path))

    def clear_requests(self) -> None:
        with self._lock:
            self._not_modified.clear()
            self._requests.clear()
            self.connections_opened.clear()
            self.most_open.clear()

    def url(self, template: str) -> str:
        """Absolute URL of a main-host path or a {{MAIN}}/{{CDN}} template."""
        if template.startswith("/"):
            return self.main_url + template
        return template.replace(MAIN, self.main_url).replace(CDN, self.cdn_url)

    def expected_video_hit_urls(self) -> dict[tuple[str, str], tuple[float, float]]:
        """``SampleSite.expected_video_hits()`` as {(page URL, video URL): stretch}."""
        return {
            (self.url(page), self.url(path)): stretch
            for page, path, stretch in self.site.expected_video_hits()
        }

    def expected_hit_urls(self) -> set[tuple[str, str, str]]:
        """``SampleSite.expected_hits()`` as absolute (page URL, image URL, original)."""
        return {
            (self.url(page), self.url(image), original)
            for page, image, original in self.site.expected_hits()
        }

    # ---- used by the handler

    def _record(self, host: str, method: str, path: str) -> None:
        with self._lock:
            self._requests.append((host, method, path))

    def _add_handler(self, thread: threading.Thread) -> None:
        with self._lock:
            self._handlers = [t for t in self._handlers if t.is_alive()]
            self._handlers.append(thread)

    def _track(self, connection: socket.socket, host: str, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
                self._open[host] += 1
                self.connections_opened[host] += 1
                self.most_open[host] = max(self.most_open[host], self._open[host])
            else:
                self._connections.discard(connection)
                self._open[host] -= 1

    def _lookup(self, host: str, target: str) -> Route:
        routes = self.site.main if host == "main" else self.site.cdn
        if target.startswith(("http://", "https://")):  # absolute-form request target
            parts = urlsplit(target)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # The query string is part of the route when one is registered with it.
        return routes.get(target) or routes.get(target.split("?", 1)[0]) or _NOT_FOUND

    def _render(self, route: Route) -> bytes:
        # Substituted on every request (about 1 ms for the 1 MB hostile page), so a
        # test may change a route's body while the server runs.
        if not route.template:
            return route.body
        return route.body.replace(MAIN.encode(), self.main_url.encode()).replace(
            CDN.encode(), self.cdn_url.encode()
        )

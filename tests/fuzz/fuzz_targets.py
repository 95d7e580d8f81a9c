"""Coverage-guided fuzzing (atheris) of the code that reads hostile input.

Usage::

    .venv/bin/python tests/fuzz/fuzz_targets.py TARGET [libFuzzer options] [CORPUS_DIR ...]

TARGET is one of ``extract`` (crawler.extract.extract_images on HTML bytes),
``srcset`` (parse_srcset and extract_css_urls on text), ``url`` (the extractor's URL
resolution), ``hashlist`` (parse_hash_list and the JSON export round trip), ``image``
(decoding and hashing an image as the crawler does) and ``sitemap`` (crawler.sitemaps);
``selftest`` crashes on purpose, to show that crashes are reported.
Without a corpus directory a temporary one is made and seeded (see ``write_seeds``);
libFuzzer adds the inputs it finds to the first corpus directory, so give one outside
the repository. Every target checks the invariants in tests/fuzz_checks.py: an
exception other than the documented refusals, or a failed invariant, is a crash.
See tests/fuzz/README.md.
"""

from __future__ import annotations

import sys
import tempfile
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import atheris

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
for path in (str(ROOT), str(TESTS)):
    if path not in sys.path:
        sys.path.insert(0, path)

TARGETS = ("extract", "srcset", "url", "hashlist", "image", "sitemap", "selftest")

#: Base URLs the extractor and resolver are fuzzed against (picked by the input's CRC).
BASES = (
    "https://example.com/gallery/page.html?id=3",
    "http://example.com",
    "https://user:pw@xn--bcher-kva.example:8443/a/b/",
    "http://[2001:db8::1]/x/y",
    "https://example.com/a%20b/c;p?q#frag",
    "file:///etc/passwd",
    "not a url",
)
#: The fuzzed image limit: small enough that a valid image decodes in milliseconds.
IMAGE_MAX_PIXELS = 4_000_000


def _pick(data: bytes, choices: tuple[int, ...] | tuple[str, ...]) -> int | str:
    """A choice made from the input itself, so seeds stay valid documents."""
    return choices[zlib.crc32(data) % len(choices)]


def _text(data: bytes) -> str:
    # surrogateescape keeps every byte: lone surrogates reach the code under test too.
    return data.decode("utf-8", errors="surrogateescape")


def make_target(name: str) -> Callable[[bytes], None]:
    """The one-input function for ``name``, importing (and instrumenting) what it needs."""
    include = ["crawler", "monitor", "fuzz_checks", "w3lib"]
    if name == "image":
        include.append("PIL")  # Pillow's container parsers are Python
    with atheris.instrument_imports(include=include):
        import fuzz_checks

        if name == "image":
            import PIL.Image

            import monitor.hashing.workers  # noqa: F401  (instrumented before use)

            PIL.Image.init()  # imports every format plugin, so they are instrumented too
        elif name == "sitemap":
            import crawler.sitemaps  # noqa: F401

    if name == "extract":

        def target(data: bytes) -> None:
            base = str(_pick(data, BASES))
            max_images = int(_pick(data[:8], (0, 1, 3, 50, 5000)))
            max_length = int(_pick(data[:16], (40, 200, 4096)))
            fuzz_checks.check_extract(data, base, max_images, max_length)
            fuzz_checks.check_extract(_text(data), base, max_images, max_length)

    elif name == "srcset":

        def target(data: bytes) -> None:
            text = _text(data)
            fuzz_checks.check_srcset(text)
            fuzz_checks.check_css(text)

    elif name == "url":

        def target(data: bytes) -> None:
            base = str(_pick(data, BASES))
            max_length = int(_pick(data[:4], (30, 4096)))
            text = _text(data)
            # "base\x00reference" fuzzes the base too.
            if "\x00" in text:
                base, _, text = text.partition("\x00")
            fuzz_checks.check_resolve(base, text, max_length)

    elif name == "hashlist":

        def target(data: bytes) -> None:
            fuzz_checks.check_hash_list(data)
            fuzz_checks.check_hash_list(_text(data))

    elif name == "image":

        def target(data: bytes) -> None:
            fuzz_checks.check_image(data, IMAGE_MAX_PIXELS)

    elif name == "sitemap":
        from crawler.sitemaps import MAX_ENTRIES, Sitemap, parse_sitemap

        def target(data: bytes) -> None:
            result = parse_sitemap(data, max_bytes=1 << 20)
            if result is not None:
                assert isinstance(result, Sitemap)
                found = result.pages + result.images + result.sitemaps
                assert len(found) <= MAX_ENTRIES
                assert all(isinstance(url, str) and url == url.strip() for url in found)

    elif name == "selftest":
        # Proves that a crash is reported (tests/test_fuzz_atheris.py): its seed crashes it.
        def target(data: bytes) -> None:
            if data.startswith(b"boom"):
                raise RuntimeError("selftest crash")

    else:
        raise SystemExit(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    return target


# --------------------------------------------------------------------------- seeds


def _html_seeds() -> dict[str, bytes]:
    deep = "<div>" * 2200 + '<img src="/deep.jpg">' + "</div>" * 2200
    return {
        "basic.html": b'<html><body><img src="a.jpg" srcset="b.jpg 1x, c.jpg 2x"></body></html>',
        "picture.html": (
            b'<picture><source srcset="p.webp 1x,p2.webp 2x" type="image/webp">'
            b'<source media="(min-width: 800px)" srcset="big.jpg"><img src="p.jpg"></picture>'
        ),
        "meta.html": (
            b'<head><meta property="og:image" content="//cdn.example.net/og.png">'
            b'<meta name="twitter:image" content="tw.jpg"><base href="https://b.example/x/">'
            b'<link rel="preload" as="image" href="pre.jpg" imagesrcset="pre1.jpg 1x, pre2.jpg 2x">'
            b'<link rel="image_src" href="/src.gif"></head>'
        ),
        "css.html": (
            b"<style>.a{background:url(bg.png)} .b{background-image:image-set('x.png' 1x,"
            b' url("y.png") 2x)} /* url(comment.jpg) */ .c{background:-webkit-image-set(z.jpg 1x)}'
            b'</style><div style="background:url(&quot;in.jpg&quot;)" data-bg="url(lazy.jpg)"></div>'
        ),
        "lazy.html": (
            b'<img data-src="l1.jpg" data-srcset="l2.jpg 100w, l3.jpg 200w">'
            b'<div data-original="l4.png"></div><a href="full.jpeg">x</a>'
            b'<video poster="poster.jpg"><source data-src="clip.mp4"></video>'
            b'<input type="image" src="btn.png"><svg><image href="s.jpg" xlink:href="t.jpg"/></svg>'
        ),
        "skips.html": (
            b'<img src="data:image/png;base64,AAAA"><img src="javascript:alert(1)">'
            b'<img src="http://[::1"><img src="vector.svg"><img src="ftp://x/y.jpg">'
        ),
        "charset.html": b'<meta charset="windows-1252"><img src="caf\xe9.jpg">',
        "utf16.html": "\ufeff<img src='u16.jpg'>".encode("utf-16-le"),
        "deep.html": deep.encode(),
        "unterminated.html": b'<img src="a.jpg" srcset="x.jpg 1x, (((( y.jpg',
    }


def _hashlist_seeds() -> dict[str, bytes]:
    pdq = "f" * 64
    phash = "0123456789abcdef"
    from datetime import UTC, datetime

    from monitor.hashlists import export_json

    exported = export_json(
        [("pdq", pdq, "photo 1", 2, "original", "a"), ("phash", phash, None, None, "crop:1", "a")],
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return {
        "export.json": exported.encode(),
        "list.json": f'[{{"algorithm": "pdq", "hash": "{pdq}", "quality": 90}}]'.encode(),
        "lines.txt": f"# comment\npdq {pdq} a label\nphash {phash}\n".encode(),
        "csv.txt": f'Hash,Algorithm,Label\n{pdq},pdq,"with, comma"\n'.encode(),
        "bare.txt": f"\ufeff{pdq},100\r\n{pdq} 50\r\n".encode(),
    }


def _image_seeds() -> dict[str, bytes]:
    from hostile_images import corpus

    return {name: data for name, (data, _expected) in corpus().items() if data}


def _sitemap_seeds() -> dict[str, bytes]:
    import gzip

    xml = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        b' xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"><url>'
        b"<loc> https://e.example/p </loc><lastmod>2026-01-01</lastmod><image:image>"
        b"<image:loc>https://e.example/i.jpg</image:loc></image:image></url></urlset>"
    )
    index = b"<sitemapindex><sitemap><loc>https://e.example/s2.xml</loc></sitemap></sitemapindex>"
    return {"urlset.xml": xml, "index.xml": index, "urlset.xml.gz": gzip.compress(xml)}


def seeds(target: str) -> dict[str, bytes]:
    """The seed corpus of a target: file name -> content."""
    if target == "extract":
        return _html_seeds()
    if target == "srcset":
        return {
            "srcset.txt": b"a.jpg 1x, b.jpg 2x,c.jpg 300w , d.jpg",
            "cloudinary.txt": b"https://r.example/w_100,h_50/x.jpg 100w, y.jpg (a, b) 2x",
            "css.txt": b"url( 'x.png' ) image-set(\"a.png\" 1x, url(b.png) 2x) url(c\\29 .jpg)",
        }
    if target == "url":
        return {
            "relative.txt": b"../img/a.jpg?x=1",
            "absolute.txt": b"HTTPS://EXAMPLE.com:443/./a/../b.JPG",
            "unicode.txt": "//b\u00fccher.example/\u00e9t\u00e9 \u00e0.jpg".encode(),
            "based.txt": b"http://h.example/dir/\x00?q=1",
            "backslash.txt": b"\\\\evil.example\\x.jpg",
        }
    if target == "hashlist":
        return _hashlist_seeds()
    if target == "image":
        return _image_seeds()
    if target == "sitemap":
        return _sitemap_seeds()
    if target == "selftest":
        return {"quiet.txt": b"nothing", "boom.txt": b"boom"}
    raise SystemExit(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")


def write_seeds(target: str, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in seeds(target).items():
        (directory / name).write_bytes(data)
    return directory


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        raise SystemExit(__doc__)
    name = argv[1]
    args = [argv[0], *argv[2:]]
    warnings.simplefilter("ignore")  # Pillow warns on every corrupt EXIF block
    target = make_target(name)  # first: the modules it imports are instrumented
    if not any(not arg.startswith("-") for arg in args[1:]):
        # No corpus given: seed a temporary one (libFuzzer writes new inputs into it).
        seed_dir = Path(tempfile.mkdtemp(prefix=f"ncii-fuzz-{name}-"))
        args.append(str(write_seeds(name, seed_dir)))
    atheris.Setup(args, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

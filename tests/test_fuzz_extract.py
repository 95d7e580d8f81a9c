"""Property-based tests of what the crawler reads from hostile pages: the HTML image
extractor (crawler.extract: images, srcset, CSS, URL resolution) and sitemaps.

The invariants themselves are in tests/fuzz_checks.py, shared with the atheris harness
(tests/fuzz/fuzz_targets.py). Hypothesis runs derandomized and without its example
database, so CI is deterministic and nothing is written into the repository.
"""

from __future__ import annotations

import gzip
import re

from fuzz_checks import check_css, check_extract, check_resolve, check_srcset
from fuzz_profile import fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st
from w3lib.url import canonicalize_url

from crawler.extract import (
    IMAGE_EXTENSIONS,
    SKIP_INVALID_URL,
    SKIP_OVER_LIMIT,
    _Resolver,
    extract_css_urls,
    extract_images,
    looks_like_image_url,
    parse_srcset,
)
from crawler.sitemaps import MAX_ENTRIES, Sitemap, parse_sitemap

SETTINGS = fuzz_settings(150)

BASES = (
    "https://example.com/gallery/page.html?id=3",
    "http://example.com",
    "https://user:pw@xn--bcher-kva.example:8443/a/b/",
    "http://[2001:db8::1]/x/y",
    "https://example.com/a%20b/c;p?q#frag",
    "file:///etc/passwd",
    "",
)
bases = st.sampled_from(BASES) | st.text(max_size=40)
limits = st.tuples(st.sampled_from([0, 1, 3, 5000]), st.sampled_from([20, 60, 4096]))

# Characters that matter to HTML, URLs, srcset and CSS, so that random text hits the
# interesting paths more often than uniform Unicode would.
_MARKUP = "<>/=\"' \t\n&#;:?.,()\\-_%@![]{}*"
markup_text = st.text(
    alphabet=st.sampled_from(list(_MARKUP) + list("abcdeimgsrcurlhttpjpg0123")) | st.characters(),
    max_size=400,
)


# --------------------------------------------------------------------------- never raises


@SETTINGS
@given(st.binary(max_size=3000), bases, limits)
def test_extractor_on_arbitrary_bytes(html: bytes, base: str, limit: tuple[int, int]) -> None:
    """Any bytes: no exception, only absolute http(s) URLs within the length limit, at
    most max_images of them, no duplicates, only known sources and skip reasons."""
    check_extract(html, base, *limit)


@SETTINGS
@given(markup_text, bases, limits)
@example("<img src='http://\u00a0\u00c5:1'>", BASES[0], (5000, 4096))  # non-ASCII host
@example("<img src='http://\ud800/x.jpg'><img src=\x00>", BASES[0], (5000, 4096))
def test_extractor_on_arbitrary_text(html: str, base: str, limit: tuple[int, int]) -> None:
    check_extract(html, base, *limit)


def test_regression_host_idna_refuses_is_not_returned() -> None:
    """Found by atheris: w3lib's safe_url_string() leaves a host that IDNA cannot encode
    as it was, so the extractor returned "http://\ufffd\ufffd:1" (not a URL anyone can
    fetch). It is skipped as invalid now."""
    crash = b'<img src="p.jpg"><img src="http://\xa0\xc5:1"><img sg">'
    result = extract_images(crash, "https://example.com/gallery/page.html?id=3")
    assert [image.url for image in result.images] == ["https://example.com/gallery/p.jpg"]
    assert result.skipped == {SKIP_INVALID_URL: 1}
    resolver = _Resolver("http://example.com/", 4096)
    assert resolver.resolve("http://\ufffd\ufffd:1") == (None, SKIP_INVALID_URL)
    # A host IDNA can encode is still found, encoded.
    assert resolver.resolve("http://\u00e9\u00e9/\u00e9.jpg") == (
        "http://xn--9caa/%C3%A9.jpg",
        None,
    )


def test_regression_semicolons_and_empty_segments_are_kept_on_both_paths() -> None:
    """Found by atheris (url target, inputs "ppSid;" and "Htp/8EXEHtp//EXE"): urljoin()
    parses RFC 1808 ";params", dropping an empty one and reading "..;" as "..", and it
    deletes empty segments ("//") of a relative path it merges. So "x.jpg;" and
    "a//b.jpg" resolved one way on the fast path and another on the general one (used
    when the base is not plain): one image, two URLs, and not the one a browser asks
    for. Both paths keep ";" and "//" as a browser does now."""
    expected = {
        "ppSid;": "https://example.com/a%20b/ppSid;",
        "a/..;/b.jpg": "https://example.com/a%20b/a/..;/b.jpg",
        "../x;y/z.jpg": "https://example.com/x;y/z.jpg",
        "?q": "https://example.com/a%20b/c;p?q",
        "Htp/8EXEHtp//EXE": "https://example.com/a%20b/Htp/8EXEHtp//EXE",
        "a///b/../c.jpg": "https://example.com/a%20b/a///c.jpg",
        "/p//q/../r.jpg": "https://example.com/p//r.jpg",
    }
    for base in ("https://example.com/a%20b/c;p?q", "https://example.com/a b/c;p?q"):
        resolver = _Resolver(base, 4096)
        for reference, url in expected.items():
            assert resolver.resolve(reference) == (url, None), (base, reference)
            check_resolve(base, reference, 4096)
    assert _Resolver("https://e.example/a b//", 4096).resolve("../x.jpg") == (
        "https://e.example/a%20b/x.jpg",
        None,
    )


def test_regression_images_after_the_end_of_the_document_are_found() -> None:
    """Found by the junk-markup property: libxml2 dropped everything after a </html>
    that closed an open element, so "<div></html><img src=x.jpg>" (or a page that goes
    on after "</body></html>", as browsers let it) hid its images."""
    for html in (
        "<div></html><img src=x.jpg>",
        "<html><body><p>text</p></body></html><img src=x.jpg>",
        "<p>a</HTML ><img src=x.jpg>",
        '<div></html foo="bar"><p><img src=x.jpg></p>',
        "<div></body></html><picture><source srcset=x.jpg></picture>",
    ):
        urls = [image.url for image in extract_images(html, "https://e.example/").images]
        assert urls == ["https://e.example/x.jpg"], html


# --------------------------------------------------------------------------- finds images

_tags = st.sampled_from(["p", "div", "span", "a", "b", "table", "td", "ul", "li", "x-y", "font"])
_words = st.text(alphabet=st.sampled_from(list("abc xyz-_.0123!?:;")), max_size=12)


@st.composite
def junk_fragment(draw: st.DrawFn) -> str:
    """A piece of messy but closed markup: it cannot swallow what follows (no open
    quote, comment, tag or raw-text element such as <script>)."""
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return draw(_words).replace("<", "")
    if kind == 1:
        attrs = draw(st.lists(st.tuples(_words, _words), max_size=3))
        rendered = "".join(
            f' {re.sub(r"[^a-z-]", "", name) or "x"}="{value}"' for name, value in attrs
        )
        return f"<{draw(_tags)}{rendered}>"
    if kind == 2:
        return f"</{draw(_tags | st.sampled_from(['picture', 'video', 'html', 'body']))}>"
    if kind == 3:
        return f"<!-- {draw(_words).replace('-', '')} -->"
    if kind == 4:
        return draw(st.sampled_from(["&amp;", "&#x;", "&#0;", "&nbsp", "&", "< ", ">", "<>"]))
    if kind == 5:
        return draw(st.sampled_from(["<br/>", "<hr>", "<!doctype html>", "<?xml?>", "</>"]))
    return '<img alt="no source">'


@SETTINGS
@given(
    st.lists(junk_fragment(), max_size=30),
    st.lists(junk_fragment(), max_size=30),
    st.sampled_from([0, 5, 3000]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20),
    st.sampled_from(["jpg", "PNG", "webp", "gif", "avif", ""]),
    st.sampled_from(['"', "'", ""]),
)
def test_an_img_in_junk_is_found(
    before: list[str], after: list[str], depth: int, name: str, ext: str, quote: str
) -> None:
    """<img src> anywhere in closed junk markup is found, whatever the junk, also past a
    nesting depth libxml2 gives up on (3000 <div>s: the fallback tokenizer)."""
    url = f"https://img.example/found/{name}" + (f".{ext}" if ext else "")
    html = "<div>" * depth + "".join(before) + f"<img src={quote}{url}{quote}>" + "".join(after)
    result = extract_images(html, "https://page.example/")
    urls = [image.url for image in result.images]
    assert url in urls, (html[-2000:], urls)
    assert [image.source for image in result.images if image.url == url] == ["img-src"]


_paths = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=10)


@SETTINGS
@given(st.lists(st.tuples(_paths, st.integers(0, 5), st.integers(0, 4)), min_size=1, max_size=20))
def test_results_are_unique_in_document_order(refs: list[tuple[str, int, int]]) -> None:
    """The same image referenced many ways (element, spelling) is returned once, at its
    first mention, and every distinct image is returned."""
    page = "https://example.com/gallery/page.html"
    spellings = (
        "/img/{}.jpg",
        "../img/{}.jpg",
        "https://example.com/img/{}.jpg",
        "//example.com/img/{}.jpg",
        "HTTPS://EXAMPLE.COM/img/{}.jpg#fragment",
    )
    elements = (
        '<img src="{}">',
        '<img srcset="{} 1x, /spacer.gif 2x">',
        '<div data-src="{}"></div>',
        '<meta property="og:image" content="{}">',
        '<a href="{}">link</a>',
        "<div style=\"background: url('{}')\"></div>",
    )
    html = ""
    expected: list[str] = []
    for path, element, spelling in refs:
        reference = spellings[spelling].format(path)
        html += elements[element].format(reference)
        for url in (f"https://example.com/img/{path}.jpg", "https://example.com/spacer.gif"):
            if url not in expected and (url.endswith(".jpg") or element == 1):
                expected.append(url)
    result = extract_images(html, page)
    assert [image.url for image in result.images] == expected


@SETTINGS
@given(st.lists(_paths, min_size=1, max_size=30, unique=True), st.integers(0, 10))
def test_max_images_caps_and_counts_the_rest(paths: list[str], cap: int) -> None:
    html = "".join(f'<img src="/{p}.png"><img src="{p}.png">' for p in paths)
    result = extract_images(html, "https://example.com/", max_images=cap)
    assert [image.url for image in result.images] == [
        f"https://example.com/{p}.png" for p in paths[:cap]
    ]
    # Every image not returned is counted; past the cap a reference is known by its text
    # only, so each spelling counts once (also one of an image returned before the cap).
    over = len(paths) - min(cap, len(paths))
    assert over <= result.skipped.get(SKIP_OVER_LIMIT, 0) <= 2 * len(paths)


# --------------------------------------------------------------------------- srcset


_srcset_url = st.text(
    alphabet=st.sampled_from(list("abcxyz019/._-~%?&=:;,()[]@!$'*+"))
    | st.characters(blacklist_categories=["Cs", "Zs", "Zl", "Zp", "Cc"]),
    min_size=1,
    max_size=30,
).filter(lambda url: not url.startswith(",") and not url.endswith(","))
_descriptor = st.sampled_from(["", "1x", "2x", "1.5x", "100w", "640w", "(a, b) 2x", "junk"])


@SETTINGS
@given(
    st.lists(st.tuples(_srcset_url, _descriptor, st.integers(0, 3)), min_size=1, max_size=12),
    st.sampled_from(["", " ", "\n\t "]),
    st.sampled_from(["", ",", " , "]),
)
def test_srcset_candidates_round_trip(
    candidates: list[tuple[str, str, int]], lead: str, trail: str
) -> None:
    """A srcset built from URLs (commas inside them included, as CDNs write them) and
    descriptors parses back to exactly those URLs, in order."""
    after_descriptor = (",", ", ", " ,", ",\n\t")
    after_bare_url = (", ", " , ", ",\n", " ,\t")  # "a.jpg,b.jpg" is one URL
    value = lead
    for index, (url, descriptor, sep) in enumerate(candidates):
        value += url + (f" {descriptor}" if descriptor else "")
        if index < len(candidates) - 1:
            value += (after_descriptor if descriptor else after_bare_url)[sep]
    value += trail
    assert parse_srcset(value) == [url for url, _, _ in candidates]


@SETTINGS
@given(markup_text)
@example("a.jpg 1x, (((( b.jpg" + "(" * 5000)
@example(",,,,, ,,, a.jpg,,,, b.jpg")
def test_srcset_on_arbitrary_text(value: str) -> None:
    """Candidates are non-empty, whitespace-free, comma-trimmed pieces of the input."""
    check_srcset(value)


# --------------------------------------------------------------------------- CSS


_css_url = st.text(
    alphabet=st.sampled_from(list("abcxyz019/._-~%?&=:;,@!$*+")), min_size=1, max_size=30
)


def _escaped(url: str, at: int) -> str:
    """``url`` with one character written as a CSS hex escape."""
    if not url:
        return url
    at %= len(url)
    return url[:at] + f"\\{ord(url[at]):x} " + url[at + 1 :]


@SETTINGS
@given(
    st.lists(st.tuples(_css_url, st.integers(0, 4), st.integers(0, 30)), max_size=10),
    st.lists(st.sampled_from(["color: red;", "/* url(x.png) */", "a{}", "(((", ")"]), max_size=5),
)
def test_css_urls_round_trip(urls: list[tuple[str, int, int]], noise: list[str]) -> None:
    """url() in any quoting, image-set() strings and CSS escapes come back unescaped,
    in order, and comments hide theirs."""
    forms = (
        "url({})",
        "url('{}')",
        'url( "{}" )',
        "image-set('{}' 1x)",
        '-webkit-image-set("{}" 2x, url({}) 1x)',
    )
    css = ""
    expected: list[str] = []
    for index, (url, form, escape_at) in enumerate(urls):
        written = _escaped(url, escape_at) if form in (1, 2) else url
        css += f".c{index} {{ background: {forms[form].format(written, written)}; }}"
        expected.extend([url] * forms[form].count("{}"))
        if noise and index < len(noise) and noise[index] != "(((":
            css += noise[index]
    assert extract_css_urls(css) == expected
    assert check_css(css) == expected


@SETTINGS
@given(markup_text)
@example("url(" * 3000)
@example('image-set("a.png" 1x, url(\\' + "(" * 100)
def test_css_on_arbitrary_text(css: str) -> None:
    check_css(css)


# --------------------------------------------------------------------------- URLs


@SETTINGS
@given(bases, markup_text, st.sampled_from([30, 4096]))
@example(BASES[0], "http://\ufffd\ufffd:1", 4096)
@example(BASES[0], "\\\\evil.example\\x.jpg", 4096)
@example(BASES[2], "../../../../x.jpg?\u00e9=1", 4096)
@example(BASES[4], "ppSid;", 4096)
@example(BASES[4], "Htp/8EXEHtp//EXE", 4096)
def test_resolution_is_sound_and_idempotent(base: str, reference: str, limit: int) -> None:
    """A resolved URL is absolute, percent-encoded and within the limit; the fast path
    for plain URLs agrees with urljoin + safe_url_string; resolving again is a no-op."""
    check_resolve(base, reference, limit)


@SETTINGS
@given(bases, markup_text)
def test_the_spiders_page_key_is_stable_on_resolved_urls(base: str, reference: str) -> None:
    """spiders/watchlist.py counts pages by canonicalize_url(url): on any URL the
    resolver makes it never raises, and canonical URLs are their own key."""
    url = check_resolve(base, reference, 4096)
    if url is not None:
        key = canonicalize_url(url)
        assert canonicalize_url(key) == key


@SETTINGS
@given(
    _paths,
    st.sampled_from(sorted(IMAGE_EXTENSIONS) + ["svg", "html", "php", "js", "css", "1234"]),
    st.booleans(),
    st.text(alphabet="abc=&/.jpg", max_size=10),
    st.text(alphabet="abc=&/.png#", max_size=10),
)
def test_looks_like_image_url_reads_the_path_only(
    path: str, ext: str, upper: bool, query: str, fragment: str
) -> None:
    written = ext.upper() if upper else ext
    for url in (
        f"https://h.example/dir/{path}.{written}",
        f"/dir/{path}.{written}?{query}",
        f"{path}.{written}#{fragment}",
        f"//h.example/{path}.{written};jsessionid=1?{query}#{fragment}",
    ):
        assert looks_like_image_url(url) == (ext in IMAGE_EXTENSIONS), url


@SETTINGS
@given(st.text(max_size=200))
def test_looks_like_image_url_never_raises(url: str) -> None:
    assert looks_like_image_url(url) in (True, False)


def test_regression_the_host_is_checked_after_normalisation() -> None:
    """Found by atheris (url target): the host was checked before safe_url_string(),
    which can still spoil it. IDNA's NFKC mapping turns U+00A8 into a space and U+0308,
    so "//E" U+00A8 "F" gave "https://xn--e f-eec" (a space in the host); and it reads a
    backslash as "/" in the authority, so a base of "http://" backslash "h;x@ir/" gave
    "http:///h;x@ir/" (no host). Both are refused as invalid now."""
    for base, reference in (
        ("https://example.com/a%20b/c;p?q", "//E\u00a8F"),
        ("https://user:pw@xn--bcher-kva.example:8443/a/b/", "//\x0f@\u00b8"),
        ("http://\\h;ex}plxampee7l@ir/", "\\\\\\?"),
        ("http://\\\\p%:<l@i", "\x10"),
        ("http://%\\@ehttp://\\@e2\x048", "\x10"),
        ("http://\x1e\\@e8", "http://\x1e\\@e8"),
    ):
        assert _Resolver(base, 4096).resolve(reference) == (None, SKIP_INVALID_URL), base
        check_resolve(base, reference, 4096)


# --------------------------------------------------------------------------- sitemaps


def _check_sitemap(body: bytes) -> Sitemap | None:
    result = parse_sitemap(body, max_bytes=1 << 20)
    if result is not None:
        found = result.pages + result.images + result.sitemaps
        assert len(found) <= MAX_ENTRIES
        assert all(isinstance(url, str) and url and url == url.strip() for url in found)
    return result


@SETTINGS
@given(
    st.lists(
        st.sampled_from(
            [
                "<urlset>",
                "</urlset>",
                "<sitemapindex>",
                "<:urlset>",
                "<url>",
                "</url>",
                "<loc>",
                "</loc>",
                "<image:image>",
                "<image:loc>",
                "<:loc>",
                "<sitemap>",
                " https://e.x/p ",
                "<lastmod>2026-01-01</lastmod>",
                "<!--",
                "-->",
                "<![CDATA[",
                "]]>",
                "&amp;",
                "&xxe;",
                "<!DOCTYPE x [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>",
                "\x00",
                "<",
            ]
        ),
        max_size=40,
    ).map(lambda parts: "".join(parts).encode()),
)
def test_sitemaps_are_read_or_refused(body: bytes) -> None:
    _check_sitemap(body)
    _check_sitemap(gzip.compress(body))


def test_regression_sitemap_with_a_tag_etree_refuses() -> None:
    """Found by atheris (sitemap target): in recovery mode libxml2 keeps a tag named
    ":sitemapindex", which etree.QName() refuses with ValueError, so parse_sitemap
    raised instead of saying "not a sitemap"."""
    crash = b"<:sitemapindex><sitemap><loc>httqs:\x00\x00\x002c><map><1loc>https:\x00\x002c>/x>"
    assert _check_sitemap(crash) is None
    urlset = (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>a</loc></url>'
        b"<:url><loc>b</loc></:url></urlset>"
    )
    result = _check_sitemap(urlset)
    assert result is not None and result.pages == ["a"]

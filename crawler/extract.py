"""Find every image a web page references, without fetching anything.

The crawler hands us the raw HTML of a watched page; we return the absolute
URLs of all images the page could display (``<img>``, srcset candidates,
lazy-loading attributes, CSS backgrounds, social-card meta tags, ...) so the
caller can fetch and hash them.  Everything here is a pure function of its
input: no network, no Scrapy, so it is cheap to test and safe to call from a
thread.

The input is hostile by assumption (pages that republish abuse imagery have
every reason to be awkward), so the rules are: never raise, stay linear in
the size of the input, and account for every reference we drop in
``Extraction.skipped`` so an operator can tell "no images" from "images we
could not use".
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from html import unescape as _html_unescape
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
from w3lib.encoding import html_body_declared_encoding, read_bom
from w3lib.url import safe_url_string

__all__ = [
    "IMAGE_EXTENSIONS",
    "SKIP_REASONS",
    "SOURCES",
    "SVG_EXTENSIONS",
    "Extraction",
    "ImageRef",
    "extract_css_urls",
    "extract_images",
    "looks_like_image_url",
    "parse_srcset",
]

# --- Public constants --------------------------------------------------------

# How the page referenced an image.  The first form seen for a URL wins.
IMG_SRC = "img-src"
SRCSET = "srcset"
PICTURE_SOURCE = "picture-source"
LAZY = "lazy"
OG_IMAGE = "og-image"
TWITTER_IMAGE = "twitter-image"
LINK_IMAGE_SRC = "link-image-src"
PRELOAD = "preload"
CSS_STYLE_ATTR = "css-style-attr"
CSS_STYLE_BLOCK = "css-style-block"
LINK_HREF = "link-href"
VIDEO_POSTER = "video-poster"
INPUT_IMAGE = "input-image"
SVG_IMAGE = "svg-image"

SOURCES: tuple[str, ...] = (
    IMG_SRC,
    SRCSET,
    PICTURE_SOURCE,
    LAZY,
    OG_IMAGE,
    TWITTER_IMAGE,
    LINK_IMAGE_SRC,
    PRELOAD,
    CSS_STYLE_ATTR,
    CSS_STYLE_BLOCK,
    LINK_HREF,
    VIDEO_POSTER,
    INPUT_IMAGE,
    SVG_IMAGE,
)

# Why a reference was not returned.
SKIP_DATA_URL = "data_url"  # inline data: image; nothing to fetch (hash it elsewhere if wanted)
SKIP_UNSUPPORTED_SCHEME = "unsupported_scheme"  # file:, javascript:, ftp:, blob:, ...
SKIP_INVALID_URL = "invalid_url"  # unparsable, no host, bad port
SKIP_TOO_LONG_URL = "too_long_url"  # longer than max_url_length
SKIP_SVG = "svg"  # vector image: perceptual hashes are defined on raster images only
SKIP_OVER_LIMIT = "over_limit"  # a new unique image after max_images were found

SKIP_REASONS: tuple[str, ...] = (
    SKIP_DATA_URL,
    SKIP_UNSUPPORTED_SCHEME,
    SKIP_INVALID_URL,
    SKIP_TOO_LONG_URL,
    SKIP_SVG,
    SKIP_OVER_LIMIT,
)

# Raster formats a browser (or Pillow with plugins) can decode.  ``ico`` is
# included: Pillow decodes it, and it only matters where we must guess from the
# extension (plain links, CSS, lazy attributes on arbitrary elements).  ``jxl``
# is included because we would rather fetch and fail to decode than never see it.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {
        "jpg", "jpeg", "jpe", "jfif", "pjpeg", "pjp",
        "png", "apng", "gif", "webp", "bmp", "dib", "avif",
        "tif", "tiff", "heic", "heif", "ico", "jxl",
    }
)  # fmt: skip
SVG_EXTENSIONS: frozenset[str] = frozenset({"svg", "svgz"})

# --- Element and attribute tables ----------------------------------------------

# Attributes used by lazy-loading libraries (lazysizes, lozad, WordPress
# plugins, ...).  Browsers ignore them; scripts copy them into src/srcset later.
LAZY_URL_ATTRS: tuple[str, ...] = (
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-hi-res-src",
    "data-full-src",
)
LAZY_SRCSET_ATTRS: tuple[str, ...] = ("data-srcset", "data-lazy-srcset", "data-original-set")
# Background lazy loaders sometimes store CSS (``url('x.jpg')``) instead of a URL.
LAZY_BACKGROUND_ATTRS: tuple[str, ...] = ("data-bg", "data-background", "data-background-image")
_LAZY_ATTRS = frozenset(LAZY_URL_ATTRS + LAZY_SRCSET_ATTRS + LAZY_BACKGROUND_ATTRS)

# On these elements any URL in a lazy attribute is an image; anywhere else
# (iframes, divs, anchors) data-src & co. may point at pages or videos, so we
# only trust URLs whose extension says "image".
_IMAGE_ELEMENTS = frozenset({"img", "source", "picture"})
_MEDIA_CONTAINERS = frozenset({"picture", "video", "audio"})

_OG_IMAGE_PROPERTIES = frozenset({"og:image", "og:image:url", "og:image:secure_url"})
_TWITTER_IMAGE_PROPERTIES = frozenset({"twitter:image", "twitter:image:src"})

_HTML_WHITESPACE = " \t\n\r\f"
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# The URL parser deletes tabs and newlines anywhere in a URL (WHATWG URL spec),
# which is how browsers cope with attribute values wrapped over several lines.
_DELETE_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_SCHEME_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_HTTP_SCHEMES = frozenset({"http", "https"})
# Characters that can never appear in a host name, even an internationalized one.
_BAD_HOST_CHARS_RE = re.compile(r"[\s<>\"{}|\\^`%\x00-\x1f\x7f]")
_AUTHORITY_RE = re.compile(r"(?:[a-zA-Z][a-zA-Z0-9+.\-]*:)?//[^/]*")
# A file extension is short and alphanumeric; "photo.1234" has none (numeric
# suffixes are versions or ids, not file types).
_EXTENSION_RE = re.compile(r"[a-z0-9]{0,7}[a-z][a-z0-9]{0,7}")
# "Plain" URLs: lower-case ASCII host, optional port without a leading zero,
# a path, and only characters that need no escaping.  w3lib's
# safe_url_string() is the identity on them (checked by fuzzing), so for these
# we can skip it and urljoin(), which together cost ~30 us a URL.
_PLAIN_URL_RE = re.compile(
    r"(?P<origin>https?://[a-z0-9.\-]+(?::(?P<port>[1-9][0-9]{0,4}))?)"
    r"/[A-Za-z0-9\-._~!$&()*+,;=:@/%']*"
    r"(?:\?[A-Za-z0-9\-._~!$&()*+,;=:@/?%]+)?"
)


# --- Results -----------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    url: str  # absolute http(s) URL, fragment removed, whitespace stripped
    source: str  # one of SOURCES: how the page referenced it (first form seen wins)


@dataclass
class Extraction:
    images: list[ImageRef] = field(default_factory=list)  # unique by url, document order
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count, non-zero only


# --- Small URL helpers ---------------------------------------------------------


def _path_extension(url: str) -> str:
    """Lower-case extension of the last path segment, or "" if it has none.

    Works on relative and absolute URLs without a full parse, so it cannot
    raise on garbage and costs one pass over the string.
    """
    end = len(url)
    for stop in "?#":
        i = url.find(stop, 0, end)
        if i != -1:
            end = i
    path = url[:end].replace("\\", "/")  # browsers treat \ as / in http(s) URLs
    authority = _AUTHORITY_RE.match(path)
    if authority:
        path = path[authority.end() :]
    segment = path.rpartition("/")[2].partition(";")[0]  # drop ;jsessionid=... params
    if "." not in segment:
        return ""
    # "photo.jpg:large" (old Twitter CDN style) is still a jpg.
    ext = segment.rpartition(".")[2].partition(":")[0].lower()
    return ext if _EXTENSION_RE.fullmatch(ext) else ""


def looks_like_image_url(url: str) -> bool:
    """True if the URL's path ends with a raster image extension (case-insensitive).

    Query string and fragment are ignored: ``/a.JPG?w=100#x`` looks like an image.
    """
    return _path_extension(url) in IMAGE_EXTENSIONS


def _is_svg(url: str) -> bool:
    return ".svg" in url.lower() and _path_extension(url) in SVG_EXTENSIONS


def _is_data_image(value: str) -> bool:
    return value[:11].lower() == "data:image/"


def _image_like(value: str) -> bool:
    """Filter for references that may point at anything (links, lazy attrs on divs).

    SVG passes so that it is counted as skipped "svg" rather than silently lost.
    """
    if value[:5].lower() == "data:":
        return _is_data_image(value)
    ext = _path_extension(value)
    return ext in IMAGE_EXTENSIONS or ext in SVG_EXTENSIONS


def _css_image_like(value: str) -> bool:
    """Filter for CSS url(): image extensions, or no extension at all.

    CDNs often serve images from extension-less paths (``/img/12345``), so
    those are kept; fonts (.woff2), stylesheets (.css), behaviours (.htc)
    and other typed files are not images.
    """
    if value[:5].lower() == "data:":
        return _is_data_image(value)  # inline fonts are data: too; don't count them
    ext = _path_extension(value)
    return ext == "" or ext in IMAGE_EXTENSIONS or ext in SVG_EXTENSIONS


def _clean_reference(raw: str) -> str:
    value = raw.strip(_HTML_WHITESPACE)
    if "\n" in value or "\r" in value or "\t" in value:
        value = value.translate(_DELETE_TAB_NEWLINE)
    return value


def _precheck(value: str, max_url_length: int) -> str | None:
    """Skip reason decidable from the text alone, before any URL parsing.

    These settle the bulk of hostile input (a 5 MB data: URL) in O(1).
    """
    scheme = _SCHEME_RE.match(value)
    if scheme:
        name = scheme.group(1).lower()
        if name == "data":
            return SKIP_DATA_URL
        if name not in _HTTP_SCHEMES:
            return SKIP_UNSUPPORTED_SCHEME
    if len(value) > max_url_length:
        return SKIP_TOO_LONG_URL
    return None


def _plain_url(url: str) -> re.Match[str] | None:
    """Match ``url`` if it is plain (see _PLAIN_URL_RE) and needs no normalization."""
    if "/." in url:
        return None  # possible dot segments ("/../"): let urljoin() remove them
    match = _PLAIN_URL_RE.fullmatch(url)
    if match and match.group("port") and int(match.group("port")) > 65535:
        return None
    return match


# The scheme and authority at the start of a URL or reference (each optional).
_URL_PREFIX_RE = re.compile(r"(?:[a-zA-Z][a-zA-Z0-9+.\-]*:)?(?://[^/?#]*)?")
_EMPTY_SEGMENT_RE = re.compile(r"(?<=/)(?=/)")


def _urljoin(base: str, value: str) -> str:
    """urljoin() as a browser joins: ";" and empty path segments kept.

    urljoin() parses RFC 1808 ";params": it drops an empty one ("x.jpg;"
    became "x.jpg") and reads "..;" as a dot segment.  It also deletes empty
    segments when it merges a relative path ("a//b.jpg" became "a/b.jpg").
    A browser keeps both, as the fast path does (found by fuzzing the two
    against each other).  So while joining, ";" is swapped for a private-use
    character and a marker is put between two slashes, neither of which the
    strings contain.
    """
    if ";" not in base and ";" not in value and "//" not in base + value:
        return urljoin(base, value)
    standins = (chr(c) for c in range(0xE000, 0xF900) if chr(c) not in base and chr(c) not in value)
    semicolon, empty = next(standins, None), next(standins, None)
    if semicolon is None or empty is None:
        return urljoin(base, value)  # 6400 distinct private-use characters: not a URL

    def protect(url: str) -> str:
        start = _URL_PREFIX_RE.match(url).end()  # type: ignore[union-attr]  # always matches
        return (url[:start] + _EMPTY_SEGMENT_RE.sub(empty, url[start:])).replace(";", semicolon)

    joined = urljoin(protect(base), protect(value))
    return joined.replace(semicolon, ";").replace(empty, "")


class _Resolver:
    """Turns cleaned references into absolute http(s) URLs against one base."""

    def __init__(self, base: str, max_url_length: int) -> None:
        self.base = base = base.partition("#")[0]  # never inherited by references
        self.max_url_length = max_url_length
        # Prefixes for the fast path, when the base itself is plain.
        self._scheme = self._origin = self._directory = ""
        match = _plain_url(base)
        if match:
            self._origin = match.group("origin")
            self._scheme = base.partition(":")[0]
            path = base[len(self._origin) :].partition("?")[0]
            self._directory = self._origin + path.rpartition("/")[0] + "/"

    def resolve(self, value: str) -> tuple[str | None, str | None]:
        """``(url, None)`` or ``(None, skip_reason)`` for a non-empty reference without fragment."""
        reason = _precheck(value, self.max_url_length)
        if reason:
            return None, reason
        url = self._resolve_plain(value)
        if url is None:
            return self._resolve_general(value)
        if len(url) > self.max_url_length:
            return None, SKIP_TOO_LONG_URL
        return url, None

    def _resolve_plain(self, value: str) -> str | None:
        """Fast path for the common shapes of reference; None means "not sure"."""
        if not self._origin:
            return None
        if value.startswith(("http://", "https://")):
            url = value
        elif value.startswith("//"):
            url = self._scheme + ":" + value
        elif value[0] == "/":
            url = self._origin + value
        elif value[0] == "?" or _SCHEME_RE.match(value):
            return None  # "?q" keeps the base path; "http:x.jpg" is relative: both rare
        else:
            url = self._directory + value
        return url if _plain_url(url) else None

    def _resolve_general(self, value: str) -> tuple[str | None, str | None]:
        if "\\" in value:
            # Browsers read "\" as "/" before the query in http(s) URLs; urljoin doesn't.
            before, sep, after = value.partition("?")
            value = before.replace("\\", "/") + sep + after
        try:
            url = _urljoin(self.base, value)
            parts = urlsplit(url)
            host = parts.hostname
            _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
        except ValueError:  # e.g. "http://[::1" (unterminated IPv6 literal)
            return None, SKIP_INVALID_URL
        if not parts.scheme:
            return None, SKIP_INVALID_URL  # relative reference and no usable base
        if parts.scheme.lower() not in _HTTP_SCHEMES:
            return None, SKIP_UNSUPPORTED_SCHEME  # e.g. a relative URL on a file: base
        if not host or _BAD_HOST_CHARS_RE.search(host):
            return None, SKIP_INVALID_URL
        url = url.partition("#")[0]  # the base URL's own fragment, if any
        try:
            # Percent-encode spaces and non-ASCII, IDNA-encode the host: the
            # result is what a browser would request, and equal images get
            # equal strings however the page spelled them.
            url = safe_url_string(url)
        except (ValueError, UnicodeError):
            return None, SKIP_INVALID_URL
        if not url.isascii():
            # safe_url_string() leaves a host that IDNA refuses ("http://\ufffd/") as it
            # was: no DNS name, so nothing a browser could fetch.
            return None, SKIP_INVALID_URL
        host = urlsplit(url).hostname
        if not host or _BAD_HOST_CHARS_RE.search(host):
            # Checked again, found by fuzzing: IDNA's NFKC mapping turns "\u00a8" into
            # " \u0308" ("//E\u00a8F" became "https://xn--e f-eec"), and safe_url_string()
            # reads "\" as "/" in the authority ("http://\h@ir/" became "http:///h@ir/").
            return None, SKIP_INVALID_URL
        if len(url) > self.max_url_length:
            return None, SKIP_TOO_LONG_URL
        return url, None


# --- srcset ---------------------------------------------------------------------

# One candidate: a URL (a run of non-whitespace that doesn't start with a
# comma; commas at its end are separators, not part of it), then, unless the
# URL ended with a comma, descriptors up to the next comma outside parentheses
# (an unclosed "(" runs to the end).  Possessive quantifiers: garbage cannot
# trigger backtracking, and findall() skips the separators between candidates.
_SRCSET_CANDIDATE = re.compile(
    r"([^ \t\n\r\f,](?:[^ \t\n\r\f]*[^ \t\n\r\f,])?)"  # URL, minus trailing commas
    r"(?:,++|(?:[^,(]++|\([^)]*+\)?+)*+,?+)"  # trailing commas, or descriptors
)


def parse_srcset(value: str) -> list[str]:
    """Candidate URLs of a ``srcset``/``imagesrcset`` value, in order.

    Follows the WHATWG "parse a srcset attribute" tokenizer: a URL is a run
    of non-whitespace (so Cloudinary-style ``w_100,h_50`` commas survive),
    trailing commas end a candidate, and descriptors (``1x``, ``200w``) run
    to the next comma.  Unlike a browser we keep candidates whose
    descriptors are invalid: we want every image, not the one to render.
    Never raises; runs in linear time.
    """
    if not value:
        return []
    return _SRCSET_CANDIDATE.findall(value)


# --- CSS ---------------------------------------------------------------------------

# One string body, unrolled ("normal* (escape normal*)*") so long strings
# don't cost one regex alternation per character.  Strings end at a newline
# (CSS "bad string"), which also bounds the damage of an unclosed quote.
_DQ = r'[^"\\\n]*(?:\\.[^"\\\n]*)*'
_SQ = r"[^'\\\n]*(?:\\.[^'\\\n]*)*"
# Unquoted url() content may not contain quotes, whitespace or parentheses.
# Excluding "(" keeps "url(url(url(..." linear.
_UQ = r"[^()\s\"'\\]*(?:\\.[^()\s\"'\\]*)*"


def _css_token_regex(with_parentheses: bool) -> re.Pattern[str]:
    r"""The CSS tokenizer, as one regex.

    It starts with a single character class listing every character a token
    can start with; the regex engine then skips all other characters in C,
    which keeps 5 MB of hostile "((((" or prose linear and fast.  Each
    alternative re-checks the character it starts with via a lookbehind, and
    ``(?<![\w-].)`` makes sure "url(" / "image-set(" are whole function names.
    Parentheses are tokens only inside image-set(), where nesting matters.
    """
    first_chars = "/uUiI\"'\\-" + ("()" if with_parentheses else "")
    parentheses = r"| (?<=\() (?P<open>) | (?<=\)) (?P<close>)" if with_parentheses else ""
    return re.compile(
        rf"""
        [{first_chars}]
        (?:
            (?<=/) (?P<comment>\*.*?(?:\*/|\Z))
          | (?<=[uU]) (?<![\w-].)
            (?P<url>(?i:rl)\(
                (?:\s*(?:"(?P<dq>{_DQ})"|'(?P<sq>{_SQ})'|(?P<uq>{_UQ}))\s*\)
                  | [^)]*\)?  # a "bad url" (e.g. "url(a b)") swallows up to ")", as in CSS
                ))
          | (?<=[iI]) (?<![\w-].) (?P<set>(?i:mage-set)\()
          | (?<=-) (?<![\w-].) (?P<vendor_set>(?i:webkit|moz|o)-(?i:image-set)\()
          | (?<=") (?P<dstring>{_DQ})"
          | (?<=') (?P<sstring>{_SQ})'
          {parentheses}
        )
        """,
        re.DOTALL | re.VERBOSE,
    )


_CSS_TOKENS = _css_token_regex(with_parentheses=False)
_CSS_TOKENS_IN_SET = _css_token_regex(with_parentheses=True)
_CSS_ESCAPE = re.compile(
    r"\\(?:([0-9a-fA-F]{1,6})(?:\r\n|[ \t\n\r\f])?|(\r\n|[\n\r\f])|(.))", re.DOTALL
)


def _css_unescape_match(match: re.Match[str]) -> str:
    hex_digits, newline, char = match.groups()
    if hex_digits is not None:
        code = int(hex_digits, 16)
        if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            return "\ufffd"
        return chr(code)
    if newline is not None:
        return ""  # escaped newline inside a string is a line continuation
    return char


def _css_unescape(value: str) -> str:
    return _CSS_ESCAPE.sub(_css_unescape_match, value) if "\\" in value else value


def extract_css_urls(css: str) -> list[str]:
    """Every ``url(...)`` and ``image-set("...")`` string in CSS text, in order.

    Handles quoted and unquoted ``url()``, CSS escapes, several urls in one
    declaration, ``image-set``/``-webkit-image-set`` with bare strings, and
    skips comments.  Returns the raw (unescaped, stripped) references, not
    resolved and not filtered by type; duplicates are kept.
    """
    if not css:
        return []
    urls: list[str] = []
    pos = 0
    depth = 0  # parenthesis depth, counted only while inside an image-set()
    set_depths: list[int] = []  # depth at which each open image-set() started
    while True:
        tokens = _CSS_TOKENS_IN_SET if depth else _CSS_TOKENS
        match = tokens.search(css, pos)
        if match is None:
            return urls
        pos = match.end()
        kind = match.lastgroup
        if kind == "url":
            raw = match.group("dq")
            if raw is None:
                raw = match.group("sq")
            if raw is None:
                raw = match.group("uq")
            if raw is not None:  # None: a bad url
                _append_css_url(urls, raw)
        elif kind in ("dstring", "sstring"):
            if set_depths and set_depths[-1] == depth:  # a bare string argument of image-set()
                _append_css_url(urls, match.group(kind))
        elif kind in ("set", "vendor_set"):
            depth += 1
            set_depths.append(depth)
        elif kind == "open":
            depth += 1
        elif kind == "close":
            if set_depths and set_depths[-1] == depth:
                set_depths.pop()
            depth -= 1
        # comments: nothing to do, they were consumed


def _append_css_url(urls: list[str], raw: str) -> None:
    value = _css_unescape(raw).strip(_HTML_WHITESPACE)
    if value:
        urls.append(value)


# --- Collecting -----------------------------------------------------------------


# Outcome of classifying one reference: (url, skip reason); both None = ignore.
_Outcome = tuple["str | None", "str | None"]
_IGNORE: _Outcome = (None, None)
# Past the cap, a new reference is identified by its text alone (see _classify).
_OVER_LIMIT_PREFIX = "\x00"


class _Collector:
    """Accumulates images and skip counts while the document is walked."""

    def __init__(self, resolver: _Resolver, max_images: int) -> None:
        self.resolver = resolver
        self.max_images = max(0, max_images)
        self.images: list[ImageRef] = []
        self.skipped: Counter[str] = Counter()
        self._seen: set[str] = set()
        self._over_limit: set[str] = set()
        # Pages repeat the same reference (sprites, placeholders, srcsets that
        # list one URL fifty times); classifying each distinct (text, filter)
        # once keeps hostile repetition cheap.
        self._outcomes: dict[tuple[str, Callable[[str], bool] | None], _Outcome] = {}

    def add(
        self,
        raw: str | None,
        source: str,
        accept: Callable[[str], bool] | None = None,
        times: int = 1,
    ) -> None:
        """Record ``times`` identical references.

        ``accept`` filters what counts as an image reference at all (None:
        everything does).
        """
        if not raw:
            return
        key = (raw, accept)
        outcome = self._outcomes.get(key)
        if outcome is None:
            outcome = self._outcomes[key] = self._classify(raw, accept)
        url, reason = outcome
        if reason is not None:
            self.skipped[reason] += times
        elif url is None or url in self._seen:
            pass  # not an image reference, or already found (first form seen wins)
        elif len(self.images) < self.max_images:
            self._seen.add(url)
            self.images.append(ImageRef(url, source))
        elif url not in self._over_limit:
            # Count distinct images we did not return, not repeated mentions.
            self._over_limit.add(url)
            self.skipped[SKIP_OVER_LIMIT] += 1

    def _classify(self, raw: str, accept: Callable[[str], bool] | None) -> _Outcome:
        value = _clean_reference(raw)
        if not value or value[0] == "#":
            return _IGNORE  # empty or same-document reference: not an image
        if accept is not None and not accept(value):
            return _IGNORE  # not an image reference at all, so not "skipped" either
        value = value.partition("#")[0]  # "#" always starts the fragment
        if len(self.images) >= self.max_images:
            # Past the cap we only count.  Resolving costs tens of us a URL and a
            # hostile srcset can list a million, so identify the reference by
            # its text: a different spelling of an image already returned is
            # counted as over_limit too.
            reason = _precheck(value, self.resolver.max_url_length)
            if reason is None and _is_svg(value):
                reason = SKIP_SVG
            return (None, reason) if reason else (_OVER_LIMIT_PREFIX + value, None)
        url, reason = self.resolver.resolve(value)
        if url is not None and _is_svg(url):
            return None, SKIP_SVG
        return url, reason

    def add_srcset(
        self, value: str | None, source: str, accept: Callable[[str], bool] | None = None
    ) -> None:
        if value:
            self._add_all(parse_srcset(value), source, accept)

    def add_css(self, css: str | None, source: str, accept: Callable[[str], bool]) -> None:
        if css and "(" in css:  # every url() and image-set() needs one
            self._add_all(extract_css_urls(css), source, accept)

    def _add_all(self, urls: list[str], source: str, accept: Callable[[str], bool] | None) -> None:
        if len(urls) < 8:
            for url in urls:
                self.add(url, source, accept)
        else:
            # Group repeats first (Counter keeps first-seen order): a hostile
            # 5 MB srcset listing one URL a million times costs one add().
            for url, times in Counter(urls).items():
                self.add(url, source, accept, times)

    def result(self) -> Extraction:
        return Extraction(images=self.images, skipped=dict(self.skipped))


# --- Per-element rules ------------------------------------------------------------


def _handle_element(
    tag: str, attrs: Mapping[str, str], container: str | None, out: _Collector
) -> None:
    """Apply every discovery rule to one start tag.

    ``container`` is the enclosing picture/video/audio element for <source>,
    which decides what its attributes mean.
    """
    get = attrs.get
    lazy_accept: Callable[[str], bool] | None = None  # None: any URL is an image
    if tag == "img":
        out.add(get("src"), IMG_SRC)
        out.add_srcset(get("srcset"), SRCSET)
    elif tag == "source":
        if container == "picture":
            out.add_srcset(get("srcset"), PICTURE_SOURCE)
            out.add(get("src"), PICTURE_SOURCE)
        else:
            out.add_srcset(get("srcset"), SRCSET)
            if container in _MEDIA_CONTAINERS:
                # <video><source data-src="clip.mp4">: a lazy video, not an image.
                lazy_accept = _image_like
    elif tag == "meta":
        _handle_meta(get, out)
    elif tag == "link":
        _handle_link(get, out)
    elif tag == "a":
        out.add(get("href"), LINK_HREF, _image_like)
    elif tag == "video":
        out.add(get("poster"), VIDEO_POSTER)
    elif tag == "input":
        if (get("type") or "").strip(_HTML_WHITESPACE).lower() == "image":
            out.add(get("src"), INPUT_IMAGE)
    elif tag == "image":  # SVG <image>; SVG 2 uses href, SVG 1.1 xlink:href
        out.add(get("href"), SVG_IMAGE)
        out.add(get("xlink:href"), SVG_IMAGE)
    if not _LAZY_ATTRS.isdisjoint(attrs.keys()):  # cheap test first: most elements have none
        if tag not in _IMAGE_ELEMENTS:
            lazy_accept = _image_like
        _handle_lazy(get, lazy_accept, out)
    style = get("style")
    if style:
        out.add_css(style, CSS_STYLE_ATTR, _css_image_like)


def _handle_meta(get: Callable[[str], str | None], out: _Collector) -> None:
    # Sites mix up name= and property= for both vocabularies; accept either.
    for key in ("property", "name"):
        kind = (get(key) or "").strip(_HTML_WHITESPACE).lower()
        if kind in _OG_IMAGE_PROPERTIES:
            out.add(get("content"), OG_IMAGE)
            return
        if kind in _TWITTER_IMAGE_PROPERTIES:
            out.add(get("content"), TWITTER_IMAGE)
            return


def _handle_link(get: Callable[[str], str | None], out: _Collector) -> None:
    rel = (get("rel") or "").lower().split()
    if "image_src" in rel:
        out.add(get("href"), LINK_IMAGE_SRC)
    if "preload" in rel and (get("as") or "").strip(_HTML_WHITESPACE).lower() == "image":
        out.add(get("href"), PRELOAD)
        out.add_srcset(get("imagesrcset"), PRELOAD)


def _handle_lazy(
    get: Callable[[str], str | None], accept: Callable[[str], bool] | None, out: _Collector
) -> None:
    for name in LAZY_URL_ATTRS:
        out.add(get(name), LAZY, accept)
    for name in LAZY_SRCSET_ATTRS:
        out.add_srcset(get(name), LAZY, accept)
    for name in LAZY_BACKGROUND_ATTRS:
        value = get(name)
        if value and "url(" in value.lower():
            out.add_css(value, LAZY, accept or _css_image_like)
        else:
            out.add(value, LAZY, accept)


# --- Document walking ---------------------------------------------------------------

# An event is (tag, attributes, container, text): text is the body of <style>.
_Event = tuple[str, Mapping[str, str], "str | None", "str | None"]


def _decode(data: bytes) -> str:
    """Bytes to text the way a browser without HTTP headers would.

    BOM first, then a <meta> charset in the first bytes, else UTF-8; bytes
    that don't decode become U+FFFD.  A declared encoding that isn't a text
    encoding ("rot13", "base64") is ignored, and a declared UTF-16/32 is read
    as UTF-8 (if we could read the <meta> as ASCII, it isn't UTF-16).
    """
    bom_encoding, bom = read_bom(data)
    if bom_encoding:
        encoding, data = bom_encoding, data[len(bom) :]
    else:
        encoding = html_body_declared_encoding(data) or "utf-8"
        if encoding.replace("_", "-").lower().startswith(("utf-16", "utf-32")):
            encoding = "utf-8"
    try:
        if not getattr(codecs.lookup(encoding), "_is_text_encoding", True):
            encoding = "utf-8"
        return data.decode(encoding, errors="replace")
    except (LookupError, ValueError, TypeError):
        return data.decode("utf-8", errors="replace")


# </html> and </body> end tags.  A browser carries on after them (the HTML spec
# reprocesses what follows in the body); libxml2 drops everything after a
# </html> that closes an open element ("<div></html><img src=x>", or
# "</body></html><img src=x>": found by property testing).  [^<>]* keeps
# a page full of "</html" without ">" linear.
_DOCUMENT_END_TAG = re.compile(rb"</(?:html|body)(?=[\s/>])[^<>]*>", re.IGNORECASE)


def _parse_with_lxml(data: bytes) -> lxml.html.HtmlElement | None:
    """Parse with libxml2, or None if it gave up part-way.

    libxml2 stops at 2048 levels of nesting (even with huge_tree) and keeps
    only what it parsed so far; a page could hide images behind a deep pile
    of <div>s, so a fatal error means "use the fallback tokenizer".  End tags
    of <html> and <body> are removed first (see _DOCUMENT_END_TAG).
    """
    data = _DOCUMENT_END_TAG.sub(b"", data)
    # A parser per call: lxml parsers must not be shared between threads.
    parser = lxml.html.HTMLParser(
        encoding="utf-8",  # we hand it UTF-8; also makes libxml2 ignore <meta charset>
        huge_tree=True,  # lift the 10 MB text node limit and allow depth 2048
        remove_comments=True,
        remove_pis=True,
        default_doctype=False,
    )
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return None  # "Document is empty" and friends
    if parser.error_log.filter_from_level(lxml.etree.ErrorLevels.FATAL):
        return None
    return root


def _lxml_events(root: lxml.html.HtmlElement) -> Iterator[_Event]:
    # libxml2 predates HTML5 and doesn't know <source> is void, so in
    # <picture><source><source><img> the second <source> is a child of the
    # first.  Its container is its parent's; remember it rather than walking
    # up (a chain of 2000 <source>s would make that quadratic).
    source_containers: dict[lxml.html.HtmlElement, str | None] = {}
    for el in root.iter(lxml.etree.Element):  # elements only, document order
        tag = el.tag
        container = None
        if tag == "source":
            parent = el.getparent()
            if parent is None:
                container = None
            elif parent.tag == "source":
                container = source_containers.get(parent)
            else:
                container = parent.tag
            source_containers[el] = container
        text = el.text if tag == "style" else None
        attrs = el.attrib
        if attrs or text is not None:
            yield tag, attrs, container, text


def _find_base(events: list[_Event]) -> str | None:
    """href of the first <base> that has one (the HTML spec ignores the others)."""
    for tag, attrs, _container, _text in events:
        if tag == "base" and "href" in attrs:
            return attrs["href"]
    return None


def _find_base_lxml(root: lxml.html.HtmlElement) -> str | None:
    for el in root.iter("base"):
        href = el.get("href")
        if href is not None:
            return href
    return None


# Fallback tokenizer: used only when libxml2 gives up.  It sees start tags,
# end tags of media containers, and <style> bodies; it builds no tree, so
# nesting depth is irrelevant.  Every step consumes input, so it is linear.
_FB_START_TAG = re.compile(
    r"""<([a-zA-Z][^\s/>]*)((?:[^>"'=]+|=\s*"[^"]*"|=\s*'[^']*'|[="'])*+)>"""
)
_FB_MARKUP = re.compile(r"<[a-zA-Z/!?]")  # "<" not followed by these is text
_FB_END_TAG = re.compile(r"</([a-zA-Z][^\s/>]*)[^>]*>")
_FB_ATTR = re.compile(r"""([^\s/>"'=][^\s/>=]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*)))?""")
# Elements whose content is text, not markup (so "<img" inside is not a tag).
_FB_RAW_TEXT = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
_FB_RAW_END = {name: re.compile(rf"</{name}[\s/>]", re.IGNORECASE) for name in _FB_RAW_TEXT}


def _fallback_attrs(region: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _FB_ATTR.finditer(region):
        name, dq, sq, bare = match.groups()
        value = dq if dq is not None else sq if sq is not None else bare or ""
        if "&" in value:
            value = _html_unescape(value)
        attrs.setdefault(name.lower(), value)  # duplicate attributes: first wins
    return attrs


def _fallback_events(text: str) -> list[_Event]:
    events: list[_Event] = []
    containers: list[str] = []  # open picture/video/audio elements
    pos = 0
    while True:
        start = _FB_MARKUP.search(text, pos)
        if start is None:
            return events
        i = start.start()
        if text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            if end < 0:
                return events
            pos = end + 3
            continue
        nxt = text[i + 1 : i + 2]
        if nxt in ("!", "?"):  # doctype, CDATA, processing instruction
            end = text.find(">", i + 2)
            if end < 0:
                return events
            pos = end + 1
        elif nxt == "/":
            match = _FB_END_TAG.match(text, i)
            if match:
                name = match.group(1).lower()
                if name in containers:
                    # Close the innermost matching container (and any left open inside it).
                    del containers[len(containers) - 1 - containers[::-1].index(name) :]
                pos = match.end()
            else:
                end = text.find(">", i + 2)
                if end < 0:
                    return events
                pos = end + 1
        else:  # a letter
            match = _FB_START_TAG.match(text, i)
            if match is None:
                return events  # unterminated tag swallows the rest, as in a browser
            tag = match.group(1).lower()
            attrs = _fallback_attrs(match.group(2))
            pos = match.end()
            body = None
            if tag in _FB_RAW_END:
                close = _FB_RAW_END[tag].search(text, pos)
                body_end = close.start() if close else len(text)
                body = text[pos:body_end] if tag == "style" else None
                pos = body_end
            container = containers[-1] if containers and tag == "source" else None
            if attrs or body is not None:
                events.append((tag, attrs, container, body))
            if tag in _MEDIA_CONTAINERS:
                containers.append(tag)


# --- Entry point ------------------------------------------------------------------


def extract_images(
    html: str | bytes,
    base_url: str,
    *,
    max_images: int = 5000,
    max_url_length: int = 4096,
) -> Extraction:
    """All images referenced by an HTML document, as absolute http(s) URLs.

    ``base_url`` is the URL the document was fetched from; a ``<base href>``
    in the document overrides it, as in a browser.  Bytes are decoded using a
    BOM or <meta> charset, else UTF-8 with replacement.  Never raises on
    malformed input.  At most ``max_images`` unique images are returned; the
    rest are counted in ``skipped["over_limit"]``.
    """
    text = _decode(bytes(html)) if isinstance(html, (bytes, bytearray, memoryview)) else html
    if not text or not text.strip():
        return Extraction()
    # NUL is never meaningful in HTML; the HTML spec maps it to U+FFFD.
    text = text.replace("\x00", "\ufffd")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates in a str that wasn't decoded from bytes
        text = _SURROGATE_RE.sub("\ufffd", text)
        data = text.encode("utf-8")

    root = _parse_with_lxml(data)
    events: list[_Event] | Iterator[_Event]
    if root is not None:
        base_href = _find_base_lxml(root)
        events = _lxml_events(root)
    else:
        events = _fallback_events(text)
        base_href = _find_base(events)

    resolver = _Resolver(base_url, max_url_length)
    if base_href is not None:
        value = _clean_reference(base_href).partition("#")[0]
        base, _reason = resolver.resolve(value) if value else (base_url, None)
        if base is not None:  # an unusable <base> (javascript:, garbage) is ignored
            resolver = _Resolver(base, max_url_length)

    out = _Collector(resolver, max_images)
    for tag, attrs, container, body in events:
        if body is not None:
            out.add_css(body, CSS_STYLE_BLOCK, _css_image_like)
        if attrs:
            _handle_element(tag, attrs, container, out)
    return out.result()

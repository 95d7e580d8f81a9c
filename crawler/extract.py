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

Videos are found by the same walk (``<video>``, ``<source>``, og:video,
twitter:player:stream, links to video files and HLS/DASH playlists, lazy
attributes) and returned in ``Extraction.videos``, with their own cap and
their own skip counts in ``Extraction.video_skipped`` (keys start with
"video_", so they can share a namespace with the image reasons).  A video's
poster is an image and stays in ``images``.
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
    "VIDEO_EXTENSIONS",
    "VIDEO_KINDS",
    "VIDEO_SKIP_REASONS",
    "VIDEO_SOURCES",
    "Extraction",
    "ImageRef",
    "VideoRef",
    "extract_css_urls",
    "extract_images",
    "looks_like_image_url",
    "looks_like_video_url",
    "parse_srcset",
    "video_kind",
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

# --- Videos ----------------------------------------------------------------------

# How the page referenced a video (VideoRef.source).  LAZY, PRELOAD and
# LINK_HREF mean what they mean for images.
VIDEO_SRC = "video-src"  # <video src>
VIDEO_SOURCE = "video-source"  # <video><source src>
OG_VIDEO = "og-video"  # og:video, og:video:url, og:video:secure_url
TWITTER_PLAYER_STREAM = "twitter-player-stream"  # twitter:player:stream (not twitter:player)
LINK_VIDEO_SRC = "link-video-src"  # <link rel="video_src">
MICRODATA_CONTENT_URL = "microdata-content-url"  # itemprop="contentUrl" naming a video file

VIDEO_SOURCES: tuple[str, ...] = (
    VIDEO_SRC,
    VIDEO_SOURCE,
    LAZY,
    OG_VIDEO,
    TWITTER_PLAYER_STREAM,
    LINK_VIDEO_SRC,
    PRELOAD,
    LINK_HREF,
    MICRODATA_CONTENT_URL,
)

# What a VideoRef points at: a video file, an HLS playlist or a DASH manifest.
VIDEO_FILE = "file"
VIDEO_HLS = "hls"
VIDEO_DASH = "dash"
VIDEO_KINDS: tuple[str, ...] = (VIDEO_FILE, VIDEO_HLS, VIDEO_DASH)

# Why a video reference was not returned (Extraction.video_skipped).
VIDEO_SKIP_DATA_URL = "video_data_url"  # inline data: video
VIDEO_SKIP_BLOB_URL = "video_blob_url"  # blob: URL of a script-fed (MSE) player
VIDEO_SKIP_UNSUPPORTED_SCHEME = "video_unsupported_scheme"  # file:, javascript:, rtmp:, ...
VIDEO_SKIP_INVALID_URL = "video_invalid_url"
VIDEO_SKIP_TOO_LONG_URL = "video_too_long_url"
VIDEO_SKIP_PLAYER_PAGE = "video_player_page"  # og:video etc. naming an HTML/Flash player
VIDEO_SKIP_OVER_LIMIT = "video_over_limit"  # a new unique video after max_videos were found

VIDEO_SKIP_REASONS: tuple[str, ...] = (
    VIDEO_SKIP_DATA_URL,
    VIDEO_SKIP_BLOB_URL,
    VIDEO_SKIP_UNSUPPORTED_SCHEME,
    VIDEO_SKIP_INVALID_URL,
    VIDEO_SKIP_TOO_LONG_URL,
    VIDEO_SKIP_PLAYER_PAGE,
    VIDEO_SKIP_OVER_LIMIT,
)
_VIDEO_REASON_FOR = {
    SKIP_DATA_URL: VIDEO_SKIP_DATA_URL,
    SKIP_UNSUPPORTED_SCHEME: VIDEO_SKIP_UNSUPPORTED_SCHEME,
    SKIP_INVALID_URL: VIDEO_SKIP_INVALID_URL,
    SKIP_TOO_LONG_URL: VIDEO_SKIP_TOO_LONG_URL,
}

# Container formats PyAV/FFmpeg reads.  "ts" is left out: on the web a .ts link
# is as likely TypeScript as one MPEG-TS segment (segments come from playlists).
# "ogg" is left out too: it is nearly always audio.
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        "mp4", "m4v", "webm", "mov", "qt", "mkv", "ogv", "avi", "wmv", "asf",
        "flv", "f4v", "3gp", "3g2", "mpg", "mpeg", "m2ts", "mts",
    }
)  # fmt: skip
HLS_EXTENSIONS: frozenset[str] = frozenset({"m3u8"})
DASH_EXTENSIONS: frozenset[str] = frozenset({"mpd"})
HLS_TYPES: frozenset[str] = frozenset(
    {"application/x-mpegurl", "application/vnd.apple.mpegurl", "audio/mpegurl", "audio/x-mpegurl"}
)
DASH_TYPES: frozenset[str] = frozenset({"application/dash+xml"})
# Declared types of a player page rather than a video.
_PLAYER_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/x-shockwave-flash"})
# Declared types that are media, but not video (a <source> of these is no video).
_NON_VIDEO_TOP_TYPES = frozenset({"audio", "image", "text", "font", "model"})
# Extensions of pages: an untyped og:video that ends so is a player page.
_PAGE_EXTENSIONS = frozenset(
    {"html", "htm", "xhtml", "shtml", "php", "asp", "aspx", "jsp", "cfm", "cgi", "swf"}
)

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


@dataclass(frozen=True)
class VideoRef:
    url: str  # absolute http(s) URL, fragment removed, whitespace stripped
    source: str  # one of VIDEO_SOURCES (first form seen wins)
    kind: str = VIDEO_FILE  # one of VIDEO_KINDS: file, hls or dash (from the first form seen)


@dataclass
class Extraction:
    images: list[ImageRef] = field(default_factory=list)  # unique by url, document order
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count, non-zero only
    videos: list[VideoRef] = field(default_factory=list)  # unique by url, document order
    # VIDEO_SKIP_REASONS -> count, non-zero only; separate from ``skipped`` so the
    # image accounting (and what it promises: keys from SKIP_REASONS) is unchanged.
    video_skipped: dict[str, int] = field(default_factory=dict)


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


def looks_like_video_url(url: str) -> bool:
    """True if the URL's path ends with a video file or HLS/DASH playlist extension.

    ``/v/clip.MP4?token=1`` and ``/live/index.m3u8`` look like videos;
    ``/watch?v=1`` and ``/embed/1`` do not.  Never raises.
    """
    ext = _path_extension(url)
    return ext in VIDEO_EXTENSIONS or ext in HLS_EXTENSIONS or ext in DASH_EXTENSIONS


def _mime(type_: str | None) -> str:
    """A declared MIME type without parameters, lower case ("" if none)."""
    if not type_:
        return ""
    return type_.partition(";")[0].strip(_HTML_WHITESPACE).lower()


def video_kind(url: str, type: str | None = None) -> str:
    """The kind of video ``url`` is: "hls", "dash" or "file".

    From the declared MIME ``type`` if it names a playlist format, else from
    the URL's extension (.m3u8, .mpd).  Never raises.
    """
    mime = _mime(type)
    if mime in HLS_TYPES:
        return VIDEO_HLS
    if mime in DASH_TYPES:
        return VIDEO_DASH
    ext = _path_extension(url)
    if ext in HLS_EXTENSIONS:
        return VIDEO_HLS
    if ext in DASH_EXTENSIONS:
        return VIDEO_DASH
    return VIDEO_FILE


def _type_class(mime: str) -> str:
    """'video', 'player', 'other' (audio, image, ...) or '' (none or unknown)."""
    if not mime:
        return ""
    if mime.startswith("video/") or mime in HLS_TYPES or mime in DASH_TYPES:
        return "video"
    if mime in _PLAYER_TYPES:
        return "player"
    if mime.partition("/")[0] in _NON_VIDEO_TOP_TYPES:
        return "other"
    return ""


def _looks_like_player_page(url: str) -> bool:
    """An untyped og:video-style URL that is a page (``/embed/1``, ``watch.php``)."""
    if _path_extension(url) in _PAGE_EXTENSIONS:
        return True
    path = url.partition("?")[0].partition("#")[0].lower()
    return "/embed" in path or "/player" in path or "/iframe" in path


def _video_link_like(value: str) -> bool:
    """Filter for references that may point at anything (<a href>, lazy attrs on divs)."""
    if value[:5].lower() == "data:":
        return value[5:11].lower() == "video/"
    return looks_like_video_url(value)


def _not_image_like(value: str) -> bool:
    """Filter for lazy attributes of <video> and its <source>s: what is not an image
    (those go to the image path) is a video."""
    return not _image_like(value)


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

    def __init__(self, resolver: _Resolver, max_images: int, max_videos: int = 100) -> None:
        self.resolver = resolver
        self.max_images = max(0, max_images)
        self.videos = _VideoCollector(resolver, max_videos)
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
        self.videos.flush_meta()
        return Extraction(
            images=self.images,
            skipped=dict(self.skipped),
            videos=self.videos.videos,
            video_skipped=dict(self.videos.skipped),
        )


# Outcome of classifying one video reference: (url, skip reason, kind).
_VideoOutcome = tuple["str | None", "str | None", str]
_VIDEO_IGNORE: _VideoOutcome = (None, None, VIDEO_FILE)

# og:video structured properties: a root starts a video, the others describe it.
_OG_VIDEO_ROOTS = frozenset({"og:video", "og:video:url"})
_OG_VIDEO_SECURE_URL = "og:video:secure_url"
_OG_VIDEO_TYPE = "og:video:type"
_TWITTER_STREAM = "twitter:player:stream"
_TWITTER_STREAM_TYPE = "twitter:player:stream:content_type"


class _MetaVideo:
    """One og:video (or twitter:player:stream) and its properties, read from
    consecutive <meta> tags; decided when its type can no longer change."""

    __slots__ = ("keys", "source", "type", "urls")

    def __init__(self, source: str) -> None:
        self.source = source
        self.urls: list[str] = []
        self.keys: set[str] = set()
        self.type: str | None = None


class _VideoCollector:
    """Accumulates videos and their skip counts (the video half of _Collector)."""

    def __init__(self, resolver: _Resolver, max_videos: int) -> None:
        self.resolver = resolver
        self.max_videos = max(0, max_videos)
        self.videos: list[VideoRef] = []
        self.skipped: Counter[str] = Counter()
        self._seen: set[str] = set()
        self._over_limit: set[str] = set()
        self._outcomes: dict[tuple[str, Callable[[str], bool] | None, str], _VideoOutcome] = {}
        # Open og:video / twitter:player:stream groups, by source.
        self.pending: dict[str, _MetaVideo] = {}

    def add(
        self,
        raw: str | None,
        source: str,
        accept: Callable[[str], bool] | None = None,
        mime: str = "",
    ) -> None:
        """Record one video reference; ``accept`` filters what counts as a video
        reference at all (None: everything does), ``mime`` is its declared type."""
        if not raw:
            return
        key = (raw, accept, mime)
        outcome = self._outcomes.get(key)
        if outcome is None:
            outcome = self._outcomes[key] = self._classify(raw, accept, mime)
        url, reason, kind = outcome
        if reason is not None:
            self.skipped[reason] += 1
        elif url is None or url in self._seen:
            pass  # not a video reference, or already found (first form seen wins)
        elif len(self.videos) < self.max_videos:
            self._seen.add(url)
            self.videos.append(VideoRef(url, source, kind))
        elif url not in self._over_limit:
            self._over_limit.add(url)
            self.skipped[VIDEO_SKIP_OVER_LIMIT] += 1

    def _classify(self, raw: str, accept: Callable[[str], bool] | None, mime: str) -> _VideoOutcome:
        value = _clean_reference(raw)
        if not value or value[0] == "#":
            return _VIDEO_IGNORE
        if accept is not None and not accept(value):
            return _VIDEO_IGNORE
        value = value.partition("#")[0]  # media fragments ("#t=10") included
        if value[:5].lower() == "blob:":
            return None, VIDEO_SKIP_BLOB_URL, VIDEO_FILE
        if len(self.videos) >= self.max_videos:
            # As for images: past the cap a reference is known by its text only.
            reason = _precheck(value, self.resolver.max_url_length)
            if reason:
                return None, _VIDEO_REASON_FOR[reason], VIDEO_FILE
            return _OVER_LIMIT_PREFIX + value, None, VIDEO_FILE
        url, reason = self.resolver.resolve(value)
        if url is None:
            return None, _VIDEO_REASON_FOR.get(reason or "", VIDEO_SKIP_INVALID_URL), VIDEO_FILE
        return url, None, video_kind(url, mime)

    # og:video and twitter:player:stream ----------------------------------------

    def meta(self, name: str, content: str | None) -> bool:
        """Read one <meta> property; True if it was a video property."""
        if name in _OG_VIDEO_ROOTS or name == _OG_VIDEO_SECURE_URL:
            group = self._group(OG_VIDEO, name, root=name in _OG_VIDEO_ROOTS)
            if content:
                group.urls.append(content)
        elif name == _OG_VIDEO_TYPE:
            self._group(OG_VIDEO, name, root=False).type = content or ""
        elif name == _TWITTER_STREAM:
            group = self._group(TWITTER_PLAYER_STREAM, name, root=True)
            if content:
                group.urls.append(content)
        elif name == _TWITTER_STREAM_TYPE:
            self._group(TWITTER_PLAYER_STREAM, name, root=False).type = content or ""
        else:
            return False
        return True

    def _group(self, source: str, key: str, root: bool) -> _MetaVideo:
        """The video ``key`` describes: the open one, or a new one when ``key``
        cannot belong to it (a second og:video, or a root after the type)."""
        group = self.pending.get(source)
        if group is not None and (key in group.keys or (root and group.type is not None)):
            self._decide(group)
            group = None
        if group is None:
            group = self.pending[source] = _MetaVideo(source)
        group.keys.add(key)
        return group

    def flush_meta(self) -> None:
        """Decide every open og:video: called at any element but a <meta>, and at the end."""
        if self.pending:
            for group in self.pending.values():
                self._decide(group)
            self.pending.clear()

    def _decide(self, group: _MetaVideo) -> None:
        mime = _mime(group.type)
        kind = _type_class(mime)
        if kind == "other":
            return  # e.g. audio/mpeg: not a video, so not a skipped one either
        player = False  # one og:video is one video: a player page is counted once
        for raw in group.urls:
            value = _clean_reference(raw)
            if not value or value[0] == "#":
                continue
            if kind == "player" or (
                kind == "" and not looks_like_video_url(value) and _looks_like_player_page(value)
            ):
                player = True
            else:
                self.add(raw, group.source, None, mime)
        if player:
            self.skipped[VIDEO_SKIP_PLAYER_PAGE] += 1


# --- Per-element rules ------------------------------------------------------------


def _handle_element(
    tag: str, attrs: Mapping[str, str], container: str | None, out: _Collector
) -> None:
    """Apply every discovery rule to one start tag.

    ``container`` is the enclosing picture/video/audio element for <source>,
    which decides what its attributes mean.
    """
    get = attrs.get
    _handle_video(tag, attrs, container, out.videos)
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


# Lazy attributes that hold a video's URL.  On <video> (and its <source>s) any
# non-image URL in them is a video; elsewhere only a video-looking URL is.
VIDEO_LAZY_ATTRS: tuple[str, ...] = LAZY_URL_ATTRS + (
    "data-video",
    "data-video-src",
    "data-video-url",
    "data-mp4",
    "data-webm",
    "data-hls",
    "data-dash",
    "data-stream",
)
_VIDEO_LAZY_ATTRS = frozenset(VIDEO_LAZY_ATTRS)
# Attributes that may make an element a video reference, for a cheap first test.
_VIDEO_TAGS = frozenset({"video", "source", "a", "meta", "link"})


def _handle_video(
    tag: str, attrs: Mapping[str, str], container: str | None, videos: _VideoCollector
) -> None:
    """The video discovery rules for one start tag (posters are images: not here)."""
    if videos.pending and tag != "meta":
        videos.flush_meta()
    get = attrs.get
    in_video = False
    if tag in _VIDEO_TAGS:
        if tag == "video":
            in_video = True
            videos.add(get("src"), VIDEO_SRC)
        elif tag == "source":
            if container != "video":
                return  # <audio>/<picture> sources, or a stray <source>: no video
            mime = _mime(get("type"))
            if _type_class(mime) in ("other", "player"):
                return  # <source type="audio/mp4"> inside a <video>: not a video
            in_video = True
            videos.add(get("src"), VIDEO_SOURCE, None, mime)
        elif tag == "a":
            mime = _mime(get("type"))
            videos.add(
                get("href"),
                LINK_HREF,
                None if _type_class(mime) == "video" else _video_link_like,
                mime,
            )
        elif tag == "meta":
            _handle_video_meta(get, videos)
        else:  # link
            _handle_video_link(get, videos)
    if not _VIDEO_LAZY_ATTRS.isdisjoint(attrs.keys()):
        accept = _not_image_like if in_video else _video_link_like
        for name in VIDEO_LAZY_ATTRS:
            videos.add(get(name), LAZY, accept)


def _handle_video_meta(get: Callable[[str], str | None], videos: _VideoCollector) -> None:
    for key in ("property", "name"):
        name = (get(key) or "").strip(_HTML_WHITESPACE).lower()
        if name and videos.meta(name, get("content")):
            return
    if (get("itemprop") or "").strip(_HTML_WHITESPACE) == "contentUrl":
        # schema.org VideoObject microdata; contentUrl also names images and audio.
        videos.add(get("content"), MICRODATA_CONTENT_URL, _video_link_like)


def _handle_video_link(get: Callable[[str], str | None], videos: _VideoCollector) -> None:
    rel = (get("rel") or "").lower().split()
    if "video_src" in rel:  # the old Facebook convention, often a Flash player
        href = _clean_reference(get("href") or "")
        if href and not looks_like_video_url(href) and _looks_like_player_page(href):
            videos.skipped[VIDEO_SKIP_PLAYER_PAGE] += 1
        else:
            videos.add(href, LINK_VIDEO_SRC)
    if "preload" in rel and (get("as") or "").strip(_HTML_WHITESPACE).lower() == "video":
        videos.add(get("href"), PRELOAD, None, _mime(get("type")))
    if (get("itemprop") or "").strip(_HTML_WHITESPACE) == "contentUrl":
        videos.add(get("href"), MICRODATA_CONTENT_URL, _video_link_like)


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
    max_videos: int = 100,
) -> Extraction:
    """All images referenced by an HTML document, as absolute http(s) URLs.

    ``base_url`` is the URL the document was fetched from; a ``<base href>``
    in the document overrides it, as in a browser.  Bytes are decoded using a
    BOM or <meta> charset, else UTF-8 with replacement.  Never raises on
    malformed input.  At most ``max_images`` unique images are returned; the
    rest are counted in ``skipped["over_limit"]``.

    Videos referenced by the document are in ``videos`` (at most
    ``max_videos``; the rest counted in ``video_skipped["video_over_limit"]``).
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

    out = _Collector(resolver, max_images, max_videos)
    for tag, attrs, container, body in events:
        if body is not None:
            out.add_css(body, CSS_STYLE_BLOCK, _css_image_like)
        if attrs:
            _handle_element(tag, attrs, container, out)
    return out.result()

"""Reading HLS playlists and DASH manifests into an ordered list of segment URLs.

A page's video is often not one file but a playlist: an HLS ``.m3u8`` (a master
playlist naming variants, each a media playlist naming segments) or a DASH
``.mpd`` manifest (XML describing representations and how to build their
segment URLs).  The crawler fetches the playlist, asks this module which
segments make up the start of the video, and fetches them in order until its
byte cap.  Everything here is a pure function of its input: no network, no
Scrapy.

Refusals: a parser either returns a result or raises ``PlaylistError`` (a
ValueError) whose ``kind`` is one of ``ERRORS`` and whose message says why;
on hostile input it raises nothing else.  Encrypted or DRM-protected media is
not an error: the result has ``protected=True`` and ``segments_for()``
returns nothing (the crawler counts it as "video_drm").  Work is linear in the input and bounded by
caps: ``max_bytes`` of playlist text, ``max_segments`` segments, and
``max_duration`` seconds of declared media (what lies beyond a cap is dropped
and ``truncated`` is set).  DASH XML is parsed without entity expansion, DTDs
or network access, and libxml2's default depth and size limits (no
huge_tree), so XXE and "billion laughs" payloads are refused, not expanded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from lxml import etree

__all__ = [
    "ERRORS",
    "MAX_DURATION",
    "MAX_PLAYLIST_BYTES",
    "MAX_SEGMENTS",
    "DashManifest",
    "PlaylistError",
    "DashRepresentation",
    "HlsPlaylist",
    "HlsVariant",
    "Segment",
    "choose_variant",
    "parse_dash",
    "parse_hls",
    "parse_iso_duration",
    "segments_for",
]

MAX_PLAYLIST_BYTES = 2 * 1024 * 1024
MAX_SEGMENTS = 2000
MAX_VARIANTS = 500  # variants kept from a master playlist, representations considered
MAX_DURATION = 6 * 3600.0  # seconds of declared media read from one playlist
_MAX_PAD_WIDTH = 32  # widest $Number%0Nd$ format tag accepted

# Why a playlist was refused (PlaylistError.kind).
ERROR_TOO_LARGE = "too_large"  # more than max_bytes
ERROR_NOT_PLAYLIST = "not_playlist"  # not an HLS playlist / not a DASH MPD (or malformed XML)
ERROR_LIVE = "live"  # DASH type="dynamic": segment numbers depend on the wall clock
ERROR_NO_VIDEO = "no_video"  # no video adaptation set, representation, variant or segment
ERROR_UNSUPPORTED = "unsupported"  # valid but a feature we do not read (detail says which)
ERROR_BAD_URI = "bad_uri"  # a segment URI that does not resolve to http(s)

ERRORS: tuple[str, ...] = (
    ERROR_TOO_LARGE,
    ERROR_NOT_PLAYLIST,
    ERROR_LIVE,
    ERROR_NO_VIDEO,
    ERROR_UNSUPPORTED,
    ERROR_BAD_URI,
)


class PlaylistError(ValueError):
    """A playlist or manifest we refuse; ``kind`` is one of ERRORS."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


# --- Results ------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    url: str  # absolute http(s) URL
    duration: float | None  # seconds, as declared; None if unknown (init segments: 0.0)
    # (first, last) byte offsets, inclusive, ready for "Range: bytes=first-last"; None: whole URL
    byte_range: tuple[int, int] | None = None
    init: bool = False  # an initialization segment (EXT-X-MAP, DASH Initialization)


@dataclass(frozen=True)
class HlsVariant:
    url: str  # absolute URL of the variant's media playlist
    bandwidth: int | None = None  # bits per second (BANDWIDTH)
    width: int | None = None  # RESOLUTION=WxH
    height: int | None = None
    codecs: str | None = None


@dataclass
class HlsPlaylist:
    kind: str = "media"  # "master" or "media"
    variants: list[HlsVariant] = field(default_factory=list)  # master: EXT-X-STREAM-INF
    segments: list[Segment] = field(default_factory=list)  # media: in order, init not included
    init: Segment | None = None  # media: EXT-X-MAP (the first one)
    target_duration: float | None = None
    playlist_type: str | None = None  # "VOD", "EVENT" or None
    ended: bool = False  # EXT-X-ENDLIST seen (no more segments will be added)
    protected: bool = False  # EXT-X-KEY / EXT-X-SESSION-KEY with METHOD other than NONE
    truncated: bool = False  # a cap dropped variants or segments

    @property
    def live(self) -> bool:
        """A media playlist that may still grow (no ENDLIST, not VOD).  Its segments
        are the current window and can be fetched; they are not the whole video."""
        return self.kind == "media" and not self.ended and self.playlist_type != "VOD"


@dataclass(frozen=True)
class DashRepresentation:
    id: str | None
    bandwidth: int | None
    width: int | None
    height: int | None
    mime_type: str | None
    codecs: str | None


@dataclass
class DashManifest:
    representation: DashRepresentation | None = None  # the one chosen
    segments: list[Segment] = field(default_factory=list)  # in order, init not included
    init: Segment | None = None
    duration: float | None = None  # seconds: the period's, else the presentation's
    protected: bool = False  # ContentProtection on the chosen adaptation set or representation
    truncated: bool = False  # a cap dropped segments


# --- Shared helpers ---------------------------------------------------------------


def _text(data: str | bytes, max_bytes: int) -> str | None:
    """Decoded text, or None if over the cap.  Bytes: UTF-8 with replacement."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if len(raw) > max_bytes:
            return None
        return raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    if len(data) > max_bytes:  # characters <= bytes: a quick bound first
        return None
    if len(data.encode("utf-8", errors="surrogatepass")) > max_bytes:
        return None
    return data.lstrip("\ufeff")


def _resolve(base: str, reference: str) -> str | None:
    """``reference`` resolved against ``base``: an absolute http(s) URL, or None."""
    reference = reference.strip()
    if not reference:
        return None
    try:
        url = urljoin(base, reference)
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url.partition("#")[0]


def _int(value: str | None, limit: int = 10**15) -> int | None:
    """A non-negative decimal integer no larger than ``limit``, else None."""
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or not value.isascii() or len(value) > 18:
        return None
    number = int(value)
    return number if number <= limit else None


def _float(value: str | None) -> float | None:
    """A finite non-negative number, else None."""
    if value is None:
        return None
    value = value.strip()
    if len(value) > 40:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


# --- HLS --------------------------------------------------------------------------

# One attribute of an attribute list: NAME=value, value quoted or not.
_HLS_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"\r\n]*"|[^",\r\n]*)')


def _hls_attrs(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for name, value in _HLS_ATTR.findall(text):
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        attrs.setdefault(name, value)
    return attrs


def _hls_byterange(value: str, previous_end: int | None) -> tuple[int, int] | None:
    """``n[@o]`` as (first, last) inclusive; without @o it follows ``previous_end``."""
    length_text, at, offset_text = value.strip().partition("@")
    length = _int(length_text)
    offset = _int(offset_text) if at else previous_end
    if length is None or length == 0 or offset is None:
        return None
    return offset, offset + length - 1


def parse_hls(
    data: str | bytes,
    base_url: str,
    *,
    max_bytes: int = MAX_PLAYLIST_BYTES,
    max_segments: int = MAX_SEGMENTS,
    max_duration: float = MAX_DURATION,
) -> HlsPlaylist:
    """An HLS master or media playlist (RFC 8216); PlaylistError if refused.

    A master playlist gives ``variants`` (EXT-X-STREAM-INF; EXT-X-MEDIA
    renditions and I-frame playlists are ignored); a media playlist gives
    ``segments`` (EXTINF + URI, with EXT-X-BYTERANGE ranges) and ``init``
    (EXT-X-MAP).  URIs are resolved against ``base_url`` (the playlist's own
    URL).  Encryption (EXT-X-KEY, EXT-X-SESSION-KEY with a METHOD other than
    NONE) sets ``protected``.  Segments past ``max_segments`` or past
    ``max_duration`` seconds, and variants past MAX_VARIANTS, are dropped and
    ``truncated`` is set.
    """
    try:
        return _read_hls(data, base_url, max_bytes, max_segments, max_duration)
    except PlaylistError:
        raise
    except (ValueError, OverflowError, TypeError) as exc:  # a last guard: only PlaylistError
        raise PlaylistError(ERROR_NOT_PLAYLIST, f"unreadable playlist: {str(exc)[:200]}") from None


def _read_hls(
    data: str | bytes, base_url: str, max_bytes: int, max_segments: int, max_duration: float
) -> HlsPlaylist:
    result = HlsPlaylist()
    text = _text(data, max_bytes)
    if text is None:
        raise PlaylistError(ERROR_TOO_LARGE, f"playlist over {max_bytes} bytes")
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if not first.startswith("#EXTM3U"):
        raise PlaylistError(ERROR_NOT_PLAYLIST, "no #EXTM3U header")

    pending_variant: dict[str, str] | None = None
    pending_duration: float | None = None
    pending_segment = False  # an EXTINF is waiting for its URI
    pending_range: str | None = None
    range_ends: dict[str, int] = {}  # per URI: end of its last byte range, for "n" without "@o"
    total = 0.0
    stopped = False  # a cap was reached: ignore further segments, keep reading tags
    for raw_line in lines:
        line = raw_line.strip()
        if not line:
            continue
        if line[0] == "#":
            tag, _, value = line.partition(":")
            if tag == "#EXT-X-STREAM-INF":
                pending_variant = _hls_attrs(value)
            elif tag == "#EXTINF":
                pending_duration = _float(value.partition(",")[0])
                pending_segment = True
            elif tag == "#EXT-X-BYTERANGE":
                pending_range = value
            elif tag in ("#EXT-X-KEY", "#EXT-X-SESSION-KEY"):
                method = _hls_attrs(value).get("METHOD", "").strip().upper()
                if method and method != "NONE":
                    result.protected = True
            elif tag == "#EXT-X-MAP" and result.init is None:
                attrs = _hls_attrs(value)
                url = _resolve(base_url, attrs.get("URI", ""))
                if url is None:
                    raise PlaylistError(ERROR_BAD_URI, "EXT-X-MAP URI is not http(s)")
                byte_range = None
                if "BYTERANGE" in attrs:
                    byte_range = _hls_byterange(attrs["BYTERANGE"], 0)
                    if byte_range is None:
                        raise PlaylistError(ERROR_NOT_PLAYLIST, "bad EXT-X-MAP BYTERANGE")
                result.init = Segment(url, 0.0, byte_range, init=True)
            elif tag == "#EXT-X-ENDLIST":
                result.ended = True
            elif tag == "#EXT-X-PLAYLIST-TYPE":
                kind = value.strip().upper()
                result.playlist_type = kind if kind in ("VOD", "EVENT") else None
            elif tag == "#EXT-X-TARGETDURATION":
                result.target_duration = _float(value)
            continue
        # A URI line.
        if pending_variant is not None:
            attrs, pending_variant = pending_variant, None
            if len(result.variants) >= MAX_VARIANTS:
                result.truncated = True
                continue
            url = _resolve(base_url, line)
            if url is None:
                continue  # one unusable variant: the others may do
            width = height = None
            resolution = attrs.get("RESOLUTION", "").lower().partition("x")
            if resolution[1]:
                width, height = _int(resolution[0], 10**6), _int(resolution[2], 10**6)
            result.variants.append(
                HlsVariant(
                    url,
                    bandwidth=_int(attrs.get("BANDWIDTH")),
                    width=width,
                    height=height,
                    codecs=attrs.get("CODECS") or None,
                )
            )
        elif pending_segment:
            duration, pending_segment = pending_duration, False
            byte_range_text, pending_range = pending_range, None
            if stopped:
                continue
            if len(result.segments) >= max_segments or total >= max_duration:
                result.truncated = stopped = True
                continue
            url = _resolve(base_url, line)
            if url is None:
                raise PlaylistError(ERROR_BAD_URI, "a segment URI is not http(s)")
            byte_range = None
            if byte_range_text is not None:
                byte_range = _hls_byterange(byte_range_text, range_ends.get(url))
                if byte_range is None:
                    raise PlaylistError(ERROR_NOT_PLAYLIST, "bad EXT-X-BYTERANGE")
                range_ends[url] = byte_range[1] + 1
            result.segments.append(Segment(url, duration, byte_range))
            total += duration or 0.0
        # else: a URI with no EXTINF or STREAM-INF before it: not valid, ignored
    if result.variants:
        result.kind = "master"
        result.segments, result.init = [], None
    elif not result.segments:
        raise PlaylistError(ERROR_NO_VIDEO, "no variants and no segments")
    return result


def _audio_only(codecs: str | None) -> bool:
    if not codecs:
        return False
    names = [c.strip().lower().partition(".")[0] for c in codecs.split(",")]
    audio = {"mp4a", "ac-3", "ec-3", "opus", "flac", "mp3", "alac", "ac-4"}
    return all(name in audio for name in names)


def _best(
    items: list,
    max_height: int,
    max_bandwidth: int,
) -> object | None:
    """The highest height not above ``max_height`` (lowest bandwidth among equals:
    more seconds under the crawler's byte cap), else the smallest height; when
    nothing has a height, the highest bandwidth not above ``max_bandwidth``,
    else the lowest.  Items have .height and .bandwidth."""
    if not items:
        return None
    with_height = [item for item in items if item.height]
    big = 1 << 62
    if with_height:
        fitting = [item for item in with_height if item.height <= max_height]
        if fitting:
            return min(fitting, key=lambda i: (-i.height, i.bandwidth or big))
        return min(with_height, key=lambda i: (i.height, i.bandwidth or big))
    fitting = [item for item in items if item.bandwidth and item.bandwidth <= max_bandwidth]
    if fitting:
        return max(fitting, key=lambda i: i.bandwidth)
    return min(items, key=lambda i: i.bandwidth or big)


def choose_variant(
    master: HlsPlaylist, max_height: int = 720, *, max_bandwidth: int = 4_000_000
) -> HlsVariant | None:
    """The variant to fetch: the highest resolution not above ``max_height``
    (else the smallest); by BANDWIDTH (highest not above ``max_bandwidth``, else
    the lowest) when no variant declares a resolution.  Audio-only variants are
    passed over when there are others.  None if there are no variants."""
    variants = [v for v in master.variants if not _audio_only(v.codecs)] or master.variants
    best = _best(variants, max_height, max_bandwidth)
    return best if isinstance(best, HlsVariant) else None


# --- DASH -------------------------------------------------------------------------

_ISO_DURATION = re.compile(
    r"P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)
_ISO_UNITS = (365 * 86400.0, 30 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0)


def parse_iso_duration(value: str | None) -> float | None:
    """An xs:duration such as ``PT1M2.5S`` or ``P1DT2H`` in seconds, or None if it
    is not one (years count 365 days, months 30).  Never raises."""
    if not value:
        return None
    value = value.strip()
    if len(value) > 64 or value in ("P", "PT") or value.endswith("T"):
        return None
    match = _ISO_DURATION.fullmatch(value)
    if not match:
        return None
    seconds = sum(
        float(part) * unit for part, unit in zip(match.groups(), _ISO_UNITS, strict=True) if part
    )
    return seconds if math.isfinite(seconds) else None


def _local(element: etree._Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if _local(child) == name]


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    for child in element:
        if _local(child) == name:
            return child
    return None


def _base(element: etree._Element | None, base: str) -> str:
    """``base`` updated by the element's first <BaseURL>, if it has one."""
    node = _child(element, "BaseURL")
    if node is not None and node.text and node.text.strip():
        return urljoin(base, node.text.strip())
    return base


def _is_video(adaptation: etree._Element) -> bool:
    mime = (adaptation.get("mimeType") or "").lower()
    if mime.startswith("video/") or (adaptation.get("contentType") or "").lower() == "video":
        return True
    if mime or adaptation.get("contentType"):
        return False
    for rep in _children(adaptation, "Representation"):
        if (rep.get("mimeType") or "").lower().startswith("video/"):
            return True
    return False


def _range(value: str | None) -> tuple[int, int] | None | bool:
    """A DASH byte range "first-last": (first, last), None if absent, False if bad."""
    if value is None:
        return None
    first, dash, last = value.strip().partition("-")
    start, end = _int(first), _int(last)
    if not dash or start is None or end is None or end < start:
        return False
    return start, end


_TEMPLATE_ID = re.compile(r"\$(RepresentationID|Number|Bandwidth|Time|)(?:%0(\d+)d)?\$")


def _fill(template: str, values: dict[str, str | int]) -> str | None:
    """A SegmentTemplate string with its $identifiers$ replaced; None if invalid."""
    bad = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal bad
        name, width = match.group(1), match.group(2)
        if name == "":
            return "$"
        value = values.get(name)
        if value is None or (width and (name == "RepresentationID" or len(width) > 3)):
            bad = True
            return ""
        if width and int(width) > _MAX_PAD_WIDTH:
            bad = True
            return ""
        return str(value).zfill(int(width)) if width else str(value)

    filled = _TEMPLATE_ID.sub(substitute, template)
    return None if bad else filled


def _merged(nodes: list[etree._Element | None], name: str) -> tuple[dict[str, str], list]:
    """Attributes of the ``name`` elements of ``nodes`` (outer to inner), inner
    ones overriding, and the children of the innermost one that has any."""
    attrs: dict[str, str] = {}
    children: list[etree._Element] = []
    found = False
    for node in nodes:
        element = _child(node, name)
        if element is not None:
            found = True
            attrs.update({str(k): str(v) for k, v in element.attrib.items()})
            kids = [child for child in element if isinstance(child.tag, str)]
            if kids:
                children = kids
    return (attrs, children) if found else ({}, [])


def parse_dash(
    data: str | bytes,
    base_url: str,
    *,
    max_height: int = 720,
    max_bandwidth: int = 4_000_000,
    max_bytes: int = MAX_PLAYLIST_BYTES,
    max_segments: int = MAX_SEGMENTS,
    max_duration: float = MAX_DURATION,
) -> DashManifest:
    """A static DASH MPD: the first video adaptation set of the first period that
    has one, its representation best under ``max_height`` (as choose_variant()
    picks), and that representation's segments in order; PlaylistError if refused.

    Reads BaseURL-only representations (one segment: the whole file),
    SegmentBase (the whole file too), SegmentList (Initialization + SegmentURL)
    and SegmentTemplate with $Number$ (startNumber, duration/timescale over the
    period or presentation duration) or SegmentTimeline ($Time$, S@t/@d/@r),
    with $RepresentationID$, $Bandwidth$, $$ and %0Nd format tags.  A live
    manifest (type="dynamic") is refused (ERROR_LIVE).  ContentProtection on
    the chosen adaptation set or representation sets ``protected``.
    """
    result = DashManifest()
    text = _text(data, max_bytes)
    if text is None:
        raise PlaylistError(ERROR_TOO_LARGE, f"manifest over {max_bytes} bytes")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )
    # Bytes go to libxml2 as they are, so an XML encoding declaration is honoured.
    raw = bytes(data) if not isinstance(data, str) else text.encode("utf-8", errors="replace")
    try:
        root = etree.fromstring(raw, parser=parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise PlaylistError(ERROR_NOT_PLAYLIST, f"not well-formed XML: {str(exc)[:200]}") from None
    if root is None or _local(root) != "MPD":
        raise PlaylistError(ERROR_NOT_PLAYLIST, "root element is not MPD")
    if (root.get("type") or "static").strip().lower() == "dynamic":
        raise PlaylistError(ERROR_LIVE, 'live manifest (type="dynamic")')
    try:
        _read_mpd(root, base_url, result, max_height, max_bandwidth, max_segments, max_duration)
    except PlaylistError:
        raise
    except (ValueError, OverflowError, TypeError) as exc:  # a last guard: only PlaylistError
        raise PlaylistError(ERROR_NOT_PLAYLIST, f"unreadable manifest: {str(exc)[:200]}") from None
    return result


def _read_mpd(
    root: etree._Element,
    base_url: str,
    result: DashManifest,
    max_height: int,
    max_bandwidth: int,
    max_segments: int,
    max_duration: float,
) -> None:
    mpd_base = _base(root, base_url)
    presentation = parse_iso_duration(root.get("mediaPresentationDuration"))
    for period in _children(root, "Period"):
        adaptation = next((a for a in _children(period, "AdaptationSet") if _is_video(a)), None)
        if adaptation is not None:
            break
    else:
        raise PlaylistError(ERROR_NO_VIDEO, "no video AdaptationSet")
    if period.get("{http://www.w3.org/1999/xlink}href") is not None:
        raise PlaylistError(ERROR_UNSUPPORTED, "remote (xlink) Period")
    duration = parse_iso_duration(period.get("duration")) or presentation
    result.duration = duration

    reps = _children(adaptation, "Representation")[:MAX_VARIANTS]
    candidates = []
    for rep in reps:
        candidates.append(
            DashRepresentation(
                id=rep.get("id"),
                bandwidth=_int(rep.get("bandwidth")),
                width=_int(rep.get("width") or adaptation.get("width"), 10**6),
                height=_int(rep.get("height") or adaptation.get("height"), 10**6),
                mime_type=rep.get("mimeType") or adaptation.get("mimeType"),
                codecs=rep.get("codecs") or adaptation.get("codecs"),
            )
        )
    chosen = _best(candidates, max_height, max_bandwidth)
    if not isinstance(chosen, DashRepresentation):
        raise PlaylistError(ERROR_NO_VIDEO, "video AdaptationSet without Representation")
    rep = reps[candidates.index(chosen)]
    result.representation = chosen
    if (
        _child(adaptation, "ContentProtection") is not None
        or _child(rep, "ContentProtection") is not None
    ):
        result.protected = True

    base = _base(rep, _base(adaptation, _base(period, mpd_base)))
    levels = [period, adaptation, rep]
    values: dict[str, str | int] = {"RepresentationID": chosen.id or ""}
    if chosen.bandwidth is not None:
        values["Bandwidth"] = chosen.bandwidth
    limit = min(max_duration, duration) if duration else max_duration

    if any(_child(node, "SegmentTemplate") is not None for node in levels):
        attrs, kids = _merged(levels, "SegmentTemplate")
        _read_template(attrs, kids, base, values, duration, limit, max_segments, result)
    elif any(_child(node, "SegmentList") is not None for node in levels):
        attrs, kids = _merged(levels, "SegmentList")
        _read_list(attrs, kids, base, limit, max_segments, result)
    else:  # BaseURL only, or SegmentBase: the whole file is one segment
        result.segments = [Segment(_url(base, "", "Representation BaseURL"), duration)]


def _url(base: str, reference: str, what: str) -> str:
    url = _resolve(base, reference) if reference.strip() else _resolve(base, base)
    if url is None:
        raise PlaylistError(ERROR_BAD_URI, f"{what} is not http(s)")
    return url


def _read_template(
    attrs: dict[str, str],
    kids: list[etree._Element],
    base: str,
    values: dict[str, str | int],
    duration: float | None,
    limit: float,
    max_segments: int,
    result: DashManifest,
) -> None:
    media = attrs.get("media")
    if not media:
        raise PlaylistError(ERROR_UNSUPPORTED, "SegmentTemplate without @media")
    timescale = _int(attrs.get("timescale", "1")) or 1
    number = _int(attrs.get("startNumber", "1"))
    if number is None:
        raise PlaylistError(ERROR_NOT_PLAYLIST, "bad SegmentTemplate@startNumber")
    init = attrs.get("initialization")
    if init:
        filled = _fill(init, values)
        if filled is None:
            raise PlaylistError(ERROR_UNSUPPORTED, "bad SegmentTemplate@initialization")
        result.init = Segment(_url(base, filled, "initialization"), 0.0, None, init=True)

    def add(time: int | None, seconds: float) -> None:
        filled = _fill(
            media, {**values, "Number": number, "Time": time if time is not None else ""}
        )
        if filled is None or (time is None and "$Time" in media):
            raise PlaylistError(ERROR_UNSUPPORTED, "SegmentTemplate@media identifiers not fillable")
        result.segments.append(Segment(_url(base, filled, "segment"), seconds))

    timeline = next((kid for kid in kids if _local(kid) == "SegmentTimeline"), None)
    elapsed = 0.0
    if timeline is not None:
        offset = _int(attrs.get("presentationTimeOffset", "0")) or 0
        time = offset
        end = None if duration is None else offset + duration * timescale
        for s in timeline:
            if _local(s) != "S":
                continue
            d = _int(s.get("d"))
            if not d:
                raise PlaylistError(ERROR_NOT_PLAYLIST, "SegmentTimeline S without @d")
            t = _int(s.get("t"))
            time = t if t is not None else time
            r_text = (s.get("r") or "0").strip()
            if r_text == "-1":
                if end is None:
                    raise PlaylistError(ERROR_UNSUPPORTED, "S@r=-1 without a known duration")
                repeats = max(0, math.ceil((end - time) / d) - 1)
            else:
                repeats = _int(r_text)
                if repeats is None:
                    raise PlaylistError(ERROR_NOT_PLAYLIST, "bad S@r")
            for _ in range(repeats + 1):
                if len(result.segments) >= max_segments or elapsed >= limit:
                    result.truncated = True
                    return
                add(time, d / timescale)
                elapsed += d / timescale
                time += d
                number += 1
        return
    seg_duration = _int(attrs.get("duration"))
    if not seg_duration:
        raise PlaylistError(
            ERROR_UNSUPPORTED, "SegmentTemplate without @duration or SegmentTimeline"
        )
    if duration is None:
        raise PlaylistError(ERROR_UNSUPPORTED, "SegmentTemplate $Number$ without a known duration")
    seconds = seg_duration / timescale
    count = math.ceil(duration / seconds - 1e-9)
    for index in range(count):
        if index >= max_segments or elapsed >= limit:
            result.truncated = True
            return
        last = min(seconds, duration - elapsed)
        add(None, last)
        elapsed += seconds
        number += 1


def _read_list(
    attrs: dict[str, str],
    kids: list[etree._Element],
    base: str,
    limit: float,
    max_segments: int,
    result: DashManifest,
) -> None:
    timescale = _int(attrs.get("timescale", "1")) or 1
    seg_duration = _int(attrs.get("duration"))
    seconds = seg_duration / timescale if seg_duration else None
    elapsed = 0.0
    for kid in kids:
        name = _local(kid)
        if name == "Initialization" and result.init is None:
            byte_range = _range(kid.get("range"))
            if byte_range is False:
                raise PlaylistError(ERROR_NOT_PLAYLIST, "bad Initialization@range")
            url = _url(base, kid.get("sourceURL") or "", "Initialization@sourceURL")
            result.init = Segment(url, 0.0, byte_range or None, init=True)
        elif name == "SegmentURL":
            if len(result.segments) >= max_segments or elapsed >= limit:
                result.truncated = True
                return
            byte_range = _range(kid.get("mediaRange"))
            if byte_range is False:
                raise PlaylistError(ERROR_NOT_PLAYLIST, "bad SegmentURL@mediaRange")
            url = _url(base, kid.get("media") or "", "SegmentURL@media")
            result.segments.append(Segment(url, seconds, byte_range or None))
            elapsed += seconds or 0.0
    if not result.segments:
        raise PlaylistError(ERROR_NO_VIDEO, "SegmentList without SegmentURL")


# --- For the crawler ------------------------------------------------------------------


def segments_for(
    playlist: HlsPlaylist | DashManifest, max_seconds: float | None = None
) -> list[Segment]:
    """What to fetch, in order: the init segment (if any), then the media segments
    that start before ``max_seconds`` (all when None; a segment of unknown
    duration counts as 0 seconds).  Empty for a protected playlist and for an
    HLS master playlist (fetch choose_variant()'s media playlist first)."""
    if playlist.protected:
        return []
    if isinstance(playlist, HlsPlaylist) and playlist.kind != "media":
        return []
    chosen: list[Segment] = [playlist.init] if playlist.init else []
    elapsed = 0.0
    for segment in playlist.segments:
        if max_seconds is not None and elapsed >= max_seconds:
            break
        chosen.append(segment)
        elapsed += segment.duration or 0.0
    return chosen

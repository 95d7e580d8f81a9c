"""What must hold for any input, whatever it is: the invariants both the hypothesis tests
(tests/test_fuzz_*.py) and the atheris harness (tests/fuzz/fuzz_targets.py) check.

Each ``check_*`` function runs the code under test on one input and raises
AssertionError (or lets an unexpected exception through) when an invariant fails;
it returns normally when the input was handled as documented, including a
documented refusal (``HashListError``, ``ImageRejected``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from crawler.extract import (
    SKIP_REASONS,
    SOURCES,
    Extraction,
    _clean_reference,
    _is_svg,
    _Resolver,
    extract_css_urls,
    extract_images,
    parse_srcset,
)
from monitor.hashlists import (
    MAX_LABEL_CHARS,
    HashListError,
    ParsedHash,
    export_json,
    parse_hash_list,
)

#: The algorithms a hash list is read against (the registry's bit lengths).
ALGORITHMS = {"pdq": 256, "phash": 64, "dhash": 64}

#: Every ``ImageRejected.kind`` that monitor.hashing.decode documents.
IMAGE_REJECTION_KINDS = frozenset({"empty", "not_image", "too_many_pixels", "corrupt"})

_HTML_WHITESPACE = " \t\n\r\f"
# A URL the crawler may request: printable ASCII without spaces, quotes or angle brackets.
_REQUESTABLE = re.compile(r"[!#-;=?-~]+")
_HEX = re.compile(r"[0-9a-f]+")


# --------------------------------------------------------------------------- extractor


def check_resolved_url(url: str, max_url_length: int) -> None:
    """A URL as the resolver returns it: absolute http(s), with a host, no fragment, no
    longer than the limit, and already percent-encoded (what a browser would request)."""
    assert isinstance(url, str)
    assert len(url) <= max_url_length, (len(url), max_url_length)
    assert _REQUESTABLE.fullmatch(url), url
    assert "#" not in url, url
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https"), url
    assert parts.hostname, url


def check_url(url: str, max_url_length: int) -> None:
    """An image URL as the extractor returns it: resolved, and not an SVG."""
    check_resolved_url(url, max_url_length)
    assert not _is_svg(url), url


def check_extraction(result: Extraction, max_images: int, max_url_length: int) -> None:
    assert isinstance(result, Extraction)
    assert len(result.images) <= max(0, max_images)
    urls = [image.url for image in result.images]
    assert len(urls) == len(set(urls)), "duplicate image URLs"
    for image in result.images:
        check_url(image.url, max_url_length)
        assert image.source in SOURCES, image.source
    for reason, count in result.skipped.items():
        assert reason in SKIP_REASONS, reason
        assert isinstance(count, int) and count > 0, (reason, count)


def check_extract(html: str | bytes, base_url: str, max_images: int, max_url_length: int) -> None:
    result = extract_images(html, base_url, max_images=max_images, max_url_length=max_url_length)
    check_extraction(result, max_images, max_url_length)


def check_substrings_in_order(parts: Iterable[str], text: str) -> None:
    """``parts`` are non-overlapping pieces of ``text``, in the order they appear."""
    position = 0
    for part in parts:
        found = text.find(part, position)
        assert found >= 0, (part, text)
        position = found + len(part)


def check_srcset(value: str) -> list[str]:
    candidates = parse_srcset(value)
    for url in candidates:
        assert url, "empty candidate"
        assert not any(char in url for char in _HTML_WHITESPACE), url
        assert not url.startswith(",") and not url.endswith(","), url
    check_substrings_in_order(candidates, value)
    return candidates


def check_css(css: str) -> list[str]:
    urls = extract_css_urls(css)
    for url in urls:
        assert url and url == url.strip(_HTML_WHITESPACE), url
    return urls


def check_resolve(base_url: str, reference: str, max_url_length: int) -> str | None:
    """Resolve one reference the way the extractor does; the URL (or None if skipped)."""
    resolver = _Resolver(base_url, max_url_length)
    value = _clean_reference(reference).partition("#")[0]
    if not value:
        return None
    url, reason = resolver.resolve(value)
    assert (url is None) != (reason is None), (url, reason)
    if url is None:
        assert reason in SKIP_REASONS, reason
        return None
    check_resolved_url(url, max_url_length)
    # The fast path for "plain" URLs must agree with the general one (urljoin and
    # w3lib's safe_url_string), or one image would get two spellings.
    plain = resolver._resolve_plain(value)
    if plain is not None and len(plain) <= max_url_length:
        assert resolver._resolve_general(value) == (plain, None), (base_url, value, plain)
    # Resolving is idempotent: a returned URL resolves to itself on any base.
    assert _Resolver(url, max_url_length).resolve(url) == (url, None), url
    assert _Resolver("http://other.example/", max_url_length).resolve(url) == (url, None), url
    return url


# --------------------------------------------------------------------------- hash lists


def _key(entry: ParsedHash) -> tuple[Any, ...]:
    """What a JSON export keeps of an entry (not its line, nor PDQ quality)."""
    view = None if entry.view in (None, "original") else entry.view
    return (entry.algorithm, entry.value, entry.label, entry.rules_version, view)


def _partition(groups: list[int | None]) -> list[int | None]:
    """Group numbers renamed by first appearance: equal partitions compare equal."""
    names: dict[int, int] = {}
    return [None if g is None else names.setdefault(g, len(names)) for g in groups]


def check_parsed(entries: list[ParsedHash]) -> None:
    assert entries, "a parsed hash list is never empty"
    for entry in entries:
        assert isinstance(entry, ParsedHash)
        assert entry.algorithm in ALGORITHMS, entry.algorithm
        assert _HEX.fullmatch(entry.value) and len(entry.value) * 4 == ALGORITHMS[entry.algorithm]
        assert entry.line >= 1
        if entry.label is not None:
            assert entry.label == entry.label.strip() and 0 < len(entry.label) <= MAX_LABEL_CHARS
        assert entry.quality is None or 0 <= entry.quality <= 100


def round_trip(entries: list[ParsedHash]) -> list[ParsedHash]:
    """Export ``entries`` as JSON and read the export back; the two must agree."""
    exported = export_json(
        (e.algorithm, e.value, e.label, e.rules_version, e.view, e.group) for e in entries
    )
    again = parse_hash_list(exported, ALGORITHMS)
    assert [_key(e) for e in again] == [_key(e) for e in entries]
    assert _partition([e.group for e in again]) == _partition([e.group for e in entries])
    assert [e.line for e in again] == list(range(1, len(entries) + 1))
    # And the export of the export is the same document (apart from the time stamp).
    assert export_json(
        [(e.algorithm, e.value, e.label, e.rules_version, e.view, e.group) for e in again],
        now=_EPOCH,
    ) == export_json(
        [(e.algorithm, e.value, e.label, e.rules_version, e.view, e.group) for e in entries],
        now=_EPOCH,
    )
    return again


def check_hash_list(data: str | bytes) -> list[ParsedHash] | None:
    """Parse ``data``: either HashListError, or entries that survive a JSON round trip."""
    try:
        entries = parse_hash_list(data, ALGORITHMS)
    except HashListError as exc:
        assert str(exc), "a HashListError says what is wrong"
        return None
    check_parsed(entries)
    round_trip(entries)
    return entries


def _epoch() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


_EPOCH = _epoch()


# --------------------------------------------------------------------------- images


def check_image(data: bytes, max_pixels: int) -> Any:
    """Hash ``data`` as the crawler does: ImageHashes, or ImageRejected of a known kind."""
    from monitor.hashing import ALGORITHMS as REGISTRY
    from monitor.hashing import ImageRejected
    from monitor.hashing.workers import crawl_hashes

    try:
        hashes = crawl_hashes(data, max_pixels)
    except ImageRejected as exc:
        assert exc.kind in IMAGE_REJECTION_KINDS, exc.kind
        assert str(exc), "an ImageRejected says what is wrong"
        return exc
    assert hashes.width > 0 and hashes.height > 0
    assert hashes.width * hashes.height <= max_pixels
    assert hashes.size == len(data)
    for value in (view.value for view in hashes.views):
        bits = REGISTRY[value.algorithm].bits
        assert _HEX.fullmatch(value.value) and len(value.value) * 4 == bits, value
    return hashes

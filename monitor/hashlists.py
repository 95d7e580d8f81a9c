"""Reading and writing hash-list files (pure functions, no database).

A hash list is how a victim's hashes arrive (from a helpline, from StopNCII or
ThreatExchange exports, from another instance of this tool) and leave. The
files are untrusted input, so parsing is strict: the first bad line stops the
import with a ``HashListError`` that names the line, rather than importing a
half-understood list.

Accepted formats, detected from the content (never from the file name):

1. JSON: the object ``export_json`` writes, or a bare list of
   ``{"algorithm", "hash", "label"?, "quality"?, "rules_version"?, "view"?, "group"?}``
   objects (``rules_version``: the version of ncii-monitor's hashing rules that
   made the hash, written by ``export_json`` when it is known; ``view``: which view
   of the image the decision rule hashed, "original" when absent; ``group``: a
   number shared by the entries of one image, meaningful within the file only).
2. CSV with a header row naming ``algorithm`` and ``hash`` (and optionally
   ``label``) in any order and any case; other columns are ignored.
3. ``ALGORITHM HEX [label words...]`` lines separated by whitespace.
4. Bare 64-digit hex lines, read as PDQ (StopNCII / ThreatExchange exports),
   optionally followed by ``,QUALITY`` or `` QUALITY``.

In the line formats (2-4) blank lines and lines starting with ``#`` are
skipped, a UTF-8 BOM and CRLF line ends are accepted, and every line must use
the format of the first hash line.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_LABEL_CHARS",
    "MAX_LINE_CHARS",
    "HashListError",
    "ParsedHash",
    "export_json",
    "normalise_hex",
    "parse_hash_list",
]

FORMAT_NAME = "ncii-monitor-hashlist"
FORMAT_VERSION = 1

#: No genuine hash line comes near this; a longer one means the file is not a hash list.
MAX_LINE_CHARS = 10_000
#: Labels are short case notes ("photo 3"), not documents.
MAX_LABEL_CHARS = 200
#: What a hash without an algorithm name is, in StopNCII/ThreatExchange exports.
BARE_ALGORITHM = "pdq"
#: PDQ's own quality scale.
MAX_QUALITY = 100
#: Hashing rules versions are small counters; a larger one is a corrupt file.
MAX_RULES = 1000

# Spelled out because int(x, 16) also accepts "_" and non-ASCII digits such as "٣".
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_QUALITY_RE = re.compile(r"[0-9]{1,3}")
# A bare hash line is "HASH", "HASH,QUALITY" or "HASH QUALITY".
_BARE_SPLIT_RE = re.compile(r"\s*,\s*|\s+")
# Longer untrusted text is cut short when quoted back in an error message.
_SHOW_CHARS = 40

# Kinds of line, used both to detect a file's format and to spot mixed formats.
_BARE = "bare hash"
_ALGORITHM = "algorithm line"
_CSV_HEADER = "CSV header"
_CSV_ROW = "CSV row"


class HashListError(ValueError):
    """A hash list that cannot be imported.

    ``line`` is the 1-based line (for JSON: the 1-based entry in the hash list)
    of the first problem, or None when the problem is the file as a whole. The
    message starts with "line N: " (JSON entries: "entry N: ") when there is one.
    """

    def __init__(self, reason: str, line: int | None = None, *, where: str = "line") -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"{where} {line}: {reason}" if line is not None else reason)


@dataclass(frozen=True)
class ParsedHash:
    algorithm: str  # lower-case registry name, e.g. "pdq"
    value: str  # lower-case hex, exactly bits/4 digits
    label: str | None
    line: int  # 1-based line in the file (JSON: 1-based index of the entry)
    quality: int | None = None  # PDQ quality (0-100) where the file gave one
    rules_version: int | None = None  # ncii-monitor's hashing rules version, where given
    view: str | None = None  # the decision rule's view of the image, where given
    group: int | None = None  # entries of one image share it, within one file


class _Invalid(Exception):
    """Why one line or entry is bad; ``_located`` adds where it is."""


@contextmanager
def _located(number: int, where: str = "line") -> Iterator[None]:
    try:
        yield
    except _Invalid as exc:
        raise HashListError(str(exc), number, where=where) from None


def _show(text: str) -> str:
    """Quote untrusted text in a message, cut short so a bad file cannot flood the log."""
    if len(text) > _SHOW_CHARS:
        text = text[:_SHOW_CHARS] + "..."
    return repr(text)


# --------------------------------------------------------------------------- values


def normalise_hex(value: str, bits: int) -> str:
    """Return ``value`` as lower-case hex of exactly ``bits/4`` digits.

    Strict on purpose: no "0x" prefix and no surrounding whitespace (strip it
    yourself), so a hash that is stored is exactly the hash that was given.
    Raises ValueError saying what is wrong.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0 or bits % 4:
        raise ValueError(f"bit length must be a positive multiple of 4, got {bits!r}")
    if value[:2] in ("0x", "0X"):
        raise ValueError("a '0x' prefix is not accepted; give the hex digits only")
    for position, char in enumerate(value, start=1):
        if char not in _HEX_DIGITS:
            raise ValueError(f"non-hex character {char!r} at position {position}")
    expected = bits // 4
    if len(value) != expected:
        raise ValueError(f"expected {expected} hex digits ({bits} bits), found {len(value)}")
    return value.lower()


def _is_hex(text: str) -> bool:
    return bool(text) and all(char in _HEX_DIGITS for char in text)


def _algorithm(raw: str, known: Mapping[str, int]) -> str:
    name = raw.strip().lower()
    if not name:
        raise _Invalid("missing algorithm")
    if name not in known:
        raise _Invalid(f"unknown algorithm {_show(raw.strip())}")
    return name


def _hash(algorithm: str, raw: str, known: Mapping[str, int]) -> str:
    if not raw:
        raise _Invalid(f"missing {algorithm} hash")
    try:
        return normalise_hex(raw, known[algorithm])
    except ValueError as exc:
        raise _Invalid(f"{algorithm} hash: {exc}") from None


def _label(raw: str | None) -> str | None:
    if raw is None:
        return None
    label = raw.strip()
    if not label:
        return None
    if len(label) > MAX_LABEL_CHARS:
        raise _Invalid(f"label is {len(label)} characters long; the limit is {MAX_LABEL_CHARS}")
    for char in label:
        # Control characters (terminal escapes, stray CRs) would reach the CLI's
        # output verbatim; lone surrogates cannot even be written back as UTF-8.
        if char != "\t" and unicodedata.category(char) in ("Cc", "Cs"):
            raise _Invalid(f"label contains the control character U+{ord(char):04X}")
    return label


def _quality(raw: str) -> int:
    if not _QUALITY_RE.fullmatch(raw) or int(raw) > MAX_QUALITY:
        raise _Invalid(
            f"quality must be a whole number from 0 to {MAX_QUALITY}, found {_show(raw)}"
        )
    return int(raw)


def _known_algorithms(algorithms: Mapping[str, int]) -> dict[str, int]:
    """The registry keyed by lower-case name; a bad registry is the caller's bug, not the file's."""
    known: dict[str, int] = {}
    for name, bits in algorithms.items():
        if isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0 or bits % 4:
            raise ValueError(
                f"algorithm {name!r}: bit length must be a positive multiple of 4, got {bits!r}"
            )
        known[name.lower()] = bits
    return known


# --------------------------------------------------------------------------- parsing


def parse_hash_list(text: str | bytes, algorithms: Mapping[str, int]) -> list[ParsedHash]:
    """Parse a hash-list file in any accepted format (see the module docstring).

    ``algorithms`` maps each known algorithm name to its bit length, e.g.
    ``{"pdq": 256, "phash": 64}``. ``text`` may be the raw bytes of the file,
    so that non-UTF-8 content is reported as such. Hashes come back in file
    order, duplicates included. Raises HashListError on the first problem.
    """
    known = _known_algorithms(algorithms)
    body = _as_text(text)
    if _looks_like_json(body):
        hashes = _parse_json(body, known)
    else:
        hashes = _parse_lines(body, known)
    if not hashes:
        raise HashListError("no hashes found")
    return hashes


def _as_text(data: str | bytes) -> str:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise HashListError("not a text hash list: it looks like UTF-16; save it as UTF-8")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HashListError("not a text hash list (not valid UTF-8)") from None
    else:
        text = data
        try:
            text.encode("utf-8")  # lone surrogates: bytes decoded with errors="surrogateescape"
        except UnicodeEncodeError:
            raise HashListError("not a text hash list (not valid UTF-8)") from None
    if "\x00" in text:
        raise HashListError("not a text hash list (contains NUL bytes)")
    return text.removeprefix("\ufeff")


def _looks_like_json(body: str) -> bool:
    # No line format can start with "{" or "[": algorithm names, hex digits and
    # CSV headers never do, so the first character decides.
    match = re.match(r"\s*(\S)", body)
    return match is not None and match.group(1) in "{["


# ----------------------------------------------------------------- JSON


def _parse_json(body: str, known: Mapping[str, int]) -> list[ParsedHash]:
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        raise HashListError(f"invalid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise HashListError("invalid JSON: nested too deeply") from None
    hashes = []
    for index, entry in enumerate(_json_entries(document), start=1):
        with _located(index, "entry"):
            hashes.append(_json_entry(index, entry, known))
    return hashes


def _json_entries(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        raise HashListError(
            "JSON hash list must be an object with a 'hashes' list or a list of hash objects"
        )
    kind = document.get("format")
    if kind is not None and kind != FORMAT_NAME:
        raise HashListError(f"JSON is not an {FORMAT_NAME} file (format {_show(str(kind))})")
    version = document.get("version")
    if version is not None and (type(version) is not int or version != FORMAT_VERSION):
        raise HashListError(
            f"unsupported {FORMAT_NAME} version {_show(str(version))};"
            f" this program reads version {FORMAT_VERSION}"
        )
    hashes = document.get("hashes")
    if not isinstance(hashes, list):
        raise HashListError("JSON object has no 'hashes' list")
    return hashes


def _json_entry(index: int, entry: Any, known: Mapping[str, int]) -> ParsedHash:
    if not isinstance(entry, dict):
        raise _Invalid("expected an object with 'algorithm' and 'hash'")
    algorithm_raw = entry.get("algorithm")
    hash_raw = entry.get("hash")
    label_raw = entry.get("label")
    quality_raw = entry.get("quality")
    rules_raw = entry.get("rules_version")
    if not isinstance(algorithm_raw, str):
        raise _Invalid("'algorithm' must be a string")
    if not isinstance(hash_raw, str):
        raise _Invalid("'hash' must be a string")
    if label_raw is not None and not isinstance(label_raw, str):
        raise _Invalid("'label' must be a string or null")
    if quality_raw is not None and (
        type(quality_raw) is not int or not 0 <= quality_raw <= MAX_QUALITY
    ):
        raise _Invalid(f"'quality' must be a whole number from 0 to {MAX_QUALITY} or null")
    if rules_raw is not None and (type(rules_raw) is not int or not 0 <= rules_raw <= MAX_RULES):
        raise _Invalid(f"'rules_version' must be a whole number from 0 to {MAX_RULES} or null")
    view_raw = entry.get("view")
    group_raw = entry.get("group")
    if view_raw is not None and (not isinstance(view_raw, str) or not _VIEW.fullmatch(view_raw)):
        raise _Invalid("'view' must be a short name of letters, digits and ':/_.+-' or null")
    if group_raw is not None and (type(group_raw) is not int or not 0 <= group_raw < 2**31):
        raise _Invalid("'group' must be a whole number from 0 or null")
    algorithm = _algorithm(algorithm_raw, known)
    return ParsedHash(
        algorithm,
        _hash(algorithm, hash_raw, known),
        _label(label_raw),
        index,
        quality_raw,
        rules_raw,
        view_raw,
        group_raw,
    )


#: What a view name may be (``monitor.hashing.rule`` names them).
_VIEW = re.compile(r"[A-Za-z0-9:/_.+\-]{1,40}")


# ----------------------------------------------------------------- line formats


def _significant_lines(body: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) for each line that is not blank or a comment."""
    # split("\n") rather than splitlines(): the latter also breaks on form feeds,
    # U+2028 etc., which would make our line numbers disagree with editors'.
    for number, raw in enumerate(body.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if len(line) > MAX_LINE_CHARS:
            raise HashListError(
                f"line is {len(line)} characters long; the limit is {MAX_LINE_CHARS}", number
            )
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped


def _csv_fields(line: str) -> list[str]:
    try:
        rows = list(csv.reader([line], skipinitialspace=True, strict=True))
    except csv.Error as exc:
        raise _Invalid(f"malformed CSV: {exc}") from None
    return [field.strip() for field in rows[0]] if rows else []


def _classify(line: str, known: Mapping[str, int]) -> str:
    first_token = line.split(None, 1)[0]
    if "," in first_token:
        fields = _csv_fields(line)
        names = {field.lower() for field in fields}
        if "algorithm" in names or "hash" in names:
            return _CSV_HEADER
        return _BARE if fields and _is_hex(fields[0]) else _CSV_ROW
    if first_token.lower() not in known and _is_hex(first_token):
        return _BARE
    return _ALGORITHM


def _parse_lines(body: str, known: Mapping[str, int]) -> list[ParsedHash]:
    lines = _significant_lines(body)
    first = next(lines, None)
    if first is None:
        return []
    number, line = first
    with _located(number):
        kind = _classify(line, known)
    if kind == _CSV_HEADER:
        return _parse_csv(number, line, lines, known)
    if kind == _CSV_ROW:
        raise HashListError(
            "comma-separated lines need a header row 'algorithm,hash[,label]' first", number
        )
    parse_line = _parse_bare_line if kind == _BARE else _parse_algorithm_line
    hashes = []
    for number, line in _prepend(first, lines):
        with _located(number):
            hashes.append(parse_line(number, line, known))
    return hashes


def _prepend(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


def _parse_algorithm_line(number: int, line: str, known: Mapping[str, int]) -> ParsedHash:
    kind = _classify(line, known)
    if kind != _ALGORITHM:
        raise _Invalid(f"mixed formats: {kind} in a list of 'ALGORITHM HASH [label]' lines")
    parts = line.split(None, 2)
    algorithm = _algorithm(parts[0], known)
    value = _hash(algorithm, parts[1] if len(parts) > 1 else "", known)
    return ParsedHash(algorithm, value, _label(parts[2] if len(parts) > 2 else None), number)


def _parse_bare_line(number: int, line: str, known: Mapping[str, int]) -> ParsedHash:
    kind = _classify(line, known)
    first_word = _BARE_SPLIT_RE.split(line, maxsplit=1)[0]
    if kind == _CSV_HEADER or first_word.lower() in known:
        raise _Invalid(f"mixed formats: {kind} in a list of bare PDQ hashes")
    if BARE_ALGORITHM not in known:
        raise _Invalid(
            "a hash without an algorithm name is read as PDQ,"
            f" but {BARE_ALGORITHM!r} is not a known algorithm"
        )
    parts = _BARE_SPLIT_RE.split(line)
    if len(parts) > 2:
        raise _Invalid(f"expected 'HASH' or 'HASH,QUALITY', found {len(parts)} fields")
    value = _hash(BARE_ALGORITHM, parts[0], known)
    quality = _quality(parts[1]) if len(parts) == 2 else None
    return ParsedHash(BARE_ALGORITHM, value, None, number, quality)


# ----------------------------------------------------------------- CSV


_CSV_COLUMNS = ("algorithm", "hash", "label")


def _csv_columns(number: int, header: str) -> tuple[dict[str, int], int]:
    """Index of each known column, and how many fields every row must have."""
    with _located(number):
        names = [field.lower() for field in _csv_fields(header)]
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in _CSV_COLUMNS:
            if name in columns:
                raise HashListError(f"CSV header names the column {name!r} twice", number)
            columns[name] = index
    for required in ("algorithm", "hash"):
        if required not in columns:
            raise HashListError(f"CSV header has no {required!r} column", number)
    return columns, len(names)


def _parse_csv(
    header_number: int, header: str, lines: Iterator[tuple[int, str]], known: Mapping[str, int]
) -> list[ParsedHash]:
    columns, width = _csv_columns(header_number, header)
    hashes = []
    for number, line in lines:
        with _located(number):
            hashes.append(_csv_row(number, line, columns, width, known))
    return hashes


def _csv_row(
    number: int, line: str, columns: Mapping[str, int], width: int, known: Mapping[str, int]
) -> ParsedHash:
    fields = _csv_fields(line)
    if {"algorithm", "hash"} <= {field.lower() for field in fields}:
        raise _Invalid("mixed formats: a second CSV header row")
    if len(fields) != width:
        # Usually an unquoted comma in a label, or a line in another format.
        raise _Invalid(
            f"expected {width} comma-separated fields as in the header, found {len(fields)}"
            " (quote labels that contain commas)"
        )
    algorithm = _algorithm(fields[columns["algorithm"]], known)
    value = _hash(algorithm, fields[columns["hash"]], known)
    label = _label(fields[columns["label"]]) if "label" in columns else None
    return ParsedHash(algorithm, value, label, number)


# --------------------------------------------------------------------------- writing


def export_json(
    entries: Iterable[tuple[Any, ...]],
    *,
    now: datetime | None = None,
) -> str:
    """Write ``(algorithm, hex, label[, rules_version[, view[, group]]])`` entries as an
    ncii-monitor JSON hash list.

    ``rules_version`` (the version of the hashing rules that made the hash) is
    written as the entry's ``"rules_version"`` when given and not None; ``view``
    when given and not "original"; ``group`` (any hashable: entries of one image
    share it) as a number local to the file.

    Only hashes and their labels are written: no case reference, names or
    contact details, so a hash list can be shared without identifying anyone.
    Everything written here is accepted by ``parse_hash_list``; an entry that
    would not be (non-hex hash, overlong label...) raises ValueError instead.
    ``now`` (timezone-aware; default: the current time) is the export time.
    """
    moment = datetime.now(UTC) if now is None else now
    if moment.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    stamp = moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    groups: dict[Any, int] = {}
    hashes = [_export_entry(index, groups, *entry) for index, entry in enumerate(entries, start=1)]
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": stamp,
        "hashes": hashes,
    }
    # Indented, so that no line of a large export is one enormous line.
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _export_entry(
    index: int,
    groups: dict[Any, int],
    algorithm: str,
    value: str,
    label: str | None,
    rules_version: int | None = None,
    view: str | None = None,
    group: Any = None,
) -> dict[str, str | int | None]:
    try:
        name = algorithm.strip().lower()
        if not name or any(char.isspace() for char in name):
            raise _Invalid(f"bad algorithm name {_show(algorithm)}")
        if not _is_hex(value):
            raise _Invalid(f"hash is not hex: {_show(value)}")
        clean_label = _label(label)
        if rules_version is not None and (
            type(rules_version) is not int or not 0 <= rules_version <= MAX_RULES
        ):
            raise _Invalid(f"bad rules_version {rules_version!r}")
        if view is not None and not _VIEW.fullmatch(view):
            raise _Invalid(f"bad view {_show(view)}")
    except _Invalid as exc:
        raise ValueError(f"entry {index}: {exc}") from None
    entry: dict[str, str | int | None] = {
        "algorithm": name,
        "hash": value.lower(),
        "label": clean_label,
    }
    if rules_version is not None:
        entry["rules_version"] = rules_version
    if view is not None and view != "original":
        entry["view"] = view
    if group is not None:
        entry["group"] = groups.setdefault(group, len(groups))
    return entry

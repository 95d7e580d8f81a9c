"""Reading and writing hash-list files (pure functions, no database).

A hash list is how a victim's hashes arrive (from a helpline, from StopNCII or
ThreatExchange exports, from another instance of this tool, from her own offline
hashing page) and leave. The files are untrusted input. A file that is not a hash
list at all (not UTF-8, bad JSON, an unknown document, a line longer than any hash
line) raises ``HashListError``; within a hash list, each bad entry is *rejected* on
its own (``Rejection``: its line or entry number and why) and the others are read,
so that one typo does not lose a list of hundreds. ``parse_hash_list`` is the strict
reading: the first rejection raises ``HashListError``.

Formats, detected from the content (never from the file name); ``read_hash_list``
says which it found (``ParsedList.format``), ``export_list`` writes each:

``ncii-monitor`` (JSON)
    This tool's own: ``{"format": "ncii-monitor-hashlist", "version": 2, "origin",
    "exported_at", "hashing": {algorithm: rules version}, "hashes": [{"algorithm",
    "hash", "quality"?, "label"?, "rules_version"?, "view"?, "group"?}],
    "signature"?}``. Version 1 (no origin, hashing or signature) still reads. A bare
    JSON list of such entries reads too. ``rules_version``: the version of this
    tool's hashing rules that made the hash (absent: ``hashing[algorithm]``);
    ``view``: which view of the image the decision rule hashed ("original" when
    absent); ``group``: a number shared by the entries of one image, meaningful within
    the file only. The signature (``monitor.exchange``) is checked by the caller,
    over ``ParsedList.document``.
``stopncii`` (JSON)
    StopNCII.org's hash API as its FetchHashes call returns records:
    ``{"count", "hashRecords": [{"signalType": "ImagePDQ"|"VideoMD5", "hashValue",
    "hashStatus", "caseNumbers", "lastModtimestamp", "CSPFeedbacks"?}]}`` (source:
    facebook/ThreatExchange python-threatexchange/threatexchange/exchanges/clients/
    stopncii/api.py, StopNCIIHashRecord and FetchHashesResponse, and its
    tests/test_api.py samples; exchanges/impl/stop_ncii_api.py maps ImagePDQ to PDQ
    and VideoMD5 to the file MD5). Records withdrawn or deleted on StopNCII, and
    other signal types (VideoTMK, Text, URL), are rejected. StopNCII's case numbers
    are not read and never written.
``threatexchange`` (JSON)
    ThreatExchange threat descriptors, as the Graph API returns them (``{"data":
    [...]}``) or a list of them: ``{"raw_indicator", "type": "HASH_PDQ"|"HASH_MD5"|
    "VIDEO_HASH_MD5", "tags"?, "description"?}`` (source: facebook/ThreatExchange
    python-threatexchange/threatexchange/exchanges/clients/fb_threatexchange/
    descriptor.py, ThreatDescriptor; signal_type/md5.py's INDICATOR_TYPE). The
    description, else the tags, become the label.
``text``
    ``TYPE HEX [label words...]`` lines: the threatexchange CLI's and HMA's signal
    files (``pdq <hex>``, ``video_md5 <hex>``; source: facebook/ThreatExchange
    python-threatexchange/threatexchange/exchanges/impl/file_api.py, which reads and
    appends ``f"{signal_type_name} {signal}"`` lines) and this tool's own
    ``ALGORITHM HEX label`` lines (``md5`` and ``video_md5`` both name the file MD5).
``csv``
    CSV with a header row naming ``algorithm`` and ``hash`` (and optionally
    ``quality`` and ``label``) in any order and any case; other columns are ignored.
``pdq``
    Bare 64-digit hex lines, read as PDQ, optionally followed by ``,QUALITY`` (or
    `` QUALITY``) and ``,FILE NAME`` as ThreatExchange's ``pdq-photo-hasher`` prints
    them (``hash,quality,filename``: facebook/ThreatExchange pdq/cpp); the file name
    becomes the label. A bare 32-digit hex line is an MD5 (StopNCII and ThreatExchange
    MD5 lists) when ``md5`` is a known algorithm.

In the line formats blank lines and lines starting with ``#`` are skipped, a UTF-8
BOM and CRLF line ends are accepted, and a line in another format than the first
hash line is rejected.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.video import VPDQ, Frame, frames_digest, frames_from_json, frames_to_json

__all__ = [
    "EXPORT_FORMATS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_LABEL_CHARS",
    "MAX_LINE_CHARS",
    "ExportEntry",
    "HashListError",
    "ParsedHash",
    "ParsedList",
    "Rejection",
    "canonical_bytes",
    "export_json",
    "export_list",
    "normalise_hex",
    "parse_hash_list",
    "read_hash_list",
]

FORMAT_NAME = "ncii-monitor-hashlist"
FORMAT_VERSION = 2
#: The versions of our own JSON that are read.
READ_VERSIONS = (1, 2)

#: No genuine hash line comes near this; a longer one means the file is not a hash list.
MAX_LINE_CHARS = 10_000
#: Labels are short case notes ("photo 3"), not documents.
MAX_LABEL_CHARS = 200
#: What a hash without an algorithm name is, in StopNCII/ThreatExchange exports.
BARE_ALGORITHM = "pdq"
#: The exact file hash (StopNCII's and ThreatExchange's MD5 of files and videos).
MD5 = "md5"
#: PDQ's own quality scale.
MAX_QUALITY = 100
#: Hashing rules versions are small counters; a larger one is a corrupt file.
MAX_RULES = 1000

#: The formats ``export_list`` writes (and ``read_hash_list`` reads).
EXPORT_FORMATS = ("ncii-monitor", "stopncii", "threatexchange", "text", "csv", "pdq")

#: Other names of our algorithms: threatexchange signal type names, StopNCII signal
#: types and ThreatExchange indicator types.
_TEXT_NAMES = {"video_md5": MD5}
_STOPNCII_TYPES = {"ImagePDQ": "pdq", "VideoMD5": MD5}
_STOPNCII_NAMES = {"pdq": "ImagePDQ", MD5: "VideoMD5"}
_TE_TYPES = {
    "HASH_PDQ": "pdq",
    "HASH_MD5": MD5,
    "VIDEO_HASH_MD5": MD5,
    "HASH_VIDEO_VPDQ": VPDQ,
}
_TE_NAMES = {"pdq": "HASH_PDQ", MD5: "HASH_MD5", VPDQ: "HASH_VIDEO_VPDQ"}
#: A vPDQ line ("vpdq" then the frames as JSON) is as long as its video: up to this.
MAX_VPDQ_LINE_CHARS = 4_000_000
_THREATEXCHANGE_NAMES = {"pdq": "pdq", MD5: "video_md5"}
_STOPNCII_GONE = ("Withdrawn", "Deleted")

# Spelled out because int(x, 16) also accepts "_" and non-ASCII digits such as "٣".
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_QUALITY_RE = re.compile(r"[0-9]{1,3}")
# A bare hash line is "HASH", "HASH,QUALITY" or "HASH QUALITY" (and ",FILE NAME").
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
    #: A video's sampled frames (algorithm "vpdq"; ``value`` is their digest).
    frames: tuple[Frame, ...] | None = None


@dataclass(frozen=True)
class Rejection:
    """An entry of the file that was not read: where (``where`` ``number``) and why."""

    number: int
    reason: str
    where: str = "line"

    def __str__(self) -> str:
        return f"{self.where} {self.number}: {self.reason}"


@dataclass
class ParsedList:
    """What ``read_hash_list`` read: the format found, the entries, the rejections."""

    format: str
    hashes: list[ParsedHash] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    #: Our JSON: the whole document (its signature is checked over it), else None.
    document: dict[str, Any] | None = None
    #: Our JSON version 2: where it was made and with which hashing rules.
    origin: str | None = None
    hashing: dict[str, int] | None = None


class _Invalid(Exception):
    """Why one line or entry is bad."""


class _Collector:
    """Gathers the entries read and the rejections, in file order."""

    def __init__(self, result: ParsedList, where: str = "line") -> None:
        self.result = result
        self.where = where

    def add(self, number: int, read: Any, *args: Any) -> None:
        try:
            self.result.hashes.append(read(number, *args))
        except _Invalid as exc:
            self.result.rejected.append(Rejection(number, str(exc), self.where))


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
    name = _TEXT_NAMES.get(name, name)
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
    """Parse a hash-list file in any accepted format (see the module docstring), all or
    nothing: the first bad entry raises HashListError naming its line (JSON: entry).

    ``algorithms`` maps each known algorithm name to its bit length, e.g.
    ``{"pdq": 256, "phash": 64}``. ``text`` may be the raw bytes of the file,
    so that non-UTF-8 content is reported as such. Hashes come back in file
    order, duplicates included.
    """
    parsed = read_hash_list(text, algorithms)
    if parsed.rejected:
        first = parsed.rejected[0]
        raise HashListError(first.reason, first.number, where=first.where)
    return parsed.hashes


def read_hash_list(text: str | bytes, algorithms: Mapping[str, int]) -> ParsedList:
    """Read a hash-list file, keeping what is good and rejecting each bad entry.

    Raises HashListError when the file as a whole is not a hash list, or holds no
    entry at all; otherwise returns the format found, the entries read (file order,
    duplicates included) and the entries rejected with their reasons.
    """
    known = _known_algorithms(algorithms)
    body = _as_text(text)
    if _looks_like_json(body):
        result = _parse_json(body, known)
    else:
        result = _parse_lines(body, known)
    if not result.hashes and not result.rejected:
        raise HashListError("no hashes found")
    return result


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


def _parse_json(body: str, known: Mapping[str, int]) -> ParsedList:
    try:
        document = json.loads(body)
    except json.JSONDecodeError as exc:
        raise HashListError(f"invalid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise HashListError("invalid JSON: nested too deeply") from None
    kind, entries = _json_kind(document)
    result = ParsedList(kind)
    collect = _Collector(result, "entry")
    if kind == "stopncii":
        for index, entry in enumerate(entries, start=1):
            collect.add(index, _stopncii_entry, entry, known)
        return result
    if kind == "threatexchange":
        for index, entry in enumerate(entries, start=1):
            collect.add(index, _te_entry, entry, known)
        return result
    hashing: dict[str, int] = {}
    if isinstance(document, dict):
        result.document = document
        hashing = _hashing(document)
        origin = document.get("origin")
        if origin is not None and not isinstance(origin, str):
            raise HashListError("'origin' must be a string")
        result.origin = origin[:MAX_LABEL_CHARS] if origin else None
        result.hashing = hashing or None
    for index, entry in enumerate(entries, start=1):
        collect.add(index, _json_entry, entry, known, hashing)
    return result


def _json_kind(document: Any) -> tuple[str, list[Any]]:
    """The format of a JSON hash list, and its list of entries."""
    if isinstance(document, list):
        first = next((e for e in document if isinstance(e, dict)), {})
        if "raw_indicator" in first:
            return "threatexchange", document
        if "hashValue" in first:
            return "stopncii", document
        return "ncii-monitor", document
    if not isinstance(document, dict):
        raise HashListError(
            "JSON hash list must be an object with a 'hashes' list or a list of hash objects"
        )
    if "hashRecords" in document:
        records = document["hashRecords"]
        if not isinstance(records, list):
            raise HashListError("StopNCII JSON: 'hashRecords' must be a list")
        return "stopncii", records
    data = document.get("data")
    if isinstance(data, list) and any(isinstance(e, dict) and "raw_indicator" in e for e in data):
        return "threatexchange", data
    kind = document.get("format")
    if kind is not None and kind != FORMAT_NAME:
        raise HashListError(f"JSON is not an {FORMAT_NAME} file (format {_show(str(kind))})")
    version = document.get("version")
    if version is not None and (type(version) is not int or version not in READ_VERSIONS):
        raise HashListError(
            f"unsupported {FORMAT_NAME} version {_show(str(version))};"
            f" this program reads versions {', '.join(map(str, READ_VERSIONS))}"
        )
    hashes = document.get("hashes")
    if not isinstance(hashes, list):
        raise HashListError("JSON object has no 'hashes' list")
    return "ncii-monitor", hashes


def _hashing(document: dict[str, Any]) -> dict[str, int]:
    hashing = document.get("hashing")
    if hashing is None:
        return {}
    if not isinstance(hashing, dict) or not all(
        isinstance(k, str) and type(v) is int and 0 <= v <= MAX_RULES for k, v in hashing.items()
    ):
        raise HashListError(
            f"'hashing' must map algorithm names to whole numbers from 0 to {MAX_RULES}"
        )
    return {k.lower(): v for k, v in hashing.items()}


def _json_entry(
    index: int, entry: Any, known: Mapping[str, int], hashing: Mapping[str, int]
) -> ParsedHash:
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
    if rules_raw is None:
        rules_raw = hashing.get(algorithm)
    value = _hash(algorithm, hash_raw, known)
    frames = _video_frames(algorithm, value, entry.get("frames"))
    return ParsedHash(
        algorithm,
        value,
        _label(label_raw),
        index,
        quality_raw,
        rules_raw,
        view_raw,
        group_raw,
        frames,
    )


def _video_frames(algorithm: str, value: str, raw: Any) -> tuple[Frame, ...] | None:
    """A vpdq entry's frames, checked against its hash (their digest); None otherwise."""
    if algorithm != VPDQ:
        if raw is not None:
            raise _Invalid("only a vpdq entry has 'frames'")
        return None
    try:
        frames = frames_from_json(raw)
    except ValueError as exc:
        raise _Invalid(f"'frames': {exc}") from None
    if not frames:
        raise _Invalid("a vpdq entry needs its frames")
    if frames_digest(frames) != value:
        raise _Invalid("the vpdq hash is not the digest of its frames (changed or damaged)")
    return frames


def _te_vpdq(raw: str) -> tuple[Frame, ...]:
    """threatexchange's vPDQ signal: a JSON list of "PDQ hex,quality,seconds" strings
    (python-threatexchange extensions/vpdq/vpdq_util.py, vpdq_to_json)."""
    try:
        items = json.loads(raw)
    except ValueError:
        raise _Invalid("a vpdq signal is a JSON list of 'pdq,quality,seconds' strings") from None
    if not isinstance(items, list) or not items:
        raise _Invalid("a vpdq signal is a JSON list of 'pdq,quality,seconds' strings")
    rows: list[list[Any]] = []
    for number, item in enumerate(items, 1):
        parts = item.split(",") if isinstance(item, str) else []
        if len(parts) != 3 or not _QUALITY_RE.fullmatch(parts[1].strip()):
            raise _Invalid(f"vpdq frame {number}: not 'pdq,quality,seconds'")
        try:
            seconds = float(parts[2])
        except ValueError:
            raise _Invalid(f"vpdq frame {number}: bad seconds {_show(parts[2])}") from None
        rows.append([seconds, parts[0].strip().lower(), int(parts[1])])
    try:
        return frames_from_json(rows)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _te_vpdq_text(frames: tuple[Frame, ...]) -> str:
    return json.dumps([f"{f.pdq},{f.quality},{f.at:.3f}" for f in frames])


def _stopncii_entry(index: int, record: Any, known: Mapping[str, int]) -> ParsedHash:
    if not isinstance(record, dict):
        raise _Invalid("expected a StopNCII hash record (an object)")
    signal = record.get("signalType")
    value = record.get("hashValue")
    if not isinstance(signal, str):
        raise _Invalid("'signalType' must be a string")
    if not isinstance(value, str):
        raise _Invalid("'hashValue' must be a string")
    algorithm = _STOPNCII_TYPES.get(signal)
    if algorithm is None or algorithm not in known:
        raise _Invalid(f"StopNCII signal type {_show(signal)} is not a hash this tool uses")
    status = record.get("hashStatus")
    if status in _STOPNCII_GONE:
        raise _Invalid(f"the hash is {str(status).lower()} on StopNCII")
    return ParsedHash(algorithm, _hash(algorithm, value.strip(), known), None, index)


def _te_entry(index: int, descriptor: Any, known: Mapping[str, int]) -> ParsedHash:
    if not isinstance(descriptor, dict):
        raise _Invalid("expected a ThreatExchange descriptor (an object)")
    indicator = descriptor.get("raw_indicator", descriptor.get("indicator"))
    kind = descriptor.get("type")
    if not isinstance(indicator, str):
        raise _Invalid("'raw_indicator' must be a string")
    if not isinstance(kind, str):
        raise _Invalid("'type' must be a string")
    algorithm = _TE_TYPES.get(kind)
    if algorithm is None or algorithm not in known:
        raise _Invalid(f"ThreatExchange type {_show(kind)} is not a hash this tool uses")
    label_raw = descriptor.get("description")
    if not isinstance(label_raw, str) or not label_raw.strip():
        tags = descriptor.get("tags")
        if isinstance(tags, dict):  # the Graph API's {"data": [{"text": ...}]}
            tags = [t.get("text") for t in tags.get("data", []) if isinstance(t, dict)]
        label_raw = (
            " ".join(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else None
        )
    if algorithm == VPDQ:
        frames = _te_vpdq(indicator)
        return ParsedHash(VPDQ, frames_digest(frames), _label(label_raw), index, frames=frames)
    return ParsedHash(
        algorithm, _hash(algorithm, indicator.strip(), known), _label(label_raw), index
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
        limit = MAX_VPDQ_LINE_CHARS if line[:5].lower() == "vpdq " else MAX_LINE_CHARS
        if len(line) > limit:
            raise HashListError(
                f"line is {len(line)} characters long; the limit is {limit}", number
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
    if _name(first_token) not in known and _is_hex(first_token):
        return _BARE
    return _ALGORITHM


def _name(token: str) -> str:
    name = token.lower()
    return _TEXT_NAMES.get(name, name)


def _parse_lines(body: str, known: Mapping[str, int]) -> ParsedList:
    lines = _significant_lines(body)
    first = next(lines, None)
    if first is None:
        return ParsedList("text")
    number, line = first
    try:
        kind = _classify(line, known)
    except _Invalid as exc:
        raise HashListError(str(exc), number) from None
    if kind == _CSV_HEADER:
        return _parse_csv(number, line, lines, known)
    if kind == _CSV_ROW:
        raise HashListError(
            "comma-separated lines need a header row 'algorithm,hash[,label]' first", number
        )
    result = ParsedList("pdq" if kind == _BARE else "text")
    collect = _Collector(result)
    parse_line = _parse_bare_line if kind == _BARE else _parse_algorithm_line
    for number, line in _prepend(first, lines):
        collect.add(number, parse_line, line, known)
    return result


def _prepend(first: tuple[int, str], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    yield from rest


def _parse_algorithm_line(number: int, line: str, known: Mapping[str, int]) -> ParsedHash:
    kind = _classify(line, known)
    if kind != _ALGORITHM:
        raise _Invalid(f"mixed formats: {kind} in a list of 'ALGORITHM HASH [label]' lines")
    parts = line.split(None, 2)
    algorithm = _algorithm(parts[0], known)
    if algorithm == VPDQ:  # "vpdq" and the frames as JSON (threatexchange's signal files)
        frames = _te_vpdq(line.split(None, 1)[1] if len(parts) > 1 else "")
        return ParsedHash(VPDQ, frames_digest(frames), None, number, frames=frames)
    value = _hash(algorithm, parts[1] if len(parts) > 1 else "", known)
    return ParsedHash(algorithm, value, _label(parts[2] if len(parts) > 2 else None), number)


def _parse_bare_line(number: int, line: str, known: Mapping[str, int]) -> ParsedHash:
    kind = _classify(line, known)
    first_word = _BARE_SPLIT_RE.split(line, maxsplit=1)[0]
    if kind == _CSV_HEADER or _name(first_word) in known:
        raise _Invalid(f"mixed formats: {kind} in a list of bare PDQ hashes")
    parts = _BARE_SPLIT_RE.split(line, maxsplit=2)
    if len(parts[0]) == 32 and MD5 in known and len(parts) == 1:
        return ParsedHash(MD5, _hash(MD5, parts[0], known), None, number)
    if BARE_ALGORITHM not in known:
        raise _Invalid(
            "a hash without an algorithm name is read as PDQ,"
            f" but {BARE_ALGORITHM!r} is not a known algorithm"
        )
    value = _hash(BARE_ALGORITHM, parts[0], known)
    quality = _quality(parts[1]) if len(parts) >= 2 else None
    label = _label(parts[2]) if len(parts) == 3 else None
    return ParsedHash(BARE_ALGORITHM, value, label, number, quality)


# ----------------------------------------------------------------- CSV


_CSV_COLUMNS = ("algorithm", "hash", "label", "quality")


def _csv_columns(number: int, header: str) -> tuple[dict[str, int], int]:
    """Index of each known column, and how many fields every row must have."""
    try:
        names = [field.lower() for field in _csv_fields(header)]
    except _Invalid as exc:
        raise HashListError(str(exc), number) from None
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
) -> ParsedList:
    columns, width = _csv_columns(header_number, header)
    result = ParsedList("csv")
    collect = _Collector(result)
    for number, line in lines:
        collect.add(number, _csv_row, line, columns, width, known)
    return result


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
    quality_raw = fields[columns["quality"]] if "quality" in columns else ""
    quality = _quality(quality_raw) if quality_raw else None
    return ParsedHash(algorithm, value, label, number, quality)


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class ExportEntry:
    """One hash to write: algorithm, lower-case hex and what goes with it."""

    algorithm: str
    value: str
    label: str | None = None
    quality: int | None = None
    rules_version: int | None = None
    view: str | None = None
    group: Any = None  # any hashable: entries of one image share it
    frames: tuple[Frame, ...] | None = None  # a video's (algorithm "vpdq")


@dataclass(frozen=True)
class Exported:
    text: str
    written: int
    #: Entries the format cannot hold (another algorithm, a view other than the whole
    #: image): not written.
    skipped: int
    media_type: str
    suffix: str


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the document without its ``signature`` key, keys
    sorted, no spaces, UTF-8 (a JavaScript page makes the same bytes with JSON.stringify
    and keys sorted recursively)."""
    unsigned = {key: value for key, value in document.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def export_json(
    entries: Iterable[tuple[Any, ...]],
    *,
    now: datetime | None = None,
    origin: str | None = None,
    hashing: Mapping[str, int] | None = None,
) -> str:
    """Write ``(algorithm, hex, label[, rules_version[, view[, group[, quality]]]])``
    entries as an ncii-monitor JSON hash list (unsigned; ``monitor.exchange`` signs).

    ``rules_version`` (the version of the hashing rules that made the hash) is
    written as the entry's ``"rules_version"`` when given and not None; ``view`` when given and not "original";
    ``group`` (any hashable: entries of one image share it) as a number local to the
    file; ``quality`` when given.

    Only hashes and their labels are written: no case reference, names or
    contact details, so a hash list can be shared without identifying anyone.
    Everything written here is accepted by ``parse_hash_list``; an entry that
    would not be (non-hex hash, overlong label...) raises ValueError instead.
    ``now`` (timezone-aware; default: the current time) is the export time.
    """
    document = build_document(
        (_entry_of(*entry) for entry in entries), now=now, origin=origin, hashing=hashing
    )
    return dump_document(document)


def _entry_of(
    algorithm: str,
    value: str,
    label: str | None,
    rules_version: int | None = None,
    view: str | None = None,
    group: Any = None,
    quality: int | None = None,
) -> ExportEntry:
    return ExportEntry(algorithm, value, label, quality, rules_version, view, group)


def build_document(
    entries: Iterable[ExportEntry],
    *,
    now: datetime | None = None,
    origin: str | None = None,
    hashing: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Our JSON hash list as a document (to sign, then ``dump_document``)."""
    groups: dict[Any, int] = {}
    rules = dict(hashing or {})
    hashes = [_export_entry(index, groups, rules, e) for index, e in enumerate(entries, start=1)]
    document: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    if origin is not None:
        document["origin"] = origin
    document["exported_at"] = _stamp(now)
    if hashing is not None:
        document["hashing"] = rules
    document["hashes"] = hashes
    return document


def dump_document(document: Mapping[str, Any]) -> str:
    # Indented, so that no line of a large export is one enormous line.
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _stamp(now: datetime | None) -> str:
    moment = datetime.now(UTC) if now is None else now
    if moment.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _export_entry(
    index: int, groups: dict[Any, int], hashing: Mapping[str, int], e: ExportEntry
) -> dict[str, str | int | None]:
    name, value, label = _checked(index, e)
    rules_version = e.rules_version
    try:
        if rules_version is not None and (
            type(rules_version) is not int or not 0 <= rules_version <= MAX_RULES
        ):
            raise _Invalid(f"bad rules_version {rules_version!r}")
        if e.view is not None and not _VIEW.fullmatch(e.view):
            raise _Invalid(f"bad view {_show(e.view)}")
    except _Invalid as exc:
        raise ValueError(f"entry {index}: {exc}") from None
    entry: dict[str, str | int | None] = {"algorithm": name, "hash": value, "label": label}
    if e.quality is not None:
        entry["quality"] = e.quality
    if rules_version is not None:
        entry["rules_version"] = rules_version
    if e.view is not None and e.view != "original":
        entry["view"] = e.view
    if e.group is not None:
        entry["group"] = groups.setdefault(e.group, len(groups))
    if e.frames is not None:
        entry["frames"] = frames_to_json(e.frames)  # type: ignore[assignment]
    return entry


def _checked(index: int, e: ExportEntry) -> tuple[str, str, str | None]:
    try:
        name = e.algorithm.strip().lower()
        if not name or any(char.isspace() for char in name):
            raise _Invalid(f"bad algorithm name {_show(e.algorithm)}")
        if not _is_hex(e.value):
            raise _Invalid(f"hash is not hex: {_show(e.value)}")
        if e.quality is not None and (
            type(e.quality) is not int or not 0 <= e.quality <= MAX_QUALITY
        ):
            raise _Invalid(f"bad quality {e.quality!r}")
        return name, e.value.lower(), _label(e.label)
    except _Invalid as exc:
        raise ValueError(f"entry {index}: {exc}") from None


def export_list(
    entries: Iterable[ExportEntry],
    format: str,
    *,
    now: datetime | None = None,
    origin: str | None = None,
    hashing: Mapping[str, int] | None = None,
) -> Exported:
    """Write entries in one of ``EXPORT_FORMATS``. Our JSON (unsigned here) holds every
    entry; the others hold what they can (the image's own view; PDQ and MD5 only,
    except CSV and text, which hold any algorithm; the bare ``pdq`` format, PDQ only)
    and count the rest as skipped. Labels are written where the format has room for
    them and the entries carry them (the caller leaves them out by default)."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    items = list(entries)
    if format == "ncii-monitor":
        document = build_document(items, now=now, origin=origin, hashing=hashing)
        return Exported(dump_document(document), len(items), 0, "application/json", "json")
    kept: list[tuple[str, str, ExportEntry]] = []
    skipped = 0
    allowed: Mapping[str, str] | None = {
        "stopncii": _STOPNCII_NAMES,
        "threatexchange": _TE_NAMES,
        "pdq": {"pdq": "pdq"},
        "text": None,
        "csv": None,
    }[format]
    # A video's frames go where the format has room for them: ThreatExchange's
    # descriptors and signal lines (as threatexchange's vPDQ signal); not CSV's.
    with_frames = ("threatexchange", "text")
    for index, e in enumerate(items, start=1):
        name, value, _ = _checked(index, e)
        if (
            (e.view not in (None, "original"))
            or (allowed is not None and name not in allowed)
            or (name == VPDQ and (format not in with_frames or not e.frames))
        ):
            skipped += 1
            continue
        kept.append((name, value, e))
    writer = _WRITERS[format]
    text, media_type, suffix = writer(kept, _stamp(now))
    return Exported(text, len(kept), skipped, media_type, suffix)


def _write_stopncii(kept: list[tuple[str, str, ExportEntry]], stamp: str) -> tuple[str, str, str]:
    moment = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    records = [
        {
            "lastModtimestamp": moment,
            "signalType": _STOPNCII_NAMES[name],
            "hashValue": value,
            "hashStatus": "Active",
            "caseNumbers": {},
        }
        for name, value, _ in kept
    ]
    document = {"count": len(records), "hashRecords": records}
    return json.dumps(document, indent=2) + "\n", "application/json", "json"


def _write_threatexchange(
    kept: list[tuple[str, str, ExportEntry]], stamp: str
) -> tuple[str, str, str]:
    data = []
    for name, value, e in kept:
        indicator = _te_vpdq_text(e.frames) if name == VPDQ and e.frames else value
        descriptor: dict[str, Any] = {
            "raw_indicator": indicator,
            "type": _TE_NAMES[name],
            "tags": [],
        }
        if e.label:
            descriptor["description"] = e.label
        data.append(descriptor)
    return (
        json.dumps({"data": data}, indent=2, ensure_ascii=False) + "\n",
        "application/json",
        "json",
    )


def _write_text(kept: list[tuple[str, str, ExportEntry]], stamp: str) -> tuple[str, str, str]:
    # threatexchange's signal files are "TYPE SIGNAL" and nothing more: no labels.
    lines = [
        f"{VPDQ} {_te_vpdq_text(e.frames)}\n"
        if name == VPDQ and e.frames
        else f"{_THREATEXCHANGE_NAMES.get(name, name)} {value}\n"
        for name, value, e in kept
    ]
    return "".join(lines), "text/plain; charset=utf-8", "txt"


def _write_csv(kept: list[tuple[str, str, ExportEntry]], stamp: str) -> tuple[str, str, str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["algorithm", "hash", "quality", "label"])
    for name, value, e in kept:
        writer.writerow([name, value, "" if e.quality is None else e.quality, e.label or ""])
    return out.getvalue(), "text/csv; charset=utf-8", "csv"


def _write_pdq(kept: list[tuple[str, str, ExportEntry]], stamp: str) -> tuple[str, str, str]:
    lines = [
        f"{value},{e.quality}\n" if e.quality is not None else f"{value}\n" for _, value, e in kept
    ]
    return "".join(lines), "text/plain; charset=utf-8", "txt"


_WRITERS = {
    "stopncii": _write_stopncii,
    "threatexchange": _write_threatexchange,
    "text": _write_text,
    "csv": _write_csv,
    "pdq": _write_pdq,
}

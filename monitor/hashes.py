"""A case's hash list: hashing local files, importing and exporting lists.

Only hashes enter the system: image files are read, hashed in memory and let go.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from monitor import audit
from monitor.app import App
from monitor.cases import require_case
from monitor.db.models import HashEntry, Hit, NoticeHit
from monitor.errors import InvalidInput
from monitor.hashing import (
    ALGORITHMS,
    FOREIGN_RULES,
    ImageRejected,
    current_versions,
    hash_image_bytes,
)
from monitor.hashing.base import HashValue
from monitor.hashing.pipeline import ORIGINAL
from monitor.hashing.registry import bit_lengths
from monitor.hashing.rule import DecisionRule, QueryHash
from monitor.hashlists import (
    EXPORT_FORMATS,
    MD5,
    Exported,
    ExportEntry,
    HashListError,
    ParsedHash,
    Rejection,
    build_document,
    dump_document,
    export_list,
    read_hash_list,
)
from monitor.video import (
    REFERENCE_FPS,
    VPDQ,
    VPDQ_VERSION,
    Frame,
    VideoHashes,
    VideoRejected,
    frames_digest,
    frames_from_json,
    frames_to_json,
    looks_like_video,
)
from monitor.video.hashing import hash_video
from monitor.video.matching import MIN_QUALITY as VIDEO_MIN_QUALITY

#: Exact file hashes (StopNCII and ThreatExchange send MD5s of files and videos):
#: a crawled video with that MD5 is a hit; images are matched by their perceptual hashes
#: (``ALGORITHMS``) only. Name -> (bits, version).
EXACT_ALGORITHMS = {MD5: (128, 1)}
#: The view name of a reference video's mirror image's frames.
MIRRORED = "mirrored"
#: A video's frame sequence (``monitor.video``): its value is the sequence's digest.
VIDEO_ALGORITHMS = {VPDQ: (256, VPDQ_VERSION)}
#: What the import report says of MD5 entries.
MD5_NOT_MATCHED = (
    "matched against crawled videos byte for byte (images are compared by their"
    " perceptual hashes, not by MD5)"
)


def known_bits() -> dict[str, int]:
    """Every algorithm a hash list may hold: the perceptual ones and the exact file hashes."""
    return bit_lengths() | {
        name: bits for name, (bits, _) in (EXACT_ALGORITHMS | VIDEO_ALGORITHMS).items()
    }


def rules_versions() -> dict[str, int]:
    return current_versions() | {
        name: v for name, (_, v) in (EXACT_ALGORITHMS | VIDEO_ALGORITHMS).items()
    }


@dataclass(frozen=True)
class NewHash:
    algorithm: str
    value: str
    label: str | None
    #: The hashing rules that made it: None for the current version of the algorithm
    #: (hashes computed here), FOREIGN_RULES (0) for lists that do not say.
    rules_version: int | None = None
    #: Which view of the reference image (see monitor.hashing.rule), and the random
    #: token shared by the hashes of one image (None: not grouped).
    view: str = ORIGINAL
    group_key: str | None = None
    #: sha256 of the file it was made from (exact copies), None when not known.
    sha256: str | None = None
    #: PDQ's quality, where known.
    quality: int | None = None
    #: A video's sampled frames (algorithm "vpdq").
    frames: tuple[Frame, ...] | None = None


@dataclass
class AddResult:
    added: int = 0
    duplicates: int = 0
    files: int = 0
    videos: int = 0  # of the files, videos
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Files named, and files inside folders named (recursively, in a stable order)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InvalidInput(f"no such file or folder: {missing[0]}")
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def hash_files(app: App, case_id: int, paths: Sequence[Path], *, labels: bool = True) -> AddResult:
    """Hash image files locally and store their hashes (never the images) in the case.

    Each image is stored as the decision rule's reference views: its plain hashes
    and the extra views the rule enrols (crops...), grouped by a random token.
    """
    result = AddResult()
    new: list[NewHash] = []
    rule = DecisionRule()
    for path in iter_files(paths):
        if _is_video(path):
            video = _hash_video_file(app, path, result)
            if video is not None:
                result.files += 1
                result.videos += 1
                new.extend(video_entries(video, path.name if labels else None))
            continue
        hashed = _hash_file(app, path, result, rule)
        if hashed is not None:
            views, sha256, md5 = hashed
            result.files += 1
            group = secrets.token_hex(16)
            label = path.name if labels else None
            new.extend(
                NewHash(
                    v.value.algorithm,
                    v.value.value,
                    label,
                    view=v.view,
                    group_key=group,
                    sha256=sha256,
                    quality=v.value.quality,
                )
                for v in views
            )
            # The file's MD5, for exchange with StopNCII and ThreatExchange.
            new.append(NewHash(MD5, md5, label, group_key=group, sha256=sha256))
    added, duplicates = store_hashes(app, case_id, new, source="file")
    result.added, result.duplicates = added, duplicates
    return result


def _is_video(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return looks_like_video(file.read(256))
    except OSError:
        return False  # said by _hash_file


#: A reference video is read whole into memory to be hashed: up to this size.
MAX_REFERENCE_VIDEO_BYTES = 1024 * 1024 * 1024
#: Frames hashed of a reference video at most: four hours at REFERENCE_FPS.
MAX_REFERENCE_FRAMES = 4 * 3600 * int(REFERENCE_FPS)


def _read(path: Path, limit: int, result: AddResult, too_large: str) -> bytes | None:
    """The file's bytes, or None with the reason in ``result.skipped``."""
    try:
        if path.stat().st_size > limit:
            result.skipped.append((str(path), f"{too_large} {limit} bytes"))
            return None
        return path.read_bytes()
    except OSError as exc:
        result.skipped.append((str(path), f"cannot read: {exc.strerror or exc}"))
        return None


def _hash_video_file(app: App, path: Path, result: AddResult) -> VideoHashes | None:
    """Her video's frames, hashed in memory (and those of its mirror image, so that a
    flipped copy is found too), with its digests. Never stored: only its hashes."""
    data = _read(path, MAX_REFERENCE_VIDEO_BYTES, result, "video larger than")
    if data is None:
        return None
    try:
        video = hash_video(
            data,
            max_pixels=app.config.max_image_pixels,
            fps=REFERENCE_FPS,
            max_frames=MAX_REFERENCE_FRAMES,
            time_budget=None,
            mirrored=True,
        )
    except VideoRejected as exc:
        result.skipped.append((str(path), f"video not hashed: {exc}"))
        return None
    if not any(f.quality >= VIDEO_MIN_QUALITY for f in video.frames):
        result.skipped.append((str(path), "no frame of the video has detail enough to match"))
        return None
    return video


def video_entries(video: VideoHashes, label: str | None) -> list[NewHash]:
    """A reference video's hash entries, one group: its frames, its mirror image's frames
    and its file's MD5 (for exchange, and exact copies)."""
    group = secrets.token_hex(16)
    entries = [
        NewHash(
            VPDQ,
            frames_digest(frames),
            label,
            view=view,
            group_key=group,
            sha256=video.sha256,
            frames=frames,
        )
        for view, frames in ((ORIGINAL, video.frames), (MIRRORED, video.mirrored))
        if frames
    ]
    entries.append(NewHash(MD5, video.md5, label, group_key=group, sha256=video.sha256))
    return entries


def _hash_file(
    app: App, path: Path, result: AddResult, rule: DecisionRule
) -> tuple[list[QueryHash], str, str] | None:
    data = _read(path, app.config.max_image_bytes, result, "larger than")
    if data is None:
        return None
    try:
        hashes = hash_image_bytes(
            data, max_pixels=app.config.max_image_pixels, views=rule.reference_views
        )
    except ImageRejected as exc:
        result.skipped.append((str(path), _REASONS.get(exc.kind, str(exc))))
        return None
    for h in hashes.hashes:
        if not ALGORITHMS[h.algorithm].usable(h):
            result.skipped.append(
                (str(path), f"{h.algorithm} hash too unreliable (quality {h.quality})")
            )
    usable = [v for v in hashes.views if ALGORITHMS[v.value.algorithm].usable(v.value)]
    return usable, hashes.sha256, hashlib.md5(data, usedforsecurity=False).hexdigest()


_REASONS = {
    "not_image": "not an image",
    "corrupt": "corrupt or truncated image",
    "too_many_pixels": "too many pixels",
    "empty": "empty file",
}


#: The largest hash-list file taken (a PDQ line is some 70 bytes: about 150,000 hashes).
MAX_LIST_BYTES = 10 * 1024 * 1024


class BadHashList(InvalidInput):
    """A hash-list file that cannot be imported; ``line`` is the 1-based line (JSON: the
    entry) of the first problem, None when the problem is the file as a whole."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class ImportReport:
    """What an import did: the format found, the signature, what was imported, what was
    already in the case, and each entry rejected with its line (JSON: entry) and why."""

    name: str
    format: str
    signature: str  # SignatureCheck.describe()
    signature_status: str  # SignatureCheck.status
    added: int = 0
    duplicates: int = 0  # already in the case
    rejected: list[Rejection] = field(default_factory=list)
    #: Entries kept but not matched (MD5s), with why.
    notes: list[str] = field(default_factory=list)
    origin: str | None = None

    def lines(self, limit: int = 20) -> list[str]:
        """The report as the CLI prints it (at most ``limit`` rejections shown)."""
        out = [
            f"{self.name}: {self.format} hash list, {self.signature}"
            + (f", origin {self.origin!r}" if self.origin else ""),
            f"imported {self.added} hashes ({self.duplicates} already in the case),"
            f" rejected {len(self.rejected)}" + (":" if self.rejected else ""),
        ]
        out += [f"  {r}" for r in self.rejected[:limit]]
        if len(self.rejected) > limit:
            out.append(f"  ... and {len(self.rejected) - limit} more")
        out += self.notes
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "duplicates": self.duplicates,
            "format": self.format,
            "signature": self.signature_status,
            "rejected": [
                {"where": r.where, "number": r.number, "reason": r.reason} for r in self.rejected
            ],
            "notes": self.notes,
        }


def import_hash_file(
    app: App, case_id: int, path: Path, *, strict: bool = False, trust_once: bool = False
) -> ImportReport:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    return import_hash_bytes(app, case_id, raw, str(path), strict=strict, trust_once=trust_once)


def import_hash_bytes(
    app: App,
    case_id: int,
    raw: bytes,
    name: str,
    *,
    strict: bool = False,
    trust_once: bool = False,
) -> ImportReport:
    """Import a hash list given as the file's bytes (a file read, an upload kept in
    memory). A file that is not a hash list, or whose signature does not verify or is
    not trusted (``trust_once``: a valid signature of an untrusted key is accepted this
    once), is refused whole (BadHashList). Otherwise each bad or unusable entry is
    rejected with its reason and the rest imported; ``strict``: the first rejection
    refuses the whole file, as before. ``name`` is what messages call the file."""
    from monitor import exchange

    if len(raw) > MAX_LIST_BYTES:
        raise BadHashList(f"{name}: larger than {MAX_LIST_BYTES // (1024 * 1024)} MB")
    try:
        parsed = read_hash_list(raw, known_bits())
    except HashListError as exc:
        raise BadHashList(f"{name}: {exc}", exc.line) from exc
    if not parsed.hashes:
        # Not one entry could be read: as good as no hash list at all.
        first, more = parsed.rejected[0], len(parsed.rejected) - 1
        raise BadHashList(
            f"{name}: no hash could be read; {first}" + (f" (and {more} more)" if more else ""),
            first.number,
        )
    check = exchange.SignatureCheck("unsigned")
    if parsed.document is not None:
        try:
            check = exchange.verify_document(app, parsed.document, case_id, trust_once=trust_once)
        except exchange.SignatureRefused as exc:
            raise BadHashList(f"{name}: {exc}") from exc
    report = ImportReport(name, parsed.format, check.describe(), check.status, origin=parsed.origin)
    report.rejected = list(parsed.rejected)
    spot = "entry" if parsed.format in ("ncii-monitor", "stopncii", "threatexchange") else "line"
    kept = _usable(parsed.hashes, report.rejected, spot)
    report.rejected.sort(key=lambda r: r.number)
    if strict and report.rejected:
        first = report.rejected[0]
        raise BadHashList(f"{name}: {first}", first.number)
    # A file's group numbers become fresh random tokens: one per image, per import.
    tokens: dict[int, str] = {}
    new = [
        replace(_new(p), group_key=tokens.setdefault(p.group, secrets.token_hex(16)))
        if p.group is not None
        else _new(p)
        for p in kept
    ]
    md5s = sum(1 for p in kept if p.algorithm == MD5)
    if md5s:
        report.notes.append(f"{md5s} MD5 hashes {MD5_NOT_MATCHED}")
    report.added, report.duplicates = store_hashes(
        app,
        case_id,
        new,
        source="import",
        detail={
            "format": report.format,
            "signature": report.signature_status,
            "key_id": check.key_id if check.status != "case-page" else None,
            "rejected": len(report.rejected),
        },
    )
    return report


def _usable(parsed: list[ParsedHash], rejected: list[Rejection], spot: str) -> list[ParsedHash]:
    """The entries worth storing; the others join ``rejected`` with their reasons."""
    kept = []
    first_seen: dict[tuple[str, str], int] = {}
    for p in parsed:
        key = (p.algorithm, p.value)
        if key in first_seen:
            rejected.append(
                Rejection(p.line, f"duplicate of {spot} {first_seen[key]} in this file", spot)
            )
            continue
        first_seen[key] = p.line
        algorithm = ALGORITHMS.get(p.algorithm)
        if algorithm is not None and not algorithm.usable(
            HashValue(p.algorithm, p.value, p.quality)
        ):
            rejected.append(
                Rejection(
                    p.line,
                    f"{p.algorithm} quality {p.quality} is below {algorithm.min_quality}:"
                    " too unreliable to match",
                    spot,
                )
            )
            continue
        kept.append(p)
    return kept


def _new(parsed: ParsedHash) -> NewHash:
    # Our JSON exports say which rules made each hash; other lists (StopNCII,
    # ThreatExchange, CSV, text) were made elsewhere and are matched against any version.
    version = FOREIGN_RULES if parsed.rules_version is None else parsed.rules_version
    if parsed.algorithm in EXACT_ALGORITHMS:
        version = EXACT_ALGORITHMS[parsed.algorithm][1]
    return NewHash(
        parsed.algorithm,
        parsed.value,
        parsed.label,
        version,
        parsed.view or ORIGINAL,
        quality=parsed.quality,
        frames=parsed.frames,
    )


def store_hashes(
    app: App,
    case_id: int,
    hashes: Iterable[NewHash],
    *,
    source: str,
    detail: dict[str, object] | None = None,
) -> tuple[int, int]:
    """Add hashes to a case in one transaction, skipping ones it already has.

    Each is stored with the version of the hashing rules that made it. A hash the
    case already has, made again by the current rules, is counted as a duplicate and
    its entry moves to the current rules (it is what they make too).
    """
    current = rules_versions()
    with app.db.session() as session:
        require_case(session, case_id, open_for_changes=True)
        seen = _existing(session, case_id)
        added = duplicates = 0
        for h in hashes:
            version = current[h.algorithm] if h.rules_version is None else h.rules_version
            key = (h.algorithm, h.value)
            if key in seen:
                duplicates += 1
                entry_id, stored = seen[key]
                if version == current[h.algorithm] and stored != version and entry_id:
                    session.execute(
                        update(HashEntry)
                        .where(HashEntry.id == entry_id)
                        .values(rules_version=version)
                    )
                    seen[key] = (entry_id, version)
                continue
            seen[key] = (0, version)
            session.add(
                HashEntry(
                    case_id=case_id,
                    algorithm=h.algorithm,
                    value=h.value,
                    label_enc=app.cipher.encrypt_optional(h.label),
                    source=source,
                    rules_version=version,
                    view=h.view,
                    group_key=h.group_key,
                    sha256=h.sha256,
                    quality=h.quality,
                    frames=frames_to_json(h.frames) if h.frames else None,
                )
            )
            added += 1
        audit.record(
            session,
            app.actor,
            "hashes.add",
            "case",
            case_id,
            added=added,
            duplicates=duplicates,
            source=source,
            **(detail or {}),
        )
        return added, duplicates


def _existing(session: Session, case_id: int) -> dict[tuple[str, str], tuple[int, int]]:
    """(algorithm, value) -> (entry id, rules version) of the case's hash entries."""
    rows = session.execute(
        select(HashEntry.algorithm, HashEntry.value, HashEntry.id, HashEntry.rules_version).where(
            HashEntry.case_id == case_id
        )
    )
    return {(algorithm, value): (entry_id, version) for algorithm, value, entry_id, version in rows}


def export_hashes(
    app: App, case_id: int, *, format: str = "ncii-monitor", labels: bool = False
) -> Exported:
    """Export the case's hash list. Only hashes leave: no image data, no case number, no
    personal data, no device metadata, and no labels (they are usually file names)
    unless ``labels``. Our own JSON is signed with this instance's key and names its
    origin (MONITOR_INSTANCE_NAME) and the hashing rules' versions."""
    from monitor import exchange

    if format not in EXPORT_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    with app.db.session() as session:
        require_case(session, case_id)
        rows = session.scalars(
            select(HashEntry).where(HashEntry.case_id == case_id).order_by(HashEntry.id)
        ).all()
        entries = [
            ExportEntry(
                e.algorithm,
                e.value,
                app.cipher.decrypt_optional(e.label_enc) if labels else None,
                e.quality,
                e.rules_version,
                e.view,
                e.group_key,
                frames_from_json(e.frames) if e.frames else None,
            )
            for e in rows
        ]
        audit.record(
            session,
            app.actor,
            "hashes.export",
            "case",
            case_id,
            count=len(entries),
            format=format,
            labels=labels,
        )
    if format != "ncii-monitor":
        return export_list(entries, format)
    document = build_document(entries, origin=app.config.instance_name, hashing=hashing_versions())
    text = dump_document(exchange.sign_document(app, document))
    return Exported(text, len(entries), 0, "application/json", "json")


def hashing_versions() -> dict[str, int]:
    """The versions written as ``hashing`` in our exports: each algorithm's, the rule's."""
    return current_versions() | {"rule": DecisionRule().version}


@dataclass(frozen=True)
class Deleted:
    hashes: int  # plain hashes (as count_hashes counts them)
    entries: int  # with the decision rule's other views of the same images
    hits: int  # hits found with them, deleted too


def delete_hashes(app: App, case_id: int, algorithm: str | None = None) -> Deleted:
    """Delete the case's hashes (every one, or one algorithm's, with all their views) and
    the hits found with them (those hits' review decisions go too). Refused, deleting
    nothing, while a takedown notice covers one of those hits: a notice keeps the hits it
    is about."""
    if algorithm is not None and algorithm not in known_bits():
        raise InvalidInput(f"algorithm must be one of {', '.join(sorted(known_bits()))}")
    with app.db.session() as session:
        require_case(session, case_id)
        where = [HashEntry.case_id == case_id]
        if algorithm is not None:
            where.append(HashEntry.algorithm == algorithm)
        entries = select(HashEntry.id).where(*where)
        hits = select(Hit.id).where(Hit.hash_entry_id.in_(entries))
        noticed = sorted(
            set(session.scalars(select(NoticeHit.notice_id).where(NoticeHit.hit_id.in_(hits))))
        )
        if noticed:
            raise InvalidInput(
                "takedown notices cover hits found with these hashes (notice "
                + ", ".join(map(str, noticed))
                + "): they cannot be deleted"
            )
        plain = int(
            session.scalar(
                select(func.count())
                .select_from(HashEntry)
                .where(*where, HashEntry.view == ORIGINAL)
            )
            or 0
        )
        hit_count = int(session.scalar(select(func.count()).select_from(hits.subquery())) or 0)
        session.execute(
            delete(Hit)
            .where(Hit.hash_entry_id.in_(entries))
            .execution_options(synchronize_session=False)
        )
        removed = session.execute(
            delete(HashEntry).where(*where).execution_options(synchronize_session=False)
        ).rowcount
        audit.record(
            session,
            app.actor,
            "hashes.delete",
            "case",
            case_id,
            algorithm=algorithm,
            hashes=plain,
            entries=removed,
            hits=hit_count,
        )
        return Deleted(plain, int(removed or 0), hit_count)


def count_hashes(app: App, case_id: int) -> dict[str, int]:
    """The case's plain hashes per algorithm (one per image and algorithm); the decision
    rule's other views of the same images are not counted."""
    with app.db.session() as session:
        require_case(session, case_id)
        counts: dict[str, int] = {}
        for (algorithm,) in session.execute(
            select(HashEntry.algorithm).where(
                HashEntry.case_id == case_id, HashEntry.view == ORIGINAL
            )
        ):
            counts[algorithm] = counts.get(algorithm, 0) + 1
        return counts

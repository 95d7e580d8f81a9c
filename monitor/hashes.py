"""A case's hash list: hashing local files, importing and exporting lists.

Only hashes enter the system: image files are read, hashed in memory and let go.
"""

from __future__ import annotations

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
from monitor.hashing.pipeline import ORIGINAL
from monitor.hashing.registry import bit_lengths
from monitor.hashing.rule import DecisionRule, QueryHash
from monitor.hashlists import HashListError, ParsedHash, export_json, parse_hash_list


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


@dataclass
class AddResult:
    added: int = 0
    duplicates: int = 0
    files: int = 0
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
        hashed = _hash_file(app, path, result, rule)
        if hashed is not None:
            views, sha256 = hashed
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
                )
                for v in views
            )
    added, duplicates = store_hashes(app, case_id, new, source="file")
    result.added, result.duplicates = added, duplicates
    return result


def _hash_file(
    app: App, path: Path, result: AddResult, rule: DecisionRule
) -> tuple[list[QueryHash], str] | None:
    try:
        size = path.stat().st_size
        if size > app.config.max_image_bytes:
            result.skipped.append((str(path), f"larger than {app.config.max_image_bytes} bytes"))
            return None
        data = path.read_bytes()
    except OSError as exc:
        result.skipped.append((str(path), f"cannot read: {exc.strerror or exc}"))
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
    return usable, hashes.sha256


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


def import_hash_list(app: App, case_id: int, path: Path) -> tuple[int, int]:
    """Import a hash-list file; all or nothing. Returns (added, duplicates)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    return import_hash_bytes(app, case_id, raw, str(path))


def import_hash_bytes(app: App, case_id: int, raw: bytes, name: str) -> tuple[int, int]:
    """Import a hash list given as the file's bytes (a file read, an upload kept in
    memory), parsed as ``monitor hashes import`` does; all or nothing. ``name`` is what
    error messages call the file. Returns (added, duplicates)."""
    if len(raw) > MAX_LIST_BYTES:
        raise BadHashList(f"{name}: larger than {MAX_LIST_BYTES // (1024 * 1024)} MB")
    try:
        parsed = parse_hash_list(raw, bit_lengths())
    except HashListError as exc:
        raise BadHashList(f"{name}: {exc}", exc.line) from exc
    # A file's group numbers become fresh random tokens: one per image, per import.
    tokens: dict[int, str] = {}
    new = [
        replace(_new(p), group_key=tokens.setdefault(p.group, secrets.token_hex(16)))
        if p.group is not None
        else _new(p)
        for p in parsed
    ]
    return store_hashes(app, case_id, new, source="import")


def _new(parsed: ParsedHash) -> NewHash:
    # Our JSON exports say which rules made each hash; other lists (StopNCII,
    # ThreatExchange, CSV, text) were made elsewhere and are matched against any version.
    version = FOREIGN_RULES if parsed.rules_version is None else parsed.rules_version
    return NewHash(parsed.algorithm, parsed.value, parsed.label, version, parsed.view or ORIGINAL)


def store_hashes(
    app: App, case_id: int, hashes: Iterable[NewHash], *, source: str
) -> tuple[int, int]:
    """Add hashes to a case in one transaction, skipping ones it already has.

    Each is stored with the version of the hashing rules that made it. A hash the
    case already has, made again by the current rules, is counted as a duplicate and
    its entry moves to the current rules (it is what they make too).
    """
    current = current_versions()
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


def export_hash_list(app: App, case_id: int) -> str:
    with app.db.session() as session:
        require_case(session, case_id)
        entries = session.scalars(
            select(HashEntry).where(HashEntry.case_id == case_id).order_by(HashEntry.id)
        ).all()
        audit.record(session, app.actor, "hashes.export", "case", case_id, count=len(entries))
        return export_json(
            (
                e.algorithm,
                e.value,
                app.cipher.decrypt_optional(e.label_enc),
                e.rules_version,
                e.view,
                e.group_key,
            )
            for e in entries
        )


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
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise InvalidInput(f"algorithm must be one of {', '.join(sorted(ALGORITHMS))}")
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

"""``monitor keys``: rotating the key that encrypts victims' personal data, without downtime.

``rotate`` puts a new key at the head of the key file. Every process (web app, scheduler,
crawls) notices the file has changed at its next use and encrypts with the new key from
then on, while still decrypting with the old ones. Then every encrypted column is
re-encrypted, read in small batches and written value by value, each only if it still
holds what was read (a row the application changed meanwhile is left to the next pass). Passes run
until no row is left under an older key. ``retire`` then removes the older keys from the
file, once no row needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import LargeBinary, Table, and_, select, update

from monitor import audit
from monitor.app import App
from monitor.crypto import CryptoError, read_keyring, write_keyring
from monitor.db.models import Base
from monitor.errors import InvalidInput

BATCH = 200


def encrypted_columns() -> list[tuple[Table, list[str]]]:
    """Every table with encrypted columns (``*_enc``) and those columns, from the models."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [
            c.name
            for c in table.columns
            if c.name.endswith("_enc") and isinstance(c.type, LargeBinary)
        ]
        if columns:
            found.append((table, columns))
    return found


@dataclass
class KeyStatus:
    source: str
    keys: int
    #: Encrypted values under the first key, and under older ones, by table.column.
    current: dict[str, int] = field(default_factory=dict)
    older: dict[str, int] = field(default_factory=dict)

    @property
    def stale(self) -> int:
        return sum(self.older.values())


def _values(app: App, size: int) -> Iterator[tuple[Table, Any, str, bytes]]:
    """Every encrypted value: (table, row's key, column, value), in batches of ``size``
    rows, each batch read in a short transaction of its own (nothing held while the
    caller works on it)."""
    for table, columns in encrypted_columns():
        pk = table.primary_key.columns.values()[0]
        last = None
        while True:
            query = select(pk, *(table.c[c] for c in columns)).order_by(pk).limit(size)
            if last is not None:
                query = query.where(pk > last)
            with app.db.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                break
            for row in rows:
                for name, value in zip(columns, row[1:], strict=True):
                    if value is not None:
                        yield table, row[0], name, value
            last = rows[-1][0]


def status(app: App) -> KeyStatus:
    source = "MONITOR_SECRET_KEY" if app.config.secret_key else str(app.config.key_file)
    result = KeyStatus(source=source, keys=app.cipher.key_count)
    for table, _, name, value in _values(app, 1000):
        bucket = result.current if app.cipher.is_current(value) else result.older
        label = f"{table.name}.{name}"
        bucket[label] = bucket.get(label, 0) + 1
    return result


@dataclass
class Rotation:
    rewritten: int = 0
    passes: int = 0
    #: Values still under an older key after the last pass (0 when done).
    left: int = 0


def reencrypt(app: App, *, max_passes: int = 5) -> Rotation:
    """Re-encrypt every value not under the first key, until none is left."""
    result = Rotation()
    for _ in range(max_passes):
        result.passes += 1
        rewritten, conflicts = _pass(app)
        result.rewritten += rewritten
        if not rewritten and not conflicts:
            break
    result.left = status(app).stale
    return result


def _pass(app: App) -> tuple[int, int]:
    rewritten = conflicts = 0
    for table, key, name, value in _values(app, BATCH):
        if app.cipher.is_current(value):
            continue
        pk = table.primary_key.columns.values()[0]
        with app.db.engine.begin() as conn:  # written only if unchanged since it was read
            done = conn.execute(
                update(table)
                .where(and_(pk == key, table.c[name] == value))
                .values({name: app.cipher.rotate(value)})
            ).rowcount
        if done:
            rewritten += 1
        else:
            conflicts += 1  # changed meanwhile: the next pass looks again
    return rewritten, conflicts


def _key_file(app: App) -> None:
    if app.config.secret_key:
        raise InvalidInput(
            "the keys come from MONITOR_SECRET_KEY: put the new key first in it "
            "(comma-separated, newest first) on every process, then run "
            "`monitor keys rotate --reencrypt-only`"
        )


def rotate(app: App, *, new_key: bool = True) -> Rotation:
    """A new first key in the key file (unless ``new_key`` is False), then every value
    re-encrypted with the first key."""
    if new_key:
        _key_file(app)
        path = app.config.key_file
        keys = read_keyring(path)
        write_keyring(path, [Fernet.generate_key(), *keys])
        if app.cipher.key_count != len(keys) + 1:
            raise CryptoError("the new key file was not taken up")
    result = reencrypt(app)
    with app.db.session() as session:
        audit.record(
            session,
            app.actor,
            "keys.rotate",
            "keys",
            None,
            new_key=new_key,
            rewritten=result.rewritten,
            left=result.left,
        )
    return result


def retire(app: App) -> int:
    """Remove every key but the first from the key file, once no value needs them.
    Returns how many keys were removed. Links in alerts sent before the rotation stop
    working (they were made with an older key)."""
    _key_file(app)
    left = status(app).stale
    if left:
        raise InvalidInput(
            f"{left} encrypted values still need an older key: run `monitor keys rotate "
            "--reencrypt-only` first"
        )
    path = app.config.key_file
    keys = read_keyring(path)
    write_keyring(path, keys[:1])
    with app.db.session() as session:
        audit.record(session, app.actor, "keys.retire", "keys", None, removed=len(keys) - 1)
    return len(keys) - 1

"""Encryption at rest of victims' personal data (Fernet, keys kept outside the database).

The keys are a *keyring*: the first key encrypts, every key decrypts. They come from
``MONITOR_SECRET_KEY`` (comma-separated, newest first) or from the key file
(``MONITOR_SECRET_KEY_FILE``, default ``<var>/secret.key``: one key per line, newest
first, created with mode 0600 on first use). ``monitor keys rotate`` puts a new key at
the head of the file and re-encrypts the stored data with it; a running process notices
the file has changed (one ``stat`` per use) and takes the new keyring without a restart.

The audit log's hash chain has a key of its own (``MONITOR_AUDIT_KEY``, or ``audit.key``
beside the key file), never rotated with these: it signs, it does not hide.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CryptoError(RuntimeError):
    """The encryption key is missing, malformed or does not open the stored data."""


def _fernet(key: bytes) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError) as exc:
        raise CryptoError("the secret key is not a valid Fernet key") from exc


class Cipher:
    """Encrypts with the keyring's first key, decrypts with any of them.

    ``reload``, when given, is called before each use and returns a new keyring when
    the keys' source has changed (None otherwise)."""

    def __init__(
        self,
        key: bytes | list[bytes],
        *,
        reload: Callable[[], list[bytes] | None] | None = None,
    ) -> None:
        self._reload = reload
        self._lock = threading.Lock()
        self._set(key if isinstance(key, list) else [key])

    def _set(self, keys: list[bytes]) -> None:
        if not keys:
            raise CryptoError("no secret key")
        fernets = [_fernet(k) for k in keys]
        self._keys = list(keys)
        self._primary = fernets[0]
        self._multi = MultiFernet(fernets)

    def _fresh(self) -> None:
        if self._reload is None:
            return
        with self._lock:
            keys = self._reload()
            if keys is not None:
                self._set(keys)

    @property
    def key_count(self) -> int:
        self._fresh()
        return len(self._keys)

    def encrypt(self, text: str) -> bytes:
        self._fresh()
        return self._primary.encrypt(text.encode("utf-8"))

    def encrypt_optional(self, text: str | None) -> bytes | None:
        return None if text is None else self.encrypt(text)

    def decrypt(self, token: bytes) -> str:
        self._fresh()
        try:
            return self._multi.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken as exc:
            raise CryptoError("stored personal data cannot be decrypted with this key") from exc

    def decrypt_optional(self, token: bytes | None) -> str | None:
        return None if token is None else self.decrypt(token)

    def is_current(self, token: bytes) -> bool:
        """Whether the token was made with the first key (nothing to re-encrypt)."""
        try:
            self._primary.decrypt(bytes(token))
        except InvalidToken:
            return False
        return True

    def rotate(self, token: bytes) -> bytes:
        """The same plaintext, encrypted with the first key."""
        try:
            return self._multi.rotate(bytes(token))
        except InvalidToken as exc:
            raise CryptoError("stored personal data cannot be decrypted with this key") from exc


# -- where the keys are kept -------------------------------------------------------------------


def _create_0600(path: Path, content: bytes) -> bool:
    """Write a new file readable by its owner only; False if it exists already.

    Written aside and linked into place, so that a process racing this one finds either
    no file or the whole of it, and exactly one key wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def read_keyring(path: Path) -> list[bytes]:
    keys = [
        line.strip()
        for line in path.read_bytes().splitlines()
        if line.strip() and not line.strip().startswith(b"#")
    ]
    if not keys:
        raise CryptoError(f"the key file {path} holds no key")
    return keys


def write_keyring(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically (a reader sees the old file or the new one)."""
    for key in keys:
        _fernet(key)
    header = (
        b"# ncii-monitor keys, newest first: the first encrypts, every one decrypts.\n"
        b"# Losing this file loses the victims' personal data; keep a copy apart from the\n"
        b"# database's backups.\n"
    )
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(header + b"".join(k + b"\n" for k in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class KeyFile:
    """The keyring in a file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _create_0600(path, Fernet.generate_key() + b"\n")
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int, int]:
        st = self.path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def keys(self) -> list[bytes]:
        return read_keyring(self.path)

    def changed(self) -> list[bytes] | None:
        try:
            stamp = self._stat()
        except FileNotFoundError:
            return None  # keep the keys in memory; the next use looks again
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        return self.keys()


def load_cipher(secret_key: str, key_file: Path) -> Cipher:
    """The keyring from the setting (comma-separated, newest first), else from the file."""
    if secret_key:
        return Cipher([k.strip().encode("ascii") for k in secret_key.split(",") if k.strip()])
    source = KeyFile(key_file)
    return Cipher(source.keys(), reload=source.changed)


def load_audit_key(audit_key: str, key_file: Path) -> bytes:
    """The audit chain's HMAC key: the setting, else ``audit.key`` beside the key file."""
    if audit_key:
        return audit_key.encode("utf-8")
    path = key_file.parent / "audit.key"
    _create_0600(path, os.urandom(32).hex().encode("ascii") + b"\n")
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise CryptoError(f"the audit key in {path} is too short")
    return key

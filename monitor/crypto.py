"""Encryption at rest of victims' personal data (Fernet, key kept outside the database)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class CryptoError(RuntimeError):
    """The encryption key is missing, malformed or does not open the stored data."""


class Cipher:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise CryptoError("the secret key is not a valid Fernet key") from exc

    def encrypt(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode("utf-8"))

    def encrypt_optional(self, text: str | None) -> bytes | None:
        return None if text is None else self.encrypt(text)

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken as exc:
            raise CryptoError("stored personal data cannot be decrypted with this key") from exc

    def decrypt_optional(self, token: bytes | None) -> str | None:
        return None if token is None else self.decrypt(token)


def load_key(secret_key: str, var_dir: Path) -> bytes:
    """The key from the setting, else from ``var_dir/secret.key``, created 0600 on first use."""
    if secret_key:
        return secret_key.encode("ascii")
    path = var_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: if two processes race, exactly one writes and the other reads its key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key

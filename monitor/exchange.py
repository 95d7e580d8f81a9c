"""Signed hash lists: this instance's signing key, the partners' keys it trusts, and the
keys of the victims' offline hashing pages.

Our JSON hash list (``monitor.hashlists``, version 2) carries a ``signature`` over
``hashlists.canonical_bytes(document)`` (the document without its signature, keys
sorted, no spaces, UTF-8):

- ``ed25519``: this instance's exports. The key is ``signing.key`` beside the key file
  (mode 0600, made on first use); ``key_id`` is a short fingerprint of the public key
  (``fingerprint``), ``public_key`` the raw public key in base64, ``value`` the
  signature in base64. An import verifies with the public key in the file, then
  trusts it only if it is our own key or one in ``trusted-keys`` beside the key file
  (``monitor keys trust add|list|remove``); ``--trust-once`` accepts an untrusted,
  valid signature for one import.
- ``hmac-sha256``: exports of the offline hashing page made for one case. The page
  embeds a random token and ``case_page_key(app, case_id, token)``; it signs with
  HMAC-SHA256 under that key and writes ``key_id = token``, ``value`` in hex. An import
  into case N verifies with case N's key for the token.

A signature that does not verify refuses the whole file (``SignatureRefused``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from monitor import audit
from monitor.app import App
from monitor.cases import require_case
from monitor.crypto import _create_0600
from monitor.errors import InvalidInput
from monitor.hashlists import canonical_bytes

ED25519 = "ed25519"
HMAC_SHA256 = "hmac-sha256"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_PAGE_CONTEXT = "ncii-monitor hasher page\ncase {case_id}\n{token}"


class SignatureRefused(InvalidInput):
    """A signed hash list that is not imported: changed, or signed by a key not trusted."""


@dataclass(frozen=True)
class SignatureCheck:
    """How an imported file was signed. ``status``: "unsigned", "own" (this instance),
    "trusted" (a partner's trusted key), "trusted-once" (valid, not trusted, accepted
    for this import), "case-page" (the case's offline hashing page)."""

    status: str
    key_id: str | None = None
    origin: str | None = None

    def describe(self) -> str:
        if self.status == "unsigned":
            return "unsigned"
        if self.status == "own":
            return f"signed by this instance (key {self.key_id})"
        if self.status == "trusted":
            return f"signed by {self.origin} (trusted key {self.key_id})"
        if self.status == "trusted-once":
            return (
                f"signed by an untrusted key {self.key_id} (origin {self.origin!r}), trusted once"
            )
        return "signed by this case's offline hashing page"


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_key: str  # base64 of the raw 32-byte public key
    origin: str
    added_at: str


# -- where the keys are kept -------------------------------------------------------------------


def _beside(app: App, name: str) -> Path:
    return app.config.key_file.parent / name


def _secret_file(path: Path) -> bytes:
    _create_0600(path, os.urandom(32).hex().encode("ascii") + b"\n")
    try:
        secret = bytes.fromhex(path.read_text("ascii").strip())
    except ValueError as exc:
        raise InvalidInput(f"{path} is not a hex key") from exc
    if len(secret) != 32:
        raise InvalidInput(f"{path} does not hold a 32-byte key")
    return secret


def signing_key(app: App) -> Ed25519PrivateKey:
    """This instance's signing key (``signing.key`` beside the key file, made on first use)."""
    return Ed25519PrivateKey.from_private_bytes(_secret_file(_beside(app, "signing.key")))


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(public_raw: bytes) -> str:
    """A public key's short fingerprint, its ``key_id``: 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def own_public_key(app: App) -> tuple[str, str]:
    """(public key in base64, fingerprint) of this instance: what partners trust."""
    raw = _raw(signing_key(app).public_key())
    return base64.b64encode(raw).decode("ascii"), fingerprint(raw)


def _public_raw(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the public key must be base64") from None
    if len(raw) != 32:
        raise InvalidInput("the public key must be 32 bytes (an Ed25519 public key)")
    return raw


# -- trusted keys ------------------------------------------------------------------------------


def trusted_keys(app: App) -> list[TrustedKey]:
    path = _beside(app, "trusted-keys")
    if not path.exists():
        return []
    keys = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            keys.append(TrustedKey(**json.loads(line)))
    return keys


def _write_trusted(app: App, keys: list[TrustedKey]) -> None:
    path = _beside(app, "trusted-keys")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("# partners' hash-list signing keys (monitor keys trust)\n")
        for key in keys:
            handle.write(json.dumps(key.__dict__, sort_keys=True) + "\n")
    os.replace(tmp, path)


def trust_key(app: App, public_key: str, origin: str) -> TrustedKey:
    """Trust a partner's public key (base64) for imports; audit-logged."""
    raw = _public_raw(public_key)
    origin = origin.strip()
    if not origin:
        raise InvalidInput("name the key's origin (--origin)")
    key = TrustedKey(
        fingerprint(raw),
        base64.b64encode(raw).decode("ascii"),
        origin,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    keys = [k for k in trusted_keys(app) if k.key_id != key.key_id] + [key]
    _write_trusted(app, keys)
    _audit(app, "keys.trust", key.key_id, origin=origin)
    return key


def untrust_key(app: App, key_id: str) -> bool:
    keys = trusted_keys(app)
    kept = [k for k in keys if k.key_id != key_id]
    if len(kept) == len(keys):
        return False
    _write_trusted(app, kept)
    _audit(app, "keys.untrust", key_id)
    return True


def _audit(app: App, action: str, key_id: str, **detail: Any) -> None:
    with app.db.session() as session:
        audit.record(session, app.actor, action, "key", key_id, **detail)


# -- signing and verifying ---------------------------------------------------------------------


def sign_document(app: App, document: dict[str, Any]) -> dict[str, Any]:
    """The document with this instance's ed25519 signature."""
    key = signing_key(app)
    raw = _raw(key.public_key())
    signed = {k: v for k, v in document.items() if k != "signature"}
    signed["signature"] = {
        "algorithm": ED25519,
        "key_id": fingerprint(raw),
        "value": base64.b64encode(key.sign(canonical_bytes(signed))).decode("ascii"),
        "public_key": base64.b64encode(raw).decode("ascii"),
    }
    return signed


def verify_document(
    app: App, document: dict[str, Any], case_id: int, *, trust_once: bool = False
) -> SignatureCheck:
    """Check a document's signature for an import into ``case_id``; SignatureRefused
    when it does not verify or (ed25519) its key is not trusted and not ``trust_once``."""
    signature = document.get("signature")
    if signature is None:
        return SignatureCheck("unsigned")
    if not isinstance(signature, dict) or not all(
        isinstance(signature.get(k), str) for k in ("algorithm", "key_id", "value")
    ):
        raise SignatureRefused("the signature is malformed: refused")
    content = canonical_bytes(document)
    algorithm = signature["algorithm"]
    if algorithm == HMAC_SHA256:
        token = signature["key_id"]
        expected = hmac.new(
            case_page_key(app, case_id, token) if _TOKEN.fullmatch(token) else b"",
            content,
            hashlib.sha256,
        ).hexdigest()
        if not _TOKEN.fullmatch(token) or not hmac.compare_digest(
            expected, signature["value"].lower()
        ):
            raise SignatureRefused(
                "the file's signature does not verify: signed for another case,"
                " or changed after it was made"
            )
        return SignatureCheck("case-page", token)
    if algorithm != ED25519:
        raise SignatureRefused(f"unknown signature algorithm {algorithm[:40]!r}: refused")
    public = signature.get("public_key")
    if not isinstance(public, str):
        raise SignatureRefused("the signature has no public key: refused")
    try:
        raw = _public_raw(public)
        value = base64.b64decode(signature["value"], validate=True)
        Ed25519PublicKey.from_public_bytes(raw).verify(value, content)
    except (InvalidInput, InvalidSignature, binascii.Error, ValueError):
        raise SignatureRefused(
            "the file was changed after it was signed (its signature does not verify)"
        ) from None
    key_id = fingerprint(raw)
    origin = document.get("origin") if isinstance(document.get("origin"), str) else None
    if key_id == own_public_key(app)[1]:
        return SignatureCheck("own", key_id, origin)
    for trusted in trusted_keys(app):
        if trusted.key_id == key_id:
            return SignatureCheck("trusted", key_id, trusted.origin)
    if trust_once:
        return SignatureCheck("trusted-once", key_id, origin)
    raise SignatureRefused(
        f"signed by a key this instance does not trust (key {key_id}, origin {origin!r}):"
        " trust it with 'monitor keys trust add PUBLIC_KEY --origin NAME', or import once"
        " with --trust-once"
    )


# -- the offline hashing page's keys -----------------------------------------------------------


def _page_secret(app: App) -> bytes:
    return _secret_file(_beside(app, "hasher-page.key"))


def case_page_key(app: App, case_id: int, token: str) -> bytes:
    """The key the hashing page made for ``case_id`` with ``token`` signs its exports with:
    HMAC-SHA256(the instance's page secret, "ncii-monitor hasher page\\ncase N\\nTOKEN")."""
    message = _PAGE_CONTEXT.format(case_id=case_id, token=token).encode("utf-8")
    return hmac.new(_page_secret(app), message, hashlib.sha256).digest()


def new_case_page_token(app: App, case_id: int) -> tuple[str, bytes]:
    """A random token for a new hashing page for ``case_id`` and its key; audit-logged
    ("hasher.page")."""
    token = secrets.token_urlsafe(18)
    with app.db.session() as session:
        require_case(session, case_id)
        audit.record(session, app.actor, "hasher.page", "case", case_id)
    return token, case_page_key(app, case_id, token)

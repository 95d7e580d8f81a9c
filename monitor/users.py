"""Accounts of the people who use the web app, and their roles.

- admin: users and settings;
- analyst: cases, hash lists, review, takedowns;
- operator: sites, schedules, runs, health.

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed when they change)
and never stored or logged otherwise; a password set from the command line is read from
standard input or generated and shown once. Every change is audit-logged.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import audit
from monitor.app import App
from monitor.db.models import User, WebSession, utcnow
from monitor.errors import InvalidInput, NotFound

ROLES = ("admin", "analyst", "operator")
MIN_PASSWORD = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()
#: Verified against when the account does not exist, so that the time taken does not
#: tell whether an address has an account.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class UserView:
    id: int
    email: str
    role: str  # one role, or several comma-separated in ROLES' order
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.role.split(","))


def _view(user: User) -> UserView:
    return UserView(
        user.id, user.email, user.role, user.disabled, user.created_at, user.last_login_at
    )


def _email(value: str) -> str:
    email = value.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput(f"not an email address: {value!r}")
    return email


def normalise_roles(value: str | Sequence[str]) -> str:
    """ "analyst", "operator,analyst" or ["analyst", "operator"] as "analyst,operator";
    InvalidInput for an unknown or missing role."""
    names = value.split(",") if isinstance(value, str) else list(value)
    wanted = {n.strip().lower() for n in names if n.strip()}
    unknown = wanted - set(ROLES)
    if unknown or not wanted:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    return ",".join(r for r in ROLES if r in wanted)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, about 120 bits


def add_user(app: App, email: str, role: str | Sequence[str], password: str) -> UserView:
    email = _email(email)
    role = normalise_roles(role)
    _check_password(password)
    try:
        with app.db.session() as session:
            user = User(email=email, password_hash=_hasher.hash(password), role=role)
            session.add(user)
            session.flush()
            audit.record(session, app.actor, "user.create", "user", user.id, role=role)
            return _view(user)
    except IntegrityError:
        raise InvalidInput(f"{email} has an account already") from None


def authenticate(app: App, email: str, password: str) -> UserView | None:
    """The user if the address and password are right and the account is enabled."""
    try:
        email = _email(email)
    except InvalidInput:
        email = ""
    with app.db.session() as session:
        user = session.scalar(select(User).where(User.email == email)) if email else None
        try:
            _hasher.verify(user.password_hash if user else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            audit.record(
                session, "anonymous", "user.login_failed", "user", user.id if user else None
            )
            return None
        if user is None or user.disabled:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        user.last_login_at = utcnow()
        audit.record(session, user.email, "user.login", "user", user.id)
        return _view(user)


def list_users(app: App) -> list[UserView]:
    with app.db.session() as session:
        return [_view(u) for u in session.scalars(select(User).order_by(User.id))]


def _find(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == _email(email)))
    if user is None:
        raise NotFound(f"no account for {email}")
    return user


def set_role(app: App, email: str, role: str | Sequence[str]) -> UserView:
    role = normalise_roles(role)
    with app.db.session() as session:
        user = _find(session, email)
        user.role = role
        audit.record(session, app.actor, "user.role", "user", user.id, role=role)
        return _view(user)


def set_password(app: App, email: str, password: str) -> None:
    _check_password(password)
    with app.db.session() as session:
        user = _find(session, email)
        user.password_hash = _hasher.hash(password)
        _end_sessions(session, user.id)
        audit.record(session, app.actor, "user.password", "user", user.id)


def set_disabled(app: App, email: str, disabled: bool) -> UserView:
    with app.db.session() as session:
        user = _find(session, email)
        user.disabled = disabled
        if disabled:
            _end_sessions(session, user.id)
        action = "user.disable" if disabled else "user.enable"
        audit.record(session, app.actor, action, "user", user.id)
        return _view(user)


def _end_sessions(session: Session, user_id: int) -> None:
    """Sign the account out of every browser (a new password, a disabled account)."""
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))

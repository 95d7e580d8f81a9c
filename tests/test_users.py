"""Accounts for the web app: argon2id password hashes, roles, disabling, the audit
trail, and the CLI (a generated password shown once, or one read from stdin). On SQLite
and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import Env
from sqlalchemy import select

from monitor.db.models import AuditEvent, User
from monitor.errors import InvalidInput, NotFound
from monitor.users import add_user, authenticate, set_disabled, set_password, set_role


def test_accounts_roles_and_passwords(env: Env) -> None:
    app = env.app
    view = add_user(app, " Ana@NGO.example ", "analyst", "correct horse battery")
    assert (view.email, view.role, view.disabled) == ("ana@ngo.example", "analyst", False)
    with app.db.session() as session:
        stored = session.scalars(select(User)).one().password_hash
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    with pytest.raises(InvalidInput, match="has an account already"):
        add_user(app, "ana@ngo.example", "operator", "another long password")
    with pytest.raises(InvalidInput, match="role must be one of"):
        add_user(app, "bo@ngo.example", "root", "another long password")
    with pytest.raises(InvalidInput, match="at least 12 characters"):
        add_user(app, "bo@ngo.example", "admin", "short")
    with pytest.raises(InvalidInput, match="not an email address"):
        add_user(app, "bo", "admin", "another long password")

    assert authenticate(app, "ANA@ngo.example", "correct horse battery") is not None
    assert authenticate(app, "ana@ngo.example", "wrong horse battery") is None
    assert authenticate(app, "nobody@ngo.example", "correct horse battery") is None
    assert set_role(app, "ana@ngo.example", "admin").role == "admin"
    set_password(app, "ana@ngo.example", "a brand new passphrase")
    assert authenticate(app, "ana@ngo.example", "correct horse battery") is None
    assert authenticate(app, "ana@ngo.example", "a brand new passphrase") is not None
    set_disabled(app, "ana@ngo.example", True)
    assert authenticate(app, "ana@ngo.example", "a brand new passphrase") is None
    with pytest.raises(NotFound):
        set_role(app, "nobody@ngo.example", "admin")
    with app.db.session() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("user.login") == 2 and actions.count("user.login_failed") == 3
    assert {"user.create", "user.role", "user.password", "user.disable"} <= set(actions)


def test_users_from_the_cli(sqlite_env: Env) -> None:
    env = sqlite_env
    made = env.cli("user", "add", "op@ngo.example", "--role", "operator", check=True).stdout
    password = made.split("shown once, give it over a safe channel): ")[1].strip()
    assert len(password) >= 20 and authenticate(env.app, "op@ngo.example", password)
    typed = subprocess.run(
        [sys.executable, "-m", "monitor", "user", "add", "an@ngo.example", "--role", "analyst",
         "--password-stdin"],
        input="typed in a pipe, long enough\n", env=env.vars, cwd=env.tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert typed.returncode == 0 and "shown once" not in typed.stdout
    assert authenticate(env.app, "an@ngo.example", "typed in a pipe, long enough")
    listed = env.cli("user", "list", check=True).stdout
    assert "op@ngo.example" in listed and "analyst" in listed and password not in listed
    assert "disabled" in env.cli("user", "disable", "op@ngo.example", check=True).stdout
    bad = env.cli("user", "add", "x@ngo.example", "--role", "superuser")
    assert bad.returncode != 0 and "superuser" in bad.stderr

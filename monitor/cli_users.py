"""``monitor user``: accounts for the web app (``monitor.cli`` loads this module)."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from monitor import users
from monitor.cli import Fail, friendly_errors, get_app, main


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(the password, whether it was generated here)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise Fail("no password on standard input")
        return password, False
    return users.generate_password(), True


@main.group("user")
def user_group() -> None:
    """Accounts of the web app's users: admin, analyst, operator."""


@user_group.command("add")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    type=click.Choice(users.ROLES),
    multiple=True,
    required=True,
    help="admin, analyst or operator; repeat it for an account with several roles.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (else one is generated and shown once).",
)
@click.pass_context
@friendly_errors
def user_add(ctx: click.Context, email: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Create an account."""
    password, generated = _password(password_stdin)
    view = users.add_user(get_app(ctx), email, roles, password)
    click.echo(f"user {view.id}: {view.email} ({view.role})")
    if generated:
        click.echo(f"password (shown once, give it over a safe channel): {password}")


@user_group.command("list")
@click.pass_context
@friendly_errors
def user_list(ctx: click.Context) -> None:
    """Accounts, their roles and last logins."""
    table = Table("id", "email", "role", "state", "created", "last login")
    for u in users.list_users(get_app(ctx)):
        table.add_row(
            str(u.id),
            u.email,
            u.role,
            "disabled" if u.disabled else "active",
            f"{u.created_at:%Y-%m-%d}",
            f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "never",
        )
    Console().print(table)


@user_group.command("role")
@click.argument("email")
@click.argument("roles", nargs=-1, required=True, type=click.Choice(users.ROLES))
@click.pass_context
@friendly_errors
def user_role(ctx: click.Context, email: str, roles: tuple[str, ...]) -> None:
    """Change an account's roles (one or more of admin, analyst, operator)."""
    view = users.set_role(get_app(ctx), email, roles)
    click.echo(f"{view.email}: {view.role}")


@user_group.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read it from standard input.")
@click.pass_context
@friendly_errors
def user_password(ctx: click.Context, email: str, password_stdin: bool) -> None:
    """Set a new password (generated and shown once unless read from standard input)."""
    password, generated = _password(password_stdin)
    users.set_password(get_app(ctx), email, password)
    click.echo(f"{email}: password changed")
    if generated:
        click.echo(f"password (shown once): {password}")


@user_group.command("disable")
@click.argument("email")
@click.pass_context
@friendly_errors
def user_disable(ctx: click.Context, email: str) -> None:
    """Disable an account (it can no longer log in)."""
    users.set_disabled(get_app(ctx), email, True)
    click.echo(f"{email}: disabled")


@user_group.command("enable")
@click.argument("email")
@click.pass_context
@friendly_errors
def user_enable(ctx: click.Context, email: str) -> None:
    """Enable a disabled account again."""
    users.set_disabled(get_app(ctx), email, False)
    click.echo(f"{email}: enabled")

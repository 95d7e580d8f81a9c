"""The commands that protect victims' data: withdrawing a case, the keys, the audit log,
retention."""

from __future__ import annotations

import sys

import click

from monitor import audit, cases, keys, retention
from monitor.cli import case, friendly_errors, get_app, main


@case.command("withdraw")
@click.argument("case_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@friendly_errors
def case_withdraw(ctx: click.Context, case_id: int, yes: bool) -> None:
    """Withdraw a case, irrevocably: delete its hashes, hits, emails, draft notices and
    the victim's personal data. Kept: the case number and dates, the sent notices' record
    (their text deleted) and the audit log."""
    app = get_app(ctx)
    if not yes:
        click.confirm(
            f"Withdraw case {case_id}? Its hashes, hits and personal data are deleted for good",
            abort=True,
            err=True,
        )
    done = cases.withdraw_case(app, case_id)
    click.echo(
        f"case {case_id} withdrawn: {done.hashes} hashes, {done.hits} hits, "
        f"{done.messages} emails and {done.drafts} draft notices deleted; "
        f"{done.notices_kept} sent notices kept without their text"
    )


# -- keys -----------------------------------------------------------------------------------
@main.group("keys")
def keys_group() -> None:
    """The keys that encrypt victims' personal data."""


@keys_group.command("signing")
@click.pass_context
@friendly_errors
def keys_signing(ctx: click.Context) -> None:
    """This instance's hash-list signing key: the public key and fingerprint to give
    partners (they run 'monitor keys trust add PUBLIC_KEY --origin NAME')."""
    from monitor import exchange

    app = get_app(ctx)
    public, key_id = exchange.own_public_key(app)
    click.echo(f"public key: {public}")
    click.echo(f"key id: {key_id}")
    click.echo(f"origin: {app.config.instance_name}")


@keys_group.group("trust")
def keys_trust() -> None:
    """Partners' keys whose signed hash lists are imported."""


@keys_trust.command("add")
@click.argument("public_key")
@click.option("--origin", required=True, help="Who the key belongs to.")
@click.pass_context
@friendly_errors
def keys_trust_add(ctx: click.Context, public_key: str, origin: str) -> None:
    """Trust a partner's public key (base64, as 'monitor keys signing' prints it)."""
    from monitor import exchange

    key = exchange.trust_key(get_app(ctx), public_key, origin)
    click.echo(f"trusted key {key.key_id} ({key.origin})")


@keys_trust.command("list")
@click.pass_context
@friendly_errors
def keys_trust_list(ctx: click.Context) -> None:
    """The trusted keys: key id, origin, when added, public key."""
    from monitor import exchange

    for key in exchange.trusted_keys(get_app(ctx)):
        click.echo(f"{key.key_id}  {key.origin}  {key.added_at}  {key.public_key}")


@keys_trust.command("remove")
@click.argument("key_id")
@click.pass_context
@friendly_errors
def keys_trust_remove(ctx: click.Context, key_id: str) -> None:
    """Stop trusting a key."""
    from monitor import exchange

    if not exchange.untrust_key(get_app(ctx), key_id):
        raise click.ClickException(f"no trusted key {key_id}")
    click.echo(f"key {key_id} no longer trusted")


@keys_group.command("status")
@click.pass_context
@friendly_errors
def keys_status(ctx: click.Context) -> None:
    """Where the keys are, how many, and how many values each encrypts."""
    state = keys.status(get_app(ctx))
    click.echo(f"keys: {state.keys} (from {state.source}); the first encrypts")
    click.echo(f"values under the first key: {sum(state.current.values())}")
    click.echo(f"values under older keys: {state.stale}")
    for name, count in sorted(state.older.items()):
        click.echo(f"  {name}: {count}")


@keys_group.command("rotate")
@click.option(
    "--reencrypt-only",
    is_flag=True,
    help="No new key: re-encrypt with the first key as it is (after changing "
    "MONITOR_SECRET_KEY by hand, or to finish an interrupted rotation).",
)
@click.pass_context
@friendly_errors
def keys_rotate(ctx: click.Context, reencrypt_only: bool) -> None:
    """Add a new key and re-encrypt every stored value with it, while everything runs.
    The older keys stay for decrypting until `monitor keys retire`."""
    app = get_app(ctx)
    done = keys.rotate(app, new_key=not reencrypt_only)
    click.echo(
        f"{done.rewritten} values re-encrypted in {done.passes} passes; "
        f"{done.left} left under older keys"
    )
    if done.left:
        sys.exit(1)


@keys_group.command("retire")
@click.pass_context
@friendly_errors
def keys_retire(ctx: click.Context) -> None:
    """Remove the older keys from the key file once no value needs them (links in alerts
    sent before the rotation stop working)."""
    removed = keys.retire(get_app(ctx))
    click.echo(f"{removed} older keys removed")


# -- audit ----------------------------------------------------------------------------------
@main.group("audit")
def audit_group() -> None:
    """The audit log: append-only, hash-chained."""


@audit_group.command("verify")
@click.pass_context
@friendly_errors
def audit_verify(ctx: click.Context) -> None:
    """Recompute the audit log's hash chain and compare it with the anchors written
    outside the database; exit status 1 if anything was altered, inserted or deleted."""
    app = get_app(ctx)
    result = audit.verify_log(app)
    for problem in result.problems:
        click.echo(f"TAMPERED: {problem}", err=True)
    click.echo(
        f"{result.checked} events checked up to event {result.head_seq}"
        + (
            f" ({result.unchained} older events written before the chain)"
            if result.unchained
            else ""
        )
        + (": the chain is intact" if result.ok else f": {len(result.problems)} problems")
    )
    if not result.ok:
        sys.exit(1)


@audit_group.command("anchor")
@click.pass_context
@friendly_errors
def audit_anchor(ctx: click.Context) -> None:
    """Write the chain's head to the anchors file (the scheduler does it every hour)."""
    app = get_app(ctx)
    seq, mac = audit.anchor(app)
    click.echo(f"anchored event {seq} ({mac[:16]}…) in {audit.anchors_path(app)}")


# -- retention ------------------------------------------------------------------------------
@main.group("retention")
def retention_group() -> None:
    """Deleting evidence and logs past their retention periods."""


@retention_group.command("run")
@click.pass_context
@friendly_errors
def retention_run(ctx: click.Context) -> None:
    """Apply the retention periods now (the scheduler does it once a day)."""
    counts = retention.enforce(get_app(ctx))
    deleted = [f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if v]
    click.echo("deleted: " + (", ".join(deleted) if deleted else "nothing"))

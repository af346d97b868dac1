"""``smsgate smpp users``: the credentials ESMEs bind to the SMPP server face with. A password
is made by smsgate, shown once and stored as a scrypt hash. The commands work on the store
directly: a running gateway refuses a removed, disabled or re-passworded system_id at its
next bind, and unbinds its sessions within half a minute. ``register`` adds the group to the
``smsgate`` command group."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from sqlalchemy import Connection

from smsgate.core.clock import SystemClock, iso
from smsgate.core.passwords import hash_password
from smsgate.store import accounts as account_store
from smsgate.store import smpp_users as user_store
from smsgate.store.smpp_users import Refused, SmppUser

if TYPE_CHECKING:
    from smsgate.cli import Context

T = TypeVar("T")


def _run(obj: Context, work: Callable[[Connection], T]) -> T:
    """``work`` in one transaction on the configured store; a refusal as a clear error."""
    from smsgate.cli import _with_db  # the command group imports this module at its end

    try:
        return _with_db(obj.settings(), work)
    except Refused as exc:
        raise click.ClickException(exc.message) from None


def _user(conn: Connection, system_id: str) -> SmppUser:
    found = user_store.by_system_id(conn, system_id)
    if found is None:
        raise click.ClickException(f"no SMPP user {system_id!r}")
    return found


def _json(conn: Connection, user: SmppUser) -> dict[str, Any]:
    owner = account_store.by_id(conn, user.account_id)
    return {
        "system_id": user.system_id,
        "account": owner.auth_id if owner else None,
        "binds": list(user.binds),
        "max_binds": user.max_binds,
        "submit_rate": user.submit_rate,
        "enabled": user.enabled,
        "label": user.label,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


def _shown(system_id: str, password: str) -> str:
    return f"system_id  {system_id}\npassword   {password}   (shown once)"


@click.group("smpp")
def smpp() -> None:
    """The SMPP server face (see docs/smpp-server.md)."""


@smpp.group("users")
def users() -> None:
    """Credentials ESMEs bind with: system_id and password."""


@users.command("add")
@click.option("--account", "auth_id", required=True, help="auth_id of the account it sends as.")
@click.option("--system-id", help="Its system_id (up to 15 characters); default: a new one.")
@click.option(
    "--binds",
    default=",".join(user_store.MODES),
    show_default=True,
    help="The bind modes it may use, comma separated.",
)
@click.option("--max-binds", type=int, default=4, show_default=True, help="Sessions at once.")
@click.option("--submit-rate", default="", help="submit PDUs it may send: 50/s (default none).")
@click.option("--label", default="", help="A name to recognise it by.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def users_add(
    obj: Context,
    auth_id: str,
    system_id: str | None,
    binds: str,
    max_binds: int,
    submit_rate: str,
    label: str,
    as_json: bool,
) -> None:
    """Issue SMPP credentials for an account and print its password (shown once)."""
    password = user_store.new_password()
    digest = hash_password(password)

    def work(conn: Connection) -> dict[str, Any]:
        from smsgate.cli import _existing

        account = _existing(conn, auth_id)
        made = user_store.add(
            conn,
            account_id=account.id,
            system_id=system_id if system_id is not None else user_store.new_system_id(),
            password_hash=digest,
            binds=binds,
            max_binds=max_binds,
            submit_rate=submit_rate,
            label=label,
            now=SystemClock().now_us(),
        )
        return _json(conn, made)

    made = _run(obj, work)
    if as_json:
        click.echo(json.dumps({**made, "password": password}))
        return
    click.echo(_shown(made["system_id"], password))


@users.command("list")
@click.option("--account", "auth_id", help="Only this account's.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def users_list(obj: Context, auth_id: str | None, as_json: bool) -> None:
    """List SMPP users (never their passwords)."""

    def work(conn: Connection) -> list[dict[str, Any]]:
        from smsgate.cli import _existing

        ids = [_existing(conn, auth_id).id] if auth_id else None
        return [_json(conn, user) for user in user_store.listed(conn, ids)]

    found = _run(obj, work)
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        click.echo("no SMPP users: `smsgate smpp users add --account AUTH_ID` issues some")
    for item in found:
        state = "enabled " if item["enabled"] else "disabled"
        rate = item["submit_rate"] or "no submit rate"
        label = f"  # {item['label']}" if item["label"] else ""
        click.echo(
            f"{item['system_id']:<15}  {item['account']}  {state}  {','.join(item['binds'])}  "
            f"max {item['max_binds']}  {rate}{label}"
        )


@users.command("remove")
@click.argument("system_id")
@click.pass_obj
def users_remove(obj: Context, system_id: str) -> None:
    """Remove SYSTEM_ID: it binds no more."""
    if not _run(obj, lambda conn: user_store.remove(conn, system_id)):
        raise click.ClickException(f"no SMPP user {system_id!r}")
    click.echo(f"SMPP user {system_id} removed")


@users.command("passwd")
@click.argument("system_id")
@click.pass_obj
def users_passwd(obj: Context, system_id: str) -> None:
    """Give SYSTEM_ID a new password (shown once); the old one stops working."""
    password = user_store.new_password()
    digest = hash_password(password)

    def work(conn: Connection) -> None:
        _user(conn, system_id)
        user_store.set_password(conn, system_id, digest, SystemClock().now_us())

    _run(obj, work)
    click.echo(_shown(system_id, password))


def _set_enabled(obj: Context, system_id: str, enabled: bool) -> None:
    def work(conn: Connection) -> None:
        _user(conn, system_id)
        user_store.set_enabled(conn, system_id, enabled, SystemClock().now_us())

    _run(obj, work)
    click.echo(f"SMPP user {system_id} {'enabled' if enabled else 'disabled'}")


@users.command("enable")
@click.argument("system_id")
@click.pass_obj
def users_enable(obj: Context, system_id: str) -> None:
    """Let SYSTEM_ID bind again."""
    _set_enabled(obj, system_id, True)


@users.command("disable")
@click.argument("system_id")
@click.pass_obj
def users_disable(obj: Context, system_id: str) -> None:
    """Refuse SYSTEM_ID's binds (its bound sessions are unbound)."""
    _set_enabled(obj, system_id, False)


def register(group: click.Group) -> None:
    group.add_command(smpp)

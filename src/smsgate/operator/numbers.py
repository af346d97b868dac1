"""``smsgate numbers``, ``smsgate applications`` and ``smsgate optouts``: the numbers and short
codes accounts own, the applications whose ``message_url`` gets what arrives for them, and the
numbers that opted out of an account's messages. They work on the store directly, so a
running gateway applies a change to the next message that arrives.
``register`` adds them to the ``smsgate`` command group."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from smsgate.api import params as p
from smsgate.config import Settings
from smsgate.core.clock import SystemClock, iso
from smsgate.core.errors import InvalidParameter
from smsgate.core.models import Account
from smsgate.store import accounts as account_store
from smsgate.store import numbers as number_store
from smsgate.store import opt_outs as opt_out_store
from smsgate.store.numbers import Application, Number, Refused
from smsgate.text.numbers import sanitize_sender

if TYPE_CHECKING:
    from smsgate.cli import Context

T = TypeVar("T")
#: ``--application none`` unbinds a number; ``--channel any`` lets it answer on every channel.
NONE, ANY = "none", "any"


def _run(obj: Context, work: Callable[[Connection, Settings], T]) -> T:
    """``work`` in one transaction on the configured store; a refusal as a clear error."""
    from smsgate.cli import _with_db  # the command group imports this module at its end

    settings = obj.settings()
    try:
        return _with_db(settings, lambda conn: work(conn, settings))
    except Refused as exc:
        raise click.ClickException(exc.message) from None
    except IntegrityError:
        raise click.ClickException("that number belongs to an account already") from None


def _account(conn: Connection, auth_id: str) -> Account:
    from smsgate.cli import _existing

    return _existing(conn, auth_id)


def _application(conn: Connection, app_id: str, account: Account | None = None) -> Application:
    found = number_store.application(conn, app_id) if app_id.isdigit() else None
    if found is None:
        raise click.ClickException(f"no application {app_id!r}")
    if account is not None and found.account_id != account.id:
        owner = account_store.by_id(conn, found.account_id)
        raise click.ClickException(
            f"application {app_id} belongs to {owner.auth_id if owner else 'another account'}, "
            f"not to {account.auth_id}: a number answers only its own account's applications"
        )
    return found


def _message_url(raw: str) -> str | None:
    try:
        return p.message_url({"message_url": raw}, "message_url")
    except InvalidParameter as exc:
        raise click.BadParameter(exc.message, param_hint="--message-url") from None


def _number_json(conn: Connection, number: Number) -> dict[str, Any]:
    owner = account_store.by_id(conn, number.account_id)
    app = (
        number_store.application_by_id(conn, number.application_id)
        if number.application_id is not None
        else None
    )
    return {
        "number": number.number,
        "number_type": number_store.number_type(number.number),
        "account": owner.auth_id if owner else None,
        "application": app.app_id if app else None,
        "application_name": app.name if app else None,
        "message_url": app.message_url if app else None,
        "channel": number.channel,
        "alias": number.alias,
        "created_at": iso(number.created_at),
    }


def _app_json(conn: Connection, app: Application, count: int) -> dict[str, Any]:
    owner = account_store.by_id(conn, app.account_id)
    return {
        "app_id": app.app_id,
        "name": app.name,
        "account": owner.auth_id if owner else None,
        "message_url": app.message_url,
        "message_method": app.message_method,
        "log_incoming_messages": app.log_incoming_messages,
        "numbers": count,
        "created_at": iso(app.created_at),
    }


# numbers -------------------------------------------------------------------------------------


@click.group("numbers")
def numbers() -> None:
    """Numbers and short codes accounts own (see docs/numbers.md)."""


@numbers.command("add")
@click.argument("number")
@click.option("--account", "auth_id", required=True, help="auth_id of the account that owns it.")
@click.option("--application", "app_id", help="app_id of one of that account's applications.")
@click.option("--channel", help="Only what arrives on this channel (default: any channel).")
@click.option("--alias", default="", help="A name to recognise it by.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def numbers_add(
    obj: Context,
    number: str,
    auth_id: str,
    app_id: str | None,
    channel: str | None,
    alias: str,
    as_json: bool,
) -> None:
    """Give NUMBER (a short code of 3 to 8 digits, or a number with its country code) to an
    account: what arrives for it is then that account's, and goes to its application."""

    def work(conn: Connection, settings: Settings) -> dict[str, Any]:
        value = number_store.clean_number(number)
        account = _account(conn, auth_id)
        app = _application(conn, app_id, account) if app_id else None
        made = number_store.add_number(
            conn,
            number=value,
            account_id=account.id,
            app_id=app.app_id if app else None,
            channel=number_store.check_channel(channel, settings.receiving_channels),
            alias=number_store.check_alias(alias),
            now=SystemClock().now_us(),
        )
        return _number_json(conn, made)

    shown = _run(obj, work)
    if as_json:
        click.echo(json.dumps(shown))
        return
    app = f"application {shown['application']}" if shown["application"] else "no application"
    channel_text = f"channel {shown['channel']}" if shown["channel"] else "any channel"
    click.echo(f"{shown['number']} added to {shown['account']} ({app}, {channel_text})")


@numbers.command("list")
@click.option("--account", "auth_id", help="Only this account's numbers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def numbers_list(obj: Context, auth_id: str | None, as_json: bool) -> None:
    """List numbers with their accounts, applications and channels."""

    def work(conn: Connection, _: Settings) -> list[dict[str, Any]]:
        ids = [_account(conn, auth_id).id] if auth_id else None
        return [_number_json(conn, found) for found in number_store.numbers(conn, ids)]

    found = _run(obj, work)
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        click.echo("no numbers: what arrives is the channel's account's")
    for item in found:
        app = item["application"] or "-"
        alias = f"  # {item['alias']}" if item["alias"] else ""
        click.echo(
            f"{item['number']:<16} {item['number_type']:<9} {item['account']}  "
            f"app {app:<17}  channel {item['channel'] or ANY}{alias}"
        )


@numbers.command("update")
@click.argument("number")
@click.option("--application", "app_id", help=f"app_id of the account's application, or {NONE}.")
@click.option("--channel", help=f"A channel's name, or {ANY}.")
@click.option("--alias", help='A name to recognise it by ("" for none).')
@click.pass_obj
def numbers_update(
    obj: Context, number: str, app_id: str | None, channel: str | None, alias: str | None
) -> None:
    """Bind NUMBER to another application or channel, or rename it."""
    if app_id is None and channel is None and alias is None:
        raise click.UsageError("nothing to change: give --application, --channel or --alias")

    def work(conn: Connection, settings: Settings) -> dict[str, Any]:
        value = sanitize_sender(number)
        found = number_store.number(conn, value) if value else None
        if found is None:
            raise click.ClickException(f"no number {number!r}")
        account = account_store.by_id(conn, found.account_id)
        changes: dict[str, Any] = {}
        if app_id is not None:
            unbind = app_id.strip().lower() in (NONE, "")
            changes["application_id"] = (
                None if unbind else _application(conn, app_id.strip(), account).id
            )
        if channel is not None:
            wanted = None if channel.strip().lower() == ANY else channel
            if wanted is not None and wanted.strip() == "":
                raise click.BadParameter(f"a channel's name, or {ANY}", param_hint="--channel")
            changes["channel"] = number_store.check_channel(wanted, settings.receiving_channels)
        if alias is not None:
            changes["alias"] = number_store.check_alias(alias)
        number_store.update_number(conn, found.number, **changes)
        updated = number_store.number(conn, found.number)
        assert updated is not None
        return _number_json(conn, updated)

    click.echo(json.dumps(_run(obj, work)))


@numbers.command("remove")
@click.argument("number")
@click.pass_obj
def numbers_remove(obj: Context, number: str) -> None:
    """Take NUMBER back from its account (its messages stay; new ones are the channel's
    account's, noted unknown_number)."""
    value = sanitize_sender(number)

    def work(conn: Connection, _: Settings) -> bool:
        return bool(value) and number_store.delete_number(conn, value)

    if not _run(obj, work):
        raise click.ClickException(f"no number {number!r}")
    click.echo(f"number {value} removed")


# applications --------------------------------------------------------------------------------


@click.group("applications")
def applications() -> None:
    """Applications: the message_url that gets what arrives for their numbers."""


@applications.command("create")
@click.option("--account", "auth_id", required=True, help="auth_id of the account it is for.")
@click.option("--name", required=True, help="Its app_name.")
@click.option(
    "--message-url",
    required=True,
    help="http(s) URL that gets inbound messages, or smpp://SYSTEM_ID for an ESME.",
)
@click.option("--method", type=click.Choice(["GET", "POST"], case_sensitive=False), default="POST")
@click.option(
    "--no-log",
    is_flag=True,
    help="log_incoming_messages false: store its messages masked, without their text.",
)
@click.pass_obj
def applications_create(
    obj: Context, auth_id: str, name: str, message_url: str, method: str, no_log: bool
) -> None:
    """Create an application and print its app_id."""
    url = _message_url(message_url)

    def work(conn: Connection, _: Settings) -> Application:
        account = _account(conn, auth_id)
        return number_store.insert_application(
            conn,
            account_id=account.id,
            name=number_store.check_name(name),
            message_url=url,
            message_method=method.upper(),
            log_incoming_messages=not no_log,
            now=SystemClock().now_us(),
        )

    click.echo(_run(obj, work).app_id)


@applications.command("list")
@click.option("--account", "auth_id", help="Only this account's applications.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def applications_list(obj: Context, auth_id: str | None, as_json: bool) -> None:
    """List applications, with how many numbers each answers."""

    def work(conn: Connection, _: Settings) -> list[dict[str, Any]]:
        ids = [_account(conn, auth_id).id] if auth_id else None
        counts = number_store.numbers_per_application(conn)
        return [
            _app_json(conn, app, counts.get(app.id, 0))
            for app in number_store.applications(conn, ids)
        ]

    found = _run(obj, work)
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        click.echo("no applications")
    for item in found:
        log = "" if item["log_incoming_messages"] else "  (not logged)"
        click.echo(
            f"{item['app_id']}  {item['account']}  {item['message_method']:<4} "
            f"{item['message_url'] or '-'}  {item['numbers']} number(s)  {item['name']}{log}"
        )


@applications.command("update")
@click.argument("app_id")
@click.option("--name", help="A new app_name.")
@click.option("--message-url", help=f"A new http(s) URL, smpp://SYSTEM_ID, or {NONE}.")
@click.option("--method", type=click.Choice(["GET", "POST"], case_sensitive=False))
@click.option("--log/--no-log", default=None, help="log_incoming_messages.")
@click.pass_obj
def applications_update(
    obj: Context,
    app_id: str,
    name: str | None,
    message_url: str | None,
    method: str | None,
    log: bool | None,
) -> None:
    """Change an application; its numbers follow at once."""
    changes: dict[str, Any] = {}
    if name is not None:
        try:
            changes["name"] = number_store.check_name(name)
        except Refused as exc:
            raise click.BadParameter(exc.message, param_hint="--name") from None
    if message_url is not None:
        none = message_url.strip().lower() in (NONE, "")
        changes["message_url"] = None if none else _message_url(message_url)
    if method is not None:
        changes["message_method"] = method.upper()
    if log is not None:
        changes["log_incoming_messages"] = log
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")

    def work(conn: Connection, _: Settings) -> dict[str, Any]:
        found = _application(conn, app_id)
        number_store.update_application(conn, found.app_id, SystemClock().now_us(), **changes)
        updated = _application(conn, app_id)
        return _app_json(conn, updated, number_store.numbers_per_application(conn).get(found.id, 0))

    click.echo(json.dumps(_run(obj, work)))


@applications.command("delete")
@click.argument("app_id")
@click.pass_obj
def applications_delete(obj: Context, app_id: str) -> None:
    """Delete an application; its numbers stay their account's, with no application."""

    def work(conn: Connection, _: Settings) -> int:
        found = _application(conn, app_id)
        count = number_store.numbers_per_application(conn).get(found.id, 0)
        number_store.delete_application(conn, found.app_id)
        return count

    count = _run(obj, work)
    click.echo(f"application {app_id} deleted; {count} number(s) now have no application")


# opt-outs ------------------------------------------------------------------------------------


@click.group("optouts")
def optouts() -> None:
    """Numbers that opted out (STOP) of an account's messages."""


@optouts.command("list")
@click.option("--account", "auth_id", help="Only this account's list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def optouts_list(obj: Context, auth_id: str | None, as_json: bool) -> None:
    """List the numbers that opted out, and the keyword each sent."""

    def work(conn: Connection, _: Settings) -> list[dict[str, Any]]:
        accounts = {a.id: a.auth_id for a in account_store.all_accounts(conn)}
        ids = [_account(conn, auth_id).id] if auth_id else None
        return [
            {
                "account": accounts.get(item.account_id),
                "number": item.number,
                "keyword": item.keyword,
                "message_uuid": item.message_uuid,
                "created_at": iso(item.created_at),
            }
            for item in opt_out_store.listed(conn, ids)
        ]

    found = _run(obj, work)
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        click.echo("no opt-outs")
    for item in found:
        click.echo(
            f"{item['account']}  {item['number']:<16} {item['keyword']:<12} {item['created_at']}"
        )


@optouts.command("remove")
@click.argument("auth_id")
@click.argument("number")
@click.pass_obj
def optouts_remove(obj: Context, auth_id: str, number: str) -> None:
    """Put NUMBER back: AUTH_ID's messages may go to it again (it opted in elsewhere, say)."""
    value = sanitize_sender(number)

    def work(conn: Connection, _: Settings) -> bool:
        account = _account(conn, auth_id)
        return bool(value) and opt_out_store.remove(conn, account.id, value)

    if not _run(obj, work):
        raise click.ClickException(f"{number!r} is not on the opt-out list of {auth_id}")
    click.echo(f"{value} is back on {auth_id}'s list of reachable numbers")


def register(group: click.Group) -> None:
    group.add_command(numbers)
    group.add_command(applications)
    group.add_command(optouts)

"""The ``smsgate`` command."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from smsgate import __version__
from smsgate.channels.registry import KINDS, ChannelConfigError
from smsgate.config import Settings, SettingsFileError, load_settings
from smsgate.core import passcode_sends
from smsgate.core import passcodes as passcode_core
from smsgate.core import record as recorder
from smsgate.core.accounts import AUTH_ID
from smsgate.core.bootstrap import create_account
from smsgate.core.clock import SystemClock
from smsgate.core.errors import InvalidParameter
from smsgate.core.ids import new_auth_token
from smsgate.core.inbound import inbound_event
from smsgate.core.models import Account
from smsgate.core.passwords import hash_password
from smsgate.core.permissions import (
    Effect,
    Kind,
    Rule,
    account_subject,
    check_rule_pattern,
    check_subject,
)
from smsgate.core.rates import check_rate
from smsgate.store import accounts as account_store
from smsgate.store import passcodes as passcode_store
from smsgate.store import permissions as permission_store
from smsgate.store.database import DatabaseUrlError, open_database
from smsgate.store.migrate import migrate_sync

T = TypeVar("T")


class Context:
    def __init__(self, config: Path | None, overrides: dict[str, Any]) -> None:
        self.config = config
        self.overrides = overrides

    def settings(self, **more: Any) -> Settings:
        try:
            return load_settings(self.config, **self.overrides, **more)
        except (SettingsFileError, ValidationError, ValueError) as exc:
            raise click.ClickException(f"invalid settings: {exc}") from None


def _with_db(settings: Settings, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction on the configured database (migrating it first)."""
    try:
        db = open_database(settings.resolved_database_url)
    except DatabaseUrlError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        migrate_sync(db)
        with db.writer.begin() as conn:
            return work(conn)
    except OperationalError as exc:
        raise click.ClickException(f"database unavailable: {exc.orig}") from None
    finally:
        asyncio.run(db.dispose())


def _account_json(account: Account, token: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "auth_id": account.auth_id,
        "name": account.name,
        "subaccount": account.is_subaccount,
        "enabled": account.enabled,
        "alphanumeric_sender": account.alphanumeric_sender,
        "smart_encoding": account.smart_encoding,
        # Rate limits: null takes the [limits] setting, "" is no limit.
        "api_requests": account.api_requests,
        "send_rate": account.send_rate,
        "number_pace": account.number_pace,
    }
    if token:
        data["auth_token"] = account.auth_token
    return data


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smsgate")
@click.option("--config", type=click.Path(path_type=Path), help="Settings file (TOML).")
@click.option("--database-url", help="sqlite:///path or postgresql://… [SMSGATE_DATABASE_URL]")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Data directory [SMSGATE_DATA_DIR]"
)
@click.pass_context
def main(
    ctx: click.Context, config: Path | None, database_url: str | None, data_dir: Path | None
) -> None:
    """smsgate: a self-hosted SMS gateway with a Plivo-compatible API."""
    ctx.obj = Context(config, {"database_url": database_url, "data_dir": data_dir})


@main.command()
@click.option("--host", help="Address to listen on [SMSGATE_HOST, default 127.0.0.1]")
@click.option("--port", type=int, help="Port to listen on, 0 for any [SMSGATE_PORT, default 8080]")
@click.option("--log-format", type=click.Choice(["console", "json"]), help="[SMSGATE_LOG_FORMAT]")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option(
    "--show-credentials",
    is_flag=True,
    help="Print the default account's token and a curl example at start.",
)
@click.pass_obj
def serve(
    obj: Context,
    host: str | None,
    port: int | None,
    log_format: str | None,
    log_level: str | None,
    show_credentials: bool,
) -> None:
    """Run the gateway: HTTP API, dispatcher and channels."""
    from smsgate.server import AlreadyRunning, run
    from smsgate.server import serve as serve_gateway

    settings = obj.settings(host=host, port=port, log_format=log_format, log_level=log_level)
    try:
        run(serve_gateway(settings, show_credentials=show_credentials))
    except (DatabaseUrlError, ChannelConfigError, AlreadyRunning, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@main.command("migrate")
@click.pass_obj
def migrate_cmd(obj: Context) -> None:
    """Create or upgrade the database schema."""

    def nothing(_: Connection) -> None:
        return None

    settings = obj.settings()
    _with_db(settings, nothing)
    click.echo(f"database is up to date: {settings.resolved_database_url}")


@main.group()
def accounts() -> None:
    """Accounts and their credentials."""


@accounts.command("create")
@click.option("--name", default="", help="A name to recognise it by.")
@click.option("--parent", help="Create a subaccount of this main account (auth_id).")
@click.option("--alphanumeric-sender", is_flag=True, help="Allow alphanumeric sender IDs.")
@click.option(
    "--smart-encoding",
    is_flag=True,
    help="Replace look-alike characters by default when that makes a text GSM.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def accounts_create(
    obj: Context,
    name: str,
    parent: str | None,
    alphanumeric_sender: bool,
    smart_encoding: bool,
    as_json: bool,
) -> None:
    """Create an account (or a subaccount) and print its credentials."""

    def work(conn: Connection) -> Account:
        owner = None
        if parent:
            owner = account_store.by_auth_id(conn, parent)
            if owner is None or owner.is_subaccount:
                raise click.ClickException(f"no main account {parent!r}")
        return create_account(
            conn,
            now=SystemClock().now_us(),
            name=name,
            parent=owner,
            alphanumeric_sender=alphanumeric_sender,
            smart_encoding=smart_encoding,
        )

    account = _with_db(obj.settings(), work)
    if as_json:
        click.echo(json.dumps(_account_json(account, token=True)))
    else:
        click.echo(f"auth_id     {account.auth_id}\nauth_token  {account.auth_token}")


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def accounts_list(obj: Context, as_json: bool) -> None:
    """List accounts (without tokens)."""
    found = _with_db(obj.settings(), account_store.all_accounts)
    if as_json:
        click.echo(json.dumps([_account_json(a, token=False) for a in found]))
        return
    for account in found:
        kind = "sub " if account.is_subaccount else "main"
        click.echo(f"{account.auth_id}  {kind}  {account.name}")


def _existing(conn: Connection, auth_id: str) -> Account:
    account = account_store.by_auth_id(conn, auth_id)
    if account is None:
        raise click.ClickException(f"no account {auth_id!r}")
    return account


@accounts.command("show")
@click.argument("auth_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def accounts_show(obj: Context, auth_id: str, as_json: bool) -> None:
    """Print an account's credentials."""
    account = _with_db(obj.settings(), lambda conn: _existing(conn, auth_id))
    if as_json:
        click.echo(json.dumps(_account_json(account, token=True)))
    else:
        click.echo(f"auth_id     {account.auth_id}\nauth_token  {account.auth_token}")


@accounts.command("update")
@click.argument("auth_id")
@click.option("--alphanumeric-sender/--no-alphanumeric-sender", default=None)
@click.option("--smart-encoding/--no-smart-encoding", default=None)
@click.option("--enable/--disable", "enabled", default=None)
@click.option("--api-requests", help="API requests per credential: 30/s, none, or default.")
@click.option("--send-rate", help="Message parts per account: 30/s, none, or default.")
@click.option(
    "--number-pace", help="Message parts per source/destination number: 10/min, none, default."
)
@click.pass_obj
def accounts_update(
    obj: Context,
    auth_id: str,
    alphanumeric_sender: bool | None,
    smart_encoding: bool | None,
    enabled: bool | None,
    api_requests: str | None,
    send_rate: str | None,
    number_pace: str | None,
) -> None:
    """Change an account's switches and rate limits."""
    changes = {
        name: value
        for name, value in (
            ("alphanumeric_sender", alphanumeric_sender),
            ("smart_encoding", smart_encoding),
            ("enabled", enabled),
        )
        if value is not None
    }
    limits: dict[str, str | None] = {}
    for name, raw in (
        ("api_requests", api_requests),
        ("send_rate", send_rate),
        ("number_pace", number_pace),
    ):
        if raw is not None:
            option = "--" + name.replace("_", "-")
            try:
                limits[name] = None if raw.strip().lower() == "default" else check_rate(raw)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint=option) from None
    if not changes and not limits:
        raise click.UsageError("nothing to change: give at least one option")

    def work(conn: Connection) -> Account:
        account = _existing(conn, auth_id)
        now = SystemClock().now_us()
        account_store.update_account(conn, account.id, now, **changes)
        account_store.set_limits(conn, account.id, now, **limits)
        return _existing(conn, auth_id)

    account = _with_db(obj.settings(), work)
    click.echo(json.dumps(_account_json(account, token=False)))


@accounts.command("rotate-token")
@click.argument("auth_id")
@click.pass_obj
def accounts_rotate(obj: Context, auth_id: str) -> None:
    """Give an account a new auth_token; the old one stops working."""
    token = new_auth_token()

    def work(conn: Connection) -> None:
        account = _existing(conn, auth_id)
        account_store.set_auth_token(conn, account.id, token, SystemClock().now_us())

    _with_db(obj.settings(), work)
    click.echo(f"auth_id     {auth_id}\nauth_token  {token}")


@main.group()
def permissions() -> None:
    """Allow and deny rules on destinations and sender IDs (see docs/permissions.md)."""


def _subject(conn: Connection, raw: str) -> str:
    """``raw`` as a rule's subject: an auth_id stands for ``account:<auth_id>``."""
    if AUTH_ID.fullmatch(raw):
        raw = account_subject(raw)
    try:
        subject = check_subject(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SUBJECT") from None
    kind, _, name = subject.partition("/")
    if subject.startswith("account:"):
        _existing(conn, subject.removeprefix("account:"))
    elif kind == "passcode" and (
        not name.isdigit() or passcode_store.by_id(conn, int(name)) is None
    ):
        raise click.BadParameter(f"there is no pass code {name}", param_hint="SUBJECT")
    return subject


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "subject": rule.subject,
        "kind": rule.kind.value,
        "effect": rule.effect.value,
        "pattern": rule.pattern,
        "note": rule.note,
        "created_by": rule.created_by,
    }


@permissions.command("add")
@click.argument("subject")
@click.argument("effect", type=click.Choice([e.value for e in Effect]))
@click.argument("kind", type=click.Choice([k.value for k in Kind]))
@click.argument("pattern")
@click.option("--note", default="", help="Why the rule is there.")
@click.pass_obj
def permissions_add(
    obj: Context, subject: str, effect: str, kind: str, pattern: str, note: str
) -> None:
    """Add a rule. SUBJECT is an auth_id (or account:<auth_id>), passcode/<id> or a face's
    user (smstools-api/<name>). Example: smsgate permissions add MA… deny destination 44*"""
    try:
        checked = check_rule_pattern(Kind(kind), pattern)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="PATTERN") from None
    if len(note) > 200:
        raise click.BadParameter("at most 200 characters", param_hint="--note")

    def work(conn: Connection) -> Rule:
        return permission_store.insert(
            conn,
            subject=_subject(conn, subject),
            kind=Kind(kind),
            effect=Effect(effect),
            pattern=checked,
            note=note,
            created_by="cli",
            now=SystemClock().now_us(),
        )

    click.echo(json.dumps(_rule_json(_with_db(obj.settings(), work))))


@permissions.command("list")
@click.argument("subject", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def permissions_list(obj: Context, subject: str | None, as_json: bool) -> None:
    """List rules, of one subject or all."""

    def work(conn: Connection) -> list[Rule]:
        return permission_store.listed(conn, _subject(conn, subject) if subject else None)

    rules = _with_db(obj.settings(), work)
    if as_json:
        click.echo(json.dumps([_rule_json(rule) for rule in rules]))
        return
    if not rules:
        click.echo("no rules: every destination and sender ID is allowed")
    for rule in rules:
        note = f"  # {rule.note}" if rule.note else ""
        click.echo(
            f"{rule.id:>5}  {rule.subject:<32} {rule.effect.value:<5} "
            f"{rule.kind.value:<11} {rule.pattern}{note}"
        )


@permissions.command("remove")
@click.argument("rule_id", type=int)
@click.pass_obj
def permissions_remove(obj: Context, rule_id: int) -> None:
    """Remove a rule (other running gateways apply it within seconds)."""
    removed = _with_db(obj.settings(), lambda conn: permission_store.remove(conn, rule_id))
    if removed is None:
        raise click.ClickException(f"no rule {rule_id}")
    click.echo(f"rule {rule_id} removed")


@main.group()
def admin() -> None:
    """Admin users (for /admin)."""


@admin.command("set-password")
@click.argument("username")
@click.password_option(help="The new password (asked for when not given).")
@click.pass_obj
def admin_set_password(obj: Context, username: str, password: str) -> None:
    """Create an admin user, or change an admin user's password."""
    hashed = hash_password(password)

    def work(conn: Connection) -> bool:
        if account_store.set_admin_password(conn, username, hashed):
            return False
        account_store.insert_admin(conn, username, hashed, SystemClock().now_us())
        return True

    created = _with_db(obj.settings(), work)
    click.echo(f"admin user {username!r} {'created' if created else 'updated'}")


@main.group()
def passcodes() -> None:
    """Pass codes for the send page (/send)."""


@passcodes.command("create")
@click.option("--account", help="auth_id it sends as (default: the first main account).")
@click.option(
    "--minutes",
    type=int,
    default=passcode_core.DEFAULT_MINUTES,
    show_default=True,
    help="How long it is valid.",
)
@click.option("--max-messages", type=int, help="How many messages it may send (default: any).")
@click.option(
    "--allow",
    "destinations",
    multiple=True,
    help="A destination it may send to: a number, digits with * and ?, or a country (GB). "
    "Repeat for more; default: any.",
)
@click.option("--label", default="", help="What it is for, shown in listings.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def passcodes_create(
    obj: Context,
    account: str | None,
    minutes: int,
    max_messages: int | None,
    destinations: tuple[str, ...],
    label: str,
    as_json: bool,
) -> None:
    """Make a pass code and print it (it is shown this once)."""
    try:
        wanted = passcode_core.limits(minutes, max_messages, list(destinations), label)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    now = SystemClock().now_us()

    def work(conn: Connection) -> tuple[str, Any]:
        owner = _existing(conn, account) if account else account_store.first_main_account(conn)
        if owner is None:
            raise click.ClickException("no account yet: `smsgate accounts create` makes one")
        return passcode_sends.issue(conn, owner.id, wanted, "cli", now)

    code, made = _with_db(obj.settings(), work)
    shown = passcode_core.shown(code)
    if as_json:
        click.echo(json.dumps({"code": shown, **passcode_sends.described(made, now)}))
    else:
        until = passcode_sends.described(made, now)["expires_at"]
        click.echo(f"{shown}   (id {made.id}; valid until {until})")


@passcodes.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def passcodes_list(obj: Context, as_json: bool) -> None:
    """Every pass code: active, expired, used up or revoked (never their values)."""
    found = _with_db(obj.settings(), passcode_store.listed)
    now = SystemClock().now_us()
    shown = [passcode_sends.described(code, now) for code in found]
    if as_json:
        click.echo(json.dumps(shown))
        return
    for code in shown:
        used = f"{code['used_messages']}/{code['max_messages'] or '-'}"
        allowed = ",".join(code["destinations"] or ["any"])
        click.echo(
            f"{code['id']:>5}  {code['status']:<8} until {code['expires_at']}  "
            f"used {used:<9} to {allowed}  {code['label']}"
        )


@passcodes.command("revoke")
@click.argument("code_id", type=int)
@click.pass_obj
def passcodes_revoke(obj: Context, code_id: int) -> None:
    """Revoke a pass code at once."""
    now = SystemClock().now_us()
    if not _with_db(obj.settings(), lambda conn: passcode_store.revoke(conn, code_id, now)):
        raise click.ClickException(f"no active pass code {code_id}")
    click.echo(f"pass code {code_id} revoked")


@main.command("hash-password")
@click.password_option(help="The password to hash (asked for when not given).")
def hash_password_cmd(password: str) -> None:
    """Print a password's scrypt hash, for a settings file's password_hash."""
    click.echo(hash_password(password))


@main.group()
def simulator() -> None:
    """The simulator channel."""


@simulator.command("inbound")
@click.option("--from", "from_number", required=True, help="The handset's number.")
@click.option("--to", "to_number", required=True, help="The gateway number it was sent to.")
@click.option("--text", required=True)
@click.option("--channel", help="Simulator channel name (default: the first simulator).")
@click.option("--account", help="auth_id of the account that receives it.")
@click.pass_obj
def simulator_inbound(
    obj: Context,
    from_number: str,
    to_number: str,
    text: str,
    channel: str | None,
    account: str | None,
) -> None:
    """Make a message arrive on a simulator channel, as if a handset had sent it."""
    settings = obj.settings()
    sims = [c for c in settings.channels if c.kind == "simulator"]
    chosen = next((c for c in sims if channel in (None, c.name)), None)
    if chosen is None:
        raise click.ClickException(f"no simulator channel {channel or ''!r} is configured")
    default_account = KINDS["simulator"].options_model(**chosen.options).account
    try:
        event = inbound_event(chosen.name, from_number, to_number, text, account or default_account)
    except InvalidParameter as exc:
        raise click.ClickException(exc.message) from None

    def work(conn: Connection) -> str:
        if event.account_auth_id:
            _existing(conn, event.account_auth_id)
        # Routed like any arrival; the running gateway sends what it queued on its next poll.
        outcome = recorder.apply(
            conn, [event], now=SystemClock().now_us(), inbound=settings.inbound
        )
        if not outcome.transitions:
            raise click.ClickException("no account exists to receive the message")
        return outcome.transitions[0].uuid

    uuid = _with_db(settings, work)
    click.echo(f"received message_uuid {uuid}")


@main.command("channels")
@click.option("--url", help="The running gateway (default: http://HOST:PORT from the settings).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def channels_cmd(obj: Context, url: str | None, as_json: bool) -> None:
    """Each channel of a running gateway: up or down, and its health details."""
    import httpx

    if url is None:
        settings = obj.settings()
        url = f"http://{settings.host}:{settings.port}"
    try:
        answer = httpx.get(url.rstrip("/") + "/health", timeout=10)
        found: dict[str, Any] = answer.json()["channels"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise click.ClickException(f"no gateway answers at {url}: {exc}") from None
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for name, health in found.items():
        state = "up" if health.pop("up") else "DOWN"
        kind = health.pop("kind")
        shown = ", ".join(f"{k}={v}" for k, v in health.items() if v not in (None, ""))
        click.echo(f"{name:<16} {kind:<10} {state:<5} {shown}")


def _address(value: str, option: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{value!r}: use HOST:PORT", param_hint=option)
    return host, int(port)


@main.command("modem-sim")
@click.option("--listen", default="127.0.0.1:7000", show_default=True, help="AT port, HOST:PORT.")
@click.option(
    "--control",
    default="127.0.0.1:7001",
    show_default=True,
    help="Control API (HTTP), HOST:PORT, or 'none'.",
)
@click.option("--pin", help="The SIM asks for this PIN first.")
@click.option("--report-delay", type=float, default=0.0, help="Seconds until a status report.")
@click.option("--balance", help="The answer to USSD balance queries.")
@click.option("--seed", type=int, help="Seed for message references.")
def modem_sim(
    listen: str,
    control: str,
    pin: str | None,
    report_delay: float,
    balance: str | None,
    seed: int | None,
) -> None:
    """A GSM modem (Huawei AT dialect, PDU mode) on a TCP port, for trying smsgate or
    smsd without hardware. Point a modem channel at tcp://HOST:PORT."""
    import asyncio

    import uvicorn

    from smsgate.modem.sim_control import control_app
    from smsgate.modem.simulator import ModemSimulator, SimulatorConfig

    at_host, at_port = _address(listen, "--listen")
    control_at = None if control == "none" else _address(control, "--control")
    config = SimulatorConfig(pin=pin, report_delay=report_delay)
    if balance:
        config.balance = balance

    async def run() -> None:
        modem = ModemSimulator(config, seed=seed)
        host, port = await modem.start(at_host, at_port)
        click.echo(f"modem simulator listening on tcp://{host}:{port}", nl=True)
        server = None
        if control_at is not None:
            server = uvicorn.Server(
                uvicorn.Config(
                    control_app(modem),
                    host=control_at[0],
                    port=control_at[1],
                    log_level="warning",
                    lifespan="off",
                )
            )
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    raise click.ClickException(f"control API cannot listen on {control}")
                await asyncio.sleep(0.01)
            bound = server.servers[0].sockets[0].getsockname()
            click.echo(f"control API on http://{bound[0]}:{bound[1]}")
        sys.stdout.flush()
        try:
            await asyncio.Event().wait()
        finally:
            if server is not None:
                server.should_exit = True
            await modem.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise click.ClickException(str(exc)) from None


from smsgate.operator import register  # noqa: E402 - send, messages tail

register(main)

from smsgate.operator.numbers import register as register_numbers  # noqa: E402

register_numbers(main)  # numbers, applications, optouts

from smsgate.operator.smpp import register as register_smpp  # noqa: E402

register_smpp(main)  # smpp users


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

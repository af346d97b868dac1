"""``smsgate rules``: keyword rules, which send matching inbound messages to a handler (a
webhook or a Python entry point) instead of the application; and ``rules test``, which shows
what a message would match and can hand a made-up one to the handler (see docs/handlers.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode, urlsplit

import click
from sqlalchemy import Connection

from smsgate.config import Settings
from smsgate.core import inbound_routing as routing
from smsgate.core import patterns
from smsgate.core.clock import SystemClock, iso
from smsgate.core.handlers import (
    HANDLER_NAME,
    PYTHON,
    Answer,
    HandlerNotFound,
    inbound_message,
    installed_handlers,
    load_handler,
    read_answer,
    result_answer,
    run_handler,
)
from smsgate.core.ids import uuid7
from smsgate.core.links import LinkSpec, base_url, link_spec
from smsgate.core.models import Account, Message
from smsgate.core.signing import signature_headers
from smsgate.core.states import Direction, State
from smsgate.handlers_api import ENTRY_POINT_GROUP, HandlerContext
from smsgate.store import accounts as account_store
from smsgate.store import keyword_rules as rule_store
from smsgate.store import numbers as number_store
from smsgate.store.keyword_rules import KeywordRule
from smsgate.text.errors import EncodeError
from smsgate.text.numbers import sanitize_sender
from smsgate.text.segments import segment

if TYPE_CHECKING:
    from smsgate.cli import Context

T = TypeVar("T")
MAX_URL = 2000


def _with_db(settings: Settings, work: Callable[[Connection], T]) -> T:
    from smsgate.cli import _with_db as with_db  # cli registers this module: import late

    return with_db(settings, work)


def _account(conn: Connection, auth_id: str) -> Account:
    found = account_store.by_auth_id(conn, auth_id)
    if found is None:
        raise click.ClickException(f"no account {auth_id}")
    return found


def _auth_ids(conn: Connection) -> dict[int, str]:
    return {account.id: account.auth_id for account in account_store.all_accounts(conn)}


def rule_json(rule: KeywordRule, auth_id: str) -> dict[str, Any]:
    return {
        "id": rule.id,
        "account": auth_id,
        "destination": rule.destination,
        "keyword": rule.keyword,
        "senders": list(rule.senders) if rule.senders is not None else None,
        "handler": rule.handler,
        "method": rule.method,
        "max_attempts": rule.max_attempts,
        "priority": rule.priority,
        "enabled": rule.enabled,
        "note": rule.note,
        "created_at": iso(rule.created_at),
    }


def _pattern(raw: str, option: str) -> str:
    try:
        checked = patterns.check_pattern(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
    return checked


def check_handler(raw: str) -> str:
    """``raw`` as a rule's handler, or BadParameter; warns when a Python handler is not
    installed here."""
    handler = raw.strip()
    if handler.startswith(PYTHON):
        name = handler.removeprefix(PYTHON)
        if not HANDLER_NAME.fullmatch(name):
            raise click.BadParameter(
                f"{raw!r}: python:<entry point name> (letters, digits, _ . -)",
                param_hint="--handler",
            )
        if name not in installed_handlers():
            click.echo(
                f"warning: no handler {name!r} is installed here (entry point group "
                f"{ENTRY_POINT_GROUP}); install its package where the gateway runs",
                err=True,
            )
        return handler
    parts = urlsplit(handler)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(handler) > MAX_URL:
        raise click.BadParameter(
            f"{raw!r}: an http(s) URL (a webhook) or python:<entry point name>",
            param_hint="--handler",
        )
    return handler


def _keyword(raw: str) -> str:
    keyword = raw.strip()
    if any(c.isspace() for c in keyword) or len(keyword) > 64:
        raise click.BadParameter(
            "one word of at most 64 characters (ABC. or ABC* for a prefix)", param_hint="--keyword"
        )
    return keyword


@click.group()
def rules() -> None:
    """Keyword rules: inbound messages that go to a handler (see docs/handlers.md)."""


@rules.command("add")
@click.option("--account", "auth_id", required=True, help="auth_id of the account.")
@click.option(
    "--keyword",
    required=True,
    help='ABC. (or ABC*) takes every text starting so; HELLO the first word; "" any text.',
)
@click.option("--destination", default="", help="The number or short code (a pattern: 567, 44*).")
@click.option("--sender", "senders", multiple=True, help="A sender pattern (repeatable).")
@click.option("--handler", required=True, help="https://… (a webhook) or python:<name>.")
@click.option("--method", type=click.Choice(["POST", "GET"]), default="POST", show_default=True)
@click.option("--max-attempts", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--priority", type=int, default=100, show_default=True, help="Lower goes first.")
@click.option("--note", default="", help="Why the rule is there.")
@click.pass_obj
def rules_add(
    obj: Context,
    auth_id: str,
    keyword: str,
    destination: str,
    senders: tuple[str, ...],
    handler: str,
    method: str,
    max_attempts: int,
    priority: int,
    note: str,
) -> None:
    """Add a rule. Example: smsgate rules add --account MA… --keyword ABC. --destination 567
    --handler https://shop.example/sms"""
    checked_keyword = _keyword(keyword)
    checked_destination = _pattern(destination, "--destination") if destination.strip() else ""
    checked_senders = [_pattern(sender, "--sender") for sender in senders]
    checked_handler = check_handler(handler)
    if len(note) > 200:
        raise click.BadParameter("at most 200 characters", param_hint="--note")

    def work(conn: Connection) -> KeywordRule:
        account = _account(conn, auth_id)
        return rule_store.insert(
            conn,
            account_id=account.id,
            destination=checked_destination,
            keyword=checked_keyword,
            senders=checked_senders or None,
            handler=checked_handler,
            method=method,
            max_attempts=max_attempts,
            priority=priority,
            note=note,
            now=SystemClock().now_us(),
        )

    click.echo(json.dumps(rule_json(_with_db(obj.settings(), work), auth_id)))


@rules.command("list")
@click.option("--account", "auth_id", help="Only this account's rules.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def rules_list(obj: Context, auth_id: str | None, as_json: bool) -> None:
    """List rules, in the order they are tried (per account: priority, then id)."""

    def work(conn: Connection) -> tuple[list[KeywordRule], dict[int, str]]:
        only = [_account(conn, auth_id).id] if auth_id else None
        return rule_store.listed(conn, only), _auth_ids(conn)

    found, names = _with_db(obj.settings(), work)
    if as_json:
        click.echo(json.dumps([rule_json(rule, names.get(rule.account_id, "")) for rule in found]))
        return
    if not found:
        click.echo("no keyword rules: inbound messages go to their number's application")
    for rule in found:
        state = "" if rule.enabled else "  (disabled)"
        senders = f" from {','.join(rule.senders)}" if rule.senders else ""
        note = f"  # {rule.note}" if rule.note else ""
        click.echo(
            f"{rule.id:>5}  {names.get(rule.account_id, '?'):<22} {rule.priority:>4}  "
            f"{rule.keyword or '(any)':<14} to {rule.destination or '*':<10}{senders} "
            f"-> {rule.handler} (x{rule.max_attempts}){state}{note}"
        )


def _change(obj: Context, rule_id: int, change: Callable[[Connection], bool], done: str) -> None:
    if not _with_db(obj.settings(), change):
        raise click.ClickException(f"no rule {rule_id}")
    click.echo(f"rule {rule_id} {done}")


@rules.command("remove")
@click.argument("rule_id", type=int)
@click.pass_obj
def rules_remove(obj: Context, rule_id: int) -> None:
    """Remove a rule (running gateways apply it to the next message)."""
    _change(obj, rule_id, lambda conn: rule_store.remove(conn, rule_id), "removed")


@rules.command("disable")
@click.argument("rule_id", type=int)
@click.pass_obj
def rules_disable(obj: Context, rule_id: int) -> None:
    """Stop a rule from matching, keeping it."""
    _change(obj, rule_id, lambda conn: rule_store.set_enabled(conn, rule_id, False), "disabled")


@rules.command("enable")
@click.argument("rule_id", type=int)
@click.pass_obj
def rules_enable(obj: Context, rule_id: int) -> None:
    """Let a disabled rule match again."""
    _change(obj, rule_id, lambda conn: rule_store.set_enabled(conn, rule_id, True), "enabled")


# --- rules test ------------------------------------------------------------------------------


@dataclass
class _Found:
    account: Account
    message: Message
    rule: KeywordRule | None
    intent: tuple[str, str] | None
    application: str  # where the message would go without a rule ("" nowhere)


def _find(
    conn: Connection,
    settings: Settings,
    auth_id: str | None,
    to: str,
    sender: str,
    text: str,
    channel: str,
) -> _Found:
    # As an arrival is routed: numbers as digits, then the number's owner on this channel.
    to, sender = sanitize_sender(to)[:32], sanitize_sender(sender)[:32]
    owner_id, application_id = routing.owner(conn, to, channel)
    account: Account | None
    if auth_id:
        account = _account(conn, auth_id)
    elif owner_id is not None:
        account = account_store.by_id(conn, owner_id)
    else:
        account = account_store.first_main_account(conn)
    if account is None:
        raise click.ClickException("no account exists to receive the message")
    now = SystemClock().now_us()
    try:
        seg = segment(text)
    except EncodeError:
        raise click.ClickException("--text is longer than any message can be (255 parts)") from None
    message = Message(
        uuid=uuid7(),
        account_id=account.id,
        direction=Direction.INBOUND,
        state=State.RECEIVED,
        from_number=sender,
        to_number=to,
        text=text,
        encoding=seg.name,
        units=seg.units,
        created_at=now,
    )
    intent = None
    if settings.inbound.keywords_enabled:
        intent = routing.keywords_for(settings.inbound, account).intent_of(text)
        if intent is not None:
            message.intent = intent[0]
    rule = routing.matching_rule(rule_store.for_account(conn, account.id), message)
    application = ""
    if application_id is not None and owner_id == account.id:
        app = number_store.application_by_id(conn, application_id)
        if app is not None and app.message_url:
            application = f"application {app.app_id} ({app.message_url})"
    return _Found(account, message, rule, intent, application)


@dataclass
class _DryContext:
    """A handler's context in a test: links are described, not stored."""

    base: str
    links: list[LinkSpec] = field(default_factory=list)

    async def link(
        self,
        *,
        redirect: str | None = None,
        content: str | None = None,
        content_type: str = "text/plain",
        expires_in: int | None = None,
    ) -> str:
        spec = link_spec(
            redirect=redirect, content=content, content_type=content_type, expires_in=expires_in
        )
        self.links.append(spec)
        return f"{self.base}/l/test-link-{len(self.links)}-not-stored"


async def _post_webhook(
    settings: Settings, account: Account, rule: KeywordRule, params: dict[str, str]
) -> Answer:
    import httpx

    from smsgate.core.notifier import USER_AGENT

    method = rule.method.upper()
    headers = {
        "User-Agent": USER_AGENT,
        **signature_headers(account.auth_token, method, rule.handler, params),
    }
    async with httpx.AsyncClient(timeout=settings.callbacks.timeout) as client:
        try:
            if method == "GET":
                joiner = "&" if "?" in rule.handler else "?"
                url = rule.handler + joiner + urlencode(params)
                response = await client.get(url, headers=headers)
            else:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                response = await client.post(
                    rule.handler, content=urlencode(params), headers=headers
                )
        except httpx.HTTPError as exc:
            return Answer("failed", f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc))
    content_type = response.headers.get("content-type", "")
    return read_answer(response.status_code, content_type, response.content)


async def _deliver(
    settings: Settings, found: _Found, rule: KeywordRule
) -> tuple[Answer, list[LinkSpec]]:
    extra = {"Keyword": rule.keyword, "RuleID": str(rule.id)}
    params = routing.inbound_params(found.message, extra)
    if not rule.handler.startswith(PYTHON):
        answer = await _post_webhook(settings, found.account, rule, params)
        return answer, [answer.link] if answer.link is not None else []
    name = rule.handler.removeprefix(PYTHON)
    try:
        handler = load_handler(name)
    except HandlerNotFound as exc:
        return Answer("failed", str(exc)), []
    message = inbound_message(params, found.message.uuid, found.message.created_at)
    context = _DryContext(base_url(settings))
    typed: HandlerContext = context
    timeout = settings.callbacks.timeout
    result, error = await run_handler(name, lambda: handler(message, typed), timeout)
    if error:
        return Answer("failed", error), context.links
    return result_answer(result), context.links


def _describe(spec: LinkSpec) -> str:
    expiry = f"expires in {spec.expires_in} s" if spec.expires_in else "default expiry"
    if spec.kind == "redirect":
        return f"redirect to {spec.target} ({expiry})"
    return f"content, {len(spec.target)} characters as {spec.content_type} ({expiry})"


@rules.command("test")
@click.option("--to", "to_number", required=True, help="The number or short code it is sent to.")
@click.option("--from", "from_number", required=True, help="The handset's number.")
@click.option("--text", required=True)
@click.option("--account", "auth_id", help="auth_id (default: the number's owner, or the first).")
@click.option("--deliver", is_flag=True, help="Hand a made-up message to the matching handler.")
@click.option("--channel", help="The channel it arrives on (default: the first configured).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def rules_test(
    obj: Context,
    to_number: str,
    from_number: str,
    text: str,
    auth_id: str | None,
    deliver: bool,
    channel: str | None,
    as_json: bool,
) -> None:
    """Which rule an inbound message would match; with --deliver, what its handler answers to
    a made-up message (nothing is stored or sent; a webhook gets a request signed with the
    account's token, as a real one)."""
    settings = obj.settings()
    arrival = channel or settings.channels[0].name
    found = _with_db(
        settings,
        lambda conn: _find(conn, settings, auth_id, to_number, from_number, text, arrival),
    )
    rule = found.rule
    report: dict[str, Any] = {
        "account": found.account.auth_id,
        "intent": found.intent[0] if found.intent else "",
        "rule": rule_json(rule, found.account.auth_id) if rule else None,
        "otherwise": found.application,
    }
    lines = [f"account   {found.account.auth_id}"]
    if found.intent:
        lines.append(f"keyword   standard keyword: {found.intent[0]} ({found.intent[1]})")
    if rule is None:
        goes = (
            f"go to {found.application}"
            if found.application
            else "stay received, to be read through the API"
        )
        lines.append(f"rule      none matches: it would {goes}")
    else:
        lines.append(
            f"rule      {rule.id} matches: keyword {rule.keyword or '(any)'} to "
            f"{rule.destination or '*'} -> {rule.handler}"
        )
    answer: Answer | None = None
    if deliver:
        if rule is None:
            raise click.ClickException("\n".join([*lines, "no rule matches: nothing to deliver"]))
        answer, links = asyncio.run(_deliver(settings, found, rule))
        report["outcome"] = answer.outcome
        report["error"] = answer.error
        report["reply"] = answer.reply
        report["links"] = [_describe(spec) for spec in links]
        lines.append(f"outcome   {answer.outcome}" + (f": {answer.error}" if answer.error else ""))
        if answer.reply is not None:
            lines.append(f"reply     {answer.reply}")
        for spec in links:
            lines.append(f"link      {_describe(spec)} (a test: not stored)")
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo("\n".join(lines))
    if answer is not None and answer.outcome == "failed":
        sys.exit(1)

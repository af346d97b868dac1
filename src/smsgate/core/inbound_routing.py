"""Where an inbound message goes, decided in the transaction that stores it.

1. The number it was sent to, when an account owns it (``numbers``), decides the account and
   the application; otherwise the channel's account (or the first main account) keeps it,
   and that it reached an unknown number is noted on the message.
2. A standard keyword (STOP, START, HELP, … per account and language) updates the account's
   opt-out list and queues the configured reply; the message goes on like any other, with
   Plivo's ``MessageIntent``.
3. The first keyword rule of the account that matches (destination, keyword or prefix,
   sender) sends it to that rule's handler; otherwise the application's ``message_url`` gets
   it. Either is a row of the callback outbox, so it is delivered after the commit, signed,
   and retried; with neither, the message stays ``received``, to be read through the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from smsgate.config import InboundSettings, KeywordSettings
from smsgate.core import patterns
from smsgate.core.callbacks import total_amount
from smsgate.core.clock import seconds
from smsgate.core.errors import InvalidParameter
from smsgate.core.ids import api_id
from smsgate.core.keywords import OPTIN, OPTOUT, Keywords, keyword_matches
from smsgate.core.models import Account, Message
from smsgate.core.submission import Submission, callback_row, prepare
from smsgate.store import keyword_rules as rule_store
from smsgate.store import numbers as number_store
from smsgate.store import opt_outs as opt_out_store
from smsgate.store.keyword_rules import KeywordRule
from smsgate.store.numbers import Application
from smsgate.text.numbers import check_destination, international

#: Who submits the standard keywords' replies (they go even to a number that just opted out).
KEYWORD_REPLY = "keywords/reply"
INBOUND, HANDLER = "inbound", "handler"


@dataclass(slots=True)
class Plan:
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail) events


def owner(conn: Connection, to_number: str, channel: str) -> tuple[int | None, int | None]:
    """``(account_id, application_id)`` of the number a message was sent to, when an account
    owns it on this channel."""
    found = number_store.number(conn, to_number)
    if found is None or (found.channel is not None and found.channel != channel):
        return None, None
    return found.account_id, found.application_id


def keywords_for(settings: InboundSettings, account: Account) -> Keywords:
    chosen: KeywordSettings = next(
        (own for own in settings.accounts if own.account == account.auth_id), settings.keywords
    )
    return Keywords(
        words={
            "optout": chosen.optout_keywords,
            "optin": chosen.optin_keywords,
            "help": chosen.help_keywords,
        },
        replies={
            "optout": chosen.optout_reply,
            "optin": chosen.optin_reply,
            "help": chosen.help_reply,
        },
    )


def inbound_params(msg: Message, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What Plivo posts to an application's ``message_url`` for an inbound SMS."""
    return {
        "From": msg.from_number,
        "To": msg.to_number,
        "Text": msg.text or "",
        "Type": "sms",
        "MessageUUID": msg.uuid,
        "Units": str(msg.units),
        "TotalRate": msg.total_rate,
        "TotalAmount": total_amount(msg.total_rate, msg.units),
        "MessageIntent": msg.intent,
        "PowerpackUUID": "",
        **(extra or {}),
    }


def _country(number: str) -> str:
    """The country of a full international number ("" for a short code)."""
    found = check_destination(number) if number.isdigit() and len(number) > 8 else None
    return found.country_iso2 if found is not None else ""


def matching_rule(rules: list[KeywordRule], msg: Message) -> KeywordRule | None:
    to_country, from_country = _country(msg.to_number), _country(msg.from_number)
    for rule in rules:
        if rule.destination and not patterns.matches(rule.destination, msg.to_number, to_country):
            continue
        if rule.senders is not None and not patterns.allowed(
            list(rule.senders), msg.from_number, from_country
        ):
            continue
        if keyword_matches(rule.keyword, msg.text or ""):
            return rule
    return None


def plan(
    conn: Connection,
    msg: Message,
    account: Account,
    application_id: int | None,
    settings: InboundSettings,
    now: int,
) -> Plan:
    """What to do with ``msg`` (stored as ``received``); may set its intent and log."""
    result = Plan()
    app: Application | None = None
    if application_id is not None:
        app = number_store.application_by_id(conn, application_id)
        if app is not None and not app.log_incoming_messages:
            msg.log = "false"
    if settings.keywords_enabled:
        _standard_keyword(conn, msg, account, settings, now, result)
    rule = matching_rule(rule_store.for_account(conn, account.id), msg)
    if rule is not None:
        params = inbound_params(msg, {"Keyword": rule.keyword, "RuleID": str(rule.id)})
        result.callbacks.append(
            callback_row(
                account_id=account.id,
                message_uuid=msg.uuid,
                kind=HANDLER,
                url=rule.handler,
                method=rule.method,
                params=params,
                private=msg.log == "false",
                now=now,
                max_attempts=rule.max_attempts,
            )
        )
        result.notes.append(("routed", f"keyword rule {rule.id} ({rule.handler})"))
    elif app is not None and app.message_url:
        result.callbacks.append(
            callback_row(
                account_id=account.id,
                message_uuid=msg.uuid,
                kind=INBOUND,
                url=app.message_url,
                method=app.message_method,
                params=inbound_params(msg),
                private=msg.log == "false",
                now=now,
                deadline=now + seconds(settings.retry_hours * 3600),
            )
        )
        result.notes.append(("routed", f"application {app.app_id}"))
    return result


def _standard_keyword(
    conn: Connection,
    msg: Message,
    account: Account,
    settings: InboundSettings,
    now: int,
    result: Plan,
) -> None:
    keywords = keywords_for(settings, account)
    found = keywords.intent_of(msg.text or "")
    if found is None:
        return
    intent, language = found
    msg.intent = intent
    word = (msg.text or "").strip()[:32]
    # Listed as sends address it: international digits ("00 44 …" and "+44 …" alike).
    number = international(msg.from_number)
    if intent == OPTOUT:
        opt_out_store.add(conn, account.id, number, word, msg.uuid, now)
        result.notes.append(("opted_out", f"{word}: {number} opted out"))
    elif intent == OPTIN:
        # "YES" answers many questions: only a number that had opted out is told it is back.
        if not opt_out_store.remove(conn, account.id, number):
            return
        result.notes.append(("opted_in", f"{word}: {number} opted in"))
    text = keywords.reply(intent, language)
    if text:
        rows = reply_rows(account, msg, text, now, KEYWORD_REPLY)
        if not rows:
            result.notes.append(("reply_refused", f"{msg.from_number} cannot be answered"))
        result.replies += rows


def reply_rows(
    account: Account, inbound: Message, text: str, now: int, submitted_by: str
) -> list[dict[str, Any]]:
    """The rows of an outbound reply to ``inbound``, from the number it was sent to."""
    try:
        prepared = prepare(
            account,
            Submission(
                src=inbound.to_number,
                dst=inbound.from_number,
                text=text,
                submitted_by=submitted_by,
                reply_to=inbound.uuid,
            ),
            now=now,
            request_id=api_id(),
            requester_ip="",
        )
    except InvalidParameter:
        return []  # a sender that cannot be answered (an alphanumeric ID, say)
    return prepared.messages

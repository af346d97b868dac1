"""Queries on applications and the numbers they answer."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from smsgate.store.schema import applications as a
from smsgate.store.schema import numbers as n
from smsgate.text.numbers import check_destination, sanitize_sender


@dataclass(frozen=True, slots=True)
class Application:
    id: int
    app_id: str
    account_id: int
    name: str
    message_url: str | None
    message_method: str
    log_incoming_messages: bool
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Number:
    id: int
    number: str
    account_id: int
    application_id: int | None
    channel: str | None
    alias: str
    created_at: int


def _application(row: Any) -> Application:
    return Application(**{k: row._mapping[k] for k in Application.__slots__})


def _number(row: Any) -> Number:
    return Number(**{k: row._mapping[k] for k in Number.__slots__})


def new_app_id() -> str:
    """Plivo's app_ids are long decimal numbers; so are these."""
    return str(10**16 + secrets.randbelow(9 * 10**16))


def insert_application(
    conn: Connection,
    *,
    account_id: int,
    name: str,
    message_url: str | None,
    message_method: str,
    log_incoming_messages: bool,
    now: int,
) -> Application:
    row = conn.execute(
        a.insert()
        .values(
            app_id=new_app_id(),
            account_id=account_id,
            name=name,
            message_url=message_url,
            message_method=message_method,
            log_incoming_messages=log_incoming_messages,
            created_at=now,
            updated_at=now,
        )
        .returning(*a.c)
    ).one()
    return _application(row)


def update_application(conn: Connection, app_id: str, now: int, **changes: Any) -> bool:
    allowed = {"name", "message_url", "message_method", "log_incoming_messages"}
    if set(changes) - allowed:
        raise ValueError(f"cannot change {', '.join(sorted(set(changes) - allowed))}")
    done = conn.execute(update(a).where(a.c.app_id == app_id).values(updated_at=now, **changes))
    return bool(done.rowcount)


def application(conn: Connection, app_id: str) -> Application | None:
    row = conn.execute(select(a).where(a.c.app_id == app_id)).first()
    return _application(row) if row else None


def application_by_id(conn: Connection, application_id: int) -> Application | None:
    row = conn.execute(select(a).where(a.c.id == application_id)).first()
    return _application(row) if row else None


def applications(conn: Connection, account_ids: list[int] | None = None) -> list[Application]:
    query = select(a).order_by(a.c.id)
    if account_ids is not None:
        query = query.where(a.c.account_id.in_(account_ids))
    return [_application(row) for row in conn.execute(query)]


def delete_application(conn: Connection, app_id: str) -> bool:
    """Remove an application; its numbers keep receiving, with no application."""
    found = application(conn, app_id)
    if found is None:
        return False
    conn.execute(update(n).where(n.c.application_id == found.id).values(application_id=None))
    conn.execute(delete(a).where(a.c.id == found.id))
    return True


def insert_number(
    conn: Connection,
    *,
    number: str,
    account_id: int,
    application_id: int | None,
    channel: str | None,
    alias: str,
    now: int,
) -> Number:
    row = conn.execute(
        n.insert()
        .values(
            number=number,
            account_id=account_id,
            application_id=application_id,
            channel=channel,
            alias=alias,
            created_at=now,
        )
        .returning(*n.c)
    ).one()
    return _number(row)


def number(conn: Connection, value: str) -> Number | None:
    row = conn.execute(select(n).where(n.c.number == value)).first()
    return _number(row) if row else None


def numbers(conn: Connection, account_ids: list[int] | None = None) -> list[Number]:
    query = select(n).order_by(n.c.number)
    if account_ids is not None:
        query = query.where(n.c.account_id.in_(account_ids))
    return [_number(row) for row in conn.execute(query)]


def update_number(conn: Connection, value: str, **changes: Any) -> bool:
    allowed = {"application_id", "channel", "alias", "account_id"}
    if set(changes) - allowed:
        raise ValueError(f"cannot change {', '.join(sorted(set(changes) - allowed))}")
    return bool(conn.execute(update(n).where(n.c.number == value).values(**changes)).rowcount)


def delete_number(conn: Connection, value: str) -> bool:
    return bool(conn.execute(delete(n).where(n.c.number == value)).rowcount)


# checks every face shares (the Plivo API, the admin API, the console, the CLI) -----------------

#: A short code: 3 to 8 digits. Anything longer must be a phone number with its country code.
SHORT_CODE = re.compile(r"[0-9]{3,8}")
MAX_ALIAS = 200
MAX_NAME = 200
MAX_APP_ID = 32


class Refused(ValueError):
    """Why a number or an application cannot be stored as asked. ``field`` names the input;
    ``kind`` is ``invalid`` (a bad value), ``unknown`` (no such account or application) or
    ``duplicate`` (the number belongs to an account already)."""

    def __init__(self, field: str, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.kind = kind

    @property
    def status(self) -> int:
        """The HTTP status an API answers it with."""
        return {"unknown": 404, "duplicate": 409}.get(self.kind, 400)


def clean_number(raw: str) -> str:
    """``raw`` as stored and as inbound messages name it (``sanitize_sender``: ``+``, spaces
    and punctuation removed): a short code of 3 to 8 digits or a possible E.164 number."""
    digits = sanitize_sender(raw)
    if SHORT_CODE.fullmatch(digits) or (digits.isdigit() and check_destination(digits)):
        return digits
    shown = raw[:40]
    raise Refused(
        "number",
        f"invalid number {shown!r}: use a short code (3 to 8 digits) or a phone number with "
        "its country code",
    )


def number_type(value: str) -> str:
    """Plivo's ``number_type``: ``shortcode`` for 3 to 8 digits, else ``local``."""
    return "shortcode" if SHORT_CODE.fullmatch(value) else "local"


def check_alias(raw: str) -> str:
    value = raw.strip()
    if len(value) > MAX_ALIAS or any(ord(char) < 32 for char in value):
        raise Refused("alias", f"invalid alias: at most {MAX_ALIAS} characters, no control ones")
    return value


def check_name(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise Refused("app_name", "app_name parameter is missing")
    if len(value) > MAX_NAME or any(ord(char) < 32 for char in value):
        raise Refused(
            "app_name", f"invalid app_name: at most {MAX_NAME} characters, no control ones"
        )
    return value


def check_channel(name: str | None, known: Collection[str]) -> str | None:
    """``name`` when it is one of the ``known`` channels; None (any channel) for None or ""."""
    if name is None or name.strip() == "":
        return None
    if name.strip() not in known:
        listed = ", ".join(sorted(known)) or "none"
        raise Refused("channel", f"invalid channel {name[:64]!r}: use one of {listed}")
    return name.strip()


def owned_application(conn: Connection, app_id: str, account_id: int) -> Application:
    """The application ``app_id`` of the account ``account_id``; the same refusal whether it
    does not exist or is another account's, so that nothing is told about other accounts."""
    found = application(conn, app_id) if app_id.isdigit() and len(app_id) <= MAX_APP_ID else None
    if found is None or found.account_id != account_id:
        raise Refused(
            "app_id", f"invalid app_id {app_id[:40]!r}: not an application of this account"
        )
    return found


#: ``number`` under another name, for functions whose parameter is called ``number``.
_find_number = number


def add_number(
    conn: Connection,
    *,
    number: str,
    account_id: int,
    app_id: str | None,
    channel: str | None,
    alias: str,
    now: int,
) -> Number:
    """Give ``number`` (cleaned already) to an account, bound to one of its applications."""
    if _find_number(conn, number) is not None:
        raise Refused("number", f"number {number} belongs to an account already", "duplicate")
    app = owned_application(conn, app_id, account_id) if app_id else None
    return insert_number(
        conn,
        number=number,
        account_id=account_id,
        application_id=app.id if app else None,
        channel=channel,
        alias=alias,
        now=now,
    )


def numbers_per_application(conn: Connection) -> dict[int, int]:
    """How many numbers each application answers (applications with none left out)."""
    rows = conn.execute(
        select(n.c.application_id, func.count())
        .where(n.c.application_id.is_not(None))
        .group_by(n.c.application_id)
    )
    return {row[0]: row[1] for row in rows}

"""Queries on applications and the numbers they answer."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update

from smsgate.store.schema import applications as a
from smsgate.store.schema import numbers as n


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

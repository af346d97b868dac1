"""Queries on keyword rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update

from smsgate.store.schema import keyword_rules as k


@dataclass(frozen=True, slots=True)
class KeywordRule:
    id: int
    account_id: int
    destination: str  # a destination pattern (core/patterns.py); "" any number
    keyword: str  # "ABC." a prefix; "HELLO" the first word; "" any text
    senders: tuple[str, ...] | None  # patterns the sender must match; None any
    handler: str  # an http(s) URL (a webhook) or python:<entry point name>
    method: str
    max_attempts: int
    priority: int
    enabled: bool
    note: str
    created_at: int


def _rule(row: Any) -> KeywordRule:
    senders = tuple(orjson.loads(row.senders)) if row.senders else None
    return KeywordRule(
        id=row.id,
        account_id=row.account_id,
        destination=row.destination,
        keyword=row.keyword,
        senders=senders,
        handler=row.handler,
        method=row.method,
        max_attempts=row.max_attempts,
        priority=row.priority,
        enabled=bool(row.enabled),
        note=row.note,
        created_at=row.created_at,
    )


def insert(
    conn: Connection,
    *,
    account_id: int,
    destination: str,
    keyword: str,
    senders: list[str] | None,
    handler: str,
    method: str = "POST",
    max_attempts: int = 5,
    priority: int = 100,
    note: str = "",
    now: int,
) -> KeywordRule:
    row = conn.execute(
        k.insert()
        .values(
            account_id=account_id,
            destination=destination,
            keyword=keyword,
            senders=orjson.dumps(senders).decode() if senders else "",
            handler=handler,
            method=method,
            max_attempts=max_attempts,
            priority=priority,
            enabled=True,
            note=note,
            created_at=now,
        )
        .returning(*k.c)
    ).one()
    return _rule(row)


def for_account(conn: Connection, account_id: int) -> list[KeywordRule]:
    """An account's enabled rules, in the order they are tried."""
    rows = conn.execute(
        select(k)
        .where(k.c.account_id == account_id, k.c.enabled.is_(True))
        .order_by(k.c.priority, k.c.id)
    )
    return [_rule(row) for row in rows]


def listed(conn: Connection, account_ids: list[int] | None = None) -> list[KeywordRule]:
    query = select(k).order_by(k.c.account_id, k.c.priority, k.c.id)
    if account_ids is not None:
        query = query.where(k.c.account_id.in_(account_ids))
    return [_rule(row) for row in conn.execute(query)]


def by_id(conn: Connection, rule_id: int) -> KeywordRule | None:
    row = conn.execute(select(k).where(k.c.id == rule_id)).first()
    return _rule(row) if row else None


def set_enabled(conn: Connection, rule_id: int, enabled: bool) -> bool:
    return bool(conn.execute(update(k).where(k.c.id == rule_id).values(enabled=enabled)).rowcount)


def remove(conn: Connection, rule_id: int) -> bool:
    return bool(conn.execute(delete(k).where(k.c.id == rule_id)).rowcount)

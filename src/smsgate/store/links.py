"""Queries on one-time links (``core/links.py``). Only a token's SHA-256 digest is stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from smsgate.store.schema import links as t

REDIRECT, CONTENT = "redirect", "content"


@dataclass(frozen=True, slots=True)
class Link:
    id: int
    token_hash: str
    account_id: int
    message_uuid: str | None
    rule_id: int | None
    kind: str  # redirect | content
    target: str  # the URL redirected to, or the content served
    content_type: str  # what content is served as ("" for a redirect)
    created_at: int
    expires_at: int
    opened_at: int | None
    opened_ip: str
    opened_agent: str


def _link(row: Any) -> Link:
    return Link(**{column.name: row._mapping[column.name] for column in t.c})


def insert(
    conn: Connection,
    *,
    token_hash: str,
    account_id: int,
    message_uuid: str | None,
    rule_id: int | None,
    kind: str,
    target: str,
    content_type: str,
    now: int,
    expires_at: int,
) -> Link:
    row = conn.execute(
        t.insert()
        .values(
            token_hash=token_hash,
            account_id=account_id,
            message_uuid=message_uuid,
            rule_id=rule_id,
            kind=kind,
            target=target,
            content_type=content_type,
            created_at=now,
            expires_at=expires_at,
        )
        .returning(*t.c)
    ).one()
    return _link(row)


def by_hash(conn: Connection, token_hash: str) -> Link | None:
    row = conn.execute(select(t).where(t.c.token_hash == token_hash)).first()
    return _link(row) if row else None


def by_id(conn: Connection, link_id: int) -> Link | None:
    row = conn.execute(select(t).where(t.c.id == link_id)).first()
    return _link(row) if row else None


def for_message(conn: Connection, message_uuid: str) -> list[Link]:
    rows = conn.execute(select(t).where(t.c.message_uuid == message_uuid).order_by(t.c.id))
    return [_link(row) for row in rows]


def open_once(conn: Connection, link_id: int, *, now: int, ip: str, agent: str) -> bool:
    """Mark the link opened, if it is neither opened nor expired: True for the one caller
    that did (the condition is in the UPDATE, so two opens at once cannot both win)."""
    result = conn.execute(
        update(t)
        .where(t.c.id == link_id, t.c.opened_at.is_(None), t.c.expires_at > now)
        .values(opened_at=now, opened_ip=ip[:64], opened_agent=agent[:300])
    )
    return bool(result.rowcount)

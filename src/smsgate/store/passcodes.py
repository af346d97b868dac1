"""Queries on pass codes: make, find by code, list, use up, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, select, update

from smsgate.core.passcodes import PassCode
from smsgate.store.schema import pass_codes

c = pass_codes.c


def _code(row: Any) -> PassCode:
    destinations = orjson.loads(row.destinations) if row.destinations else None
    return PassCode(
        id=row.id,
        account_id=row.account_id,
        label=row.label,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        max_messages=row.max_messages,
        used_messages=row.used_messages,
        destinations=tuple(destinations) if destinations is not None else None,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def insert(
    conn: Connection,
    *,
    account_id: int,
    code_hash: str,
    label: str,
    created_by: str,
    now: int,
    expires_at: int,
    max_messages: int | None,
    destinations: Sequence[str] | None,
) -> PassCode:
    row = conn.execute(
        pass_codes.insert()
        .values(
            account_id=account_id,
            code_hash=code_hash,
            label=label,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
            max_messages=max_messages,
            used_messages=0,
            destinations=orjson.dumps(list(destinations)).decode() if destinations else "",
        )
        .returning(*pass_codes.c)
    ).one()
    return _code(row)


def by_hash(conn: Connection, code_hash: str) -> PassCode | None:
    row = conn.execute(select(pass_codes).where(c.code_hash == code_hash)).first()
    return _code(row) if row else None


def by_id(conn: Connection, code_id: int) -> PassCode | None:
    row = conn.execute(select(pass_codes).where(c.id == code_id)).first()
    return _code(row) if row else None


def listed(conn: Connection, account_ids: Sequence[int] | None = None) -> list[PassCode]:
    """Newest first; every account's when ``account_ids`` is None."""
    query = select(pass_codes).order_by(c.id.desc())
    if account_ids is not None:
        query = query.where(c.account_id.in_(account_ids))
    return [_code(row) for row in conn.execute(query)]


def use(conn: Connection, code_id: int, messages: int, now: int) -> bool:
    """Count ``messages`` against the code, if it is still active and has room for them all:
    checked and counted in one statement, so two sends at once cannot both take the last."""
    result = conn.execute(
        update(pass_codes)
        .where(
            c.id == code_id,
            c.revoked_at.is_(None),
            c.expires_at > now,
            (c.max_messages.is_(None)) | (c.used_messages + messages <= c.max_messages),
        )
        .values(used_messages=c.used_messages + messages, last_used_at=now)
    )
    return bool(result.rowcount)


def revoke(conn: Connection, code_id: int, now: int) -> bool:
    result = conn.execute(
        update(pass_codes).where(c.id == code_id, c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return bool(result.rowcount)

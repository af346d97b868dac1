"""Queries on access tokens: issue, find by token, list, revoke."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from smsgate.store.schema import access_tokens

t = access_tokens.c


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessToken:
    id: int
    face: str
    label: str
    account_id: int
    created_at: int
    revoked_at: int | None

    @classmethod
    def from_row(cls, row: Any) -> AccessToken:
        return cls(row.id, row.face, row.label, row.account_id, row.created_at, row.revoked_at)


def issue(conn: Connection, face: str, account_id: int, label: str, now: int) -> tuple[str, int]:
    """A new random token (returned once; only its digest is kept) and its id."""
    token = secrets.token_hex(16)
    result = conn.execute(
        access_tokens.insert().values(
            face=face,
            token_hash=digest(token),
            label=label,
            account_id=account_id,
            created_at=now,
        )
    )
    return token, int(result.inserted_primary_key[0])  # type: ignore[index]


def find(conn: Connection, face: str, token: str) -> AccessToken | None:
    row = conn.execute(
        select(access_tokens).where(
            t.face == face, t.token_hash == digest(token), t.revoked_at.is_(None)
        )
    ).first()
    return AccessToken.from_row(row) if row else None


def listed(conn: Connection, face: str) -> list[AccessToken]:
    rows = conn.execute(select(access_tokens).where(t.face == face).order_by(t.id))
    return [AccessToken.from_row(row) for row in rows]


def revoke(conn: Connection, face: str, token_id: int, now: int) -> bool:
    result = conn.execute(
        update(access_tokens)
        .where(t.face == face, t.id == token_id, t.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)

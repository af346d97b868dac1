"""Queries on accounts and admin users."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from smsgate.core.models import Account
from smsgate.store.schema import accounts, admin_users


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        auth_id=row.auth_id,
        auth_token=row.auth_token,
        parent_id=row.parent_id,
        name=row.name,
        enabled=bool(row.enabled),
        alphanumeric_sender=bool(row.alphanumeric_sender),
        created_at=row.created_at,
        updated_at=row.updated_at,
        smart_encoding=bool(row.smart_encoding),
        api_requests=row.api_requests,
        send_rate=row.send_rate,
        number_pace=row.number_pace,
    )


def insert_account(
    conn: Connection,
    *,
    auth_id: str,
    auth_token: str,
    parent_id: int | None,
    name: str,
    alphanumeric_sender: bool,
    now: int,
    smart_encoding: bool = False,
) -> Account:
    result = conn.execute(
        accounts.insert()
        .values(
            auth_id=auth_id,
            auth_token=auth_token,
            parent_id=parent_id,
            name=name,
            enabled=True,
            alphanumeric_sender=alphanumeric_sender,
            smart_encoding=smart_encoding,
            created_at=now,
            updated_at=now,
        )
        .returning(*accounts.c)
    )
    return _account(result.one())


def by_auth_id(conn: Connection, auth_id: str) -> Account | None:
    row = (conn.execute(select(accounts).where(accounts.c.auth_id == auth_id))).first()
    return _account(row) if row else None


def by_id(conn: Connection, account_id: int) -> Account | None:
    row = (conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
    return _account(row) if row else None


def all_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(select(accounts).order_by(accounts.c.id))
    return [_account(row) for row in rows]


def first_main_account(conn: Connection) -> Account | None:
    row = (
        conn.execute(
            select(accounts)
            .where(accounts.c.parent_id.is_(None), accounts.c.enabled.is_(True))
            .order_by(accounts.c.id)
            .limit(1)
        )
    ).first()
    return _account(row) if row else None


def subaccount_ids(conn: Connection, parent_id: int) -> list[int]:
    rows = conn.execute(select(accounts.c.id).where(accounts.c.parent_id == parent_id))
    return [row.id for row in rows]


def set_auth_token(conn: Connection, account_id: int, token: str, now: int) -> None:
    conn.execute(
        update(accounts).where(accounts.c.id == account_id).values(auth_token=token, updated_at=now)
    )


def rename(conn: Connection, account_id: int, name: str, now: int) -> None:
    conn.execute(
        update(accounts).where(accounts.c.id == account_id).values(name=name, updated_at=now)
    )


def insert_admin(conn: Connection, username: str, password_hash: str, now: int) -> None:
    conn.execute(
        admin_users.insert().values(username=username, password_hash=password_hash, created_at=now)
    )


def admin_password_hash(conn: Connection, username: str) -> str | None:
    row = (
        conn.execute(select(admin_users.c.password_hash).where(admin_users.c.username == username))
    ).first()
    return row.password_hash if row else None


def set_admin_password(conn: Connection, username: str, password_hash: str) -> bool:
    result = conn.execute(
        update(admin_users)
        .where(admin_users.c.username == username)
        .values(password_hash=password_hash)
    )
    return bool(result.rowcount)


def admin_count(conn: Connection) -> int:
    rows = conn.execute(select(admin_users.c.id))
    return len(rows.all())


def update_account(conn: Connection, account_id: int, now: int, **changes: bool) -> None:
    """Change an account's switches (alphanumeric_sender, smart_encoding, enabled)."""
    allowed = {"alphanumeric_sender", "smart_encoding", "enabled"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    if changes:
        conn.execute(
            update(accounts).where(accounts.c.id == account_id).values(updated_at=now, **changes)
        )


#: The rate limits an account may set for itself; None puts back the ``[limits]`` setting.
LIMIT_COLUMNS = ("api_requests", "send_rate", "number_pace")


def set_limits(conn: Connection, account_id: int, now: int, **limits: str | None) -> None:
    """Set an account's rate limits (normalised rates, "" for none, None for the default)."""
    unknown = set(limits) - set(LIMIT_COLUMNS)
    if unknown:
        raise ValueError(f"no such limit: {', '.join(sorted(unknown))}")
    if limits:
        conn.execute(
            update(accounts).where(accounts.c.id == account_id).values(updated_at=now, **limits)
        )

"""Queries on the opt-out list: numbers that said STOP to an account, kept in international
digits however they were written (``0044…``, ``+44 …``), as sends address them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from smsgate.store.schema import opt_outs as o
from smsgate.text.numbers import international


@dataclass(frozen=True, slots=True)
class OptOut:
    account_id: int
    number: str
    keyword: str
    message_uuid: str | None
    created_at: int


def add(
    conn: Connection, account_id: int, number: str, keyword: str, uuid: str | None, now: int
) -> bool:
    """Put ``number`` on the account's list; False when it was there already."""
    number = international(number)
    if is_out(conn, account_id, number):
        return False
    conn.execute(
        o.insert().values(
            account_id=account_id,
            number=number,
            keyword=keyword[:32],
            message_uuid=uuid,
            created_at=now,
        )
    )
    return True


def remove(conn: Connection, account_id: int, number: str) -> bool:
    number = international(number)
    done = conn.execute(delete(o).where(o.c.account_id == account_id, o.c.number == number))
    return bool(done.rowcount)


def is_out(conn: Connection, account_id: int, number: str) -> bool:
    number = international(number)
    found = conn.execute(
        select(o.c.id).where(o.c.account_id == account_id, o.c.number == number).limit(1)
    ).first()
    return found is not None


def opted_out(conn: Connection, pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of ``(account_id, number)`` pairs are on their account's list."""
    if not pairs:
        return set()
    numbers = {number for _, number in pairs}
    rows = conn.execute(select(o.c.account_id, o.c.number).where(o.c.number.in_(numbers)))
    return {(row.account_id, row.number) for row in rows} & pairs


def listed(conn: Connection, account_ids: list[int] | None = None) -> list[OptOut]:
    query = select(o).order_by(o.c.created_at)
    if account_ids is not None:
        query = query.where(o.c.account_id.in_(account_ids))
    return [
        OptOut(row.account_id, row.number, row.keyword, row.message_uuid, row.created_at)
        for row in conn.execute(query)
    ]

"""The callback outbox: rows written with the state change they announce, sent later.

A message's callbacks go out one at a time, in the order of its state changes: one waits until
the one before it was delivered or given up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, select, text, update

from smsgate.core.models import Callback
from smsgate.store import claims
from smsgate.store.schema import callbacks

c = callbacks.c
_PENDING_UNCLAIMED = text("callbacks.state = 'pending' AND callbacks.claimed_by IS NULL")


def insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(callbacks.insert(), rows)


def claim(conn: Connection, node: str, now: int, limit: int) -> list[Callback]:
    earlier = callbacks.alias("earlier")
    waiting_behind = (
        select(earlier.c.id)
        .where(
            earlier.c.message_uuid == c.message_uuid,
            earlier.c.state == "pending",
            earlier.c.id < c.id,
        )
        .exists()
    )
    rows = claims.claim(
        conn,
        callbacks,
        due=[_PENDING_UNCLAIMED, c.next_attempt_at <= now, ~waiting_behind],
        order=[c.next_attempt_at, c.id],
        node=node,
        limit=limit,
        returning=[
            c.id,
            c.account_id,
            c.message_uuid,
            c.kind,
            c.url,
            c.method,
            c.params,
            c.attempts,
            c.deadline,
            c.max_attempts,
        ],
    )
    return sorted((Callback(**row._mapping) for row in rows), key=lambda cb: cb.id)


_FINISH = (
    update(callbacks)
    .where(c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        # Once settled, a callback of a message whose numbers are masked keeps no copy of them.
        params=case((and_(c.private, bindparam("b_state") != "pending"), "{}"), else_=c.params),
        attempts=bindparam("b_attempts"),
        claimed_by=None,
        last_status=bindparam("b_last_status"),
        last_error=bindparam("b_last_error"),
        updated_at=bindparam("b_updated_at"),
        next_attempt_at=bindparam("b_next_attempt_at"),
    )
)


def finish(conn: Connection, outcomes: list[dict[str, Any]]) -> None:
    """Record attempts; each dict has b_id, b_state, b_attempts, b_last_status, b_last_error,
    b_updated_at and b_next_attempt_at."""
    if outcomes:
        conn.execute(_FINISH, outcomes)

"""Read-only queries for the operator's console (``api/console``): message volume over time,
message search across every account, a message's state changes and callback attempts, and
the access tokens of every face.

Nothing here writes. The queries that range over time name every account
(``account_id IN (…)``), so the ``(account_id, created_at)`` index serves them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, and_, func, not_, or_, select

from smsgate.core.models import Message
from smsgate.core.privacy import HIDE_NUMBERS
from smsgate.store.schema import access_tokens, accounts, callbacks, message_events, messages
from smsgate.store.tokens import AccessToken

m = messages.c


def _account_ids(conn: Connection) -> list[int]:
    return [row.id for row in conn.execute(select(accounts.c.id).order_by(accounts.c.id))]


def volume(conn: Connection, since: int, bucket: int, buckets: int) -> list[tuple[int, str, int]]:
    """Messages created from ``since`` on, in ``buckets`` slots of ``bucket`` microseconds:
    ``(slot, current state, count)`` for every slot and state that has any."""
    ids = _account_ids(conn)
    if not ids:
        return []
    slot = ((m.created_at - since) // bucket).label("slot")
    rows = conn.execute(
        select(slot, m.state, func.count().label("n"))
        .where(
            m.account_id.in_(ids),
            m.created_at >= since,
            m.created_at < since + bucket * buckets,
        )
        .group_by(slot, m.state)
    )
    return [(int(row.slot), str(row.state), int(row.n)) for row in rows]


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """What the console's message search asks for; None matches anything."""

    number: str | None = None  # the sender's or the destination's
    state: str | None = None
    direction: str | None = None
    account_id: int | None = None
    since: int | None = None  # created at or after
    until: int | None = None  # created before

    def conditions(self, account_ids: Sequence[int]) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.account_id is not None:
            conds.append(m.account_id == self.account_id)
        else:
            conds.append(m.account_id.in_(account_ids))
        if self.number is not None:
            conds.append(or_(m.from_number == self.number, m.to_number == self.number))
            # A message whose ``log`` hides its numbers is not found by them either, not even
            # while it is in flight and its numbers are still stored in full.
            conds.append(not_(and_(m.direction == "outbound", m.log.in_(sorted(HIDE_NUMBERS)))))
        if self.state is not None:
            conds.append(m.state == self.state)
        if self.direction is not None:
            conds.append(m.direction == self.direction)
        if self.since is not None:
            conds.append(m.created_at >= self.since)
        if self.until is not None:
            conds.append(m.created_at < self.until)
        return conds


def search(
    conn: Connection, query: MessageQuery, limit: int, offset: int
) -> tuple[list[Message], bool]:
    """One page of matching messages, newest first, and whether more follow."""
    ids = _account_ids(conn) if query.account_id is None else []
    if query.account_id is None and not ids:
        return [], False
    rows = conn.execute(
        select(messages)
        .where(*query.conditions(ids))
        .order_by(m.created_at.desc(), m.uuid.desc())
        .limit(limit + 1)
        .offset(offset)
    )
    found = [Message.from_row(row._mapping) for row in rows]
    return found[:limit], len(found) > limit


def message(conn: Connection, uuid: str) -> Message | None:
    """A message of any account."""
    row = conn.execute(select(messages).where(m.uuid == uuid)).first()
    return Message.from_row(row._mapping) if row else None


@dataclass(frozen=True, slots=True)
class StateChange:
    """A row of ``message_events``."""

    id: int
    kind: str
    state: str
    error_code: str
    detail: str
    created_at: int


def state_changes(conn: Connection, uuid: str) -> list[StateChange]:
    """Every event recorded for a message, oldest first."""
    e = message_events.c
    rows = conn.execute(
        select(e.id, e.kind, e.state, e.error_code, e.detail, e.created_at)
        .where(e.message_uuid == uuid)
        .order_by(e.created_at, e.id)
    )
    return [StateChange(**row._mapping) for row in rows]


@dataclass(frozen=True, slots=True)
class CallbackAttempts:
    """A row of the callback outbox: one callback and how its delivery went so far."""

    id: int
    kind: str
    url: str
    method: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str
    created_at: int
    updated_at: int
    next_attempt_at: int


def callback_attempts(conn: Connection, uuid: str) -> list[CallbackAttempts]:
    """Every callback of a message (never its parameters), oldest first."""
    c = callbacks.c
    rows = conn.execute(
        select(
            c.id,
            c.kind,
            c.url,
            c.method,
            c.state,
            c.attempts,
            c.last_status,
            c.last_error,
            c.created_at,
            c.updated_at,
            c.next_attempt_at,
        )
        .where(c.message_uuid == uuid)
        .order_by(c.id)
    )
    return [CallbackAttempts(**row._mapping) for row in rows]


def access_token_list(conn: Connection) -> list[AccessToken]:
    """The access tokens of every face, newest first (never their values)."""
    rows = conn.execute(select(access_tokens).order_by(access_tokens.c.id.desc()))
    return [AccessToken.from_row(row) for row in rows]

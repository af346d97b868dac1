"""Queries on messages and their events: insert, read, list, claim, update."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    TextClause,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    true,
    update,
)

from smsgate.core.models import Message
from smsgate.store import claims, parts
from smsgate.store.schema import message_events, messages

m = messages.c

#: Literal conditions, so SQLite and PostgreSQL use the partial indexes.
_QUEUED_UNCLAIMED = text("messages.state = 'queued' AND messages.claimed_by IS NULL")
_QUEUED = text("messages.state = 'queued'")


@dataclass(frozen=True, slots=True)
class MessageFilter:
    account_ids: Sequence[int]
    direction: str | None = None
    state: str | None = None
    type: str | None = None
    error_code: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    country_iso2: str | None = None
    time_gt: int | None = None
    time_gte: int | None = None
    time_lt: int | None = None
    time_lte: int | None = None
    match_nothing: bool = False

    def conditions(self) -> list[ColumnElement[bool]]:
        account = (
            m.account_id == self.account_ids[0]
            if len(self.account_ids) == 1
            else m.account_id.in_(self.account_ids)
        )
        conds: list[ColumnElement[bool]] = [account]
        pairs: list[tuple[Any, Any]] = [
            (m.direction, self.direction),
            (m.state, self.state),
            (m.type, self.type),
            (m.error_code, self.error_code),
            (m.from_number, self.from_number),
            (m.to_number, self.to_number),
            (m.destination_country_iso2, self.country_iso2),
        ]
        conds.extend(column == value for column, value in pairs if value is not None)
        if self.time_gt is not None:
            conds.append(m.created_at > self.time_gt)
        if self.time_gte is not None:
            conds.append(m.created_at >= self.time_gte)
        if self.time_lt is not None:
            conds.append(m.created_at < self.time_lt)
        if self.time_lte is not None:
            conds.append(m.created_at <= self.time_lte)
        if self.match_nothing:
            conds.append(~true())
        return conds


def insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(messages.insert(), rows)


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(message_events.insert(), rows)


def get(conn: Connection, uuid: str, account_ids: Sequence[int]) -> Message | None:
    row = (
        conn.execute(select(messages).where(m.uuid == uuid, m.account_id.in_(account_ids)))
    ).first()
    return Message.from_row(row._mapping) if row else None


def by_uuid(conn: Connection, uuid: str) -> Message | None:
    """A message whoever owns it (for the gateway's own use, never a caller's)."""
    row = conn.execute(select(messages).where(m.uuid == uuid)).first()
    return Message.from_row(row._mapping) if row else None


def note(conn: Connection, uuid: str, kind: str, detail: str, now: int) -> None:
    """An event row that records something about a message without changing its state."""
    found = conn.execute(select(m.state).where(m.uuid == uuid)).first()
    if found is not None:
        insert_events(
            conn,
            [
                {
                    "message_uuid": uuid,
                    "kind": kind,
                    "state": found.state,
                    "error_code": "",
                    "detail": detail[:1000],
                    "created_at": now,
                }
            ],
        )


def page(
    conn: Connection, where: MessageFilter, limit: int, offset: int
) -> tuple[list[Message], int]:
    """One page, newest first, and how many match in all."""
    conds = where.conditions()
    rows = conn.execute(
        select(messages)
        .where(and_(*conds))
        .order_by(m.created_at.desc(), m.uuid.desc())
        .limit(limit)
        .offset(offset)
    )
    found = [Message.from_row(row._mapping) for row in rows]
    total = (conn.execute(select(func.count()).select_from(messages).where(*conds))).scalar()
    return found, int(total or 0)


def lock(conn: Connection, uuids: Iterable[str], refs: Iterable[tuple[str, str]]) -> list[Message]:
    """The messages named by uuid or by (channel, channel_ref), locked for update on PostgreSQL
    (on SQLite the writer's transaction already excludes every other writer)."""
    uuids = list(uuids)
    by_channel: dict[str, list[str]] = {}
    for channel, ref in refs:
        by_channel.setdefault(channel, []).append(ref)
    conds: list[ColumnElement[bool]] = []
    if uuids:
        conds.append(m.uuid.in_(uuids))
    # A reference names the newest message still waiting for a verdict: networks reuse them.
    conds.extend(
        and_(m.channel == ch, m.channel_ref.in_(rs), m.state.in_(("queued", "sent")))
        for ch, rs in by_channel.items()
    )
    if by_channel:  # or one of its parts
        conds.append(
            and_(
                m.uuid.in_(parts.messages_named(by_channel)),
                m.state.in_(("queued", "sent")),
            )
        )
    if not conds:
        return []
    query = select(messages).where(or_(*conds)).order_by(m.created_at, m.uuid)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return [Message.from_row(row._mapping) for row in conn.execute(query)]


_UPDATABLE = (
    "state",
    "error_code",
    "channel",
    "channel_ref",
    "total_rate",
    "attempts",
    "callback_seq",
    "claimed_by",
    "updated_at",
    "sent_at",
    "dlr_at",
    "next_attempt_at",
    "text",
    "from_number",
    "to_number",
)

_UPDATE = (
    update(messages)
    .where(m.uuid == bindparam("b_uuid"))
    .values({name: bindparam(f"b_{name}") for name in _UPDATABLE})
)


def save(conn: Connection, changed: list[Message]) -> None:
    """Write back the mutable columns of ``changed``."""
    if changed:
        params = [
            {"b_uuid": msg.uuid, **{f"b_{name}": getattr(msg, name) for name in _UPDATABLE}}
            for msg in changed
        ]
        conn.execute(_UPDATE, params)


def claim(
    conn: Connection, node: str, now: int, limit: int, account_id: int | None = None
) -> list[Message]:
    """Take up to ``limit`` due messages (of one account, when given) for ``node``, oldest
    due first. Messages past their expiry are left to the expiry sweep."""
    due: list[ColumnElement[bool] | TextClause] = [
        _QUEUED_UNCLAIMED,
        m.next_attempt_at <= now,
        m.expires_at > now,
    ]
    if account_id is not None:
        due.append(m.account_id == account_id)
    rows = claims.claim(
        conn,
        messages,
        due=due,
        order=[m.next_attempt_at],
        node=node,
        limit=limit,
        values={"attempts": m.attempts + 1},
    )
    claimed = [Message.from_row(row._mapping) for row in rows]
    claimed.sort(key=lambda msg: (msg.next_attempt_at, msg.uuid))
    return claimed


# Each account with queued work, walking the (account_id, next_attempt_at) partial index one
# account at a time: as cheap with a million queued messages as with ten.
_WAITING_ACCOUNTS = text(
    """
    WITH RECURSIVE waiting(account_id) AS (
        SELECT MIN(account_id) FROM messages
        WHERE state = 'queued' AND claimed_by IS NULL AND account_id > :after
        UNION ALL
        SELECT (
            SELECT MIN(q.account_id) FROM messages q
            WHERE q.state = 'queued' AND q.claimed_by IS NULL
            AND q.account_id > waiting.account_id
        )
        FROM waiting WHERE waiting.account_id IS NOT NULL
    )
    SELECT account_id FROM waiting WHERE account_id IS NOT NULL LIMIT :limit
    """
)


def waiting_accounts(conn: Connection, after: int, limit: int) -> list[int]:
    """Up to ``limit`` accounts with queued messages, in id order after ``after``."""
    rows = conn.execute(_WAITING_ACCOUNTS, {"after": after, "limit": limit})
    return [int(row[0]) for row in rows]


def defer(conn: Connection, node: str, until: Sequence[tuple[str, int]]) -> None:
    """Put claimed messages back in the queue, due at the given times, without counting the
    claim as an attempt (they were paced, not tried)."""
    if until:
        conn.execute(
            update(messages)
            .where(m.uuid == bindparam("b_uuid"), m.claimed_by == node)
            .values(
                claimed_by=None,
                next_attempt_at=bindparam("b_at"),
                attempts=m.attempts - 1,
            ),
            [{"b_uuid": uuid, "b_at": at} for uuid, at in until],
        )


def inbound_exists(conn: Connection, channel: str, ref: str) -> bool:
    """Whether an inbound message from ``channel`` was recorded under ``ref``."""
    found = conn.execute(
        select(m.uuid)
        .where(m.channel == channel, m.channel_ref == ref, m.direction == "inbound")
        .limit(1)
    ).first()
    return found is not None


def expired_uuids(conn: Connection, now: int, limit: int) -> list[str]:
    rows = conn.execute(
        select(m.uuid)
        .where(_QUEUED, m.expires_at <= now, m.claimed_by.is_(None))
        .order_by(m.expires_at)
        .limit(limit)
    )
    return [row.uuid for row in rows]


def queue_depth(conn: Connection) -> int:
    total = conn.execute(select(func.count()).select_from(messages).where(_QUEUED))
    return int(total.scalar() or 0)

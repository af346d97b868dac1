"""Read queries for following messages as they change (``smsgate messages tail``).

A message's first state (``queued``, or ``received`` for inbound) is its row; every later
change is a row of ``message_events``, numbered in insertion order. A follower reads the
events after the last id it saw, and the messages created since it last looked: by ``uuid``,
which is a UUIDv7 and so grows with the time it was made, through the primary key. Both only
read; nothing here takes a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from smsgate.store.schema import accounts, message_events, messages

e = message_events.c
m = messages.c
a = accounts.c

_EVENTS = select(
    e.id,
    e.message_uuid,
    e.kind,
    e.state,
    e.error_code,
    e.detail,
    e.created_at,
    m.direction,
    m.from_number,
    m.to_number,
    m.channel,
    m.log,
    a.auth_id,
).select_from(
    message_events.join(messages, m.uuid == e.message_uuid).join(accounts, a.id == m.account_id)
)

_MESSAGES = select(
    m.uuid,
    m.created_at,
    m.direction,
    m.state,
    m.error_code,
    m.from_number,
    m.to_number,
    m.channel,
    m.log,
    m.text,
    a.auth_id,
).select_from(messages.join(accounts, a.id == m.account_id))


@dataclass(frozen=True, slots=True)
class Scope:
    """Which messages to read: of these accounts, and/or these uuids (None: any)."""

    account_ids: Sequence[int] | None = None
    uuids: Sequence[str] | None = None


def _message_scope(scope: Scope) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if scope.account_ids is not None:
        conds.append(m.account_id.in_(scope.account_ids))
    if scope.uuids is not None:
        conds.append(m.uuid.in_(scope.uuids))
    return conds


def snapshot(conn: Connection, window: int) -> tuple[int, list[int]]:
    """The highest event id, and the ids present among the ``window`` ids below it (the ones
    missing may belong to transactions not committed yet)."""
    high = int(conn.execute(select(func.max(e.id))).scalar() or 0)
    present = conn.execute(select(e.id).where(e.id > high - window, e.id <= high)).scalars()
    return high, [int(i) for i in present]


def first_event_id_since(conn: Connection, since: int) -> int:
    """The lowest event id made at or after ``since`` (µs), found by bisecting the ids (they
    grow with time, give or take the clocks of several nodes); one past the last id when none
    is."""
    low = int(conn.execute(select(func.min(e.id))).scalar() or 0)
    high = int(conn.execute(select(func.max(e.id))).scalar() or 0) + 1
    while low < high:
        middle = (low + high) // 2
        row = conn.execute(
            select(e.id, e.created_at).where(e.id >= middle).order_by(e.id).limit(1)
        ).first()
        if row is None or row.created_at >= since:
            high = middle
        else:
            low = int(row.id) + 1
    return low


def events(
    conn: Connection,
    *,
    after: int,
    upto: int | None = None,
    also: Sequence[int] = (),
    since: int | None = None,
    scope: Scope = Scope(),
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Events with an id above ``after`` (and at most ``upto``), or among ``also``, made at
    or after ``since``, of the messages in ``scope``, in id order."""
    wanted: ColumnElement[bool] = e.id > after
    if upto is not None:
        wanted = and_(wanted, e.id <= upto)
    if also:
        wanted = or_(wanted, e.id.in_(list(also)))
    conds = [wanted]
    if since is not None:
        conds.append(e.created_at >= since)
    if scope.account_ids is not None:
        conds.append(m.account_id.in_(scope.account_ids))
    if scope.uuids is not None:
        conds.append(e.message_uuid.in_(scope.uuids))
    query = _EVENTS.where(*conds).order_by(e.id).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


def created(
    conn: Connection,
    *,
    after_uuid: str | None = None,
    before_uuid: str | None = None,
    scope: Scope = Scope(),
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Messages with a uuid above ``after_uuid`` and below ``before_uuid``, in uuid order
    (the order they were made in)."""
    conds = _message_scope(scope)
    if after_uuid is not None:
        conds.append(m.uuid > after_uuid)
    if before_uuid is not None:
        conds.append(m.uuid < before_uuid)
    query = _MESSAGES.where(*conds).order_by(m.uuid).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


def created_uuids(conn: Connection, *, after_uuid: str, scope: Scope = Scope()) -> list[str]:
    """The uuids of the messages made after ``after_uuid``: cheap, through the primary key."""
    query = select(m.uuid).where(m.uuid > after_uuid, *_message_scope(scope)).order_by(m.uuid)
    return [str(uuid) for uuid in conn.execute(query).scalars()]


def messages_named(conn: Connection, uuids: Sequence[str]) -> list[dict[str, Any]]:
    """The messages among ``uuids`` that exist, in uuid order."""
    if not uuids:
        return []
    query = _MESSAGES.where(m.uuid.in_(list(uuids))).order_by(m.uuid)
    return [dict(row) for row in conn.execute(query).mappings()]


def account_ids(conn: Connection, auth_id: str) -> list[int] | None:
    """The ids of an account and, for a main account, its subaccounts; None when unknown."""
    row = conn.execute(select(a.id, a.parent_id).where(a.auth_id == auth_id)).first()
    if row is None:
        return None
    found = [int(row.id)]
    if row.parent_id is None:
        subs = conn.execute(select(a.id).where(a.parent_id == row.id).order_by(a.id)).scalars()
        found.extend(int(i) for i in subs)
    return found

"""Queries on the parts of concatenated messages ESMEs submit to the SMPP server face.

A group is the parts one ESME sent from one source to one destination under one reference
and total; its id is fixed by the first part stored. Work here runs in the writer's
transactions; on PostgreSQL an advisory lock on the group's key orders the nodes that store
parts of one group at once.

The channels' inbound parts (``InboundPart``, recorded by the core) are grouped here too,
under ``channel_system_id``: the server face's expiry leaves those groups to the core's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, text, update

from smsgate.core.models import Message
from smsgate.store.schema import messages, smpp_parts

p = smpp_parts.c
m = messages.c

#: What begins the system_id of a channel's groups (an ESME's system_id has no ``:``).
CHANNEL_PREFIX = "channel:"


def channel_system_id(channel: str) -> str:
    """The system_id a channel's inbound parts are grouped under: ``channel:`` and 7 hex
    digits of the SHA-256 of its name (the column holds 15 characters, a name up to 64)."""
    return CHANNEL_PREFIX + hashlib.sha256(channel.encode()).hexdigest()[:7]


@dataclass(frozen=True, slots=True)
class PartKey:
    """What the parts of one message share."""

    system_id: str
    src: str
    dst: str
    reference: int
    total: int

    def where(self) -> Any:
        return and_(
            p.system_id == self.system_id,
            p.src == self.src,
            p.dst == self.dst,
            p.reference == self.reference,
            p.total == self.total,
        )


@dataclass(frozen=True, slots=True)
class Stored:
    """A group after a part was stored (or recognised as stored already)."""

    group_id: str
    duplicate: bool
    texts: dict[int, str]  # every part of the group stored so far, by sequence
    registered_delivery: tuple[int, ...]  # as each part asked
    superseded: int  # parts of an older group under the same key given up for this one
    total: int

    @property
    def complete(self) -> bool:
        return len(self.texts) == self.total


@dataclass(frozen=True, slots=True)
class Partial:
    """A channel's group given up on incomplete, with the parts that came."""

    group_id: str
    src: str
    dst: str
    reference: int
    total: int
    texts: dict[int, str]  # by sequence


@dataclass(frozen=True, slots=True)
class Expired:
    group_id: str
    system_id: str
    total: int
    parts: int
    registered_delivery: int


def _encode(part_text: str) -> bytes:
    return part_text.encode("utf-8", "surrogatepass")


def _decode(raw: bytes) -> str:
    return bytes(raw).decode("utf-8", "surrogatepass")


def _lock(conn: Connection, key: PartKey) -> None:
    if conn.dialect.name != "postgresql":
        return  # SQLite: one writer, whose transactions run one after the other
    name = f"smpp-part\0{key.system_id}\0{key.src}\0{key.dst}\0{key.reference}\0{key.total}"
    number = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": number})


def store_part(
    conn: Connection,
    key: PartKey,
    seq: int,
    part_text: str,
    registered_delivery: int,
    *,
    now: int,
    cutoff: int,
    new_group: Callable[[], str],
) -> Stored:
    """Store part ``seq`` of ``key``'s group. A part stored already with the same text is a
    duplicate and stored once; with another text it starts a new group (the ESME reused the
    reference), and the older one is given up. Parts of a group started before ``cutoff``
    are gone."""
    _lock(conn, key)
    conn.execute(delete(smpp_parts).where(key.where(), p.started_at < cutoff))
    rows = conn.execute(
        select(p.group_id, p.seq, p.text, p.registered_delivery, p.started_at)
        .where(key.where())
        .order_by(p.seq)
    ).all()
    same = next((row for row in rows if row.seq == seq), None)
    superseded = 0
    if same is not None:
        if _decode(same.text) == part_text:
            return Stored(
                same.group_id,
                True,
                {row.seq: _decode(row.text) for row in rows},
                tuple(row.registered_delivery for row in rows),
                0,
                key.total,
            )
        conn.execute(delete(smpp_parts).where(key.where()))
        superseded, rows = len(rows), []
    group_id = rows[0].group_id if rows else new_group()
    started_at = rows[0].started_at if rows else now
    conn.execute(
        smpp_parts.insert().values(
            group_id=group_id,
            system_id=key.system_id,
            src=key.src,
            dst=key.dst,
            reference=key.reference,
            total=key.total,
            seq=seq,
            text=_encode(part_text),
            registered_delivery=registered_delivery,
            created_at=now,
            started_at=started_at,
        )
    )
    texts = {row.seq: _decode(row.text) for row in rows}
    texts[seq] = part_text
    delivery = (*(row.registered_delivery for row in rows), registered_delivery)
    return Stored(group_id, False, texts, delivery, superseded, key.total)


def store_inbound(
    conn: Connection,
    key: PartKey,
    seq: int,
    part_text: str,
    *,
    now: int,
    new_group: Callable[[], str],
) -> Stored:
    """Store part ``seq`` of a channel's group. A part stored already under its sequence is
    a duplicate, ignored. Once every part is there they are kept, their sequence negated,
    until ``expire_inbound`` lets them go: a part that comes again meanwhile (the same
    sequence and text) is a duplicate too; any other part starts a new group."""
    _lock(conn, key)
    rows = conn.execute(
        select(p.group_id, p.seq, p.text, p.started_at).where(key.where()).order_by(p.seq)
    ).all()
    done = {-row.seq: _decode(row.text) for row in rows if row.seq < 0}
    if done.get(seq) == part_text:
        group = next(row.group_id for row in rows if row.seq < 0)
        return Stored(group, True, done, (), 0, key.total)
    if done:
        conn.execute(delete(smpp_parts).where(key.where(), p.seq < 0))
    live = [row for row in rows if row.seq > 0]
    texts = {row.seq: _decode(row.text) for row in live}
    if seq in texts:
        return Stored(live[0].group_id, True, texts, (), 0, key.total)
    group_id = live[0].group_id if live else new_group()
    conn.execute(
        smpp_parts.insert().values(
            group_id=group_id,
            system_id=key.system_id,
            src=key.src,
            dst=key.dst,
            reference=key.reference,
            total=key.total,
            seq=seq,
            text=_encode(part_text),
            registered_delivery=0,
            created_at=now,
            started_at=live[0].started_at if live else now,
        )
    )
    texts[seq] = part_text
    if len(texts) == key.total:
        conn.execute(update(smpp_parts).where(p.group_id == group_id).values(seq=-p.seq))
    return Stored(group_id, False, texts, (), 0, key.total)


def expire_inbound(conn: Connection, system_id: str, cutoff: int) -> list[Partial]:
    """Let go the channel's groups started before ``cutoff``; the incomplete ones, with the
    parts that came."""
    old = and_(p.system_id == system_id, p.started_at < cutoff)
    rows = conn.execute(
        select(p.group_id, p.src, p.dst, p.reference, p.total, p.seq, p.text)
        .where(old)
        .order_by(p.started_at, p.group_id, p.seq)
    ).all()
    if not rows:
        return []
    conn.execute(delete(smpp_parts).where(old))
    groups: dict[str, Partial] = {}
    for row in rows:
        if row.seq < 0:
            continue  # complete: kept against duplicates only
        group = groups.get(row.group_id)
        if group is None:
            group = Partial(row.group_id, row.src, row.dst, row.reference, row.total, {})
            groups[row.group_id] = group
        group.texts[row.seq] = _decode(row.text)
    return list(groups.values())


def complete(conn: Connection, key: PartKey, group_id: str) -> bool:
    """Whether every part of the group is still stored; if so they go (the guard of the
    assembled message's insert, in its transaction)."""
    _lock(conn, key)
    count = conn.execute(
        select(func.count()).select_from(smpp_parts).where(p.group_id == group_id)
    ).scalar_one()
    if count != key.total:
        return False
    conn.execute(delete(smpp_parts).where(p.group_id == group_id))
    return True


def drop(conn: Connection, group_id: str) -> int:
    return conn.execute(delete(smpp_parts).where(p.group_id == group_id)).rowcount


def expire(conn: Connection, cutoff: int) -> list[Expired]:
    """Give up the ESMEs' groups started before ``cutoff``; what they were. The channels'
    groups (``channel_system_id``) are ``expire_inbound``'s."""
    esme = and_(p.started_at < cutoff, p.system_id.not_like(f"{CHANNEL_PREFIX}%"))
    rows = conn.execute(
        select(
            p.group_id,
            p.system_id,
            func.max(p.total).label("total"),
            func.count().label("parts"),
            func.max(p.registered_delivery).label("registered_delivery"),
        )
        .where(esme)
        .group_by(p.group_id, p.system_id)
    ).all()
    if rows:
        conn.execute(delete(smpp_parts).where(esme))
    return [
        Expired(row.group_id, row.system_id, row.total, row.parts, row.registered_delivery)
        for row in rows
    ]


def pending(conn: Connection, system_id: str, group_id: str) -> bool:
    """Whether parts of the group wait for the others."""
    found = conn.execute(
        select(p.id).where(p.group_id == group_id, p.system_id == system_id).limit(1)
    ).first()
    return found is not None


def assembled(
    conn: Connection, account_id: int, request_id: str, since: int, until: int
) -> Message | None:
    """The message a group became (its request_id is the group's id), created between
    ``since`` and ``until``: the account's time index finds it."""
    row = conn.execute(
        select(messages).where(
            m.account_id == account_id,
            m.created_at >= since,
            m.created_at <= until,
            m.request_id == request_id,
        )
    ).first()
    return Message.from_row(row._mapping) if row else None

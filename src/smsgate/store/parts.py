"""Queries on message parts: the references channels hand back per part, and their verdicts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from smsgate.store.schema import message_parts

p = message_parts.c


@dataclass(slots=True)
class Part:
    message_uuid: str
    channel: str
    ref: str
    sequence: int
    state: str  # "sent", "delivered", "undelivered"
    error_code: str = ""
    updated_at: int = 0
    id: int | None = None

    def as_row(self) -> dict[str, Any]:
        return {
            "message_uuid": self.message_uuid,
            "channel": self.channel,
            "ref": self.ref,
            "sequence": self.sequence,
            "state": self.state,
            "error_code": self.error_code,
            "updated_at": self.updated_at,
        }


def messages_named(refs: dict[str, list[str]]) -> Any:
    """A subquery: the uuids of messages with a part named by ``{channel: [ref, …]}``."""
    return select(p.message_uuid).where(
        or_(*(and_(p.channel == channel, p.ref.in_(names)) for channel, names in refs.items()))
    )


def of_messages(conn: Connection, uuids: Iterable[str]) -> list[Part]:
    uuids = list(uuids)
    if not uuids:
        return []
    rows = conn.execute(
        select(message_parts).where(p.message_uuid.in_(uuids)).order_by(p.id)
    ).mappings()
    return [Part(**dict(row)) for row in rows]


def insert(conn: Connection, parts: list[Part]) -> None:
    if parts:
        conn.execute(message_parts.insert(), [part.as_row() for part in parts])


_UPDATE = (
    update(message_parts)
    .where(p.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        error_code=bindparam("b_error_code"),
        updated_at=bindparam("b_updated_at"),
    )
)


def save(conn: Connection, parts: list[Part]) -> None:
    if parts:
        conn.execute(
            _UPDATE,
            [
                {
                    "b_id": part.id,
                    "b_state": part.state,
                    "b_error_code": part.error_code,
                    "b_updated_at": part.updated_at,
                }
                for part in parts
            ],
        )

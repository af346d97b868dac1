"""Concatenated submits: each part stored durably before it is answered, and the whole
message accepted once, when the last part arrives, in the transaction that lets the parts go.

A group's id G is a uuid7 in hex, fixed by its first part; part n is answered with the
message id ``<G>-<n>``, and the assembled message carries G (as a UUID) in its request_id.
Groups not complete within ``PART_TIMEOUT_SECONDS`` of their first part are dropped.
"""

from __future__ import annotations

import asyncio
import re

import structlog

from smsgate.core.clock import seconds
from smsgate.core.gateway import Gateway
from smsgate.core.ids import uuid7
from smsgate.core.models import Message
from smsgate.core.submission import Prepared
from smsgate.store import smpp_parts as store
from smsgate.store.smpp_parts import Expired, PartKey, Stored

log = structlog.get_logger(__name__)

PART_TIMEOUT_SECONDS = 600.0
SWEEP_SECONDS = 60.0
PART_ID = re.compile(r"([0-9a-f]{32})-([0-9]{1,3})")


def new_group_id() -> str:
    return uuid7().replace("-", "")


def part_id(group_id: str, seq: int) -> str:
    return f"{group_id}-{seq}"


def request_id(group_id: str) -> str:
    """The group's id as the UUID the assembled message's request_id holds."""
    g = group_id
    return f"{g[:8]}-{g[8:12]}-{g[12:16]}-{g[16:20]}-{g[20:]}"


def started_us(group_id: str) -> int:
    """When the group began: a uuid7 starts with its millisecond timestamp."""
    return int(group_id[:12], 16) * 1000


class Assembly:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def store(self, key: PartKey, seq: int, text: str, registered_delivery: int) -> Stored:
        """Store one part durably (a duplicate is recognised, not stored again)."""
        now = self.gateway.clock.now_us()
        cutoff = now - seconds(PART_TIMEOUT_SECONDS)
        stored = await self.gateway.writer.run(
            lambda conn: store.store_part(
                conn,
                key,
                seq,
                text,
                registered_delivery,
                now=now,
                cutoff=cutoff,
                new_group=new_group_id,
            )
        )
        if stored.superseded:
            log.warning(
                "smpp parts given up: the reference was used again for another message",
                system_id=key.system_id,
                reference=key.reference,
                parts=stored.superseded,
                total=key.total,
            )
        return stored

    async def finish(self, key: PartKey, group_id: str, prepared: Prepared) -> bool:
        """Store the assembled message and let its parts go, in one transaction; False
        (nothing stored) when the parts are no longer all there."""
        return await self.gateway.store(
            prepared,
            prepared.callbacks,
            guard=lambda conn: store.complete(conn, key, group_id),
        )

    async def drop(self, group_id: str) -> None:
        await self.gateway.writer.run(lambda conn: store.drop(conn, group_id))

    async def pending(self, system_id: str, group_id: str) -> bool:
        return await self.gateway.db.read(lambda conn: store.pending(conn, system_id, group_id))

    async def assembled(self, account_id: int, group_id: str) -> Message | None:
        """The message the group became, if it did."""
        since = started_us(group_id) - seconds(1.0)
        until = since + seconds(PART_TIMEOUT_SECONDS + 60.0)
        return await self.gateway.db.read(
            lambda conn: store.assembled(conn, account_id, request_id(group_id), since, until)
        )

    async def sweep(self) -> list[Expired]:
        """Drop the groups that did not complete in time."""
        cutoff = self.gateway.clock.now_us() - seconds(PART_TIMEOUT_SECONDS)
        expired = await self.gateway.writer.run(lambda conn: store.expire(conn, cutoff))
        for group in expired:
            log.warning(
                "smpp incomplete message dropped",
                system_id=group.system_id,
                group=group.group_id,
                parts=group.parts,
                total=group.total,
                receipts_asked=bool(group.registered_delivery & 0x03),
            )
        return expired

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("smpp part sweep failed")
            await asyncio.sleep(SWEEP_SECONDS)

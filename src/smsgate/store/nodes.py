"""Nodes: each running process registers and keeps a heartbeat, so that work claimed by a node
that died is handed back to the queue by the nodes still alive.

On PostgreSQL heartbeats are stamped with the database's clock, so clocks that differ between
hosts cannot make a live node look dead. A heartbeat re-registers a node that was forgotten.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from smsgate.store.schema import callbacks, messages, nodes

_DB_NOW_US = text("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint")


def now_us(conn: Connection, local_now: int) -> int:
    """The database's time on PostgreSQL (shared by every node); this process's on SQLite."""
    if conn.dialect.name == "postgresql":
        return int(conn.execute(_DB_NOW_US).scalar_one())
    return local_now


def heartbeat(conn: Connection, node: str, hostname: str, now: int) -> None:
    """Register ``node`` or refresh its heartbeat."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(nodes).values(id=node, hostname=hostname, started_at=now, heartbeat_at=now)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=[nodes.c.id], set_={"heartbeat_at": now})
    )


def release_orphaned_claims(conn: Connection, alive_since: int) -> int:
    """Hand back every claim not held by a node that beat since ``alive_since``; forget the
    nodes that did not. Returns how many messages went back to the queue."""
    live = select(nodes.c.id).where(nodes.c.heartbeat_at >= alive_since)
    released = 0
    for table in (messages, callbacks):
        result = conn.execute(
            table.update()
            .where(table.c.claimed_by.is_not(None), table.c.claimed_by.not_in(live))
            .values(claimed_by=None)
        )
        if table is messages:
            released = int(result.rowcount or 0)
    conn.execute(delete(nodes).where(nodes.c.heartbeat_at < alive_since))
    return released


def release_all(conn: Connection, keep: str) -> int:
    """SQLite has one node at a time: every claim but ``keep``'s belonged to a process that is
    gone (``keep``'s own are being worked on). Returns how many messages went back to the
    queue."""
    released = 0
    for table in (messages, callbacks):
        result = conn.execute(
            table.update()
            .where(table.c.claimed_by.is_not(None), table.c.claimed_by != keep)
            .values(claimed_by=None)
        )
        if table is messages:
            released = int(result.rowcount or 0)
    conn.execute(delete(nodes).where(nodes.c.id != keep))
    return released


def leave(conn: Connection, node: str) -> int:
    """A node stopping cleanly: its claims go back to the queue and it is forgotten. Returns
    how many messages went back."""
    released = 0
    for table in (messages, callbacks):
        result = conn.execute(
            table.update().where(table.c.claimed_by == node).values(claimed_by=None)
        )
        if table is messages:
            released = int(result.rowcount or 0)
    conn.execute(delete(nodes).where(nodes.c.id == node))
    return released

"""Claiming work from a table that serves as a queue, shared by messages and callbacks.

One statement: mark up to ``limit`` due rows as ``node``'s and return them. Other nodes skip
rows being claimed (PostgreSQL's ``FOR UPDATE SKIP LOCKED``); SQLite has one writer anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Table, TextClause, select, update


def claim(
    conn: Connection,
    table: Table,
    *,
    due: Sequence[ColumnElement[bool] | TextClause],
    order: Sequence[ColumnElement[Any]],
    node: str,
    limit: int,
    values: dict[str, Any] | None = None,
    returning: Sequence[ColumnElement[Any]] | None = None,
) -> list[Row[Any]]:
    key = next(iter(table.primary_key.columns))
    chosen = select(key).where(*due).order_by(*order).limit(limit)
    if conn.dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    stmt = (
        update(table)
        .where(key.in_(chosen.scalar_subquery()))
        .values(claimed_by=node, **(values or {}))
        .returning(*(returning or table.c))
    )
    return list(conn.execute(stmt))

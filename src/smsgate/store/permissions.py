"""Queries on permission rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from smsgate.core.permissions import Effect, Kind, Rule
from smsgate.store.schema import permission_rules as r


def _rule(row: Any) -> Rule:
    return Rule(
        id=row.id,
        subject=row.subject,
        kind=Kind(row.kind),
        effect=Effect(row.effect),
        pattern=row.pattern,
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def insert(
    conn: Connection,
    *,
    subject: str,
    kind: Kind,
    effect: Effect,
    pattern: str,
    note: str,
    created_by: str,
    now: int,
) -> Rule:
    row = conn.execute(
        r.insert()
        .values(
            subject=subject,
            kind=kind.value,
            effect=effect.value,
            pattern=pattern,
            note=note,
            created_by=created_by,
            created_at=now,
        )
        .returning(*r.c)
    ).one()
    return _rule(row)


def for_subjects(conn: Connection, subjects: Sequence[str]) -> list[Rule]:
    rows = conn.execute(select(r).where(r.c.subject.in_(list(subjects))).order_by(r.c.id))
    return [_rule(row) for row in rows]


def listed(conn: Connection, subject: str | None = None) -> list[Rule]:
    query = select(r).order_by(r.c.subject, r.c.id)
    if subject is not None:
        query = query.where(r.c.subject == subject)
    return [_rule(row) for row in conn.execute(query)]


def remove(conn: Connection, rule_id: int) -> Rule | None:
    row = conn.execute(delete(r).where(r.c.id == rule_id).returning(*r.c)).first()
    return _rule(row) if row else None

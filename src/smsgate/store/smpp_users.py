"""Queries on SMPP server credentials: an ESME's system_id, its password's hash, the bind
modes it may use, how many sessions it may hold and how fast it may submit."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from smsgate.core.rates import check_rate
from smsgate.store.schema import smpp_users

u = smpp_users.c

MODES = ("transmitter", "receiver", "transceiver")
#: SMPP 3.4 allows 15 octets; smsgate takes letters, digits, ``_``, ``.`` and ``-``.
SYSTEM_ID = re.compile(r"[A-Za-z0-9_.-]{1,15}")
#: SMPP 3.4 passwords are at most 8 octets.
PASSWORD_LENGTH = 8
MAX_BINDS = 64
_PASSWORD_ALPHABET = string.ascii_letters + string.digits
_ID_ALPHABET = string.ascii_lowercase + string.digits


class Refused(ValueError):
    """A value the store will not take, with the reason to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class SmppUser:
    id: int
    account_id: int
    system_id: str
    password_hash: str
    binds: tuple[str, ...]
    max_binds: int
    submit_rate: str
    enabled: bool
    label: str
    created_at: int
    updated_at: int

    @classmethod
    def from_row(cls, row: Any) -> SmppUser:
        return cls(
            id=row.id,
            account_id=row.account_id,
            system_id=row.system_id,
            password_hash=row.password_hash,
            binds=tuple(mode for mode in row.binds.split(",") if mode),
            max_binds=row.max_binds,
            submit_rate=row.submit_rate,
            enabled=bool(row.enabled),
            label=row.label,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def new_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def new_system_id() -> str:
    return "esme" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def check_system_id(raw: str) -> str:
    if not SYSTEM_ID.fullmatch(raw):
        raise Refused(f"invalid system_id {raw!r}: 1 to 15 letters, digits, '_', '.' or '-'")
    return raw


def check_binds(raw: str) -> str:
    """``raw`` (a comma list of bind modes) as stored: known modes, each once, in order."""
    wanted = {mode.strip().lower() for mode in raw.split(",") if mode.strip()}
    unknown = wanted.difference(MODES)
    if unknown or not wanted:
        raise Refused(f"invalid binds {raw!r}: a comma list of {', '.join(MODES)}")
    return ",".join(mode for mode in MODES if mode in wanted)


def check_max_binds(value: int) -> int:
    if not 1 <= value <= MAX_BINDS:
        raise Refused(f"invalid max binds {value}: 1 to {MAX_BINDS}")
    return value


def check_submit_rate(raw: str) -> str:
    try:
        return check_rate(raw)
    except ValueError as exc:
        raise Refused(str(exc)) from None


def add(
    conn: Connection,
    *,
    account_id: int,
    system_id: str,
    password_hash: str,
    binds: str,
    max_binds: int,
    submit_rate: str,
    label: str,
    now: int,
) -> SmppUser:
    try:
        with conn.begin_nested():
            row = conn.execute(
                smpp_users.insert()
                .values(
                    account_id=account_id,
                    system_id=check_system_id(system_id),
                    password_hash=password_hash,
                    binds=check_binds(binds),
                    max_binds=check_max_binds(max_binds),
                    submit_rate=check_submit_rate(submit_rate),
                    enabled=True,
                    label=label,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*smpp_users.c)
            ).one()
    except IntegrityError:
        raise Refused(f"system_id {system_id!r} exists already") from None
    return SmppUser.from_row(row)


def by_system_id(conn: Connection, system_id: str) -> SmppUser | None:
    row = conn.execute(select(smpp_users).where(u.system_id == system_id)).first()
    return SmppUser.from_row(row) if row else None


def listed(conn: Connection, account_ids: list[int] | None = None) -> list[SmppUser]:
    query = select(smpp_users).order_by(u.id)
    if account_ids is not None:
        query = query.where(u.account_id.in_(account_ids))
    return [SmppUser.from_row(row) for row in conn.execute(query)]


def remove(conn: Connection, system_id: str) -> bool:
    return bool(conn.execute(delete(smpp_users).where(u.system_id == system_id)).rowcount)


def set_password(conn: Connection, system_id: str, password_hash: str, now: int) -> bool:
    result = conn.execute(
        update(smpp_users)
        .where(u.system_id == system_id)
        .values(password_hash=password_hash, updated_at=now)
    )
    return bool(result.rowcount)


def set_enabled(conn: Connection, system_id: str, enabled: bool, now: int) -> bool:
    result = conn.execute(
        update(smpp_users).where(u.system_id == system_id).values(enabled=enabled, updated_at=now)
    )
    return bool(result.rowcount)

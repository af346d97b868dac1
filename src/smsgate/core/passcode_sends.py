"""Sending with a pass code (the send page): the code stands for its account, within the
limits it was made with, and every message it sends is counted against it in the same
transaction that stores the messages."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from smsgate.core import patterns
from smsgate.core.access import enforce
from smsgate.core.clock import iso
from smsgate.core.errors import Forbidden, InvalidParameter
from smsgate.core.ids import api_id
from smsgate.core.passcodes import Limits, PassCode, Status, digest, new_code, well_formed
from smsgate.core.submission import Prepared, Submission, prepare
from smsgate.store import passcodes as passcode_store

if TYPE_CHECKING:
    from smsgate.core.gateway import Gateway

_SAID = {
    Status.EXPIRED: "this pass code has expired",
    Status.USED_UP: "this pass code has no messages left",
    Status.REVOKED: "this pass code has been revoked",
}


class PassCodeRefused(PermissionError):
    """The pass code is wrong, or may not send (any more): ``status`` says which."""

    def __init__(self, message: str, status: Status | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def submitter(code: PassCode) -> str:
    return f"passcode/{code.id}"


def issue(
    conn: Connection, account_id: int, limits: Limits, created_by: str, now: int
) -> tuple[str, PassCode]:
    """A new pass code (its value, shown once, and its record)."""
    code = new_code()
    made = passcode_store.insert(
        conn,
        account_id=account_id,
        code_hash=digest(code),
        label=limits.label,
        created_by=created_by,
        now=now,
        expires_at=now + limits.minutes * 60_000_000,
        max_messages=limits.max_messages,
        destinations=limits.destinations,
    )
    return code, made


def described(code: PassCode, now: int) -> dict[str, Any]:
    """A pass code as listings show it (never its value)."""

    return {
        "id": code.id,
        "label": code.label,
        "status": code.status(now).value,
        "created_at": iso(code.created_at),
        "created_by": code.created_by,
        "expires_at": iso(code.expires_at),
        "max_messages": code.max_messages,
        "used_messages": code.used_messages,
        "destinations": list(code.destinations) if code.destinations is not None else None,
        "revoked_at": iso(code.revoked_at),
        "last_used_at": iso(code.last_used_at),
    }


async def find(gateway: Gateway, typed: str) -> PassCode:
    """The pass code someone typed; PassCodeRefused when there is none such."""
    if not well_formed(typed):
        raise PassCodeRefused("wrong pass code")
    code = await gateway.db.read(lambda conn: passcode_store.by_hash(conn, digest(typed)))
    if code is None:
        raise PassCodeRefused("wrong pass code")
    return code


async def send_with_passcode(
    gateway: Gateway, typed: str | PassCode, submission: Submission, *, requester_ip: str
) -> tuple[PassCode, Prepared]:
    """Validate and durably store what a pass code (as typed, or found already) sends.
    PassCodeRefused for a wrong, expired, used-up or revoked code; InvalidParameter for a
    bad request, a destination the code does not allow, or more messages than it has left."""
    code = typed if isinstance(typed, PassCode) else await find(gateway, typed)
    now = gateway.clock.now_us()
    status = code.status(now)
    if status is not Status.ACTIVE:
        raise PassCodeRefused(_SAID[status], status)
    account = await gateway.accounts.by_id(code.account_id)
    if account is None or not account.enabled:
        raise PassCodeRefused("this pass code's account is disabled", Status.REVOKED)
    prepared = prepare(
        account,
        dataclasses.replace(submission, submitted_by=submitter(code)),
        now=now,
        request_id=api_id(),
        requester_ip=requester_ip,
        languages_for=gateway.settings.languages_for,
    )
    enforce(await gateway.permissions.levels(account, submitter(code)), prepared)
    refused = [
        row["to_number"]
        for row in prepared.messages
        if not patterns.allowed(
            list(code.destinations) if code.destinations is not None else None,
            row["to_number"],
            row["destination_country_iso2"],
        )
    ]
    if refused:
        raise Forbidden(
            "dst", f"forbidden: this pass code may not send to {', '.join(refused[:10])}"
        )
    left = code.remaining()
    if left is not None and len(prepared.uuids) > left:
        raise InvalidParameter(
            "dst", f"this pass code has {left} message(s) left, not {len(prepared.uuids)}"
        )

    def counted(conn: Connection) -> bool:
        # False when it expired, was revoked or used up meanwhile: then nothing is stored.
        return passcode_store.use(conn, code.id, len(prepared.uuids), now)

    if not await gateway.store(prepared, prepared.callbacks, guard=counted):
        again = await gateway.db.read(lambda conn: passcode_store.by_id(conn, code.id))
        status = again.status(now) if again is not None else Status.REVOKED
        said = _SAID.get(status, "this pass code has not enough messages left")
        raise PassCodeRefused(said, status)
    return code, prepared

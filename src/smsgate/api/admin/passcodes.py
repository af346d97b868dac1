"""``/admin/api/passcodes``: pass codes for the send page, as JSON (the console's pass codes
page and ``smsgate passcodes`` do the same).

A code is shown once, in the answer that makes it; only its digest is stored. Revocation is
immediate: the code's next send or status request is refused.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from starlette.responses import Response

from smsgate.api import params as p
from smsgate.api.admin.auth import require_admin
from smsgate.api.bodies import read_params
from smsgate.api.errors import ApiError
from smsgate.api.responses import JSONResponse
from smsgate.core import passcode_sends
from smsgate.core import passcodes as passcode_core
from smsgate.core.errors import InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.store import accounts as account_store
from smsgate.store import passcodes as passcode_store

router = APIRouter(
    prefix="/admin/api/passcodes", tags=["Admin"], dependencies=[Depends(require_admin)]
)


def _destinations(body: dict[str, Any]) -> list[str] | None:
    raw = body.get("destinations")
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        return [part for part in raw.replace(";", ",").split(",") if part.strip()]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return raw
    raise InvalidParameter("destinations", "destinations: a list of patterns (44*, GB, …)")


@router.post("/", status_code=201, summary="Make a pass code (shown once)")
async def create(request: Request, admin: str = Depends(require_admin)) -> Response:
    gateway: Gateway = request.app.state.gateway
    body = await read_params(request)
    auth_id = p.text(body, "account", max_length=20)
    minutes = p.integer(body, "minutes", passcode_core.DEFAULT_MINUTES)
    assert minutes is not None
    max_messages = p.integer(body, "max_messages")
    label = p.text(body, "label", max_length=200) or ""
    try:
        wanted = passcode_core.limits(minutes, max_messages, _destinations(body), label)
    except ValueError as exc:
        raise InvalidParameter("passcode", str(exc)) from None
    now = gateway.clock.now_us()

    def work(conn: Connection) -> tuple[str, passcode_core.PassCode] | None:
        owner = (
            account_store.by_auth_id(conn, auth_id)
            if auth_id
            else account_store.first_main_account(conn)
        )
        if owner is None:
            return None
        return passcode_sends.issue(conn, owner.id, wanted, f"admin/{admin}", now)

    made = await gateway.writer.run(work)
    if made is None:
        raise ApiError(404, f"no account {auth_id!r}" if auth_id else "no account yet")
    code, record = made
    return JSONResponse(
        {"code": passcode_core.shown(code), **passcode_sends.described(record, now)},
        status_code=201,
    )


@router.get("/", summary="Pass codes and their status (never their values)")
async def listing(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    found = await gateway.db.read(passcode_store.listed)
    now = gateway.clock.now_us()
    return JSONResponse({"objects": [passcode_sends.described(code, now) for code in found]})


@router.delete("/{code_id}", status_code=204, summary="Revoke a pass code at once")
async def revoke(request: Request, code_id: str) -> Response:
    gateway: Gateway = request.app.state.gateway
    if not code_id.isdigit() or len(code_id) > 18:
        raise ApiError(404, f"no pass code {code_id!r}")
    now = gateway.clock.now_us()
    done = await gateway.writer.run(lambda conn: passcode_store.revoke(conn, int(code_id), now))
    if not done:
        raise ApiError(404, f"no active pass code {code_id}")
    return Response(status_code=204)

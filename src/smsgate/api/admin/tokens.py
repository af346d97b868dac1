"""``/admin/api/smssender/tokens``: the access tokens SMSSender's clients authenticate with.

A token is shown once, when it is issued; only its digest is stored. Tokens from the
settings file (``[[smssender.keys]]``) work alongside these.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from smsgate.api import params as p
from smsgate.api.admin.auth import require_admin
from smsgate.api.bodies import read_params
from smsgate.api.errors import ApiError
from smsgate.api.responses import JSONResponse
from smsgate.core.clock import iso
from smsgate.core.gateway import Gateway
from smsgate.store import accounts as account_store
from smsgate.store import tokens as token_store
from smsgate.store.tokens import AccessToken

FACE = "smssender"

router = APIRouter(
    prefix="/admin/api/smssender/tokens", tags=["Admin"], dependencies=[Depends(require_admin)]
)


def _shown(token: AccessToken, auth_id: str) -> dict[str, Any]:
    return {
        "id": token.id,
        "label": token.label,
        "account": auth_id,
        "created_at": iso(token.created_at),
        "revoked_at": iso(token.revoked_at),
    }


@router.post("/", status_code=201, summary="Issue an access token (shown once)")
async def issue(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    body = await read_params(request)
    label = p.text(body, "label", max_length=100) or ""
    auth_id = p.text(body, "account", max_length=20)
    now = gateway.clock.now_us()

    def work(conn: Any) -> tuple[str, int, str] | None:
        account = (
            account_store.by_auth_id(conn, auth_id)
            if auth_id
            else account_store.first_main_account(conn)
        )
        if account is None:
            return None
        token, token_id = token_store.issue(conn, FACE, account.id, label, now)
        return token, token_id, account.auth_id

    issued = await gateway.writer.run(work)
    if issued is None:
        raise ApiError(404, f"no account {auth_id!r}" if auth_id else "no account yet")
    token, token_id, owner = issued
    return JSONResponse(
        {"id": token_id, "token": token, "account": owner, "label": label}, status_code=201
    )


@router.get("/", summary="Access tokens (never their values)")
async def listing(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway

    def work(conn: Any) -> list[dict[str, Any]]:
        found = []
        for token in token_store.listed(conn, FACE):
            account = account_store.by_id(conn, token.account_id)
            found.append(_shown(token, account.auth_id if account else ""))
        return found

    return JSONResponse({"objects": await gateway.db.read(work)})


@router.delete("/{token_id}", status_code=204, summary="Revoke an access token at once")
async def revoke(request: Request, token_id: str) -> Response:
    gateway: Gateway = request.app.state.gateway
    if not token_id.isdigit() or len(token_id) > 18:
        raise ApiError(404, f"no token {token_id!r}")
    now = gateway.clock.now_us()
    done = await gateway.writer.run(lambda conn: token_store.revoke(conn, FACE, int(token_id), now))
    if not done:
        raise ApiError(404, f"no active token {token_id}")
    return Response(status_code=204)

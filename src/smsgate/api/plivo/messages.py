"""``/v1/Account/{auth_id}/Message/``: send, get and list messages."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from smsgate.api.auth import client_ip
from smsgate.api.bodies import read_params
from smsgate.api.errors import ApiError
from smsgate.api.fastpath import FastRoute
from smsgate.api.plivo import schemas
from smsgate.api.plivo.auth import plivo_scope
from smsgate.api.plivo.listing import page_links, read_filter
from smsgate.api.plivo.mdr import mdr
from smsgate.api.plivo.send import read_send
from smsgate.api.responses import JSONResponse
from smsgate.core.accounts import AccessDenied, Scope
from smsgate.core.gateway import Gateway
from smsgate.core.ids import api_id
from smsgate.core.submission import Prepared, api_response_callback_row

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
PlivoScope = Annotated[Scope, Depends(plivo_scope)]

router = APIRouter(prefix="/v1/Account/{auth_id}/Message", tags=["Message"])


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _queued_body(request_id: str, prepared: Prepared) -> dict[str, Any]:
    body: dict[str, Any] = {
        "api_id": request_id,
        "message": "message(s) queued",
        "message_uuid": prepared.uuids,
        "units": prepared.units,
        "encoding": prepared.encodings,
    }
    if prepared.invalid:
        body["invalid_number"] = prepared.invalid
    if prepared.text_sent is not None:
        body["text_sent"] = prepared.text_sent
    return body


@router.post(
    "/",
    status_code=202,
    summary="Send a message to one or more destinations",
    response_model=schemas.Queued,
    responses=schemas.ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schemas.SendMessage.model_json_schema()},
                "application/x-www-form-urlencoded": {
                    "schema": schemas.SendMessage.model_json_schema()
                },
            },
        }
    },
)
async def send_message(request: Request, auth_id: str) -> Response:
    started = time.perf_counter()
    # Authenticated inline rather than through Depends: this is the hot path.
    scope = await plivo_scope(request, auth_id)
    gateway = _gateway(request)
    wanted = read_send(await read_params(request))
    request_id = api_id()
    extra = None
    if wanted.callback_url is not None:
        url, method = wanted.callback_url, wanted.callback_method
        now = gateway.clock.now_us()

        def extra(prepared: Prepared) -> list[dict[str, Any]]:
            body = _queued_body(request_id, prepared)
            return [api_response_callback_row(scope.owner, url, method, body, now)]

    prepared = await gateway.accept(
        scope,
        wanted.submission,
        requester_ip=client_ip(request),
        request_id=request_id,
        extra_rows=extra,
    )
    gateway.metrics.accept_seconds.observe(time.perf_counter() - started)
    if wanted.callback_url is not None:
        return JSONResponse({"api_id": request_id, "message": "async api spawned"}, 202)
    return JSONResponse(_queued_body(request_id, prepared), 202)


@router.get(
    "/",
    summary="List messages, newest first",
    response_model=schemas.MessageList,
    responses=schemas.ERRORS,
)
async def list_messages(request: Request, auth_id: str, scope: PlivoScope) -> Response:
    gateway = _gateway(request)
    query = dict(request.query_params)
    account_ids = scope.account_ids
    sub = query.get("subaccount")
    if sub:
        try:
            account_ids = (await gateway.accounts.scope(scope.owner, sub)).account_ids
        except AccessDenied:
            raise ApiError(
                400, f"invalid subaccount {sub!r}: not a subaccount of this account"
            ) from None
    wanted = read_filter(query, account_ids, gateway.clock.now_us())
    found, total = await gateway.messages(wanted.where, wanted.limit, wanted.offset)
    owners = await _owner_ids(gateway, {msg.account_id for msg in found})
    following, previous = page_links(f"/v1/Account/{auth_id}/Message/", wanted, total)
    return JSONResponse(
        {
            "api_id": api_id(),
            "meta": {
                "limit": wanted.limit,
                "offset": wanted.offset,
                "next": following,
                "previous": previous,
                "total_count": total,
            },
            "objects": [mdr(msg, owners[msg.account_id]) for msg in found],
        }
    )


async def _owner_ids(gateway: Gateway, ids: set[int]) -> dict[int, str]:
    owners = {}
    for account_id in ids:
        account = await gateway.accounts.by_id(account_id)
        owners[account_id] = account.auth_id if account else ""
    return owners


@router.get(
    "/{message_uuid}/",
    summary="Get one message (its MDR)",
    response_model=schemas.MDR,
    responses={**schemas.ERRORS, 404: {"model": schemas.ErrorEnvelope}},
)
async def get_message(request: Request, message_uuid: str, scope: PlivoScope) -> Response:
    gateway = _gateway(request)
    msg = await gateway.message(scope, message_uuid) if UUID.fullmatch(message_uuid) else None
    if msg is None:
        raise ApiError(404, f"message {message_uuid} not found")
    owners = await _owner_ids(gateway, {msg.account_id})
    return JSONResponse({"api_id": api_id(), **mdr(msg, owners[msg.account_id])})


@router.get(
    "/{message_uuid}/Media/",
    summary="List the media of a message (SMS carry none)",
    responses={**schemas.ERRORS, 404: {"model": schemas.ErrorEnvelope}},
)
async def list_media(request: Request, message_uuid: str, scope: PlivoScope) -> Response:
    gateway = _gateway(request)
    if not UUID.fullmatch(message_uuid) or await gateway.message(scope, message_uuid) is None:
        raise ApiError(404, f"message {message_uuid} not found")
    return JSONResponse({"api_id": api_id(), "objects": []})


#: Served by the fast path (see api/fastpath.py); FastAPI keeps the same routes for the docs.
FAST_ROUTES = (
    FastRoute("POST", re.compile(r"/v1/Account/(?P<auth_id>[^/]+)/Message/"), send_message),
)

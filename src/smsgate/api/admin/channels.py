"""``/admin/api/channels``: channel health, and inbound messages injected into a channel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from smsgate.api import params as p
from smsgate.api.admin.auth import require_admin
from smsgate.api.bodies import read_params
from smsgate.api.errors import ApiError
from smsgate.api.responses import JSONResponse
from smsgate.core.errors import InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.core.inbound import InjectionRefused, inject_inbound

router = APIRouter(
    prefix="/admin/api/channels", tags=["Admin"], dependencies=[Depends(require_admin)]
)


class InboundRequest(BaseModel):
    from_: str = Field(alias="from", description="The handset's number")
    to: str = Field(description="The gateway number it was sent to")
    text: str
    account: str | None = Field(default=None, description="auth_id of the owning account")


@router.get("/", summary="Channels and their health")
async def list_channels(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    return JSONResponse(
        {
            "objects": [
                {
                    "name": status.name,
                    "kind": status.kind,
                    "up": status.up,
                    "in_flight": status.in_flight,
                    "detail": status.detail,
                }
                for status in gateway.channel_status()
            ]
        }
    )


@router.post(
    "/{name}/inbound",
    status_code=202,
    summary="Make a message arrive on a channel that can simulate it (the simulator)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": InboundRequest.model_json_schema()}},
        }
    },
)
async def inject(request: Request, name: str) -> Response:
    gateway: Gateway = request.app.state.gateway
    body: dict[str, Any] = await read_params(request)
    from_number = p.text(body, "from", required=True, numbers=True)
    to_number = p.text(body, "to", required=True, numbers=True)
    text = p.text(body, "text", required=True)
    account = p.text(body, "account")
    assert from_number is not None and to_number is not None and text is not None
    try:
        uuid = await inject_inbound(gateway, name, from_number, to_number, text, account)
    except InjectionRefused as exc:
        raise ApiError(exc.status, str(exc)) from None
    except InvalidParameter as exc:
        raise ApiError(400, exc.message) from None
    return JSONResponse({"message": "inbound message received", "message_uuid": uuid}, 202)

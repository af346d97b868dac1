"""``/health`` and ``/metrics``."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from smsgate.api.responses import JSONResponse
from smsgate.core.gateway import Gateway

router = APIRouter(tags=["Operations"])


@router.get("/health", summary="Whether the store and each channel are up (503 when not)")
async def health(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    store_up = await gateway.store_up()
    channels = {
        status.name: {"kind": status.kind, "up": status.up, **status.detail}
        for status in gateway.channel_status()
    }
    healthy = store_up and all(channel["up"] for channel in channels.values())
    body = {
        "status": "ok" if healthy else "degraded",
        "store": {"up": store_up, "backend": gateway.db.dialect},
        "channels": channels,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    with contextlib.suppress(Exception):  # the gauge keeps its last value if the store is down
        await gateway.queue_depth()
    gateway.channel_status()
    return Response(generate_latest(gateway.metrics.registry), media_type=CONTENT_TYPE_LATEST)

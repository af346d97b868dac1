"""The modem simulator's control API (HTTP, JSON), for users and scripts:

* ``GET /``: what the modem was sent, what it stores, pending faults, USSD requests
* ``POST /inbound`` ``{"from": "+447700900555", "text": "…", "order": [1, 0], "duplicate": false}``:
  a message arrives, in as many parts as it needs
* ``POST /faults`` ``{"kind": "cms", "code": 500, "count": 1, "after": 0}``: the next commands
  misbehave (``after`` of them first go through)
  (kinds: cms, silent, garbage, drop, drop_mid_pdu, reboot, report)
* ``DELETE /faults``: no more faults
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsgate.modem.simulator import FAULTS, ModemSimulator, describe
from smsgate.text.errors import EncodeError


def _refuse(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def control_app(modem: ModemSimulator) -> Starlette:
    async def show(request: Request) -> Response:
        return JSONResponse(describe(modem))

    async def inbound(request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return _refuse("send a JSON object")
        sender, text = body.get("from"), body.get("text")
        if not isinstance(sender, str) or not sender or not isinstance(text, str) or not text:
            return _refuse('"from" and "text" are required strings')
        order = body.get("order")
        if order is not None and (
            not isinstance(order, list) or not all(isinstance(i, int) for i in order)
        ):
            return _refuse('"order" is a list of part numbers from 0')
        try:
            parts = modem.deliver(
                sender, text, order=order, duplicate=bool(body.get("duplicate", False))
            )
        except (EncodeError, IndexError, ValueError) as exc:
            return _refuse(f"cannot deliver that: {exc}")
        return JSONResponse({"parts": parts}, status_code=201)

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            modem.clear_faults()
            return Response(status_code=204)
        body = await _body(request)
        if body is None:
            return _refuse("send a JSON object")
        kind, count, code = body.get("kind"), body.get("count", 1), body.get("code", 500)
        after = body.get("after", 0)
        if not isinstance(after, int) or not 0 <= after <= 1000:
            return _refuse('"after" is 0 to 1000')
        if kind not in FAULTS:
            return _refuse(f'"kind" is one of {", ".join(FAULTS)}')
        if not isinstance(count, int) or not 1 <= count <= 1000:
            return _refuse('"count" is 1 to 1000')
        if not isinstance(code, int) or not 0 <= code <= 999:
            return _refuse('"code" is 0 to 999')
        modem.fault(kind, count, code, after)
        return JSONResponse(
            {"kind": kind, "count": count, "code": code, "after": after}, status_code=201
        )

    return Starlette(
        routes=[
            Route("/", show, methods=["GET"]),
            Route("/inbound", inbound, methods=["POST"]),
            Route("/faults", faults, methods=["POST", "DELETE"]),
        ]
    )

"""The send page (``/send``): someone with a pass code sends SMS through its account.

* ``GET /send``: the page. It counts encoding, characters and parts as the user types (with
  ``GET /v1/segments``, the function the gateway bills with), sends, and shows each
  destination's state until it is delivered or failed.
* ``POST /send/api/messages`` ``{"code", "dst", "text"}``: ``202`` with one entry per message;
  ``401`` for a wrong code, ``403`` for an expired, used-up or revoked one, ``400`` for a bad
  request (nothing is stored), ``429`` (``Retry-After``) after too many wrong codes.
* ``POST /send/api/status`` ``{"code", "uuids"}``: the states of messages that code sent.

The code travels in the body, never in a URL. Wrong codes from one address are answered
later and later, then refused for a while.
"""

from __future__ import annotations

import asyncio
import re
from importlib import resources
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from smsgate.api.auth import client_ip
from smsgate.api.bodies import read_body
from smsgate.api.errors import ApiError, refusal_status
from smsgate.api.responses import JSONResponse
from smsgate.config import SendPageSettings
from smsgate.core.errors import InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.core.pacing import RateLimited
from smsgate.core.passcode_sends import PassCodeRefused, find, send_with_passcode, submitter
from smsgate.core.passcodes import PassCode, Status
from smsgate.core.submission import Submission
from smsgate.core.throttle import FailureThrottle, ThrottleRules

router = APIRouter(prefix="/send", tags=["Send page"])

MAX_BODY = 64 * 1024
_SPLIT = re.compile(r"[\s,;<]+")
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _asset(name: str) -> bytes:
    return resources.files("smsgate.web").joinpath(name).read_bytes()


def _settings(request: Request) -> SendPageSettings:
    gateway: Gateway = request.app.state.gateway
    if not gateway.settings.send_page.enabled:
        raise ApiError(404, "not found: there is no resource at this path")
    return gateway.settings.send_page


def _throttle(request: Request, settings: SendPageSettings) -> FailureThrottle:
    state = request.app.state
    throttle: FailureThrottle | None = getattr(state, "send_page_throttle", None)
    if throttle is None:
        rules = ThrottleRules(
            free=settings.free_failures,
            max_delay=settings.max_delay,
            block_after=settings.block_after,
            block_for=settings.block_minutes * 60,
        )
        throttle = FailureThrottle(state.gateway.clock, rules)
        state.send_page_throttle = throttle
    return throttle


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("error"))
        self.status, self.body, self.headers = status, body, headers or {}


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await read_body(request, MAX_BODY))
    except orjson.JSONDecodeError:
        raise _Refused(400, {"error": "the request is not JSON"}) from None
    if not isinstance(body, dict):
        raise _Refused(400, {"error": "the request must be a JSON object"})
    return body


async def _checked(request: Request, settings: SendPageSettings, typed: Any) -> PassCode:
    """The pass code typed, once the address is not refused; a wrong one is counted."""
    throttle = _throttle(request, settings)
    who = client_ip(request)
    wait = throttle.retry_after(who)
    if wait is not None:
        raise _Refused(
            429,
            {"error": "too many wrong pass codes: try again later"},
            {"Retry-After": str(int(wait) + 1)},
        )
    gateway: Gateway = request.app.state.gateway
    try:
        if not isinstance(typed, str):
            raise PassCodeRefused("wrong pass code")
        code = await find(gateway, typed[:100])
    except PassCodeRefused:
        delay = throttle.delay(who)
        throttle.failed(who)
        if delay:
            await asyncio.sleep(delay)
        raise _Refused(401, {"error": "wrong pass code"}) from None
    throttle.succeeded(who)
    account = await gateway.accounts.by_id(code.account_id)
    try:
        await gateway.pacing.admit(submitter(code), account)
    except RateLimited as exc:
        raise _Refused(
            429, {"error": "too many requests: slow down"}, {"Retry-After": exc.header}
        ) from None
    return code


def _refusal(exc: PassCodeRefused) -> _Refused:
    if exc.status is None:
        return _Refused(401, {"error": exc.message})
    return _Refused(403, {"error": exc.message, "status": exc.status.value})


@router.get("", include_in_schema=False)
async def page(request: Request) -> Response:
    _settings(request)
    return Response(_asset("send.html"), media_type="text/html", headers=_PAGE_HEADERS)


@router.get("/send.js", include_in_schema=False)
async def script(request: Request) -> Response:
    _settings(request)
    return Response(_asset("send.js"), media_type="text/javascript", headers=_PAGE_HEADERS)


@router.get("/send.css", include_in_schema=False)
async def style(request: Request) -> Response:
    _settings(request)
    return Response(_asset("send.css"), media_type="text/css", headers=_PAGE_HEADERS)


@router.post("/api/messages", status_code=202, summary="Send with a pass code")
async def send(request: Request) -> Response:
    settings = _settings(request)
    gateway: Gateway = request.app.state.gateway
    try:
        body = await _body(request)
        found = await _checked(request, settings, body.get("code"))
        raw = body.get("dst")
        if isinstance(raw, list) and all(isinstance(d, str) for d in raw):
            wanted = [d for item in raw for d in _SPLIT.split(item) if d]
        elif isinstance(raw, str):
            wanted = [d for d in _SPLIT.split(raw) if d]
        else:
            raise _Refused(400, {"error": "dst: one or more phone numbers"})
        if not wanted:
            raise _Refused(400, {"error": "dst: one or more phone numbers"})
        if len(wanted) > settings.max_destinations:
            raise _Refused(
                400, {"error": f"dst: at most {settings.max_destinations} numbers at once"}
            )
        text = body.get("text")
        if not isinstance(text, str):
            raise _Refused(400, {"error": "text: the message to send"})
        submission = Submission(src=settings.src, dst="<".join(wanted), text=text)
        try:
            code, prepared = await send_with_passcode(
                gateway, found, submission, requester_ip=client_ip(request)
            )
        except PassCodeRefused as exc:
            raise _refusal(exc) from None
        except InvalidParameter as exc:
            raise _Refused(refusal_status(exc), {"error": exc.message}) from None
    except _Refused as refused:
        return JSONResponse(refused.body, status_code=refused.status, headers=refused.headers)
    sent = [
        {
            "message_uuid": row["uuid"],
            "to": row["to_number"],
            "state": row["state"],
            "units": row["units"],
            "encoding": row["encoding"],
        }
        for row in prepared.messages
    ]
    left = code.remaining()
    return JSONResponse(
        {
            "messages": sent,
            "invalid": prepared.invalid,
            "remaining": None if left is None else left - len(sent),
        },
        status_code=202,
    )


@router.post("/api/status", summary="The states of messages a pass code sent")
async def status(request: Request) -> Response:
    settings = _settings(request)
    gateway: Gateway = request.app.state.gateway
    try:
        body = await _body(request)
        code = await _checked(request, settings, body.get("code"))
        uuids = body.get("uuids")
        if not isinstance(uuids, list) or not all(isinstance(u, str) for u in uuids):
            raise _Refused(400, {"error": "uuids: the message_uuid of each message"})
        if code.status(gateway.clock.now_us()) is Status.REVOKED:
            raise _Refused(403, {"error": "this pass code has been revoked", "status": "revoked"})
    except _Refused as refused:
        return JSONResponse(refused.body, status_code=refused.status, headers=refused.headers)
    account = await gateway.accounts.by_id(code.account_id)
    found = []
    if account is not None:
        scope = await gateway.accounts.scope(account, account.auth_id)
        for uuid in uuids[: settings.max_destinations]:
            msg = await gateway.message(scope, uuid[:36])
            if msg is not None and msg.submitted_by == submitter(code):
                found.append(
                    {
                        "message_uuid": msg.uuid,
                        "to": msg.to_number,
                        "state": msg.state,
                        "error_code": msg.error_code,
                    }
                )
    return JSONResponse({"messages": found})

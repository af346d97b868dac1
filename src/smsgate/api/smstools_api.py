"""The smstools-http-api-compatible face: the REST API that sat in front of SMS Server Tools 3.

* ``POST /api/v1.0/sms/outgoing`` with JSON ``{"mobiles": [...], "text": "..."}`` answers 201
  ``{"message_id": {mobile: id}, "parts_count": n, "sent_text": text}``; a mobile that is not a
  number gets ``"Not valid"`` instead of an id, one the user may not send to ``"Forbidden"``.
* ``GET /api/v1.0/sms/simple_send?to=…&to=…&text=…`` does the same from a query string.
* ``GET /api/v1.0/sms/sent/<message_id>`` answers ``{"From", "To", "Sent", "message_id"}``
  once the message is sent, else 404 ``{"error": "Not found"}``.

Users authenticate with HTTP Basic (``[[smstools_api.users]]``, passwords in the clear or
scrypt-hashed); a user's ``mobiles`` are the numbers it may send to (the original's
MOBILE_PERMS). The message ids are smsgate's message UUIDs: they work in the Plivo API too, and
messages go out on whichever channel routing picks, not only smsd.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from smsgate.api.auth import basic_credentials, client_ip
from smsgate.api.bodies import read_body
from smsgate.api.errors import ApiError
from smsgate.api.responses import JSONResponse
from smsgate.config import SmstoolsApiSettings, SmstoolsApiUser
from smsgate.core.errors import Forbidden, InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.pacing import RateLimited
from smsgate.core.permissions import Kind
from smsgate.core.submission import MAX_DESTINATIONS, Submission
from smsgate.store import accounts as account_store
from smsgate.text.numbers import check_destination, sanitize_destination

router = APIRouter(prefix="/api/v1.0/sms", tags=["smstools-http-api"])

FACE = "smstools-api"
SENT_STATES = ("sent", "delivered", "undelivered")
NOT_VALID, FORBIDDEN = "Not valid", "Forbidden"


class Refusal(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("error"))
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> Response:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def _bad(detail: str, **extra: Any) -> Refusal:
    return Refusal(400, {"error": "Request error", "detail": detail, **extra})


def _settings(request: Request) -> SmstoolsApiSettings:
    gateway: Gateway = request.app.state.gateway
    settings = gateway.settings.smstools_api
    if not settings.enabled:
        raise ApiError(404, "not found: there is no resource at this path")
    return settings


async def _password_ok(gateway: Gateway, user: SmstoolsApiUser | None, password: str) -> bool:
    if user is not None and user.password is not None:
        return hmac.compare_digest(user.password.encode(), password.encode())
    stored = user.password_hash if user is not None else None
    return await gateway.accounts.passwords.check(password, stored, f"{FACE}/{user and user.name}")


async def _authenticate(
    request: Request, settings: SmstoolsApiSettings
) -> tuple[SmstoolsApiUser, Account]:
    refused = Refusal(
        401,
        {"error": "Unauthorized access"},
        {"WWW-Authenticate": 'Basic realm="Authentication Required"'},
    )
    credentials = basic_credentials(request)
    if credentials is None:
        raise refused
    name, password = credentials
    gateway: Gateway = request.app.state.gateway
    user = next((u for u in settings.users if u.name == name), None)
    if not await _password_ok(gateway, user, password) or user is None:
        raise refused
    if user.account is not None:
        account = await gateway.accounts.by_auth_id(user.account)
    else:
        account = await gateway.db.read(account_store.first_main_account)
    if account is None or not account.enabled:
        raise refused
    try:
        await gateway.pacing.admit(f"{FACE}/{user.name}", account)
    except RateLimited as exc:
        raise Refusal(
            429, {"error": "Too many requests", "detail": str(exc)}, {"Retry-After": exc.header}
        ) from None
    return user, account


def permitted(user: SmstoolsApiUser, number: str) -> bool:
    """Whether ``user`` may send to ``number`` (digits): its ``mobiles``, a trailing ``*``
    allowing every number that starts so."""
    if user.mobiles is None:
        return True
    for entry in user.mobiles:
        allowed = sanitize_destination(entry)
        if allowed.endswith("*"):
            if number.startswith(allowed[:-1]):
                return True
        elif number == allowed:
            return True
    return False


async def _send(
    request: Request,
    settings: SmstoolsApiSettings,
    sender: tuple[SmstoolsApiUser, Account],
    mobiles: Any,
    text: Any,
) -> Response:
    user, account = sender
    if not isinstance(mobiles, list) or not mobiles:
        raise _bad("mobiles must be a non-empty list of phone numbers")
    if len(mobiles) > MAX_DESTINATIONS:
        raise _bad(f"too many mobiles: at most {MAX_DESTINATIONS:,} per request")
    if not all(isinstance(mobile, str) for mobile in mobiles):
        raise _bad("every mobile must be a string of digits")
    if not isinstance(text, str) or not text:
        raise _bad("text must be a non-empty string")
    gateway: Gateway = request.app.state.gateway
    submitted_by = f"{FACE}/{user.name}"
    # The gateway's permission rules answer per mobile, like the user's own ``mobiles``.
    levels = await gateway.permissions.levels(account, submitted_by)
    answers: dict[str, str] = {}
    numbers: dict[str, list[str]] = {}  # number -> the mobiles, as given, that name it
    for mobile in mobiles:
        digits = sanitize_destination(mobile.strip())
        destination = check_destination(digits) if digits.isdigit() else None
        if destination is None:
            answers[mobile] = NOT_VALID
        elif not permitted(user, destination.number) or levels.refuses(
            Kind.DESTINATION, destination.number, destination.country_iso2
        ):
            answers[mobile] = FORBIDDEN
        else:
            numbers.setdefault(destination.number, []).append(mobile)
    if not numbers:
        refusals = sorted(set(answers.values()))
        raise _bad(
            "no mobile can be sent to: "
            + " and ".join("not valid" if r == NOT_VALID else "forbidden" for r in refusals),
            message_id=answers,
        )
    scope = await gateway.accounts.scope(account, account.auth_id)
    submission = Submission(
        src=user.src or settings.src,
        dst="<".join(numbers),
        text=text,
        submitted_by=submitted_by,
    )
    try:
        prepared = await gateway.accept(scope, submission, requester_ip=client_ip(request))
    except Forbidden as exc:
        raise Refusal(403, {"error": "Forbidden", "detail": exc.message}) from None
    except InvalidParameter as exc:
        raise _bad(exc.message) from None
    by_number = {row["to_number"]: row["uuid"] for row in prepared.messages}
    for number, given in numbers.items():
        for mobile in given:
            answers[mobile] = by_number.get(number, NOT_VALID)
    return JSONResponse(
        {
            "message_id": answers,
            "parts_count": max(prepared.units),
            "sent_text": prepared.text_sent or text,
        },
        status_code=201,
    )


@router.post("/outgoing", summary="Send one text to several mobiles", status_code=201)
async def outgoing(request: Request) -> Response:
    try:
        settings = _settings(request)
        sender = await _authenticate(request, settings)
        raw = await read_body(request)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _bad(f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _bad('the body must be a JSON object: {"mobiles": [...], "text": "..."}')
        return await _send(request, settings, sender, body.get("mobiles"), body.get("text"))
    except Refusal as refusal:
        return refusal.response()


@router.get("/simple_send", summary="Send from a query string: to=…&to=…&text=…")
async def simple_send(request: Request) -> Response:
    try:
        settings = _settings(request)
        sender = await _authenticate(request, settings)
        query = request.query_params
        if "to" not in query or "text" not in query:
            raise _bad("missing required params: to and text")
        return await _send(request, settings, sender, query.getlist("to"), query["text"])
    except Refusal as refusal:
        return refusal.response()


def _sent_time(us: int | None) -> str | None:
    """smsd's ``Sent`` format, in the local time of the gateway's host (as smsd writes it)."""
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1e6).strftime("%y-%m-%d %H:%M:%S")


@router.get("/sent/{message_id:path}", summary="A sent message, by the id it was given")
async def sent(request: Request, message_id: str) -> Response:
    try:
        settings = _settings(request)
        user, account = await _authenticate(request, settings)
        not_found = Refusal(404, {"error": "Not found"})
        if len(message_id) != 36:
            raise not_found
        gateway: Gateway = request.app.state.gateway
        scope = await gateway.accounts.scope(account, account.auth_id)
        msg = await gateway.message(scope, message_id)
        mine = f"{FACE}/{user.name}"
        if (
            msg is None
            or msg.direction != "outbound"
            or (not user.admin and msg.submitted_by != mine)
        ):
            raise not_found
        if msg.state not in SENT_STATES:
            raise Refusal(404, {"error": "Not found", "state": msg.state})
        face, _, sender = msg.submitted_by.partition("/")
        return JSONResponse(
            {
                "From": sender if face == FACE else msg.from_number,
                "To": msg.to_number,
                "Sent": _sent_time(msg.sent_at),
                "message_id": msg.uuid,
                "state": msg.state,
                "error_code": msg.error_code,
            }
        )
    except Refusal as refusal:
        return refusal.response()


@router.get("", summary="Is the API there: OK", response_class=PlainTextResponse)
async def alive(request: Request) -> Response:
    _settings(request)
    return PlainTextResponse("OK")

"""The SMSSender-compatible face: ``GET /?c=<command>&access-token=<key>[&params=<json>]``.

SMSSender drove one USB modem behind this API; its clients keep working against smsgate:
``c=send_sms`` with ``params={"phone": …, "text": …}`` queues a message (on any channel
routing picks, a modem included) and ``c=get_balance`` asks the SIM's balance over USSD.
Answers keep SMSSender's shapes and error codes:

* ``{"response": "success", "code": 200}`` (plus ``message_uuid``, readable in the Plivo API)
* ``{"error": "…", "code": N}`` with 10 command required, 21 empty text, 22/23 text too long
  (GSM / UCS-2), 30 phone required, 31 phone format, 32 params required, 33 not sent
* ``{"error": "Authenticate error"}`` with HTTP 401.

SMSSender answered every error with HTTP 500; smsgate answers a request's own mistakes with
400 and keeps 500 for 33 (the modem did not take the message). Its one-part limit and its
Russian phone format are settings (``[smssender]``), defaults as SMSSender had them.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from smsgate.api.errors import refusal_status
from smsgate.api.responses import JSONResponse
from smsgate.channels.base import AsksUssd
from smsgate.config import SmsSenderSettings
from smsgate.core.errors import InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.pacing import RateLimited
from smsgate.core.submission import Submission
from smsgate.modem.driver import ModemError
from smsgate.store import accounts as account_store
from smsgate.store import tokens as token_store
from smsgate.store.tokens import digest
from smsgate.text.errors import EncodeError
from smsgate.text.numbers import parse_destination
from smsgate.text.segments import Encoding, segment

router = APIRouter(tags=["SMSSender"])

FACE = "smssender"
_RU_PHONE = re.compile(r"\+?(7|8)(\d{10})")
_AMOUNT = re.compile(r"-?\d+(?:[.,]\d+)?")


class Refusal(Exception):
    def __init__(
        self, status: int, code: int | None, error: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(error)
        self.status, self.code, self.error = status, code, error
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {"error": self.error}
        if self.code is not None:
            body["code"] = self.code
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _bad(code: int, error: str) -> Refusal:
    return Refusal(400, code, error)


@router.get(
    "/",
    summary="SMSSender-compatible API: c=send_sms or c=get_balance",
    response_class=JSONResponse,
)
async def smssender(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    settings = gateway.settings.smssender
    if not settings.enabled:
        return JSONResponse({"error": "not found: there is no resource at this path"}, 404)
    query = request.query_params
    try:
        account = await _authenticate(gateway, settings, query.get(settings.key_param) or "")
        command = query.get("c") or ""
        if not command:
            raise _bad(10, "command is required")
        if command == "send_sms":
            return await _send_sms(request, gateway, settings, account, query.get("params"))
        if command == "get_balance":
            return await _get_balance(gateway, settings)
        raise Refusal(400, None, f"SmsHandler instance has no attribute {command[:40]!r}")
    except Refusal as refusal:
        return refusal.response()


async def _authenticate(gateway: Gateway, settings: SmsSenderSettings, token: str) -> Account:
    refused = Refusal(401, None, "Authenticate error")
    if not token or len(token) > 200:
        raise refused
    auth_id: str | None = None
    matched = False
    for key in settings.keys:
        if hmac.compare_digest(key.key.encode(), token.encode()):
            matched, auth_id = True, key.account
    account: Account | None = None
    if matched:
        if auth_id is not None:
            account = await gateway.accounts.by_auth_id(auth_id)
        else:
            account = await gateway.db.read(account_store.first_main_account)
    else:
        issued = await gateway.db.read(lambda conn: token_store.find(conn, FACE, token))
        if issued is not None:
            account = await gateway.db.read(
                lambda conn: account_store.by_id(conn, issued.account_id)
            )
    if account is None or not account.enabled:
        raise refused
    try:
        await gateway.pacing.admit(f"{FACE}:{digest(token)[:16]}", account)
    except RateLimited as exc:
        raise Refusal(
            429, None, "too many requests: slow down", {"Retry-After": exc.header}
        ) from None
    return account


def _phone(settings: SmsSenderSettings, raw: Any) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise _bad(30, "phone number is required")
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise _bad(31, "phone number has invalid format")
    phone = re.sub(r"[\s()-]", "", str(raw))
    if settings.phone_format == "ru":
        match = _RU_PHONE.fullmatch(phone)
        if match is None:
            raise _bad(31, "phone number has invalid format")
        return "7" + match.group(2)
    destination = parse_destination(phone)
    if destination is None:
        raise _bad(31, "phone number has invalid format")
    return destination.number


def _text(settings: SmsSenderSettings, raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise _bad(21, "the text should not be an empty string")
    if "\x00" in raw:
        raise _bad(21, "the text contains a NUL character")
    try:
        seg = segment(raw)
    except EncodeError as exc:
        raise _bad(21, f"the text cannot be sent: {exc}") from None
    if seg.units > settings.max_parts:
        single = 160 if seg.encoding is Encoding.GSM7 else 70
        each = 153 if seg.encoding is Encoding.GSM7 else 67
        most = single if settings.max_parts == 1 else each * settings.max_parts
        if seg.encoding is Encoding.GSM7:
            raise _bad(22, f"The text should not be longer than {most} characters to ascii")
        raise _bad(23, f"The text should not be longer than {most} characters for not ascii")
    return raw


async def _send_sms(
    request: Request,
    gateway: Gateway,
    settings: SmsSenderSettings,
    account: Account,
    raw_params: str | None,
) -> Response:
    if not raw_params:
        raise _bad(32, "payload is required")
    try:
        params = orjson.loads(raw_params)
    except orjson.JSONDecodeError:
        raise _bad(32, "payload is required: params is not valid JSON") from None
    if not isinstance(params, dict):
        raise _bad(32, "payload is required: params is not a JSON object")
    phone = _phone(settings, params.get("phone"))
    text = _text(settings, params.get("text"))
    scope = await gateway.accounts.scope(account, account.auth_id)
    submission = Submission(src=settings.src, dst=phone, text=text)
    client = request.client.host if request.client else ""
    with gateway.watch() as changes:
        try:
            prepared = await gateway.accept(scope, submission, requester_ip=client)
        except InvalidParameter as exc:
            code = {"dst": 31, "text": 21}.get(exc.param, 33)
            status = refusal_status(exc) if code != 33 else 500
            raise Refusal(status, code, exc.message) from None
        [uuid] = prepared.uuids
        state = await _handed_over(changes, uuid, settings.wait)
    if state == "failed":
        raise Refusal(500, 33, "internal modem error. The message not sended")
    return JSONResponse({"response": "success", "code": 200, "message_uuid": uuid})


async def _handed_over(changes: asyncio.Queue[Any], uuid: str, wait: float) -> str | None:
    """``sent`` (or later) once a channel took the message, ``failed`` if none would, or
    None if neither happened in ``wait`` seconds (it is queued, and will go)."""
    try:
        async with asyncio.timeout(wait):
            while True:
                change = await changes.get()
                if change.uuid == uuid and change.state != "queued":
                    return str(change.state)
    except TimeoutError:
        return None


async def _get_balance(gateway: Gateway, settings: SmsSenderSettings) -> Response:
    able = [c for c in gateway.channels.values() if "ussd" in c.capabilities]
    if settings.balance_channel is not None:
        able = [c for c in able if c.name == settings.balance_channel]
    channel = able[0] if able else None
    if not isinstance(channel, AsksUssd):
        raise Refusal(500, 33, "internal modem error: no modem channel to ask the balance")
    try:
        answer = await channel.ussd(settings.balance_code)
    except (ModemError, ValueError) as exc:
        raise Refusal(500, 33, f"internal modem error: {exc}") from None
    if not answer.ok:
        raise Refusal(500, 33, f"internal modem error: USSD answered {answer.status}")
    amount = _AMOUNT.search(answer.text)
    return JSONResponse(
        {
            "response": "success",
            "code": 200,
            "balance": amount.group().replace(",", ".") if amount else None,
            "text": answer.text,
        }
    )

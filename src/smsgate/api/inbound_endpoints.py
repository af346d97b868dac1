"""Provider inbound endpoints: ``GET|POST /inbound/<name>/``, where an upstream SMS provider
pushes the messages that arrive for its numbers and the delivery reports of messages sent
through it. Each ``[[inbound_endpoints]]`` setting is one URL, in one provider's format:

* ``broker``: ``origin``, ``text``, ``destination`` (django-sms-broker's notifications, also
  served at its own ``/sms/notfication/<name>`` and ``/sms/notification/<name>``); answered
  ``OK`` in plain text once the message is stored.
* ``plivo``: Plivo's inbound message callback (``From``, ``To``, ``Text``, ``MessageUUID``,
  ``Units``…) and its status callback (``Status``, ``MessageUUID``, ``ErrorCode``), signed
  with ``X-Plivo-Signature-V3``; answered ``<Response/>``.
* ``twilio``: Twilio's messaging webhook (``From``, ``To``, ``Body``, ``MessageSid``,
  ``NumSegments``…) and its status callback (``MessageStatus``, ``MessageSid``,
  ``ErrorCode``), signed with ``X-Twilio-Signature``; answered with TwiML ``<Response/>``.

The endpoints only make events (``InboundReceived``, ``DeliveryReport``) for the core, under
the endpoint's name as the channel: a provider's message id is the channel reference, so a
provider's retry is stored once and a report finds the message sent under that id. A request
is answered 200 only once what it carries is stored (or known to be stored already); every
refusal is plain text naming the reason, and stores nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Request
from sqlalchemy.exc import DBAPIError
from starlette.responses import PlainTextResponse, Response

from smsgate.api.bodies import FORM_TYPE, read_body
from smsgate.api.errors import ApiError
from smsgate.config import InboundEndpointSettings
from smsgate.core.clock import seconds
from smsgate.core.events import DeliveryReport, InboundReceived
from smsgate.core.gateway import Gateway
from smsgate.core.provider_params import (
    NonceCache,
    StatusMeaning,
    plivo_status,
    plivo_v3_valid,
    twilio_algorithm,
    twilio_status,
    twilio_valid,
)
from smsgate.core.signing import Params
from smsgate.store.database import store_unavailable
from smsgate.text.errors import EncodeError
from smsgate.text.numbers import sanitize_sender
from smsgate.text.segments import segment, well_formed

log = structlog.get_logger(__name__)

router = APIRouter(tags=["Inbound endpoints"])

MAX_BODY = 64 * 1024
MAX_REF = 100  # the store's channel_ref
MAX_NONCE = 256
MAX_SIGNATURE = 2048
XML_RESPONSE = '<?xml version="1.0" encoding="UTF-8"?>\n<Response/>\n'
_MEDIA = {"plivo": "application/xml", "twilio": "text/xml"}

Pairs = list[tuple[str, str]]
Event = InboundReceived | DeliveryReport


class Refusal(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}

    def response(self) -> Response:
        return PlainTextResponse(self.message, status_code=self.status, headers=self.headers)


async def inbound(request: Request, name: str) -> Response:
    """Inbound messages and delivery reports pushed by an upstream provider."""
    try:
        return await _serve(request, _endpoint(request, name))
    except Refusal as refusal:
        return refusal.response()


async def broker_notification(request: Request, name: str) -> Response:
    """django-sms-broker's notification URL (``notfication``, as its README spells it, or
    ``notification``): broker-format endpoints only."""
    try:
        endpoint = _endpoint(request, name)
        if endpoint.format != "broker":
            raise _no_endpoint(name, "broker ")
        return await _serve(request, endpoint)
    except Refusal as refusal:
        return refusal.response()


def _route(paths: list[str], endpoint: Callable[[Request, str], Awaitable[Response]]) -> None:
    """GET and POST on each of ``paths``; the first is the one the API description shows."""
    for index, path in enumerate(paths):
        for method in ("GET", "POST"):
            router.add_api_route(
                path,
                endpoint,
                methods=[method],
                response_class=PlainTextResponse,
                include_in_schema=index == 0,
            )


_route(["/inbound/{name}/", "/inbound/{name}"], inbound)
_route(
    [
        "/sms/notfication/{name}",
        "/sms/notfication/{name}/",
        "/sms/notification/{name}",
        "/sms/notification/{name}/",
    ],
    broker_notification,
)


def _no_endpoint(name: str, kind: str = "") -> Refusal:
    return Refusal(404, f"not found: there is no {kind}inbound endpoint named {name[:64]!r}")


def _endpoint(request: Request, name: str) -> InboundEndpointSettings:
    gateway: Gateway = request.app.state.gateway
    for endpoint in gateway.settings.inbound_endpoints:
        if endpoint.name == name:
            return endpoint
    raise _no_endpoint(name)


async def _serve(request: Request, endpoint: InboundEndpointSettings) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        body = await read_body(request, MAX_BODY)
    except ApiError as exc:
        raise Refusal(exc.status, exc.message) from None
    query = parse_qsl(request.url.query, keep_blank_values=True)
    form = _form(request, body) if request.method == "POST" else []
    nonce = _check_signature(request, gateway, endpoint, form)
    try:
        event = _event(endpoint, _fields(query, form))
        if event is not None:
            await _record(gateway, endpoint, event)
    except BaseException:
        if nonce is not None:  # not processed: the provider may send this request again
            _nonces(request).release(endpoint.name, nonce)
        raise
    if endpoint.format == "broker":
        return PlainTextResponse("OK")
    return Response(XML_RESPONSE, media_type=_MEDIA[endpoint.format])


# reading the request -------------------------------------------------------------------------


def _form(request: Request, body: bytes) -> Pairs:
    if not body.strip():
        return []
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (FORM_TYPE, ""):
        raise Refusal(415, f"unsupported Content-Type {content_type[:80]!r}: send {FORM_TYPE}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "invalid body: form data must be UTF-8") from None
    return parse_qsl(text, keep_blank_values=True)


def _fields(*sources: Pairs) -> dict[str, str]:
    """Each parameter's first value; a later source (the body) wins over an earlier one."""
    fields: dict[str, str] = {}
    for pairs in sources:
        found: dict[str, str] = {}
        for key, value in pairs:
            found.setdefault(key, value)
        fields.update(found)
    return fields


def _multi(pairs: Iterable[tuple[str, str]]) -> Params:
    """Parameters as signatures take them: a list for a name given more than once."""
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    return {key: items[0] if len(items) == 1 else items for key, items in values.items()}


# signatures ----------------------------------------------------------------------------------


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def signed_url(request: Request, endpoint: InboundEndpointSettings) -> str:
    """The URL the provider called, as it signed it: ``public_url`` when set, else this
    request's URL as the client named it (``X-Forwarded-Proto`` and ``X-Forwarded-Host`` from
    a proxy in front), with the query string as it came."""
    if endpoint.public_url:
        base = endpoint.public_url
    else:
        scheme = _first(request.headers.get("x-forwarded-proto")).lower()
        if scheme not in ("http", "https"):
            scheme = request.url.scheme
        host = (
            _first(request.headers.get("x-forwarded-host"))
            or request.headers.get("host", "")
            or request.url.netloc
        )
        base = f"{scheme}://{host}{request.url.path}"
    query = request.url.query
    return f"{base}?{query}" if query else base


def _nonces(request: Request) -> NonceCache:
    cache = getattr(request.app.state, "inbound_nonces", None)
    if cache is None:
        cache = NonceCache()
        request.app.state.inbound_nonces = cache
    assert isinstance(cache, NonceCache)
    return cache


def _forged(endpoint: InboundEndpointSettings, reason: str) -> Refusal:
    log.warning("inbound endpoint refused a request", endpoint=endpoint.name, reason=reason)
    return Refusal(403, f"forbidden: {reason}")


def _check_signature(
    request: Request, gateway: Gateway, endpoint: InboundEndpointSettings, form: Pairs
) -> str | None:
    """Refuse (403) a request whose signature is missing or wrong when the endpoint has an
    ``auth_token``; the Plivo nonce reserved for this request, if any."""
    token = endpoint.auth_token
    if token is None:
        return None
    url = signed_url(request, endpoint)
    params = _multi(form)  # a GET's parameters are in the URL's query
    headers = request.headers
    if endpoint.format == "twilio":
        signature = headers.get("x-twilio-signature", "")
        if not signature:
            raise _forged(endpoint, "the X-Twilio-Signature header is missing")
        algorithm = twilio_algorithm(headers.get("x-twilio-webhooks-signature-settings", ""))
        if len(signature) > MAX_SIGNATURE or not twilio_valid(
            token, url, params, signature, algorithm
        ):
            raise _forged(endpoint, f"X-Twilio-Signature does not sign {url}")
        return None
    signature = headers.get("x-plivo-signature-v3", "")
    nonce = headers.get("x-plivo-signature-v3-nonce", "")
    if not signature or not nonce:
        raise _forged(
            endpoint, "the X-Plivo-Signature-V3 and X-Plivo-Signature-V3-Nonce headers are missing"
        )
    if len(signature) > MAX_SIGNATURE or len(nonce) > MAX_NONCE:
        raise _forged(endpoint, "the X-Plivo-Signature-V3 headers are too long")
    if not plivo_v3_valid(token, request.method, url, params, nonce, signature):
        raise _forged(endpoint, f"X-Plivo-Signature-V3 does not sign {url}")
    now = gateway.clock.now_us()
    if not _nonces(request).reserve(endpoint.name, nonce, now, seconds(endpoint.replay_window)):
        raise _forged(endpoint, "this X-Plivo-Signature-V3-Nonce was used already (a replay)")
    return nonce


# the events ----------------------------------------------------------------------------------


def _required(fields: dict[str, str], *names: str) -> str:
    """The first of ``names`` present (a value may be empty); 400 naming the first when none."""
    for name in names:
        if name in fields:
            return fields[name]
    raise Refusal(400, f"missing parameter: {names[0]}")


def _number(fields: dict[str, str], name: str) -> str:
    value = _required(fields, name).strip()
    if not sanitize_sender(value):
        raise Refusal(400, f"invalid {name}: {value[:40]!r} is not a number or sender ID")
    return value


def _text(fields: dict[str, str], *names: str) -> str:
    """The text (it may be empty), if it fits in one SMS of at most 255 parts."""
    text = _required(fields, *names)
    try:
        segment(well_formed(text))
    except EncodeError as exc:
        name = next(n for n in names if n in fields)
        raise Refusal(400, f"invalid {name}: longer than an SMS can be ({exc})") from None
    return text


def _reference(fields: dict[str, str], *names: str) -> str:
    value = _required(fields, *names).strip()
    name = next(n for n in names if n in fields)
    if not value:
        raise Refusal(400, f"invalid {name}: empty")
    if len(value) > MAX_REF:
        raise Refusal(400, f"invalid {name}: longer than {MAX_REF} characters")
    return value


def _units(value: str | None) -> int | None:
    """A provider's count of parts, when it is a plausible one; else the core counts."""
    if value is None or not value.strip().isdigit():
        return None
    units = int(value.strip())
    return units if 1 <= units <= 255 else None


def _event(endpoint: InboundEndpointSettings, fields: dict[str, str]) -> Event | None:
    if endpoint.format == "broker":
        return InboundReceived(
            channel=endpoint.name,
            from_number=_number(fields, "origin"),
            to_number=_number(fields, "destination"),
            text=_text(fields, "text"),
            account_auth_id=endpoint.account,
        )
    if endpoint.format == "plivo":
        if "Status" in fields and "Text" not in fields:
            ref = _reference(fields, "MessageUUID")
            status = fields["Status"]
            return _report(endpoint, ref, status, plivo_status(status, fields.get("ErrorCode", "")))
        return InboundReceived(
            channel=endpoint.name,
            from_number=_number(fields, "From"),
            to_number=_number(fields, "To"),
            text=_text(fields, "Text", "Body"),  # Body: the text of an MMS
            account_auth_id=endpoint.account,
            units=_units(fields.get("Units")),
            channel_ref=_reference(fields, "MessageUUID"),
        )
    if "MessageStatus" in fields and "Body" not in fields:
        ref = _reference(fields, "MessageSid", "SmsSid")
        status = fields["MessageStatus"]
        return _report(endpoint, ref, status, twilio_status(status, fields.get("ErrorCode", "")))
    return InboundReceived(
        channel=endpoint.name,
        from_number=_number(fields, "From"),
        to_number=_number(fields, "To"),
        text=_text(fields, "Body"),
        account_auth_id=endpoint.account,
        units=_units(fields.get("NumSegments")),
        channel_ref=_reference(fields, "MessageSid", "SmsMessageSid", "SmsSid"),
    )


def _report(
    endpoint: InboundEndpointSettings, ref: str, status: str, meaning: StatusMeaning
) -> DeliveryReport | None:
    if meaning.state is None:
        if not meaning.known:
            log.warning(
                "inbound endpoint: unknown status, nothing recorded",
                endpoint=endpoint.name,
                status=status[:40],
                ref=ref,
            )
        return None
    return DeliveryReport(
        delivered=meaning.state == "delivered",
        error_code=meaning.error_code,
        channel=endpoint.name,
        channel_ref=ref,
    )


async def _record(gateway: Gateway, endpoint: InboundEndpointSettings, event: Event) -> None:
    """Store ``event``; refuse (5xx) when it could not be stored, so the provider retries."""
    try:
        outcome = await gateway.record([event])
    except DBAPIError as exc:
        if store_unavailable(exc):
            log.error("inbound endpoint: store unavailable", endpoint=endpoint.name)
            raise Refusal(
                503,
                "the message store is unavailable: nothing was stored; try again",
                {"Retry-After": "5"},
            ) from None
        log.error("inbound endpoint: store refused", endpoint=endpoint.name, error=str(exc.orig))
        raise Refusal(500, "internal server error: nothing was stored") from None
    except Exception:
        log.exception("inbound endpoint: recording failed", endpoint=endpoint.name)
        raise Refusal(500, "internal server error: nothing was stored") from None
    unmatched = any(e is event for e in outcome.unmatched)
    if isinstance(event, InboundReceived):
        if unmatched:
            owner = f"account {event.account_auth_id}" if event.account_auth_id else "main account"
            raise Refusal(500, f"not stored: there is no {owner} to own inbound messages")
        if not outcome.transitions:
            log.info("inbound endpoint: message stored already", endpoint=endpoint.name)
    elif unmatched:
        log.info(
            "inbound endpoint: delivery report for no message waiting for one",
            endpoint=endpoint.name,
            ref=event.channel_ref,
        )

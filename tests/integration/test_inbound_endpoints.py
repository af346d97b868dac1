"""Provider inbound endpoints: brokers, Plivo and Twilio push inbound messages and delivery
reports to ``/inbound/<name>/``. Requests are signed with the providers' own libraries: the
``plivo`` SDK's V3 signature utilities and Twilio's ``RequestValidator``."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from plivo.utils import validate_v3_signature
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3
from pydantic import ValidationError
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from smsgate.api.app import create_app
from smsgate.config import InboundEndpointSettings, Settings, load_settings
from smsgate.core.clock import FakeClock
from smsgate.core.events import Submitted
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.provider_params import NonceCache, plivo_status, twilio_status
from smsgate.core.submission import Submission
from smsgate.store.schema import accounts, messages
from tests.conftest import GatewayFactory, basic, new_account, scope_of

PLIVO_TOKEN = "MzQ5ZWNmZDc4NDk1ZGVlOTg0YjM2ZjQ1YzIyZjE0"
TWILIO_TOKEN = "12345678901234567890123456789012"
BASE = "http://testserver"

ENDPOINTS: list[dict[str, Any]] = [
    {"name": "broker", "format": "broker"},
    {"name": "plivo", "format": "plivo"},
    {"name": "twilio", "format": "twilio"},
    {"name": "plivo-signed", "format": "plivo", "auth_token": PLIVO_TOKEN},
    {"name": "twilio-signed", "format": "twilio", "auth_token": TWILIO_TOKEN},
]

PLIVO_INBOUND = {
    "From": "447700900123",
    "To": "14155550100",
    "Text": "Hello from a handset",
    "Type": "sms",
    "MessageUUID": "2a340a4e-8b5a-11ef-9c2c-0242ac110005",
    "Units": "1",
    "TotalRate": "0.00000",
    "TotalAmount": "0.00000",
    "MessageIntent": "",
    "PowerpackUUID": "",
}

TWILIO_INBOUND = {
    "ToCountry": "US",
    "SmsMessageSid": "SM0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "NumMedia": "0",
    "SmsSid": "SM0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "SmsStatus": "received",
    "Body": "Hello from a handset",
    "To": "+14155550100",
    "NumSegments": "1",
    "MessageSid": "SM0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "AccountSid": "AC00000000000000000000000000000000",
    "From": "+447700900123",
    "ApiVersion": "2010-04-01",
}

_nonces = itertools.count(10_000_000_000_000_000_000)


# helpers -------------------------------------------------------------------------------------


@asynccontextmanager
async def app_client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway, manage_gateway=False, access_log=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    return await make_gateway(clock=FakeClock(), inbound_endpoints=ENDPOINTS)


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(gateway) as http:
        yield http


async def inbound_rows(gateway: Gateway) -> list[dict[str, Any]]:
    query = select(messages).where(messages.c.direction == "inbound").order_by(messages.c.uuid)
    return await gateway.db.read(lambda conn: [dict(row._mapping) for row in conn.execute(query)])


async def mdr(client: httpx.AsyncClient, account: Account, uuid: str) -> dict[str, Any]:
    """The message as the Plivo Message API shows it to ``account``."""
    response = await client.get(
        f"/v1/Account/{account.auth_id}/Message/{uuid}/",
        headers=basic(account.auth_id, account.auth_token),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def sent_message(gateway: Gateway, account: Account, channel: str, ref: str) -> str:
    """An outbound message handed over on ``channel`` under the provider's id ``ref``."""
    scope = await scope_of(gateway, account)
    submission = Submission(src="14155550100", dst="14155550101", text="Hello")
    [uuid] = (await gateway.accept(scope, submission, requester_ip="192.0.2.7")).uuids
    outcome = await gateway.record([Submitted(uuid, channel=channel, channel_ref=ref)])
    assert [t.state for t in outcome.transitions] == ["sent"]
    return uuid


def plivo_signed(
    url: str,
    params: Mapping[str, str],
    *,
    method: str = "POST",
    token: str = PLIVO_TOKEN,
    nonce: str | None = None,
) -> dict[str, str]:
    """Plivo's V3 signature headers for a request to ``url``, made with the plivo SDK's own
    functions (a GET's parameters are in ``url``)."""
    nonce = nonce or str(next(_nonces))
    if method == "POST":
        base = construct_post_url(url, dict(params)).decode()
    else:
        base = construct_get_url(url, {}).decode()
    signature = get_signature_v3(token.encode(), base, nonce.encode()).decode()
    # What Plivo's SDK validates is what it signed.
    assert validate_v3_signature(method, url, nonce, token, signature, dict(params))
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}


def twilio_signed(
    url: str, params: Mapping[str, str], *, token: str = TWILIO_TOKEN, algorithm: str | None = None
) -> dict[str, str]:
    validator = RequestValidator(token)
    signature = validator.compute_signature(url, dict(params), algorithm)
    assert validator.validate(url, dict(params), signature, algorithm)
    headers = {"X-Twilio-Signature": signature}
    if algorithm:
        headers["X-Twilio-Webhooks-Signature-Settings"] = f"key=sk_1,algorithm={algorithm}"
    return headers


def xml_root(response: httpx.Response) -> str:
    return ElementTree.fromstring(response.content).tag


# broker --------------------------------------------------------------------------------------


async def test_broker_notification_is_stored_and_answered_ok(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    response = await client.get(
        "/inbound/broker/", params={"origin": "1234", "text": "ABC.UNICORN", "destination": "567"}
    )
    assert response.status_code == 200
    assert response.text == "OK"
    assert response.headers["content-type"].startswith("text/plain")
    [row] = await inbound_rows(gateway)
    assert (row["from_number"], row["to_number"], row["text"]) == ("1234", "567", "ABC.UNICORN")
    assert row["channel"] == "broker" and row["channel_ref"] is None
    assert row["account_id"] == account.id
    shown = await mdr(client, account, row["uuid"])
    assert shown["message_direction"] == "inbound"
    assert (shown["from_number"], shown["to_number"]) == ("1234", "567")


@pytest.mark.parametrize(
    "path",
    [
        "/sms/notfication/broker",  # django-sms-broker's README, typo included
        "/sms/notfication/broker/",
        "/sms/notification/broker",  # its urls.py
        "/sms/notification/broker/",
        "/inbound/broker",
    ],
)
async def test_broker_paths_of_django_sms_broker(
    client: httpx.AsyncClient, gateway: Gateway, account: Account, path: str
) -> None:
    response = await client.get(f"{path}?origin=1234&text=ABC.UNICORN&destination=567")
    assert (response.status_code, response.text) == (200, "OK")
    [row] = await inbound_rows(gateway)
    assert (row["from_number"], row["to_number"], row["text"]) == ("1234", "567", "ABC.UNICORN")


async def test_broker_form_body(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    response = await client.post(
        "/sms/notification/broker",
        data={"origin": "+44 7700 900123", "text": "stop", "destination": "567"},
    )
    assert (response.status_code, response.text) == (200, "OK")
    [row] = await inbound_rows(gateway)
    assert (row["from_number"], row["text"]) == ("447700900123", "stop")


async def test_without_an_account_nothing_is_stored_and_the_broker_may_retry(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    response = await client.get("/inbound/broker/?origin=1234&text=A&destination=567")
    assert response.status_code == 500  # a broker sends the notification again
    assert response.text == "not stored: there is no main account to own inbound messages"
    assert await inbound_rows(gateway) == []


async def test_broker_aliases_serve_only_broker_endpoints(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    for path in ("/sms/notfication/plivo", "/sms/notification/nobody"):
        response = await client.get(f"{path}?origin=1234&text=A&destination=567")
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/plain")
    assert await inbound_rows(gateway) == []


@pytest.mark.parametrize("missing", ["origin", "text", "destination"])
async def test_broker_missing_field_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account, missing: str
) -> None:
    params = {"origin": "1234", "text": "ABC", "destination": "567"}
    del params[missing]
    response = await client.get("/inbound/broker/", params=params)
    assert response.status_code == 400
    assert response.text == f"missing parameter: {missing}"
    assert await inbound_rows(gateway) == []


async def test_broker_number_without_digits_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    response = await client.get("/inbound/broker/?origin=%2B--&text=A&destination=567")
    assert response.status_code == 400
    assert "origin" in response.text
    assert await inbound_rows(gateway) == []


@pytest.mark.parametrize(
    "text",
    ["", "Привет, мир", "مرحبا بالعالم", "你好 😀", "Ελληνικά €", "ABC.UNICORN", "a\nb\tc"],
)
async def test_inbound_text_in_any_alphabet_is_stored_as_sent(
    client: httpx.AsyncClient, gateway: Gateway, account: Account, text: str
) -> None:
    response = await client.post(
        "/inbound/broker/", data={"origin": "1234", "text": text, "destination": "567"}
    )
    assert response.status_code == 200
    response = await client.post("/inbound/plivo/", data={**PLIVO_INBOUND, "Text": text})
    assert response.status_code == 200
    rows = await inbound_rows(gateway)
    assert [row["text"] for row in rows] == [text, text]


# plivo ---------------------------------------------------------------------------------------


async def test_plivo_inbound_message_is_stored(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    response = await client.post("/inbound/plivo/", data={**PLIVO_INBOUND, "Units": "2"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert xml_root(response) == "Response"
    [row] = await inbound_rows(gateway)
    assert row["channel"] == "plivo"
    assert row["channel_ref"] == PLIVO_INBOUND["MessageUUID"]
    assert row["text"] == "Hello from a handset"
    assert row["units"] == 2
    shown = await mdr(client, account, row["uuid"])
    assert shown["message_direction"] == "inbound"
    assert (shown["from_number"], shown["to_number"]) == ("447700900123", "14155550100")


async def test_plivo_retry_is_stored_once(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    first = await client.post("/inbound/plivo", data=PLIVO_INBOUND)
    again = await client.post("/inbound/plivo/", data=PLIVO_INBOUND)
    together = await asyncio.gather(
        *(client.post("/inbound/plivo/", data=PLIVO_INBOUND) for _ in range(5))
    )
    assert [r.status_code for r in (first, again, *together)] == [200] * 7
    assert len(await inbound_rows(gateway)) == 1
    other = await client.post(
        "/inbound/plivo/", data={**PLIVO_INBOUND, "MessageUUID": "another-message"}
    )
    assert other.status_code == 200
    assert len(await inbound_rows(gateway)) == 2


async def test_plivo_inbound_by_get(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    response = await client.get("/inbound/plivo/", params=PLIVO_INBOUND)
    assert response.status_code == 200
    [row] = await inbound_rows(gateway)
    assert row["channel_ref"] == PLIVO_INBOUND["MessageUUID"]


@pytest.mark.parametrize("missing", ["From", "To", "Text", "MessageUUID"])
async def test_plivo_missing_field_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account, missing: str
) -> None:
    params = {k: v for k, v in PLIVO_INBOUND.items() if k != missing}
    response = await client.post("/inbound/plivo/", data=params)
    assert response.status_code == 400
    assert response.text == f"missing parameter: {missing}"
    assert await inbound_rows(gateway) == []


async def test_plivo_message_uuid_too_long_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    response = await client.post(
        "/inbound/plivo/", data={**PLIVO_INBOUND, "MessageUUID": "x" * 101}
    )
    assert response.status_code == 400
    assert "MessageUUID" in response.text
    assert await inbound_rows(gateway) == []


@pytest.mark.parametrize(
    ("status", "error_code", "state", "code"),
    [
        ("delivered", "000", "delivered", "000"),
        ("undelivered", "80", "undelivered", "80"),
        ("failed", "50", "undelivered", "50"),
        ("failed", "", "undelivered", "1000"),
        ("rejected", "000", "undelivered", "1000"),
        ("read", "", "delivered", "000"),
        ("sent", "", "sent", ""),
        ("queued", "", "sent", ""),
        ("no-such-status", "", "sent", ""),
    ],
)
async def test_plivo_status_callback_moves_the_message(
    client: httpx.AsyncClient,
    gateway: Gateway,
    account: Account,
    status: str,
    error_code: str,
    state: str,
    code: str,
) -> None:
    ref = "f0a1c2d3-0000-4000-8000-00000000beef"
    uuid = await sent_message(gateway, account, "plivo", ref)
    response = await client.post(
        "/inbound/plivo/",
        data={
            "MessageUUID": ref,
            "ParentMessageUUID": ref,
            "Status": status,
            "ErrorCode": error_code,
            "From": "14155550100",
            "To": "14155550101",
            "Type": "sms",
            "Units": "1",
            "Sequence": "2",
        },
    )
    assert response.status_code == 200
    assert xml_root(response) == "Response"
    shown = await mdr(client, account, uuid)
    assert (shown["message_state"], shown["error_code"]) == (state, code)
    assert await inbound_rows(gateway) == []  # a status callback is no inbound message


async def test_status_callback_only_moves_messages_of_its_channel(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    ref = "shared-reference"
    elsewhere = await sent_message(gateway, account, "twilio", ref)
    response = await client.post(
        "/inbound/plivo/", data={"MessageUUID": ref, "Status": "delivered"}
    )
    assert response.status_code == 200  # matched nothing: answered, logged
    assert (await mdr(client, account, elsewhere))["message_state"] == "sent"
    response = await client.post(
        "/inbound/twilio/", data={"MessageSid": ref, "MessageStatus": "delivered"}
    )
    assert response.status_code == 200
    assert (await mdr(client, account, elsewhere))["message_state"] == "delivered"


async def test_plivo_status_callback_without_message_uuid_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    ref = "f0a1c2d3-0000-4000-8000-00000000cafe"
    uuid = await sent_message(gateway, account, "plivo", ref)
    response = await client.post("/inbound/plivo/", data={"Status": "delivered"})
    assert (response.status_code, response.text) == (400, "missing parameter: MessageUUID")
    assert (await mdr(client, account, uuid))["message_state"] == "sent"


# twilio --------------------------------------------------------------------------------------


async def test_twilio_inbound_message_is_stored_once(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    response = await client.post("/inbound/twilio/", data={**TWILIO_INBOUND, "NumSegments": "3"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert xml_root(response) == "Response"
    again = await client.post("/inbound/twilio", data=TWILIO_INBOUND)
    assert again.status_code == 200
    [row] = await inbound_rows(gateway)
    assert row["channel"] == "twilio"
    assert row["channel_ref"] == TWILIO_INBOUND["MessageSid"]
    assert (row["from_number"], row["to_number"]) == ("447700900123", "14155550100")
    assert row["units"] == 3
    shown = await mdr(client, account, row["uuid"])
    assert shown["message_direction"] == "inbound"


@pytest.mark.parametrize("missing", ["From", "To", "Body"])
async def test_twilio_missing_field_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account, missing: str
) -> None:
    params = {k: v for k, v in TWILIO_INBOUND.items() if k != missing}
    response = await client.post("/inbound/twilio/", data=params)
    assert response.status_code == 400
    assert response.text == f"missing parameter: {missing}"
    assert await inbound_rows(gateway) == []


async def test_twilio_inbound_without_any_sid_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    params = {
        k: v
        for k, v in TWILIO_INBOUND.items()
        if k not in ("MessageSid", "SmsMessageSid", "SmsSid")
    }
    response = await client.post("/inbound/twilio/", data=params)
    assert (response.status_code, response.text) == (400, "missing parameter: MessageSid")
    assert await inbound_rows(gateway) == []


@pytest.mark.parametrize(
    ("status", "error_code", "state", "code"),
    [
        ("delivered", "", "delivered", "000"),
        ("undelivered", "30003", "undelivered", "80"),
        ("failed", "30005", "undelivered", "50"),
        ("undelivered", "30007", "undelivered", "30"),
        ("undelivered", "99999", "undelivered", "1000"),
        ("read", "", "delivered", "000"),
        ("sent", "", "sent", ""),
        ("sending", "", "sent", ""),
        ("no-such-status", "", "sent", ""),
    ],
)
async def test_twilio_status_callback_moves_the_message(
    client: httpx.AsyncClient,
    gateway: Gateway,
    account: Account,
    status: str,
    error_code: str,
    state: str,
    code: str,
) -> None:
    sid = "SMfeedfacefeedfacefeedfacefeedface"
    uuid = await sent_message(gateway, account, "twilio", sid)
    data = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "+14155550101",
        "MessageSid": sid,
        "AccountSid": TWILIO_INBOUND["AccountSid"],
        "From": "+14155550100",
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        data["ErrorCode"] = error_code
    response = await client.post("/inbound/twilio/", data=data)
    assert response.status_code == 200
    assert xml_root(response) == "Response"
    shown = await mdr(client, account, uuid)
    assert (shown["message_state"], shown["error_code"]) == (state, code)


# signatures ----------------------------------------------------------------------------------


async def test_plivo_signed_request_is_accepted(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    url = f"{BASE}/inbound/plivo-signed/"
    response = await client.post(url, data=PLIVO_INBOUND, headers=plivo_signed(url, PLIVO_INBOUND))
    assert response.status_code == 200, response.text
    [row] = await inbound_rows(gateway)
    assert row["channel"] == "plivo-signed"


async def test_plivo_signed_get_with_query_is_accepted(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    url = str(httpx.URL(f"{BASE}/inbound/plivo-signed/", params=PLIVO_INBOUND))
    response = await client.get(url, headers=plivo_signed(url, {}, method="GET"))
    assert response.status_code == 200, response.text
    assert len(await inbound_rows(gateway)) == 1


async def test_plivo_signed_post_to_url_with_query_is_accepted(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    url = f"{BASE}/inbound/plivo-signed/?tenant=a%20b&x=1"
    response = await client.post(url, data=PLIVO_INBOUND, headers=plivo_signed(url, PLIVO_INBOUND))
    assert response.status_code == 200, response.text
    assert len(await inbound_rows(gateway)) == 1


async def test_plivo_signature_with_rotated_tokens_is_accepted(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    """Plivo sends one signature per valid token, separated by commas; the SDK accepts any."""
    url = f"{BASE}/inbound/plivo-signed/"
    signed = plivo_signed(url, PLIVO_INBOUND)
    nonce = signed["X-Plivo-Signature-V3-Nonce"]
    old = plivo_signed(url, PLIVO_INBOUND, token="an-old-token", nonce=nonce)
    header = f"{old['X-Plivo-Signature-V3']},{signed['X-Plivo-Signature-V3']}"
    assert validate_v3_signature("POST", url, nonce, PLIVO_TOKEN, header, dict(PLIVO_INBOUND))
    signed["X-Plivo-Signature-V3"] = header
    response = await client.post(url, data=PLIVO_INBOUND, headers=signed)
    assert response.status_code == 200, response.text


def _forgeries(url: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    good = plivo_signed(url, PLIVO_INBOUND)
    tampered = {**PLIVO_INBOUND, "Text": "Send me the money"}
    return [
        ("unsigned", {}, PLIVO_INBOUND),
        ("no nonce", {"X-Plivo-Signature-V3": good["X-Plivo-Signature-V3"]}, PLIVO_INBOUND),
        ("wrong token", plivo_signed(url, PLIVO_INBOUND, token="not-the-token"), PLIVO_INBOUND),
        ("tampered body", good, tampered),
        ("other nonce", {**good, "X-Plivo-Signature-V3-Nonce": "12345"}, PLIVO_INBOUND),
        ("other url", plivo_signed(f"{BASE}/inbound/plivo/", PLIVO_INBOUND), PLIVO_INBOUND),
        ("get signature", plivo_signed(url, {}, method="GET"), PLIVO_INBOUND),
    ]


@pytest.mark.parametrize("case", range(7))
async def test_plivo_forged_or_missing_signature_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account, case: int
) -> None:
    url = f"{BASE}/inbound/plivo-signed/"
    name, headers, data = _forgeries(url)[case]
    response = await client.post(url, data=data, headers=headers)
    assert response.status_code == 403, name
    assert response.text.startswith("forbidden: ")
    assert await inbound_rows(gateway) == []


async def test_plivo_forged_status_callback_changes_nothing(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    ref = "f0a1c2d3-0000-4000-8000-000000000001"
    uuid = await sent_message(gateway, account, "plivo-signed", ref)
    url = f"{BASE}/inbound/plivo-signed/"
    data = {"MessageUUID": ref, "Status": "undelivered", "ErrorCode": "70"}
    forged = plivo_signed(url, data, token="guessed")
    assert (await client.post(url, data=data, headers=forged)).status_code == 403
    assert (await mdr(client, account, uuid))["message_state"] == "sent"
    response = await client.post(url, data=data, headers=plivo_signed(url, data))
    assert response.status_code == 200
    shown = await mdr(client, account, uuid)
    assert (shown["message_state"], shown["error_code"]) == ("undelivered", "70")


async def test_plivo_replayed_nonce_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    url = f"{BASE}/inbound/plivo-signed/"
    signed = plivo_signed(url, PLIVO_INBOUND)
    assert (await client.post(url, data=PLIVO_INBOUND, headers=signed)).status_code == 200
    replay = await client.post(url, data=PLIVO_INBOUND, headers=signed)
    assert replay.status_code == 403
    assert "replay" in replay.text
    # Another message signed with the same nonce is refused too, and is not stored.
    other = {**PLIVO_INBOUND, "MessageUUID": "another-message"}
    again = plivo_signed(url, other, nonce=signed["X-Plivo-Signature-V3-Nonce"])
    assert (await client.post(url, data=other, headers=again)).status_code == 403
    assert len(await inbound_rows(gateway)) == 1
    # A fresh nonce is fine.
    assert (await client.post(url, data=other, headers=plivo_signed(url, other))).status_code == 200
    assert len(await inbound_rows(gateway)) == 2


async def test_plivo_nonce_is_remembered_for_the_replay_window(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    assert isinstance(gateway.clock, FakeClock)
    url = f"{BASE}/inbound/plivo-signed/"
    signed = plivo_signed(url, PLIVO_INBOUND)
    assert (await client.post(url, data=PLIVO_INBOUND, headers=signed)).status_code == 200
    gateway.clock.advance(3599)
    assert (await client.post(url, data=PLIVO_INBOUND, headers=signed)).status_code == 403
    gateway.clock.advance(2)  # forgotten: memory stays bounded; the MessageUUID still dedupes
    assert (await client.post(url, data=PLIVO_INBOUND, headers=signed)).status_code == 200
    assert len(await inbound_rows(gateway)) == 1


async def test_plivo_nonce_of_a_request_not_stored_may_come_again(
    make_gateway: GatewayFactory,
) -> None:
    """An endpoint whose account is gone stores nothing and answers 500; the provider's
    retry with the same signature is not taken for a replay."""
    first = await make_gateway()
    doomed = await new_account(first)
    missing = doomed.auth_id
    gateway = await make_gateway(
        inbound_endpoints=[
            {"name": "p", "format": "plivo", "auth_token": PLIVO_TOKEN, "account": missing}
        ]
    )
    # Removed after the gateway started (which refuses an endpoint naming no account).
    await gateway.writer.run(
        lambda conn: conn.execute(accounts.delete().where(accounts.c.id == doomed.id))
    )
    async with app_client(gateway) as client:
        url = f"{BASE}/inbound/p/"
        signed = plivo_signed(url, PLIVO_INBOUND)
        for _ in range(2):
            response = await client.post(url, data=PLIVO_INBOUND, headers=signed)
            assert response.status_code == 500
            assert missing in response.text
    assert await inbound_rows(gateway) == []


async def test_twilio_signed_request_is_accepted(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    url = f"{BASE}/inbound/twilio-signed/"
    response = await client.post(
        url, data=TWILIO_INBOUND, headers=twilio_signed(url, TWILIO_INBOUND)
    )
    assert response.status_code == 200, response.text
    [row] = await inbound_rows(gateway)
    assert row["channel"] == "twilio-signed"


async def test_twilio_sha256_signature_is_accepted(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    url = f"{BASE}/inbound/twilio-signed/"
    headers = twilio_signed(url, TWILIO_INBOUND, algorithm="HMAC_SHA256")
    response = await client.post(url, data=TWILIO_INBOUND, headers=headers)
    assert response.status_code == 200, response.text


async def test_twilio_signature_with_default_port_is_accepted(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    """Twilio signs the URL with or without the scheme's default port; both are valid."""
    signed = twilio_signed("http://testserver:80/inbound/twilio-signed/", TWILIO_INBOUND)
    response = await client.post("/inbound/twilio-signed/", data=TWILIO_INBOUND, headers=signed)
    assert response.status_code == 200, response.text


async def test_twilio_signed_get_is_accepted(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    url = str(httpx.URL(f"{BASE}/inbound/twilio-signed/", params=TWILIO_INBOUND))
    response = await client.get(url, headers=twilio_signed(url, {}))
    assert response.status_code == 200, response.text
    assert len(await inbound_rows(gateway)) == 1


@pytest.mark.parametrize(
    "case", ["unsigned", "wrong token", "tampered body", "other url", "unknown algorithm"]
)
async def test_twilio_forged_or_missing_signature_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account, case: str
) -> None:
    url = f"{BASE}/inbound/twilio-signed/"
    data = dict(TWILIO_INBOUND)
    headers = twilio_signed(url, data)
    if case == "unsigned":
        headers = {}
    elif case == "wrong token":
        headers = twilio_signed(url, data, token="not-the-token")
    elif case == "tampered body":
        data["Body"] = "Send me the money"
    elif case == "other url":
        headers = twilio_signed(f"{BASE}/inbound/twilio/", data)
    else:
        headers["X-Twilio-Webhooks-Signature-Settings"] = "key=sk_1,algorithm=HMAC_MD5"
    response = await client.post(url, data=data, headers=headers)
    assert response.status_code == 403
    assert response.text.startswith("forbidden: ")
    assert await inbound_rows(gateway) == []


async def test_twilio_forged_status_callback_changes_nothing(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    sid = "SM00000000000000000000000000000001"
    uuid = await sent_message(gateway, account, "twilio-signed", sid)
    url = f"{BASE}/inbound/twilio-signed/"
    data = {"MessageSid": sid, "MessageStatus": "delivered"}
    forged = twilio_signed(url, data, token="guessed")
    assert (await client.post(url, data=data, headers=forged)).status_code == 403
    assert (await mdr(client, account, uuid))["message_state"] == "sent"
    response = await client.post(url, data=data, headers=twilio_signed(url, data))
    assert response.status_code == 200
    assert (await mdr(client, account, uuid))["message_state"] == "delivered"


async def test_signed_url_behind_a_proxy(make_gateway: GatewayFactory) -> None:
    """Signatures cover the URL the provider called: ``public_url`` when set, else the
    request's URL with a proxy's X-Forwarded-Proto and X-Forwarded-Host."""
    public = "https://sms.example.com/hooks/plivo"
    gateway = await make_gateway(
        inbound_endpoints=[
            {"name": "behind", "format": "plivo", "auth_token": PLIVO_TOKEN, "public_url": public},
            {"name": "forwarded", "format": "twilio", "auth_token": TWILIO_TOKEN},
        ]
    )
    await new_account(gateway)
    async with app_client(gateway) as client:
        # public_url: the provider signed the public URL; the request arrives elsewhere.
        as_called = await client.post(
            "/inbound/behind/",
            data=PLIVO_INBOUND,
            headers=plivo_signed(f"{BASE}/inbound/behind/", PLIVO_INBOUND),
        )
        assert as_called.status_code == 403
        query = "?site=1"
        response = await client.post(
            f"/inbound/behind/{query}",
            data=PLIVO_INBOUND,
            headers=plivo_signed(public + query, PLIVO_INBOUND),
        )
        assert response.status_code == 200, response.text
        # Forwarded headers name the URL the client called.
        outside = "https://gw.example.org/inbound/forwarded/"
        proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw.example.org"}
        unforwarded = await client.post(
            "/inbound/forwarded/",
            data=TWILIO_INBOUND,
            headers=twilio_signed(outside, TWILIO_INBOUND),
        )
        assert unforwarded.status_code == 403
        response = await client.post(
            "/inbound/forwarded/",
            data=TWILIO_INBOUND,
            headers={**proxied, **twilio_signed(outside, TWILIO_INBOUND)},
        )
        assert response.status_code == 200, response.text
    assert sorted(row["channel"] for row in await inbound_rows(gateway)) == [
        "behind",
        "forwarded",
    ]


# the rest ------------------------------------------------------------------------------------


async def test_endpoint_account_owns_what_arrives(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(inbound_endpoints=[{"name": "b", "format": "broker"}])
    account = await new_account(gateway)
    other = await new_account(gateway)
    # The settings name an account that exists by then, as in a real deployment.
    gateway.settings.inbound_endpoints.append(
        InboundEndpointSettings(name="tenant", format="broker", account=other.auth_id)
    )
    async with app_client(gateway) as client:
        for name in ("b", "tenant"):
            response = await client.get(f"/inbound/{name}/?origin=1234&text=hi&destination=567")
            assert response.status_code == 200
        rows = {row["channel"]: row for row in await inbound_rows(gateway)}
        assert rows["b"]["account_id"] == account.id  # the first main account
        assert rows["tenant"]["account_id"] == other.id
        listed = await client.get(
            f"/v1/Account/{other.auth_id}/Message/?message_direction=inbound",
            headers=basic(other.auth_id, other.auth_token),
        )
        assert [m["message_uuid"] for m in listed.json()["objects"]] == [rows["tenant"]["uuid"]]


async def test_unknown_endpoint_is_not_found(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    for method in ("GET", "POST"):
        response = await client.request(method, "/inbound/nobody/", data=None)
        assert response.status_code == 404
        assert response.text.startswith("not found")
    assert await inbound_rows(gateway) == []


async def test_oversized_body_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    big = {**PLIVO_INBOUND, "Text": "a" * (64 * 1024)}
    response = await client.post("/inbound/plivo/", data=big)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/plain")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        yield b"From=1&To=2&MessageUUID=x&Text="
        for _ in range(70):
            yield b"a" * 1024

    response = await client.post(
        "/inbound/plivo/",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert await inbound_rows(gateway) == []


async def test_text_longer_than_an_sms_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    """255 parts of 153 GSM characters is the longest SMS there is."""
    longest = {**PLIVO_INBOUND, "Text": "a" * 255 * 153}
    too_long = {**PLIVO_INBOUND, "Text": "a" * (255 * 153 + 1), "MessageUUID": "other"}
    response = await client.post("/inbound/plivo/", data=too_long)
    assert response.status_code == 400
    assert response.text.startswith("invalid Text: longer than an SMS can be")
    assert await inbound_rows(gateway) == []
    assert (await client.post("/inbound/plivo/", data=longest)).status_code == 200
    [row] = await inbound_rows(gateway)
    assert len(row["text"]) == 255 * 153
    assert row["units"] == 1  # as the provider counted it (Units)


async def test_unsupported_body_is_refused(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    response = await client.post("/inbound/twilio/", json=TWILIO_INBOUND)
    assert response.status_code == 415
    response = await client.post(
        "/inbound/broker/",
        content=b"origin=1234&text=\xff&destination=567",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert await inbound_rows(gateway) == []


async def test_other_methods_are_not_allowed(
    client: httpx.AsyncClient, gateway: Gateway, account: Account
) -> None:
    response = await client.put("/inbound/broker/", data={"origin": "1", "text": "a"})
    assert response.status_code == 405
    assert await inbound_rows(gateway) == []


# settings and pure parts (no database) --------------------------------------------------------


def endpoints(*items: dict[str, Any]) -> Settings:
    return Settings(inbound_endpoints=list(items))


@pytest.mark.parametrize(
    ("items", "complaint"),
    [
        ([{"name": "a", "format": "plivo"}, {"name": "a", "format": "twilio"}], "unique"),
        ([{"name": "a/b", "format": "plivo"}], "name"),
        ([{"name": "..", "format": "plivo"}], "URL segment"),
        ([{"name": "a", "format": "smpp"}], "format"),
        ([{"name": "a", "format": "broker", "auth_token": "x"}], "broker"),
        ([{"name": "a", "format": "plivo", "account": "nobody"}], "account"),
        ([{"name": "a", "format": "plivo", "public_url": "sms.example.com/x"}], "public_url"),
        ([{"name": "a", "format": "plivo", "public_url": "https://h/x?q=1"}], "public_url"),
        ([{"name": "a", "format": "plivo", "replay_window": 0}], "replay_window"),
        ([{"name": "a", "format": "plivo", "secret": "x"}], "secret"),
    ],
)
def test_bad_endpoint_settings_are_refused(items: list[dict[str, Any]], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        endpoints(*items)


def test_endpoint_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SMSGATE_INBOUND_ENDPOINTS",
        '[{"name": "plivo", "format": "plivo", "auth_token": "t", "replay_window": 60}]',
    )
    [endpoint] = Settings().inbound_endpoints
    assert (endpoint.name, endpoint.format, endpoint.auth_token) == ("plivo", "plivo", "t")
    assert endpoint.replay_window == 60
    assert Settings().model_copy().inbound_endpoints[0].public_url is None
    monkeypatch.delenv("SMSGATE_INBOUND_ENDPOINTS")
    assert Settings().inbound_endpoints == []


def test_endpoint_settings_from_a_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "smsgate.toml"
    path.write_text(
        '[[inbound_endpoints]]\nname = "mybroker"\nformat = "broker"\n\n'
        '[[inbound_endpoints]]\nname = "plivo"\nformat = "plivo"\nauth_token = "t"\n'
        'public_url = "https://sms.example.com/inbound/plivo/"\n'
    )
    first, second = load_settings(path).inbound_endpoints
    assert (first.name, first.format, first.auth_token) == ("mybroker", "broker", None)
    assert second.public_url == "https://sms.example.com/inbound/plivo/"
    assert second.replay_window == 3600


def test_nonce_cache_forgets_the_oldest_when_full() -> None:
    cache = NonceCache(max_entries=3)
    window = 1_000
    assert [cache.reserve("p", n, now=0, window=window) for n in "abcd"] == [True] * 4
    assert len(cache) == 3 and cache.evicted == 1
    assert cache.reserve("p", "b", now=1, window=window) is False
    assert cache.reserve("p", "a", now=1, window=window) is True  # evicted, so new again
    assert cache.reserve("q", "b", now=1, window=window) is True  # another endpoint's
    cache.release("p", "b")
    assert cache.reserve("p", "b", now=2, window=window) is True
    assert cache.reserve("p", "c", now=1_000, window=window) is True  # expired


def test_status_tables() -> None:
    assert plivo_status("DELIVERED").state == "delivered"
    assert plivo_status("undelivered", "200").error_code == "200"
    assert plivo_status("undelivered", "abc").error_code == "1000"
    assert plivo_status("mystery").known is False
    assert twilio_status("failed", "21610").error_code == "200"
    assert twilio_status("canceled").state == "undelivered"
    assert twilio_status("accepted").state is None and twilio_status("accepted").known

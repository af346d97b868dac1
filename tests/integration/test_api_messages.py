"""The Plivo Message API on both stores: send, get, list, auth, isolation and bad input."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from smsgate.api.app import create_app
from smsgate.core.clock import FakeClock
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.store.schema import callbacks, messages
from tests.conftest import GatewayFactory, basic, new_account

SRC = "14155550100"


def url(account: Account, suffix: str = "") -> str:
    return f"/v1/Account/{account.auth_id}/Message/{suffix}"


async def send(client: httpx.AsyncClient, account: Account, **params: Any) -> httpx.Response:
    body = {"src": SRC, "dst": "14155550101", "text": "Hello", **params}
    return await client.post(
        url(account), json=body, headers=basic(account.auth_id, account.auth_token)
    )


async def stored(gateway: Gateway) -> int:
    count = await gateway.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar()
    )
    return int(count or 0)


async def get(
    client: httpx.AsyncClient, account: Account, path: str = "", **query: Any
) -> httpx.Response:
    return await client.get(
        url(account, path), params=query, headers=basic(account.auth_id, account.auth_token)
    )


# --- send ---------------------------------------------------------------------------------


async def test_send_one(client: httpx.AsyncClient, account: Account, gateway: Gateway) -> None:
    response = await send(client, account)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"api_id", "message", "message_uuid", "units", "encoding"}
    assert (body["units"], body["encoding"]) == ([1], ["GSM"])
    assert body["message"] == "message(s) queued"
    assert len(body["message_uuid"]) == 1
    assert await stored(gateway) == 1


async def test_send_form_encoded(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post(
        url(account).rstrip("/"),
        data={"src": "+1 (415) 555-0100", "dst": "+1 415 555 0101", "text": "Café ünïcode"},
        headers=basic(account.auth_id, account.auth_token),
    )
    assert response.status_code == 202, response.text
    [uuid] = response.json()["message_uuid"]
    mdr = (await get(client, account, f"{uuid}/")).json()
    assert (mdr["from_number"], mdr["to_number"]) == (SRC, "14155550101")


async def test_bulk_destinations_keep_order_and_drop_duplicates(
    client: httpx.AsyncClient, account: Account, gateway: Gateway
) -> None:
    dst = "14155550103<+44 7700 900123<not-a-number<14155550101<14155550103<1234"
    response = await send(client, account, dst=dst)
    assert response.status_code == 202
    body = response.json()
    assert body["invalid_number"] == ["not-a-number", "1234"]
    uuids = body["message_uuid"]
    assert len(uuids) == 3
    numbers = [(await get(client, account, f"{u}/")).json()["to_number"] for u in uuids]
    assert numbers == ["14155550103", "447700900123", "14155550101"]


async def test_a_thousand_destinations(
    client: httpx.AsyncClient, account: Account, gateway: Gateway
) -> None:
    dst = "<".join(f"1415556{i:04d}" for i in range(1000))
    response = await send(client, account, dst=dst)
    assert response.status_code == 202
    assert len(response.json()["message_uuid"]) == 1000
    too_many = "<".join(f"1415557{i:04d}" for i in range(1001))
    response = await send(client, account, dst=too_many)
    assert response.status_code == 400
    assert "1,000" in response.json()["error"]
    assert await stored(gateway) == 1000


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("😀" * 36, 2),
        ("a" * 1600, 11),
        ("ж" * 737, 11),
    ],
)
async def test_units_follow_gsm_and_ucs2_rules(
    client: httpx.AsyncClient, account: Account, text: str, units: int
) -> None:
    response = await send(client, account, text=text)
    assert response.status_code == 202, response.text
    [uuid] = response.json()["message_uuid"]
    assert (await get(client, account, f"{uuid}/")).json()["units"] == units


async def test_async_mode_answers_at_once_and_queues_the_response(
    client: httpx.AsyncClient, account: Account, gateway: Gateway
) -> None:
    response = await send(
        client, account, callback_url="https://example.com/api-response", callback_method="POST"
    )
    assert response.status_code == 202
    assert response.json()["message"] == "async api spawned"
    row = await gateway.db.read(
        lambda conn: conn.execute(select(callbacks).where(callbacks.c.kind == "api_response")).one()
    )
    body = orjson.loads(row.params)
    assert body["message"] == "message(s) queued" and len(body["message_uuid"]) == 1
    assert body["api_id"] == response.json()["api_id"]


BAD_SENDS: list[tuple[dict[str, Any] | bytes, str, str]] = [
    (b'{"src": "14155550100", "dst": ', "JSON", "malformed JSON"),
    (b'["src", "dst"]', "object", "a JSON array"),
    ({"dst": "14155550101", "text": "x"}, "src", "missing src"),
    ({"src": SRC, "text": "x"}, "dst", "missing dst"),
    ({"src": SRC, "dst": "14155550101"}, "text", "missing text"),
    ({"src": SRC, "dst": "14155550101", "text": ""}, "text", "empty text"),
    ({"src": SRC, "dst": "14155550101", "text": 42}, "text", "text is a number"),
    ({"src": SRC, "dst": ["14155550101"], "text": "x"}, "dst", "dst is a list"),
    ({"src": {"n": 1}, "dst": "14155550101", "text": "x"}, "src", "src is an object"),
    ({"src": SRC, "dst": "14155550101", "text": "x", "type": "fax"}, "type", "unknown type"),
    ({"src": SRC, "dst": "14155550101", "text": "x", "type": "mms"}, "type", "mms"),
    ({"src": SRC, "dst": "14155550101", "text": "a" * 1601}, "text", "GSM text too long"),
    ({"src": SRC, "dst": "14155550101", "text": "ж" * 738}, "text", "UCS-2 text too long"),
    ({"src": SRC, "dst": "14155550101", "text": "x", "url": "ftp://x/y"}, "url", "ftp url"),
    ({"src": SRC, "dst": "14155550101", "text": "x", "url": "not a url"}, "url", "bad url"),
    ({"src": SRC, "dst": "14155550101", "text": "x", "method": "PUT"}, "method", "bad method"),
    ({"src": SRC, "dst": "14155550101", "text": "x", "log": "maybe"}, "log", "bad log"),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "message_expiry": 4},
        "message_expiry",
        "expiry too short",
    ),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "message_expiry": "10801"},
        "message_expiry",
        "expiry too long",
    ),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "message_expiry": "soon"},
        "message_expiry",
        "expiry not a number",
    ),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "trackable": "perhaps"},
        "trackable",
        "bad boolean",
    ),
    ({"src": "MyShop", "dst": "14155550101", "text": "x"}, "src", "alphanumeric not enabled"),
    ({"src": "123456789012345", "dst": "14155550101", "text": "x"}, "src", "src too long"),
    ({"src": SRC, "dst": "abc<12", "text": "x"}, "dst", "no valid destination"),
    ({"src": SRC, "dst": SRC, "text": "x"}, "dst", "dst equals src"),
    (
        {"powerpack_uuid": "d3b7", "dst": "14155550101", "text": "x"},
        "powerpack_uuid",
        "unknown powerpack",
    ),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "media_urls": ["http://x/a.png"]},
        "media_urls",
        "media with sms",
    ),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "callback_url": "mailto:a@b"},
        "callback_url",
        "bad callback_url",
    ),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "dlt_template_category": "spam"},
        "dlt_template_category",
        "bad DLT category",
    ),
    ({"src": SRC, "dst": "14155550101", "text": "x", "url": "http://[::1"}, "url", "bad url 2"),
    ({"src": SRC, "dst": "14155550101", "text": "x", "url": "http://h:99999/"}, "url", "bad port"),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "callback_url": "https://[x/"},
        "callback_url",
        "unparseable callback_url",
    ),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "url": "http://x/" + "a" * 2050},
        "url",
        "url too long",
    ),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "dlt_entity_id": "y" * 65},
        "dlt_entity_id",
        "DLT entity id too long",
    ),
    (
        {"src": SRC, "dst": "14155550101", "text": "x", "dlt_template_id": "y" * 65},
        "dlt_template_id",
        "DLT template id too long",
    ),
    ({"src": "1" * 65, "dst": "14155550101", "text": "x"}, "src", "src far too long"),
]


@pytest.mark.parametrize(("body", "names", "case"), BAD_SENDS, ids=[c for *_, c in BAD_SENDS])
async def test_bad_input_is_refused_and_stores_nothing(
    client: httpx.AsyncClient,
    account: Account,
    gateway: Gateway,
    body: dict[str, Any] | bytes,
    names: str,
    case: str,
) -> None:
    headers = {**basic(account.auth_id, account.auth_token), "Content-Type": "application/json"}
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await client.post(url(account), content=content, headers=headers)
    assert response.status_code == 400, response.text
    envelope = response.json()
    assert set(envelope) == {"api_id", "error"}
    assert names in envelope["error"]
    assert await stored(gateway) == 0


async def test_unsupported_content_type(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post(
        url(account),
        content=b"<xml/>",
        headers={**basic(account.auth_id, account.auth_token), "Content-Type": "application/xml"},
    )
    assert response.status_code == 400
    assert "Content-Type" in response.json()["error"]


async def test_alphanumeric_sender_when_enabled(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    shop = await new_account(gateway, alphanumeric=True)
    response = await send(client, shop, src="My-Shop")
    assert response.status_code == 202
    [uuid] = response.json()["message_uuid"]
    assert (await get(client, shop, f"{uuid}/")).json()["from_number"] == "MyShop"


# --- read ---------------------------------------------------------------------------------

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00$")


async def test_get_returns_the_full_mdr(client: httpx.AsyncClient, account: Account) -> None:
    [uuid] = (await send(client, account, dst="+44 7700 900123", text="ж" * 71)).json()[
        "message_uuid"
    ]
    response = await get(client, account, f"{uuid}/")
    assert response.status_code == 200
    mdr = response.json()
    assert mdr["message_uuid"] == uuid
    assert mdr["message_state"] == "queued"
    assert mdr["message_direction"] == "outbound"
    assert mdr["message_type"] == "sms"
    assert (mdr["from_number"], mdr["to_number"]) == (SRC, "447700900123")
    assert mdr["destination_country_iso2"] == "GB"
    assert mdr["units"] == 2
    assert mdr["error_code"] == ""
    assert TIME.match(mdr["message_time"])
    assert mdr["requester_ip"] == "127.0.0.1"
    assert mdr["resource_uri"] == f"/v1/Account/{account.auth_id}/Message/{uuid}/"
    assert mdr["total_rate"] == "0.00000" and mdr["total_amount"] == "0.00000"
    assert mdr["log"] == "true"
    assert "api_id" in mdr


async def test_get_unknown_message(client: httpx.AsyncClient, account: Account) -> None:
    response = await get(client, account, "01a20191-0000-7000-8000-000000000000/")
    assert response.status_code == 404
    assert set(response.json()) == {"api_id", "error"}


async def test_get_with_a_body_is_served(client: httpx.AsyncClient, account: Account) -> None:
    [uuid] = (await send(client, account)).json()["message_uuid"]
    response = await client.request(
        "GET",
        url(account, f"{uuid}/"),
        content=b'""',
        headers={**basic(account.auth_id, account.auth_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["message_uuid"] == uuid


@pytest.mark.parametrize(
    ("log", "masked"),
    [("true", False), ("false", True), ("content_only", True), ("number_only", False)],
)
async def test_log_masks_numbers_on_read_back(
    client: httpx.AsyncClient, account: Account, log: str, masked: bool
) -> None:
    [uuid] = (await send(client, account, log=log)).json()["message_uuid"]
    mdr = (await get(client, account, f"{uuid}/")).json()
    assert mdr["log"] == log
    expected = ("141XXXXX100", "141XXXXX101") if masked else (SRC, "14155550101")
    assert (mdr["from_number"], mdr["to_number"]) == expected


# --- list ---------------------------------------------------------------------------------


async def test_list_newest_first_with_paging(
    client: httpx.AsyncClient, account: Account, make_gateway: GatewayFactory
) -> None:
    sent = []
    for i in range(5):
        sent += (await send(client, account, dst=f"1415555020{i}")).json()["message_uuid"]
    page = (await get(client, account, limit=2)).json()
    assert [m["message_uuid"] for m in page["objects"]] == sent[::-1][:2]
    meta = page["meta"]
    assert (meta["limit"], meta["offset"], meta["total_count"], meta["previous"]) == (2, 0, 5, None)
    window = "&message_time__gte="  # the default 24-hour window, made explicit
    assert meta["next"].startswith(
        f"/v1/Account/{account.auth_id}/Message/?limit=2&offset=2{window}"
    )
    last = (await get(client, account, limit=2, offset=4)).json()
    assert [m["message_uuid"] for m in last["objects"]] == [sent[0]]
    assert last["meta"]["next"] is None
    assert last["meta"]["previous"].startswith(
        f"/v1/Account/{account.auth_id}/Message/?limit=2&offset=2{window}"
    )


async def test_list_filters(client: httpx.AsyncClient, account: Account, gateway: Gateway) -> None:
    from smsgate.core.events import DeliveryReport, InboundReceived

    [us] = (await send(client, account, dst="14155550101")).json()["message_uuid"]
    [gb] = (await send(client, account, dst="447700900123")).json()["message_uuid"]
    await gateway.record(
        [
            DeliveryReport(False, "80", message_uuid=gb),
            InboundReceived("simulator", "447700900123", SRC, "yes"),
        ]
    )

    async def uuids(**query: Any) -> list[str]:
        response = await get(client, account, **query)
        assert response.status_code == 200, response.text
        return [m["message_uuid"] for m in response.json()["objects"]]

    assert await uuids(message_direction="outbound") == [gb, us]
    assert len(await uuids(message_direction="inbound")) == 1
    assert await uuids(message_state="undelivered") == [gb]
    assert await uuids(message_state="queued") == [us]
    assert await uuids(error_code="80") == [gb]
    assert await uuids(to_number="+447700900123") == [gb]
    assert await uuids(destination_country_iso2="us") == [us]
    assert await uuids(message_type="sms", message_direction="outbound") == [gb, us]
    assert await uuids(message_time__gt="2000-01-01 00:00") != []
    assert await uuids(message_time__lt="2000-01-01 00:00") == []
    assert await uuids(powerpack_id="d3b7") == []


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 21}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"message_state": "lost"}, "message_state"),
        ({"message_direction": "sideways"}, "message_direction"),
        ({"message_time__gt": "yesterday"}, "message_time__gt"),
        ({"error_code": "x"}, "error_code"),
        ({"subaccount": "SA0000000000000000AA"}, "subaccount"),
    ],
)
async def test_bad_list_queries(
    client: httpx.AsyncClient, account: Account, query: dict[str, Any], name: str
) -> None:
    response = await get(client, account, **query)
    assert response.status_code == 400
    assert name in response.json()["error"]
    assert response.json()["objects"] == []


async def test_list_defaults_to_the_last_24_hours(make_gateway: GatewayFactory) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock)
    account = await new_account(gateway)
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        [uuid] = (await send(client, account)).json()["message_uuid"]
        clock.advance(25 * 3600)
        assert (await get(client, account)).json()["objects"] == []
        found = (await get(client, account, message_time__gte="2000-01-01")).json()["objects"]
        assert [m["message_uuid"] for m in found] == [uuid]


# --- auth and isolation -------------------------------------------------------------------


async def test_credentials_are_required(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.get(url(account))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")
    # List errors carry an empty ``objects``: Plivo's SDKs read it before the status.
    assert response.json()["objects"] == []
    assert set(response.json()) == {"api_id", "error", "objects"}
    bad = await client.get(url(account), headers=basic(account.auth_id, "wrong"))
    assert bad.status_code == 401
    garbled = await client.get(url(account), headers={"Authorization": "Basic %%%"})
    assert garbled.status_code == 401


async def test_accounts_never_see_each_other(
    client: httpx.AsyncClient, account: Account, gateway: Gateway
) -> None:
    other = await new_account(gateway)
    [uuid] = (await send(client, account)).json()["message_uuid"]
    # Other credentials on this account's path: refused.
    response = await client.get(
        url(account, f"{uuid}/"), headers=basic(other.auth_id, other.auth_token)
    )
    assert response.status_code == 401
    # The other account's own path: the message does not exist there.
    assert (await get(client, other, f"{uuid}/")).status_code == 404
    assert (await get(client, other)).json()["objects"] == []
    assert (await send(client, other, dst="14155550109")).status_code == 202
    assert [m["to_number"] for m in (await get(client, account)).json()["objects"]] == [
        "14155550101"
    ]


async def test_subaccounts(client: httpx.AsyncClient, account: Account, gateway: Gateway) -> None:
    sub = await new_account(gateway, parent=account)
    assert sub.auth_id.startswith("SA") and len(sub.auth_id) == 20
    [mine] = (await send(client, account)).json()["message_uuid"]
    [theirs] = (await send(client, sub, dst="14155550102")).json()["message_uuid"]
    # The parent may act on the subaccount's path.
    as_sub = await client.post(
        url(sub),
        json={"src": SRC, "dst": "14155550103", "text": "x"},
        headers=basic(account.auth_id, account.auth_token),
    )
    assert as_sub.status_code == 202
    [by_parent] = as_sub.json()["message_uuid"]
    listed = {m["message_uuid"] for m in (await get(client, account)).json()["objects"]}
    assert listed == {mine, theirs, by_parent}
    sub_only = (await get(client, account, subaccount=sub.auth_id)).json()["objects"]
    assert {m["message_uuid"] for m in sub_only} == {theirs, by_parent}
    assert {m["resource_uri"].split("/")[3] for m in sub_only} == {sub.auth_id}
    seen_by_sub = {m["message_uuid"] for m in (await get(client, sub)).json()["objects"]}
    assert seen_by_sub == {theirs, by_parent}
    assert (await get(client, sub, f"{mine}/")).status_code == 404
    # A subaccount may not act on its parent's path.
    response = await client.get(url(account), headers=basic(sub.auth_id, sub.auth_token))
    assert response.status_code == 401


# --- routing errors -----------------------------------------------------------------------


async def test_unknown_paths_and_wrong_methods(client: httpx.AsyncClient, account: Account) -> None:
    auth = basic(account.auth_id, account.auth_token)
    missing = await client.get(f"/v1/Account/{account.auth_id}/Nothing/", headers=auth)
    assert missing.status_code == 404 and {"api_id", "error"} <= set(missing.json())
    outside = await client.get("/nothing")
    assert outside.status_code == 404 and set(outside.json()) == {"error"}
    wrong = await client.delete(url(account), headers=auth)
    assert wrong.status_code == 405 and set(wrong.json()) == {"api_id", "error"}
    assert "GET" in wrong.headers["allow"]


async def test_oversized_bodies_are_refused(
    client: httpx.AsyncClient, account: Account, gateway: Gateway
) -> None:
    response = await send(client, account, text="a" * 100, dlt_entity_id="x" * 2_000_000)
    assert response.status_code == 413
    assert set(response.json()) == {"api_id", "error"}
    assert await stored(gateway) == 0


async def test_an_unavailable_store_is_503_and_says_nothing_was_stored(
    client: httpx.AsyncClient, account: Account, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    async def down(rows: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("could not connect to server"))

    monkeypatch.setattr(gateway.writer, "insert", down)
    response = await send(client, account)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "not confirmed as stored" in response.json()["error"]
    assert set(response.json()) == {"api_id", "error"}


async def test_plivo_details(client: httpx.AsyncClient, account: Account, gateway: Gateway) -> None:
    from smsgate.core.events import DeliveryReport

    body = (await send(client, account, dst="14155550101< not a number <1234")).json()
    assert body["invalid_number"] == [" not a number ", "1234"]  # as given
    [uuid] = body["message_uuid"]
    mdr = (await get(client, account, f"{uuid}/")).json()
    assert (mdr["conversation_id"], mdr["conversation_origin"]) == ("", "")
    assert mdr["conversation_expiration_timestamp"] is None
    # An exact message_time matches the whole span of its precision.
    minute = mdr["message_time"][:16]
    found = (await get(client, account, message_time=minute)).json()["objects"]
    assert [m["message_uuid"] for m in found] == [uuid]
    second = mdr["message_time"][:19]
    assert len((await get(client, account, message_time=second)).json()["objects"]) == 1
    # Links keep the default window fixed, so paging does not slide.
    await send(client, account, dst="14155550102")
    page = (await get(client, account, limit=1)).json()
    assert "message_time__gte=" in page["meta"]["next"]
    await gateway.record([DeliveryReport(True, message_uuid=uuid)])

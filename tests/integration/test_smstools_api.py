"""The smstools-http-api-compatible face: its requests and answers, HTTP Basic users (clear and
hashed passwords), per-user permitted numbers, the ids working in the Plivo API, and bad input
that changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from smsgate.api.app import create_app
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.passwords import hash_password
from smsgate.store.messages import MessageFilter
from smsgate.store.schema import messages
from tests.conftest import GatewayFactory, basic, new_account, scope_of

OUTGOING = "/api/v1.0/sms/outgoing"


def users(account: str | None = None) -> list[dict[str, Any]]:
    return [
        {"name": "lvv", "password": "SecretPAss", "account": account},
        {
            "name": "shop",
            "password_hash": hash_password("hashed pass"),
            "account": account,
            "mobiles": ["79680000000", "7916*"],
            "src": "5555",
        },
        {"name": "boss", "password": "boss pass", "account": account, "admin": True},
    ]


class Face:
    def __init__(self, gateway: Gateway, http: httpx.AsyncClient, account: Account) -> None:
        self.gateway, self.http, self.account = gateway, http, account

    async def post(self, body: Any, user: str = "lvv", password: str = "SecretPAss") -> Any:
        content = body if isinstance(body, bytes) else None
        return await self.http.post(
            OUTGOING,
            json=None if content is not None else body,
            content=content,
            headers=basic(user, password),
        )

    async def sent(self, message_id: str, user: str = "lvv", password: str = "SecretPAss") -> Any:
        return await self.http.get(
            f"/api/v1.0/sms/sent/{message_id}", headers=basic(user, password)
        )

    async def count(self) -> int:
        found = await self.gateway.db.read(
            lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar()
        )
        return int(found or 0)


@pytest.fixture
async def face(make_gateway: GatewayFactory) -> AsyncIterator[Face]:
    gateway = await make_gateway(
        smstools_api={"users": users()}, background=True, dispatcher={"poll_interval": 0.05}
    )
    account = await new_account(gateway)  # the first account: users without one send as it
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield Face(gateway, http, account)


async def delivered(face: Face, uuid: str) -> None:
    scope = await scope_of(face.gateway, face.account)
    with face.gateway.watch() as changes:
        async with asyncio.timeout(10):
            while (msg := await face.gateway.message(scope, uuid)) is None or (
                msg.state != "delivered"
            ):
                await changes.get()


async def test_send_answers_an_id_per_mobile_parts_and_the_text(face: Face) -> None:
    answer = await face.post({"text": "Hi, Jack!", "mobiles": ["79680000000", "79160000000"]})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"message_id", "parts_count", "sent_text"}
    assert set(body["message_id"]) == {"79680000000", "79160000000"}
    assert body["parts_count"] == 1 and body["sent_text"] == "Hi, Jack!"
    long = await face.post({"text": "Ж" * 71, "mobiles": ["+7 968 000-00-01"]})
    assert long.json()["parts_count"] == 2
    assert set(long.json()["message_id"]) == {"+7 968 000-00-01"}


async def test_the_ids_work_here_and_in_the_plivo_api(face: Face) -> None:
    body = (await face.post({"text": "Hi, Jack!", "mobiles": ["79160000000"]})).json()
    message_id = body["message_id"]["79160000000"]
    auth = basic(face.account.auth_id, face.account.auth_token)
    url = f"/v1/Account/{face.account.auth_id}/Message/{message_id}/"
    mdr = (await face.http.get(url, headers=auth)).json()
    assert mdr["to_number"] == "79160000000" and mdr["message_direction"] == "outbound"
    # Once the simulator delivered it, the face reads it back as smstools-http-api did.
    await delivered(face, message_id)
    found = await face.sent(message_id)
    assert found.status_code == 200, found.text
    shown = found.json()
    assert shown["From"] == "lvv" and shown["To"] == "79160000000"
    assert shown["message_id"] == message_id and shown["state"] == "delivered"
    assert len(shown["Sent"]) == 17 and shown["Sent"][2] == "-"  # 26-12-01 11:37:09


async def test_wrong_ids_and_other_users_messages_are_not_found(face: Face) -> None:
    body = (await face.post({"text": "mine", "mobiles": ["79160000000"]})).json()
    message_id = body["message_id"]["79160000000"]
    for wrong in ("smsgw.http.TqvEdt", "0" * 36, message_id[:-1] + "x"):
        answer = await face.sent(wrong)
        assert answer.status_code == 404 and answer.json() == {"error": "Not found"}
    theirs = await face.sent(message_id, "shop", "hashed pass")
    assert theirs.status_code == 404 and theirs.json() == {"error": "Not found"}
    await delivered(face, message_id)
    boss = await face.sent(message_id, "boss", "boss pass")  # an admin reads them all
    assert boss.status_code == 200 and boss.json()["From"] == "lvv"


async def test_permitted_numbers_are_enforced_per_user(face: Face) -> None:
    mobiles = ["79680000000", "79161234567", "79031234567", "12"]
    answer = await face.post({"text": "hi", "mobiles": mobiles}, "shop", "hashed pass")
    assert answer.status_code == 201, answer.text
    ids = answer.json()["message_id"]
    assert ids["79031234567"] == "Forbidden" and ids["12"] == "Not valid"
    assert len(ids["79680000000"]) == 36 and len(ids["79161234567"]) == 36
    assert await face.count() == 2
    refused = await face.post({"text": "hi", "mobiles": ["79031234567"]}, "shop", "hashed pass")
    assert refused.status_code == 400
    assert refused.json()["message_id"] == {"79031234567": "Forbidden"}
    assert "forbidden" in refused.json()["detail"]
    assert await face.count() == 2
    # The user's own sender ID went with its messages.
    listed, _ = await face.gateway.messages(MessageFilter(account_ids=[face.account.id]), 10, 0)
    assert {m.from_number for m in listed} == {"5555"}


@pytest.mark.parametrize(
    ("user", "password"),
    [("lvv", "wrong"), ("nobody", "SecretPAss"), ("shop", "SecretPAss"), ("", "")],
)
async def test_bad_credentials_are_refused(face: Face, user: str, password: str) -> None:
    answer = await face.post({"text": "hi", "mobiles": ["79160000000"]}, user, password)
    assert answer.status_code == 401
    assert answer.json() == {"error": "Unauthorized access"}
    assert answer.headers["www-authenticate"].startswith("Basic")
    bare = await face.http.post(OUTGOING, json={"text": "hi", "mobiles": ["79160000000"]})
    assert bare.status_code == 401
    assert await face.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        {"text": "hi"},
        {"mobiles": [], "text": "hi"},
        {"mobiles": "79160000000", "text": "hi"},
        {"mobiles": [79160000000], "text": "hi"},
        {"mobiles": ["79160000000"]},
        {"mobiles": ["79160000000"], "text": ""},
        {"mobiles": ["79160000000"], "text": 5},
        {"mobiles": ["79160000000"], "text": "x" * 1601},
        {"mobiles": ["abc", "+"], "text": "hi"},
        {"mobiles": ["79160000000"] * 1001, "text": "hi"},
    ],
)
async def test_bad_requests_get_400_and_store_nothing(face: Face, body: Any) -> None:
    answer = await face.post(body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "Request error"
    assert answer.json()["detail"]
    assert await face.count() == 0


async def test_simple_send_and_the_liveness_check(face: Face) -> None:
    answer = await face.http.get(
        "/api/v1.0/sms/simple_send",
        params=[("to", "79160000000"), ("to", "79160000001"), ("text", "from a query")],
        headers=basic("lvv", "SecretPAss"),
    )
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["message_id"]) == 2
    missing = await face.http.get("/api/v1.0/sms/simple_send", headers=basic("lvv", "SecretPAss"))
    assert missing.status_code == 400
    assert (await face.http.get("/api/v1.0/sms")).text == "OK"


async def test_the_face_can_be_turned_off(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(smstools_api={"enabled": False, "users": users()})
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        answer = await http.post(
            OUTGOING, json={"text": "hi", "mobiles": ["1"]}, headers=basic("lvv", "SecretPAss")
        )
    assert answer.status_code == 404

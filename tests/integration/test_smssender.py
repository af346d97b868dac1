"""The SMSSender-compatible face: its requests, answers and error codes, tokens from settings
and from the admin API, and a send going out through the modem channel to the simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from smsgate.api.app import create_app
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.passwords import hash_password
from smsgate.modem.simulator import ModemSimulator
from smsgate.store import accounts as account_store
from smsgate.store.schema import messages
from tests.conftest import GatewayFactory, basic, new_account
from tests.integration.test_modem_channel import modem_channel, up

KEY = "500a7317788e421227edf73552a4dd10"


async def count(gateway: Gateway) -> int:
    found = await gateway.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar()
    )
    return int(found or 0)


class Face:
    def __init__(self, gateway: Gateway, http: httpx.AsyncClient, account: Account) -> None:
        self.gateway, self.http, self.account = gateway, http, account

    async def get(self, token: str | None = KEY, **query: Any) -> httpx.Response:
        if token is not None:
            query["access-token"] = token
        if isinstance(query.get("params"), dict):
            query["params"] = json.dumps(query["params"], ensure_ascii=False)
        return await self.http.get("/", params=query)

    async def send(self, phone: Any = "89203048606", text: Any = "Hi", **kw: Any) -> httpx.Response:
        return await self.get(c="send_sms", params={"phone": phone, "text": text}, **kw)


async def face_for(gateway: Gateway) -> AsyncIterator[Face]:
    account = await new_account(gateway)
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield Face(gateway, http, account)


@pytest.fixture
async def face(make_gateway: GatewayFactory) -> AsyncIterator[Face]:
    gateway = await make_gateway(background=True, smssender={"keys": [{"key": KEY}], "wait": 5})
    async for made in face_for(gateway):
        yield made


async def test_send_sms_answers_success_and_the_plivo_api_sees_it(face: Face) -> None:
    response = await face.send("89203048606", "Ваша заявка №12346 принята")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["response"], body["code"]) == ("success", 200)
    mdr = await face.http.get(
        f"/v1/Account/{face.account.auth_id}/Message/{body['message_uuid']}/",
        headers=basic(face.account.auth_id, face.account.auth_token),
    )
    assert mdr.status_code == 200
    assert mdr.json()["to_number"] == "79203048606"
    assert mdr.json()["message_state"] in ("sent", "delivered")


@pytest.mark.parametrize("phone", ["+79203048606", "79203048606", "8 (920) 304-86-06", 89203048606])
async def test_phone_formats_of_smssender(face: Face, phone: Any) -> None:
    response = await face.send(phone)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"params": {"phone": "89203048606", "text": "x"}}, 400, 10),
        ({"c": "send_sms"}, 400, 32),
        ({"c": "send_sms", "params": "{not json"}, 400, 32),
        ({"c": "send_sms", "params": "[1, 2]"}, 400, 32),
        ({"c": "send_sms", "params": {"text": "x"}}, 400, 30),
        ({"c": "send_sms", "params": {"phone": "", "text": "x"}}, 400, 30),
        ({"c": "send_sms", "params": {"phone": "12345", "text": "x"}}, 400, 31),
        ({"c": "send_sms", "params": {"phone": "+44 7700 900123", "text": "x"}}, 400, 31),
        ({"c": "send_sms", "params": {"phone": ["8920"], "text": "x"}}, 400, 31),
        ({"c": "send_sms", "params": {"phone": "89203048606"}}, 400, 21),
        ({"c": "send_sms", "params": {"phone": "89203048606", "text": ""}}, 400, 21),
        ({"c": "send_sms", "params": {"phone": "89203048606", "text": "a\x00b"}}, 400, 21),
        ({"c": "send_sms", "params": {"phone": "89203048606", "text": "a" * 161}}, 400, 22),
        ({"c": "send_sms", "params": {"phone": "89203048606", "text": "ж" * 71}}, 400, 23),
    ],
)
async def test_documented_error_codes_store_nothing(
    face: Face, query: dict[str, Any], status: int, code: int
) -> None:
    response = await face.get(**query)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["error"]
    assert await count(face.gateway) == 0


async def test_authentication_and_unknown_commands(face: Face) -> None:
    for token in (None, "", "wrong-key-000000", "x" * 500):
        response = await face.get(token=token, c="send_sms")
        assert (response.status_code, response.json()) == (401, {"error": "Authenticate error"})
    unknown = await face.get(c="reboot_modem")
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "SmsHandler instance has no attribute 'reboot_modem'"}
    assert (await face.send(text="a" * 160)).status_code == 200
    assert (await face.send(text="ж" * 70)).status_code == 200


async def test_limits_are_settings(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(
        smssender={
            "keys": [{"key": KEY}],
            "max_parts": 3,
            "phone_format": "international",
            "wait": 0,
        }
    )
    async for face in face_for(gateway):
        assert (await face.send("+44 7700 900123", "a" * 400)).status_code == 200
        too_long = await face.send("447700900123", "a" * 500)
        assert too_long.json() == {
            "error": "The text should not be longer than 459 characters to ascii",
            "code": 22,
        }


async def test_tokens_from_the_admin_api(face: Face) -> None:
    gateway = face.gateway
    now = gateway.clock.now_us()
    await gateway.writer.run(
        lambda conn: account_store.insert_admin(conn, "root", hash_password("s3cret-pass"), now)
    )
    admin = {"auth": ("root", "s3cret-pass")}
    url = "/admin/api/smssender/tokens/"
    assert (await face.http.post(url, json={})).status_code == 401
    issued = await face.http.post(url, json={"label": "shop"}, **admin)  # type: ignore[arg-type]
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert issued.json()["account"] == face.account.auth_id
    assert (await face.send(token=token)).status_code == 200
    listed = (await face.http.get(url, **admin)).json()["objects"]  # type: ignore[arg-type]
    assert [(t["label"], t["revoked_at"]) for t in listed] == [("shop", None)]
    assert "token" not in listed[0]
    gone = await face.http.delete(f"{url}{issued.json()['id']}", **admin)  # type: ignore[arg-type]
    assert gone.status_code == 204
    assert (await face.send(token=token)).status_code == 401
    missing = await face.http.delete(f"{url}999", **admin)  # type: ignore[arg-type]
    assert missing.status_code == 404
    nobody = await face.http.post(url, json={"account": "MA0000000000000000XX"}, **admin)  # type: ignore[arg-type]
    assert nobody.status_code == 404


async def test_disabled_face_is_not_found(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(smssender={"enabled": False, "keys": [{"key": KEY}]})
    async for face in face_for(gateway):
        assert (await face.send()).status_code == 404


# --- through the modem ----------------------------------------------------------------


@pytest.fixture
async def modem() -> AsyncIterator[ModemSimulator]:
    sim = ModemSimulator(seed=9)
    await sim.start()
    yield sim
    await sim.stop()


async def test_send_and_balance_through_the_modem(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    gateway = await make_gateway(
        channels=[modem_channel(modem)],
        background=True,
        smssender={"keys": [{"key": KEY}]},
        dispatcher={"poll_interval": 0.05},
    )
    await up(gateway)
    async for face in face_for(gateway):
        response = await face.send("+79203048606", "Your task №12346 is done")
        assert response.status_code == 200, response.text
        [sent] = modem.sent
        assert (str(sent.submit.destination), sent.submit.text) == (
            "+79203048606",
            "Your task №12346 is done",
        )
        uuid = response.json()["message_uuid"]
        headers = basic(face.account.auth_id, face.account.auth_token)
        async with asyncio.timeout(10):
            while True:
                mdr = await face.http.get(
                    f"/v1/Account/{face.account.auth_id}/Message/{uuid}/", headers=headers
                )
                if mdr.json()["message_state"] == "delivered":
                    break
                await asyncio.sleep(0.05)
        balance = await face.get(c="get_balance")
        assert balance.status_code == 200
        assert balance.json()["balance"] == "12.34" and balance.json()["code"] == 200
        modem.fault("cms", code=21)
        refused = await face.send(text="refused by the network")
        assert (refused.status_code, refused.json()["code"]) == (500, 33)


async def test_balance_without_a_modem(face: Face) -> None:
    response = await face.get(c="get_balance")
    assert (response.status_code, response.json()["code"]) == (500, 33)

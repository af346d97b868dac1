"""Permission rules enforced the same way on every face: the Plivo API (403 as Plivo answers
a geo-permission refusal), the SMSSender and smstools-http-api faces and the send page; a
refusal stores nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from smsgate.api.app import create_app
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.passcode_sends import issue
from smsgate.core.passcodes import limits, shown
from smsgate.core.permissions import Effect, Kind, account_subject
from smsgate.store import permissions as permission_store
from smsgate.store.schema import messages
from tests.conftest import GatewayFactory, basic, new_account
from tests.support import LiveServer

KEY = "smssender-key-1"


class Faces:
    def __init__(self, gateway: Gateway, http: httpx.AsyncClient, account: Account) -> None:
        self.gateway, self.http, self.account = gateway, http, account

    async def rule(self, subject: str, effect: str, kind: str, pattern: str) -> int:
        now = self.gateway.clock.now_us()
        made = await self.gateway.writer.run(
            lambda conn: permission_store.insert(
                conn,
                subject=subject,
                kind=Kind(kind),
                effect=Effect(effect),
                pattern=pattern,
                note="",
                created_by="test",
                now=now,
            )
        )
        self.gateway.permissions.forget()
        return made.id

    async def plivo(self, account: Account, dst: str, src: str = "14155550100") -> Any:
        return await self.http.post(
            f"/v1/Account/{account.auth_id}/Message/",
            json={"src": src, "dst": dst, "text": "Hello"},
            headers=basic(account.auth_id, account.auth_token),
        )

    async def stored(self) -> int:
        found = await self.gateway.db.read(
            lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar()
        )
        return int(found or 0)


@pytest.fixture
async def faces(make_gateway: GatewayFactory) -> AsyncIterator[Faces]:
    gateway = await make_gateway(
        smssender={"keys": [{"key": KEY}], "wait": 0.01, "src": "14155550100"},
        smstools_api={"users": [{"name": "lvv", "password": "SecretPAss"}]},
    )
    account = await new_account(gateway)
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield Faces(gateway, http, account)


async def test_plivo_api_answers_403_for_a_denied_destination_and_stores_nothing(
    faces: Faces,
) -> None:
    await faces.rule(account_subject(faces.account.auth_id), "deny", "destination", "44*")
    refused = await faces.plivo(faces.account, "447700900123<14155550101")
    assert refused.status_code == 403
    body = refused.json()
    assert "447700900123" in body["error"] and "api_id" in body
    assert await faces.stored() == 0
    allowed = await faces.plivo(faces.account, "14155550101")
    assert allowed.status_code == 202
    assert await faces.stored() == 1


async def test_an_allow_list_by_country_and_sender_rules(faces: Faces) -> None:
    subject = account_subject(faces.account.auth_id)
    await faces.rule(subject, "allow", "destination", "US")
    await faces.rule(subject, "deny", "sender", "14155550100")
    assert (await faces.plivo(faces.account, "14155550101")).status_code == 403
    answer = await faces.plivo(faces.account, "14155550101", src="14155550199")
    assert answer.status_code == 202
    answer = await faces.plivo(faces.account, "33612345678", src="14155550199")
    assert answer.status_code == 403 and "33612345678" in answer.json()["error"]


async def test_a_subaccount_only_narrows_its_parent(faces: Faces) -> None:
    sub = await new_account(faces.gateway, parent=faces.account)
    await faces.rule(account_subject(faces.account.auth_id), "deny", "destination", "GB")
    await faces.rule(account_subject(sub.auth_id), "allow", "destination", "44*")
    # The subaccount's allow does not lift its parent's deny.
    assert (await faces.plivo(sub, "447700900123")).status_code == 403
    # And its allow list refuses what its parent would send.
    assert (await faces.plivo(sub, "14155550101")).status_code == 403
    assert (await faces.plivo(faces.account, "14155550101")).status_code == 202


async def test_smssender_refuses_with_its_own_envelope(faces: Faces) -> None:
    await faces.rule(account_subject(faces.account.auth_id), "deny", "destination", "7*")
    params = orjson.dumps({"phone": "+79680000000", "text": "Hi"}).decode()
    answer = await faces.http.get(
        "/", params={"c": "send_sms", "access-token": KEY, "params": params}
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == 31 and "forbidden" in answer.json()["error"]
    assert await faces.stored() == 0


async def test_smstools_api_marks_forbidden_mobiles_like_its_own(faces: Faces) -> None:
    await faces.rule("smstools-api/lvv", "deny", "destination", "7916*")
    answer = await faces.http.post(
        "/api/v1.0/sms/outgoing",
        json={"mobiles": ["79161234567", "79680000000"], "text": "Hi"},
        headers=basic("lvv", "SecretPAss"),
    )
    assert answer.status_code == 201
    ids = answer.json()["message_id"]
    assert ids["79161234567"] == "Forbidden" and ids["79680000000"] != "Forbidden"
    assert await faces.stored() == 1
    # A sender rule refuses the whole request, in the face's own format.
    await faces.rule(account_subject(faces.account.auth_id), "deny", "sender", "1000")
    answer = await faces.http.post(
        "/api/v1.0/sms/outgoing",
        json={"mobiles": ["79680000000"], "text": "Hi"},
        headers=basic("lvv", "SecretPAss"),
    )
    assert answer.status_code == 403 and answer.json()["error"] == "Forbidden"
    assert await faces.stored() == 1


async def test_a_pass_code_has_rules_of_its_own_within_its_account(faces: Faces) -> None:
    now = faces.gateway.clock.now_us()
    value, code = await faces.gateway.writer.run(
        lambda conn: issue(conn, faces.account.id, limits(), "test", now)
    )
    await faces.rule(f"passcode/{code.id}", "allow", "destination", "GB")
    send = {"code": shown(value), "dst": "14155550101", "text": "Hi"}
    answer = await faces.http.post("/send/api/messages", json=send)
    assert answer.status_code == 403 and "14155550101" in answer.json()["error"]
    answer = await faces.http.post("/send/api/messages", json={**send, "dst": "447700900123"})
    assert answer.status_code == 202
    assert await faces.stored() == 1


async def test_rule_changes_apply_at_once_in_this_process(faces: Faces) -> None:
    rule = await faces.rule(account_subject(faces.account.auth_id), "deny", "destination", "1*")
    assert (await faces.plivo(faces.account, "14155550101")).status_code == 403
    await faces.gateway.writer.run(lambda conn: permission_store.remove(conn, rule))
    faces.gateway.permissions.forget()
    assert (await faces.plivo(faces.account, "14155550101")).status_code == 202


def test_rules_and_limits_from_the_cli_hold_on_a_live_server(live: LiveServer) -> None:
    account = live.create_account()
    auth_id = account["auth_id"]
    added = json.loads(live.cli("permissions", "add", auth_id, "deny", "destination", "44*").stdout)
    assert added["subject"] == f"account:{auth_id}"
    bad = live.cli("permissions", "add", auth_id, "deny", "destination", "<b>", check=False)
    assert bad.returncode != 0 and "destination pattern" in bad.stderr
    nobody = live.cli(
        "permissions", "add", "passcode/999", "allow", "destination", "GB", check=False
    )
    assert nobody.returncode != 0 and "no pass code 999" in nobody.stderr
    listed = json.loads(live.cli("permissions", "list", auth_id, "--json").stdout)
    assert [rule["pattern"] for rule in listed] == ["44*"]
    live.cli("accounts", "update", auth_id, "--api-requests", "2/min")
    live.start()
    url = live.message_url(auth_id)
    auth = (auth_id, account["auth_token"])
    with httpx.Client(auth=auth, timeout=10) as http:
        refused = http.post(url, json={"src": "14155550100", "dst": "447700900123", "text": "Hi"})
        assert refused.status_code == 403 and "447700900123" in refused.json()["error"]
        sent = http.post(url, json={"src": "14155550100", "dst": "14155550101", "text": "Hi"})
        assert sent.status_code == 202
        limited = http.post(url, json={"src": "14155550100", "dst": "14155550102", "text": "Hi"})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    live.cli("permissions", "remove", str(added["id"]))
    assert json.loads(live.cli("permissions", "list", "--json").stdout) == []

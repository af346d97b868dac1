"""Sending with a pass code: within its account, time, message count and destinations; every
refusal stores nothing; two sends at once cannot both take its last message; the CLI makes,
lists and revokes codes."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import func, select

from smsgate.api.app import create_app
from smsgate.core.clock import FakeClock
from smsgate.core.errors import InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.passcode_sends import PassCodeRefused, issue, send_with_passcode
from smsgate.core.passcodes import Limits, PassCode, Status, limits, shown
from smsgate.core.passwords import hash_password
from smsgate.core.submission import Submission
from smsgate.store import accounts as account_store
from smsgate.store import passcodes as passcode_store
from smsgate.store.schema import messages
from tests.conftest import GatewayFactory, basic, new_account
from tests.support import LiveServer


async def make(gateway: Gateway, account: Account, wanted: Limits) -> str:
    return (await made(gateway, account, wanted))[0]


async def made(gateway: Gateway, account: Account, wanted: Limits) -> tuple[str, PassCode]:
    now = gateway.clock.now_us()
    code, record = await gateway.writer.run(
        lambda conn: issue(conn, account.id, wanted, "test", now)
    )
    return shown(code), record


async def stored(gateway: Gateway) -> int:
    found = await gateway.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar()
    )
    return int(found or 0)


def submission(dst: str = "447700900123", text: str = "Hello") -> Submission:
    return Submission(src="1000", dst=dst, text=text)


async def test_a_code_sends_as_its_account_within_its_limits(
    gateway: Gateway, account: Account
) -> None:
    code = await make(gateway, account, limits(20, 3, ["4477*"], "shop"))
    used, prepared = await send_with_passcode(
        gateway, code.lower(), submission("447700900123<447700900124"), requester_ip="1.2.3.4"
    )
    assert len(prepared.uuids) == 2 and prepared.messages[0]["account_id"] == account.id
    assert prepared.messages[0]["submitted_by"] == f"passcode/{used.id}"
    again = await gateway.db.read(lambda conn: passcode_store.by_id(conn, used.id))
    assert again is not None and again.used_messages == 2 and again.remaining() == 1
    with pytest.raises(InvalidParameter, match="1 message"):
        await send_with_passcode(
            gateway, code, submission("447700900125<447700900126"), requester_ip=""
        )
    with pytest.raises(InvalidParameter, match="may not send to 33612345678"):
        await send_with_passcode(gateway, code, submission("33612345678"), requester_ip="")
    await send_with_passcode(gateway, code, submission("447700900127"), requester_ip="")
    with pytest.raises(PassCodeRefused) as refused:
        await send_with_passcode(gateway, code, submission("447700900128"), requester_ip="")
    assert refused.value.status is Status.USED_UP
    assert await stored(gateway) == 3


async def test_wrong_expired_and_revoked_codes_send_nothing(
    make_gateway: GatewayFactory,
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock)
    account = await new_account(gateway)
    for typed in ("", "WRONG-CODE-XX", "ABCD-EFGH-JKMN", "x" * 5000):
        with pytest.raises(PassCodeRefused, match="wrong pass code"):
            await send_with_passcode(gateway, typed, submission(), requester_ip="")
    code = await make(gateway, account, limits(1))
    await send_with_passcode(gateway, code, submission(), requester_ip="")  # still valid
    clock.advance(61)
    with pytest.raises(PassCodeRefused, match="expired"):
        await send_with_passcode(gateway, code, submission(), requester_ip="")
    revoked, record = await made(gateway, account, limits(20))
    await gateway.writer.run(lambda conn: passcode_store.revoke(conn, record.id, clock.now_us()))
    with pytest.raises(PassCodeRefused, match="revoked") as refused:
        await send_with_passcode(gateway, revoked, submission(), requester_ip="")
    assert refused.value.status is Status.REVOKED
    assert await stored(gateway) == 1


async def test_two_sends_at_once_cannot_both_take_the_last_message(
    gateway: Gateway, account: Account
) -> None:
    code = await make(gateway, account, limits(20, 1))
    results = await asyncio.gather(
        *(
            send_with_passcode(gateway, code, submission(f"44770090013{n}"), requester_ip="")
            for n in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, PassCodeRefused) for r in results if isinstance(r, BaseException))
    assert await stored(gateway) == 1


def test_the_cli_makes_lists_and_revokes_codes(live: LiveServer) -> None:
    live.create_account()
    made = json.loads(
        live.cli("passcodes", "create", "--max-messages", "5", "--allow", "44*", "--json").stdout
    )
    assert len(made["code"]) == 14 and made["status"] == "active"
    assert made["destinations"] == ["44*"] and made["max_messages"] == 5
    bad = live.cli("passcodes", "create", "--allow", "not a number", check=False)
    assert bad.returncode != 0 and "destination pattern" in bad.stderr
    assert "revoked" in live.cli("passcodes", "revoke", str(made["id"])).stdout
    [listed] = json.loads(live.cli("passcodes", "list", "--json").stdout)
    assert listed["status"] == "revoked" and "code" not in listed
    again = live.cli("passcodes", "revoke", str(made["id"]), check=False)
    assert again.returncode != 0


async def test_the_admin_api_makes_lists_and_revokes_codes(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway()
    account = await new_account(gateway)
    now = gateway.clock.now_us()
    await gateway.writer.run(
        lambda conn: account_store.insert_admin(conn, "root", hash_password("s3cret-pass"), now)
    )
    admin = basic("root", "s3cret-pass")
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        url = "/admin/api/passcodes/"
        assert (await http.post(url, json={"minutes": 5})).status_code == 401
        made = await http.post(
            url,
            json={
                "account": account.auth_id,
                "minutes": 5,
                "max_messages": 2,
                "destinations": ["44*"],
                "label": "<b>x</b>",
            },
            headers=admin,
        )
        assert made.status_code == 201
        body = made.json()
        assert len(body["code"]) == 14 and body["status"] == "active"
        assert body["destinations"] == ["44*"] and body["max_messages"] == 2
        bad = await http.post(url, json={"minutes": 0}, headers=admin)
        assert bad.status_code == 400 and "minutes" in bad.json()["error"]
        # A page of another site cannot make an admin's browser do it.
        forged = await http.post(
            url, data={"minutes": "5"}, headers={**admin, "Origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        listed = (await http.get(url, headers=admin)).json()["objects"]
        assert [code["id"] for code in listed] == [body["id"]]
        assert "code" not in listed[0]
        assert (await http.delete(f"{url}{body['id']}", headers=admin)).status_code == 204
        assert (await http.delete(f"{url}{body['id']}", headers=admin)).status_code == 404
        listed = (await http.get(url, headers=admin)).json()["objects"]
        assert listed[0]["status"] == "revoked"
    with pytest.raises(PassCodeRefused, match="revoked"):
        await send_with_passcode(gateway, body["code"], submission(), requester_ip="192.0.2.1")

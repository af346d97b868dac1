"""The send page's API: sending with a pass code and following the messages, refusals in the
page's own format that store nothing, and wrong codes slowed down and then refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from smsgate.api.app import create_app
from smsgate.core.clock import FakeClock
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.passcode_sends import issue
from smsgate.core.passcodes import limits, shown
from smsgate.core.throttle import FailureThrottle, ThrottleRules
from smsgate.store.schema import messages
from tests.conftest import GatewayFactory, new_account


class Page:
    def __init__(self, gateway: Gateway, http: httpx.AsyncClient, account: Account) -> None:
        self.gateway, self.http, self.account = gateway, http, account

    async def code(self, **wanted: Any) -> str:
        now = self.gateway.clock.now_us()
        made, _ = await self.gateway.writer.run(
            lambda conn: issue(conn, self.account.id, limits(**wanted), "test", now)
        )
        return shown(made)

    async def send(self, code: Any, dst: Any = "447700900123", text: Any = "Hi") -> Any:
        body = {"code": code, "dst": dst, "text": text}
        return await self.http.post("/send/api/messages", json=body)

    async def stored(self) -> int:
        found = await self.gateway.db.read(
            lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar()
        )
        return int(found or 0)


@pytest.fixture
async def page(make_gateway: GatewayFactory) -> AsyncIterator[Page]:
    gateway = await make_gateway(
        background=True,
        dispatcher={"poll_interval": 0.05},
        send_page={"max_delay": 0.01, "block_after": 5},
    )
    account = await new_account(gateway)
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield Page(gateway, http, account)


async def test_the_page_is_served_with_a_strict_policy(page: Page) -> None:
    answer = await page.http.get("/send")
    assert answer.status_code == 200 and "<form" in answer.text
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    # Everything the page loads comes from its own origin: no inline script or style.
    assert "<style" not in answer.text and "<script>" not in answer.text
    script = await page.http.get("/send/send.js")
    assert "textContent" in script.text and "innerHTML" not in script.text
    style = await page.http.get("/send/send.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


async def test_a_pass_code_sends_and_its_messages_are_followed(page: Page) -> None:
    code = await page.code(max_messages=5)
    answer = await page.send(code.lower(), "447700900123, 447700900124\nnot-a-number")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert [m["to"] for m in body["messages"]] == ["447700900123", "447700900124"]
    assert body["invalid"] == ["not-a-number"] and body["remaining"] == 3
    uuids = [m["message_uuid"] for m in body["messages"]]
    with page.gateway.watch() as changes:
        async with asyncio.timeout(10):
            while True:
                shown_states = await page.http.post(
                    "/send/api/status", json={"code": code, "uuids": uuids}
                )
                states = {m["state"] for m in shown_states.json()["messages"]}
                if states == {"delivered"}:
                    break
                await changes.get()
    # Another code sees nothing of them.
    other = await page.code()
    theirs = await page.http.post("/send/api/status", json={"code": other, "uuids": uuids})
    assert theirs.json() == {"messages": []}


@pytest.mark.parametrize(
    ("dst", "text", "error"),
    [
        (None, "Hi", "dst"),
        ("", "Hi", "dst"),
        (["447700900123"] * 101, "Hi", "at most 100"),
        ("447700900123", None, "text"),
        ("447700900123", "", "text"),
        ("33612345678", "Hi", "may not send"),
        ("447700900123", "x" * 1601, "too long"),
    ],
)
async def test_bad_requests_are_refused_and_store_nothing(
    page: Page, dst: Any, text: Any, error: str
) -> None:
    code = await page.code(destinations=["44*"])
    answer = await page.send(code, dst, text)
    # A destination the code does not allow is a refusal (403), the rest bad requests.
    assert answer.status_code == (403 if error == "may not send" else 400)
    assert error in answer.json()["error"]
    assert await page.stored() == 0
    junk = await page.http.post(
        "/send/api/messages", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert junk.status_code == 400 and junk.json() == {"error": "the request is not JSON"}


async def test_expired_and_wrong_codes(page: Page) -> None:
    used_up = await page.code(max_messages=1)
    assert (await page.send(used_up)).status_code == 202
    answer = await page.send(used_up)
    assert answer.status_code == 403
    assert answer.json() == {"error": "this pass code has no messages left", "status": "used_up"}
    for typed in ("ABCD-EFGH-JKMN", 12345, None, "<script>alert(1)</script>"):
        wrong = await page.send(typed)
        assert wrong.status_code in (401, 429) and "pass code" in wrong.json()["error"]
    assert await page.stored() == 1


async def test_wrong_codes_from_one_address_are_refused_for_a_while(page: Page) -> None:
    good = await page.code()
    for _ in range(5):
        assert (await page.send("ABCD-EFGH-JKMN")).status_code == 401
    blocked = await page.send(good)  # even the right code, from this address
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 800
    assert await page.stored() == 0


def test_the_throttle_slows_down_then_refuses_then_forgets() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(clock, ThrottleRules(free=2, max_delay=2.0, block_after=6))
    delays = []
    for _ in range(6):
        delays.append(throttle.delay("1.2.3.4"))
        assert throttle.retry_after("1.2.3.4") is None
        throttle.failed("1.2.3.4")
    assert delays == [0.0, 0.0, 0.25, 0.5, 1.0, 2.0]
    assert throttle.retry_after("1.2.3.4") == 900.0
    assert throttle.retry_after("5.6.7.8") is None  # others are not held up
    clock.advance(901)
    assert throttle.retry_after("1.2.3.4") is None and throttle.delay("1.2.3.4") == 0.0
    throttle.failed("1.2.3.4")
    throttle.succeeded("1.2.3.4")
    assert throttle.delay("1.2.3.4") == 0.0

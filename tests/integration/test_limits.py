"""Rate limits: API requests per credential (429 with Retry-After), the pace per source and
destination number counted in parts (excess waits in the queue), per-account and
per-channel rates, fair sharing between accounts, and limits shared through Redis."""

from __future__ import annotations

import os
import socket
import uuid as uuids
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from smsgate.api.app import create_app
from smsgate.core.clock import FakeClock
from smsgate.core.gateway import Gateway
from smsgate.core.limits import Limit, MemoryLimiter
from smsgate.core.limits_redis import RedisLimiter
from smsgate.core.models import Account
from smsgate.core.rates import Rate
from smsgate.core.submission import Submission
from smsgate.store import accounts as account_store
from smsgate.store.schema import messages
from tests.conftest import GatewayFactory, basic, new_account, scope_of, simulator
from tests.support import need_peer

REDIS_URL = os.environ.get("SMSGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_available() -> bool:
    url = httpx.URL(REDIS_URL.replace("redis://", "http://"))
    try:
        socket.create_connection((url.host, url.port or 6379), timeout=2).close()
    except OSError:
        return False
    return True


async def plivo(gateway: Gateway, account: Account, dst: str = "14155550101") -> httpx.Response:
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        return await http.post(
            f"/v1/Account/{account.auth_id}/Message/",
            json={"src": "14155550100", "dst": dst, "text": "Hello"},
            headers=basic(account.auth_id, account.auth_token),
        )


async def set_limits(gateway: Gateway, account: Account, **limits: str | None) -> Account:
    now = gateway.clock.now_us()
    await gateway.writer.run(lambda conn: account_store.set_limits(conn, account.id, now, **limits))
    gateway.accounts.forget(account)
    found = await gateway.accounts.by_id(account.id)
    assert found is not None
    return found


async def queue(
    gateway: Gateway, account: Account, dst: str, text: str = "Hi", src: str = "14155559999"
) -> str:
    scope = await scope_of(gateway, account)
    prepared = await gateway.accept(
        scope, Submission(src=src, dst=dst, text=text), requester_ip="192.0.2.1"
    )
    return prepared.uuids[0]


async def rows(gateway: Gateway) -> dict[str, Any]:
    found = await gateway.db.read(lambda conn: conn.execute(select(messages)).all())
    return {row.uuid: row for row in found}


async def test_api_requests_over_a_credentials_limit_answer_429_with_retry_after(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(limits={"api_requests": "2/min", "number_pace": ""})
    busy, other = await new_account(gateway), await new_account(gateway)
    assert (await plivo(gateway, busy)).status_code == 202
    assert (await plivo(gateway, busy)).status_code == 202
    refused = await plivo(gateway, busy)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "too many requests" in refused.json()["error"] and "api_id" in refused.json()
    assert len(await rows(gateway)) == 2  # the refused request stored nothing
    assert gateway.metrics.registry.get_sample_value("smsgate_api_rate_limited_total") == 1
    assert (await plivo(gateway, other)).status_code == 202  # a credential of its own


async def test_an_accounts_own_api_limit_overrides_the_default(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(limits={"api_requests": "1/min", "number_pace": ""})
    account = await set_limits(gateway, await new_account(gateway), api_requests="")
    for _ in range(3):
        assert (await plivo(gateway, account)).status_code == 202


async def test_a_number_is_paced_in_parts_and_the_excess_waits_in_the_queue(
    make_gateway: GatewayFactory,
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, limits={"number_pace": "3/min"})
    account = await new_account(gateway)
    long_text = "x" * 200  # two parts
    first = await queue(gateway, account, "14155550101", long_text)
    second = await queue(gateway, account, "14155550102")
    third = await queue(gateway, account, "14155550103")
    await gateway.dispatcher.tick()
    await gateway.dispatcher.drain()
    await gateway.sink.drain()
    found = await rows(gateway)
    assert found[first].state != "queued" and found[second].state != "queued"
    # Two parts plus one fill the source number's minute: the third waits, not failed.
    held = found[third]
    assert held.state == "queued" and held.claimed_by is None and held.attempts == 0
    assert held.next_attempt_at == pytest.approx(clock.now_us() + 60_000_000, abs=1_000_000)
    assert gateway.dispatcher.paced == 1
    registry = gateway.metrics.registry
    assert registry.get_sample_value("smsgate_messages_paced_total", {"channel": "simulator"}) == 1
    clock.advance(61)
    await gateway.dispatcher.tick()
    await gateway.dispatcher.drain()
    await gateway.sink.drain()
    assert (await rows(gateway))[third].state != "queued"


async def test_a_destination_is_paced_whatever_the_source(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(clock=FakeClock(), limits={"number_pace": "1/min"})
    account = await new_account(gateway)
    a = await queue(gateway, account, "14155550101", src="14155550100")
    b = await queue(gateway, account, "14155550101", src="14155550199")
    await gateway.dispatcher.tick()
    await gateway.dispatcher.drain()
    await gateway.sink.drain()
    found = await rows(gateway)
    assert found[a].state != "queued" and found[b].state == "queued"


async def test_account_and_channel_rates(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(
        clock=FakeClock(),
        limits={"number_pace": ""},
        channels=[simulator(send_rate="3/s")],
    )
    slow = await set_limits(gateway, await new_account(gateway), send_rate="1/s")
    fast = await new_account(gateway)
    slow_ids = [await queue(gateway, slow, f"1415555010{i}") for i in range(3)]
    fast_ids = [await queue(gateway, fast, f"1415555020{i}") for i in range(5)]
    await gateway.dispatcher.tick()
    await gateway.dispatcher.drain()
    await gateway.sink.drain()
    found = await rows(gateway)
    went = [u for u in slow_ids + fast_ids if found[u].state != "queued"]
    # The channel takes 3 parts a second; of them the slow account may have only one.
    assert len(went) == 3
    assert len([u for u in went if u in slow_ids]) == 1


async def test_a_bulk_send_does_not_hold_back_another_accounts_code(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway(channels=[simulator(max_in_flight=4)])
    bulk, otp = await new_account(gateway), await new_account(gateway)
    scope = await scope_of(gateway, bulk)
    numbers = "<".join(f"141555{n:05d}" for n in range(200))
    await gateway.accept(
        scope, Submission(src="14155550000", dst=numbers, text="Sale"), requester_ip="192.0.2.1"
    )
    code = await queue(gateway, otp, "447700900123", "Your code is 1234")
    await gateway.dispatcher.tick()
    row = (await rows(gateway))[code]
    assert row.claimed_by is not None or row.state != "queued"
    await gateway.dispatcher.drain()


async def test_redis_shares_limits_between_processes(make_gateway: GatewayFactory) -> None:
    need_peer(redis_available(), f"Redis is not reachable at {REDIS_URL}")
    settings = {"limits": {"api_requests": "2/min", "redis_url": REDIS_URL, "number_pace": ""}}
    one = await make_gateway(**settings)
    two = await make_gateway(**settings)
    account = await new_account(one)
    assert (await plivo(one, account)).status_code == 202
    assert (await plivo(two, account)).status_code == 202
    refused = await plivo(one, account)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


async def test_redis_limiter_counts_parts_atomically_across_keys() -> None:
    need_peer(redis_available(), f"Redis is not reachable at {REDIS_URL}")
    key = uuids.uuid4().hex
    first = RedisLimiter(REDIS_URL, MemoryLimiter(FakeClock()))
    second = RedisLimiter(REDIS_URL, MemoryLimiter(FakeClock()))
    pace = Rate(10, 60.0)
    src, dst = Limit(f"src:{key}", pace), Limit(f"dst:{key}", pace)
    try:
        assert await first.take([src, dst], cost=8) == 0.0
        # Over src: refused, and dst is not counted either.
        assert 50 < await second.take([src, Limit(f"dst:{key}", pace)], cost=3) <= 60
        assert await second.take([dst], cost=2) == 0.0
        assert await first.take([dst], cost=1) > 0
    finally:
        await first.close()
        await second.close()


async def test_without_redis_limits_hold_in_this_process() -> None:
    limiter = RedisLimiter("redis://127.0.0.1:1/0", MemoryLimiter(FakeClock()))
    limit = [Limit("api:x", Rate(1, 60.0))]
    try:
        assert await limiter.take(limit) == 0.0
        assert await limiter.take(limit) > 0
    finally:
        await limiter.close()

"""Queue to channel to callback: the dispatcher, the simulator and the notifier together."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from plivo.utils import validate_v3_signature
from sqlalchemy import select

from smsgate.channels.base import Health, Outbound
from smsgate.channels.simulator import SimulatorChannel
from smsgate.core.clock import FakeClock
from smsgate.core.events import SendFailed, Submitted
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account, Message
from smsgate.core.record import Transition
from smsgate.core.submission import Submission
from smsgate.store.schema import callbacks
from tests.conftest import GatewayFactory, new_account, scope_of, simulator
from tests.support import CallbackReceiver


async def queue(
    gateway: Gateway, account: Account, dst: str = "14155550101", **extra: Any
) -> list[str]:
    scope = await scope_of(gateway, account)
    submission = Submission(src="14155550100", dst=dst, text="Hello", **extra)
    return (await gateway.accept(scope, submission, requester_ip="192.0.2.7")).uuids


async def send_callbacks(gateway: Gateway, rounds: int = 5) -> None:
    """Let the notifier send what is due; each round sends the next callback of a message."""
    for _ in range(rounds):
        await gateway.notifier.tick()
        await gateway.notifier.drain()


async def until(
    changes: asyncio.Queue[Transition], wanted: set[tuple[str, str]], timeout: float = 10.0
) -> list[Transition]:
    """Collect transitions until every (uuid, state) in ``wanted`` has been seen."""
    seen: list[Transition] = []
    async with asyncio.timeout(timeout):
        while not wanted <= {(t.uuid, t.state) for t in seen}:
            seen.append(await changes.get())
    return seen


async def test_simulator_sends_and_reports_delivery(gateway: Gateway, account: Account) -> None:
    with gateway.watch() as changes:
        uuids = await queue(gateway, account, dst="14155550101<14155550102")
        assert await gateway.dispatcher.tick() is False
        seen = await until(changes, {(u, "delivered") for u in uuids})
    for uuid in uuids:
        assert [t.state for t in seen if t.uuid == uuid] == ["sent", "delivered"]
    scope = await scope_of(gateway, account)
    msg = await gateway.message(scope, uuids[0])
    assert msg is not None
    assert (msg.state, msg.error_code, msg.channel, msg.claimed_by) == (
        "delivered",
        "000",
        "simulator",
        None,
    )
    sim = gateway.channels["simulator"]
    assert isinstance(sim, SimulatorChannel)
    assert [o.dst for o in sim.sent] == ["14155550101", "14155550102"]


async def _outcomes(make_gateway: GatewayFactory, seed: int) -> list[str]:
    gateway = await make_gateway(
        channels=[simulator(seed=seed, failure_ratio=0.5, failure_codes=["80", "70"])]
    )
    account = await new_account(gateway)
    dst = "<".join(f"1415555{i:04d}" for i in range(200, 240))
    with gateway.watch() as changes:
        uuids = await queue(gateway, account, dst=dst)
        await gateway.dispatcher.tick()
        finals: set[str] = set()
        async with asyncio.timeout(10):
            while len(finals) < len(uuids):
                change = await changes.get()
                if change.state in ("delivered", "undelivered"):
                    finals.add(change.uuid)
    scope = await scope_of(gateway, account)
    result = []
    for uuid in uuids:
        msg = await gateway.message(scope, uuid)
        assert msg is not None
        result.append(f"{msg.state}:{msg.error_code}")
    await gateway.stop()
    return result


async def test_seeded_simulator_repeats_exactly(make_gateway: GatewayFactory) -> None:
    first = await _outcomes(make_gateway, seed=11)
    again = await _outcomes(make_gateway, seed=11)
    other = await _outcomes(make_gateway, seed=12)
    assert first == again
    assert first != other
    assert {"delivered:000", "undelivered:80", "undelivered:70"} <= set(first)


async def test_rejections_fail_at_handover(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(channels=[simulator(reject_ratio=1.0, reject_codes=["100"])])
    account = await new_account(gateway)
    with gateway.watch() as changes:
        [uuid] = await queue(gateway, account)
        await gateway.dispatcher.tick()
        await until(changes, {(uuid, "failed")})
    msg = await gateway.message(await scope_of(gateway, account), uuid)
    assert msg is not None and (msg.state, msg.error_code) == ("failed", "100")


async def test_expired_messages_fail_with_420_and_say_so(
    make_gateway: GatewayFactory, receiver: CallbackReceiver
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, dispatcher={"enabled": False})
    account = await new_account(gateway)
    gateway.channels["simulator"].options.max_in_flight = 0  # nothing leaves
    [uuid] = await queue(gateway, account, message_expiry=5, url=receiver.url)
    await gateway.dispatcher.tick()
    msg = await gateway.message(await scope_of(gateway, account), uuid)
    assert msg is not None and msg.state == "queued"
    clock.advance(6)
    with gateway.watch() as changes:
        await gateway.dispatcher.tick()
        await until(changes, {(uuid, "failed")})
    msg = await gateway.message(await scope_of(gateway, account), uuid)
    assert msg is not None and (msg.state, msg.error_code) == ("failed", "420")
    await send_callbacks(gateway)
    statuses = [receiver.get().form for _ in range(2)]
    assert [(p["Status"], p["ErrorCode"]) for p in statuses] == [("queued", ""), ("failed", "420")]


async def swap_channel(gateway: Gateway, kind: type[SimulatorChannel]) -> SimulatorChannel:
    """Replace the simulator with a started ``kind`` that shares its settings."""
    channel = gateway.channels["simulator"]
    replacement = kind(channel.name, channel.options, channel.sink, gateway.clock)
    await replacement.start()
    gateway.channels["simulator"] = replacement
    return replacement


async def dispatch_one(gateway: Gateway, account: Account) -> Message:
    """Queue one message, let the dispatcher try it once, and read it back."""
    [uuid] = await queue(gateway, account)
    await gateway.dispatcher.tick()
    await gateway.dispatcher.drain()
    await gateway.sink.drain()
    msg = await gateway.message(await scope_of(gateway, account), uuid)
    assert msg is not None
    return msg


class Flaky(SimulatorChannel):
    """A simulator whose handover raises, as a broken link would."""

    async def send(self, message: Outbound) -> Submitted | SendFailed:
        raise ConnectionError("link down")


async def test_a_channel_error_retries_later(make_gateway: GatewayFactory) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, dispatcher={"retry_base": 30})
    account = await new_account(gateway)
    channel = gateway.channels["simulator"]
    flaky = await swap_channel(gateway, Flaky)
    msg = await dispatch_one(gateway, account)
    uuid = msg.uuid
    assert (msg.state, msg.attempts, msg.claimed_by) == ("queued", 1, None)
    assert msg.next_attempt_at == clock.now_us() + 30_000_000
    await gateway.dispatcher.tick()  # not due yet: nothing is claimed
    assert flaky.in_flight == 0
    gateway.channels["simulator"] = channel
    clock.advance(31)
    with gateway.watch() as changes:
        await gateway.dispatcher.tick()
        await until(changes, {(uuid, "delivered")})


class Down(SimulatorChannel):
    def health(self) -> Health:
        return Health(up=False, detail={"reason": "unplugged"})


async def test_nothing_is_claimed_while_the_channel_is_down(
    gateway: Gateway, account: Account
) -> None:
    channel = gateway.channels["simulator"]
    gateway.channels["simulator"] = Down(channel.name, channel.options, channel.sink, gateway.clock)
    [uuid] = await queue(gateway, account)
    assert await gateway.dispatcher.tick() is False
    msg = await gateway.message(await scope_of(gateway, account), uuid)
    assert msg is not None and (msg.state, msg.claimed_by) == ("queued", None)


async def test_claims_of_a_dead_process_return_to_the_queue(
    make_gateway: GatewayFactory, gateway: Gateway, account: Account
) -> None:
    from smsgate.store import messages as message_store
    from smsgate.store import nodes as node_store

    [uuid] = await queue(gateway, account)
    now = gateway.clock.now_us()

    def crash(conn: Any) -> None:
        node_store.heartbeat(conn, "dead-node", "elsewhere", now - 3_600_000_000)
        message_store.claim(conn, "dead-node", now, 10)

    await gateway.writer.run(crash)
    await gateway.stop()
    restarted = await make_gateway()
    with restarted.watch() as changes:
        await restarted.dispatcher.tick()
        await until(changes, {(uuid, "delivered")})


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_status_callbacks_are_signed_like_plivo(
    gateway: Gateway, account: Account, receiver: CallbackReceiver, method: str
) -> None:
    with gateway.watch() as changes:
        [uuid] = await queue(gateway, account, url=receiver.url + "?tag=1", method=method)
        await gateway.dispatcher.tick()
        await until(changes, {(uuid, "delivered")})
    await send_callbacks(gateway)
    got = [receiver.get() for _ in range(3)]
    got.sort(key=lambda r: int(r.params["Sequence"]))
    assert [r.params["Status"] for r in got] == ["queued", "sent", "delivered"]
    for request in got:
        assert request.method == method
        params = request.params
        if method == "GET":
            assert params.pop("tag") == "1"
        nonce = request.headers["X-Plivo-Signature-V3-Nonce"]
        signature = request.headers["X-Plivo-Signature-V3"]
        if method == "POST":
            assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
            assert validate_v3_signature(
                "POST", request.url, nonce, account.auth_token, signature, params
            )
            assert not validate_v3_signature(
                "POST", request.url, nonce, "wrong-token", signature, params
            )
        else:
            assert validate_v3_signature(
                "GET", request.url, nonce, account.auth_token, signature, {}
            )
        assert request.headers["X-Plivo-Signature-V2-Nonce"]
        assert params["MessageUUID"] == params["ParentMessageUUID"] == uuid
        assert (params["From"], params["To"], params["Type"]) == (
            "14155550100",
            "14155550101",
            "sms",
        )
        assert (params["Units"], params["TotalRate"], params["TotalAmount"]) == (
            "1",
            "0.00000",
            "0.00000",
        )
        assert params["RequesterIP"] == "192.0.2.7"
        assert params["MessageTime"] and params["QueuedTime"]
    delivered = got[-1].params
    assert delivered["ErrorCode"] == "000"
    assert delivered["SentTime"] and delivered["DeliveryReportTime"]


async def test_failed_callbacks_are_retried_with_backoff_then_given_up(
    make_gateway: GatewayFactory, receiver: CallbackReceiver
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, callbacks={"max_attempts": 3, "backoff_base": 10})
    account = await new_account(gateway)
    receiver.status = 503
    await queue(gateway, account, url=receiver.url)

    async def attempt() -> dict[str, Any]:
        await gateway.notifier.tick()
        await gateway.notifier.drain()
        receiver.get()
        row = await gateway.db.read(lambda conn: conn.execute(select(callbacks)).one())
        return dict(row._mapping)

    first = await attempt()
    assert (first["state"], first["attempts"], first["last_status"]) == ("pending", 1, 503)
    assert 9_000_000 <= first["next_attempt_at"] - clock.now_us() <= 11_000_000
    assert await gateway.notifier.tick() is False  # not due yet
    clock.advance(11)
    second = await attempt()
    assert (second["state"], second["attempts"]) == ("pending", 2)
    assert 18_000_000 <= second["next_attempt_at"] - clock.now_us() <= 22_000_000
    clock.advance(23)
    third = await attempt()
    assert (third["state"], third["attempts"], third["last_error"]) == ("failed", 3, "HTTP 503")


async def test_callbacks_survive_a_restart(
    make_gateway: GatewayFactory, gateway: Gateway, account: Account, receiver: CallbackReceiver
) -> None:
    await queue(gateway, account, url=receiver.url)
    await gateway.stop()  # the queued callback was never sent
    restarted = await make_gateway()
    await restarted.notifier.tick()
    await restarted.notifier.drain()
    assert receiver.get().form["Status"] == "queued"


async def test_async_api_responses_are_delivered_signed(
    client: Any, gateway: Gateway, account: Account, receiver: CallbackReceiver
) -> None:
    from tests.conftest import basic

    response = await client.post(
        f"/v1/Account/{account.auth_id}/Message/",
        json={
            "src": "14155550100",
            "dst": "14155550101<bad",
            "text": "x",
            "callback_url": receiver.url,
        },
        headers=basic(account.auth_id, account.auth_token),
    )
    assert response.json()["message"] == "async api spawned"
    await gateway.notifier.tick()
    await gateway.notifier.drain()
    got = receiver.get()
    body = orjson.loads(got.body)
    assert body["api_id"] == response.json()["api_id"]
    assert body["invalid_number"] == ["bad"] and len(body["message_uuid"]) == 1
    assert validate_v3_signature(
        "POST",
        got.url,
        got.headers["X-Plivo-Signature-V3-Nonce"],
        account.auth_token,
        got.headers["X-Plivo-Signature-V3"],
        {},
    )


class Hung(SimulatorChannel):
    """A channel whose handover never returns."""

    async def send(self, message: Outbound) -> Submitted | SendFailed:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_hung_handover_times_out_and_is_retried(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(channels=[simulator(send_timeout=0.05)])
    account = await new_account(gateway)
    await swap_channel(gateway, Hung)
    with gateway.watch() as changes:
        msg = await dispatch_one(gateway, account)
    assert (msg.state, msg.claimed_by, msg.attempts) == ("queued", None, 1)
    assert msg.next_attempt_at > gateway.clock.now_us()
    assert changes.empty()  # no state change, only a retry event


async def test_a_channel_naming_an_unknown_account_does_not_start(
    make_gateway: GatewayFactory,
) -> None:
    from smsgate.channels.registry import ChannelConfigError

    with pytest.raises(ChannelConfigError, match="MA0000000000000000ZZ"):
        await make_gateway(channels=[simulator(account="MA0000000000000000ZZ")])


async def test_callbacks_of_a_message_go_out_in_order(
    make_gateway: GatewayFactory, receiver: CallbackReceiver
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, callbacks={"backoff_base": 10})
    account = await new_account(gateway)
    receiver.status = 503
    with gateway.watch() as changes:
        [uuid] = await queue(gateway, account, url=receiver.url)
        await gateway.dispatcher.tick()
        await until(changes, {(uuid, "delivered")})
    await gateway.notifier.tick()
    await gateway.notifier.drain()
    assert receiver.get().form["Status"] == "queued"  # refused: retried in ~10 s
    # "sent" and "delivered" are due, but wait behind "queued".
    assert await gateway.notifier.tick() is False
    assert receiver.requests.empty()
    receiver.status = 200
    clock.advance(12)
    statuses = []
    for _ in range(3):
        await gateway.notifier.tick()
        await gateway.notifier.drain()
        statuses.append(receiver.get().form["Status"])
    assert statuses == ["queued", "sent", "delivered"]


async def test_settled_callbacks_of_masked_messages_keep_no_numbers(
    gateway: Gateway, account: Account, receiver: CallbackReceiver
) -> None:
    with gateway.watch() as changes:
        [uuid] = await queue(gateway, account, url=receiver.url, log="false")
        await gateway.dispatcher.tick()
        await until(changes, {(uuid, "delivered")})
    await send_callbacks(gateway)
    sent = [receiver.get().form for _ in range(3)]
    assert {form["To"] for form in sent} == {"14155550101"}  # the sender gets the real number
    kept = await gateway.db.read(
        lambda conn: conn.execute(select(callbacks.c.params, callbacks.c.state)).all()
    )
    assert [(row.params, row.state) for row in kept] == [("{}", "delivered")] * 3


async def test_a_channel_filled_by_one_claim_gets_more_as_soon_as_a_send_ends(
    make_gateway: GatewayFactory,
) -> None:
    # One message in flight at a time and a poll a minute: each send's end must wake the
    # dispatcher, or five messages would take five minutes.
    gateway = await make_gateway(
        background=True,
        channels=[simulator(max_in_flight=1)],
        dispatcher={"poll_interval": 60.0},
    )
    account = await new_account(gateway)
    with gateway.watch() as changes:
        uuids = await queue(gateway, account, dst="<".join(f"1415555010{i}" for i in range(5)))
        await until(changes, {(u, "sent") for u in uuids}, timeout=10.0)

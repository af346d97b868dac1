"""The modem channel against the modem simulator over TCP: sending with per-part status
reports, receiving (single, multipart out of order, duplicated, stored while away), USSD,
and the faults a real stick shows: CMS errors, silence, garbage, drops, reboots, a PIN."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from smsgate.channels.modem import ModemChannel
from smsgate.core import errors
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account, Message
from smsgate.core.submission import Submission
from smsgate.modem.simulator import ModemSimulator, SimulatorConfig
from smsgate.store.messages import MessageFilter
from tests.conftest import GatewayFactory, new_account, scope_of


@pytest.fixture
async def modem() -> AsyncIterator[ModemSimulator]:
    sim = ModemSimulator(seed=5)
    await sim.start()
    yield sim
    await sim.stop()


def modem_channel(sim: ModemSimulator | None, **options: Any) -> dict[str, Any]:
    port = "tcp://{}:{}".format(*sim.address) if sim is not None else None
    return {
        "name": "stick",
        "kind": "modem",
        "port": port,
        "send_interval": 0,
        "health_interval": 0.2,
        "command_timeout": 1.0,
        "submit_timeout": 1.0,
        "number": "447700900999",
        **options,
    }


async def up(gateway: Gateway, name: str = "stick", timeout: float = 10.0) -> ModemChannel:
    channel = gateway.channels[name]
    assert isinstance(channel, ModemChannel)
    async with asyncio.timeout(timeout):
        while not channel.health().up:
            await asyncio.sleep(0.02)
    return channel


async def modem_gateway(
    make_gateway: GatewayFactory, sim: ModemSimulator, **options: Any
) -> Gateway:
    gateway = await make_gateway(
        channels=[modem_channel(sim, **options)],
        background=True,
        dispatcher={"retry_base": 0.1, "poll_interval": 0.05},
    )
    await up(gateway)
    return gateway


async def send(gateway: Gateway, account: Account, text: str, dst: str = "447700900123") -> str:
    scope = await scope_of(gateway, account)
    submission = Submission(src="447700900999", dst=dst, text=text)
    accepted = await gateway.accept(scope, submission, requester_ip="127.0.0.1")
    return accepted.uuids[0]


async def settled(gateway: Gateway, account: Account, uuid: str, timeout: float = 20.0) -> Message:
    scope = await scope_of(gateway, account)
    async with asyncio.timeout(timeout):
        while True:
            msg = await gateway.message(scope, uuid)
            assert msg is not None
            if msg.state in ("delivered", "undelivered", "failed"):
                return msg
            await asyncio.sleep(0.05)


async def inbound(
    gateway: Gateway, account: Account, count: int, timeout: float = 10.0
) -> list[Message]:
    scope = await scope_of(gateway, account)
    async with asyncio.timeout(timeout):
        while True:
            where = MessageFilter(account_ids=scope.account_ids, direction="inbound")
            found, _ = await gateway.messages(where, 100, 0)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)


async def test_sends_multipart_and_settles_on_every_parts_report(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    gateway = await modem_gateway(make_gateway, modem)
    account = await new_account(gateway)
    text = "Ünïcode ☃ " * 20  # UCS-2, three parts
    uuid = await send(gateway, account, text)
    msg = await settled(gateway, account, uuid)
    assert (msg.state, msg.error_code, msg.channel, msg.units) == ("delivered", "000", "stick", 3)
    assert len(modem.sent) == 3
    assert "".join(s.submit.text or "" for s in modem.sent) == text
    assert all(s.submit.status_report for s in modem.sent)
    assert {(s.submit.destination.value, s.submit.destination.ton) for s in modem.sent} == {
        ("447700900123", 1)  # international
    }
    references = {s.submit.header.concat.reference for s in modem.sent}  # type: ignore[union-attr]
    assert len(references) == 1
    health = gateway.channels["stick"].health()
    assert health.up and health.detail["imei"] == "867530012345678"
    assert health.detail["operator"] == "SIMTEL" and health.detail["signal_dbm"] == -71


async def test_a_failed_part_report_makes_the_message_undelivered(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    gateway = await modem_gateway(make_gateway, modem)
    account = await new_account(gateway)
    modem.fault("report", code=0x41)  # incompatible destination, permanent
    msg = await settled(gateway, account, await send(gateway, account, "x" * 200))
    assert (msg.state, msg.error_code) == (
        "undelivered",
        errors.DESTINATION_PERMANENTLY_UNAVAILABLE,
    )


async def test_cms_errors_fail_or_retry(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    gateway = await modem_gateway(make_gateway, modem)
    account = await new_account(gateway)
    modem.fault("cms", code=21)  # short message transfer rejected: permanent
    msg = await settled(gateway, account, await send(gateway, account, "refused"))
    assert (msg.state, msg.error_code) == ("failed", errors.PROHIBITED_BY_CARRIER)
    modem.fault("cms", code=42, count=2)  # congestion: back to the queue, then through
    msg = await settled(gateway, account, await send(gateway, account, "retried"))
    assert msg.state == "delivered"
    assert [s.submit.text for s in modem.sent] == ["retried"]


async def test_a_dropped_connection_mid_pdu_loses_and_duplicates_nothing(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    gateway = await modem_gateway(make_gateway, modem)
    account = await new_account(gateway)
    first = await send(gateway, account, "one " * 50)  # two parts
    assert (await settled(gateway, account, first)).state == "delivered"
    modem.fault("drop_mid_pdu")
    second = await send(gateway, account, "two " * 50)
    assert (await settled(gateway, account, second, timeout=30)).state == "delivered"
    texts = [s.submit.text for s in modem.sent]
    assert len(texts) == 4 and "".join(texts[2:]) == "two " * 50  # type: ignore[arg-type]
    assert gateway.channels["stick"].health().detail["opened"] >= 2


async def test_silence_and_garbage_and_reboot_are_survived(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    gateway = await modem_gateway(make_gateway, modem)
    account = await new_account(gateway)
    modem.fault("garbage", count=3)
    assert (await settled(gateway, account, await send(gateway, account, "a"))).state == "delivered"
    modem.fault("silent", count=2)
    channel = gateway.channels["stick"]
    assert (
        await settled(gateway, account, await send(gateway, account, "b"), 30)
    ).state == "delivered"
    modem.fault("reboot")
    assert (
        await settled(gateway, account, await send(gateway, account, "c"), 30)
    ).state == "delivered"
    assert [s.submit.text for s in modem.sent] == ["a", "b", "c"]
    assert channel.health().up


async def test_receives_single_and_multipart_and_deletes_after_storing(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    gateway = await modem_gateway(make_gateway, modem)
    account = await new_account(gateway)
    await gateway.stop()
    # One message waits in the SIM while smsgate is away: the sweep at start picks it up.
    modem.deliver("+447700900555", "Arrived while you were away")
    gateway = await modem_gateway(make_gateway, modem)
    modem.deliver("+447700900556", "Ж" * 150, order=[2, 0, 1], duplicate=True)
    found = await inbound(gateway, account, 2)
    by_sender = {m.from_number: m for m in found}
    assert by_sender["447700900555"].text == "Arrived while you were away"
    assert by_sender["447700900556"].text == "Ж" * 150
    assert by_sender["447700900556"].units == 3
    assert by_sender["447700900556"].to_number == "447700900999"
    async with asyncio.timeout(5):
        while modem.store.slots:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert len(await inbound(gateway, account, 2)) == 2  # the duplicates made nothing new


async def test_ussd_balance(make_gateway: GatewayFactory, modem: ModemSimulator) -> None:
    gateway = await modem_gateway(make_gateway, modem)
    channel = await up(gateway)
    answer = await channel.ussd("*100#")
    assert answer.ok and answer.text == modem.config.balance
    assert modem.ussd_requests == ["*100#"]


async def test_pin_is_entered_and_a_wrong_one_is_not_retried(make_gateway: GatewayFactory) -> None:
    sim = ModemSimulator(SimulatorConfig(pin="1234"))
    await sim.start()
    try:
        gateway = await modem_gateway(make_gateway, sim, pin="1234")
        assert gateway.channels["stick"].health().up
        await gateway.stop()
        wrong = ModemSimulator(SimulatorConfig(pin="1234"))
        await wrong.start()
        gateway = await make_gateway(channels=[modem_channel(wrong, pin="9999")], background=True)
        channel = gateway.channels["stick"]
        async with asyncio.timeout(5):
            while "PIN" not in (channel.health().detail["reason"] or ""):
                await asyncio.sleep(0.02)
        assert not channel.health().up
        await wrong.stop()
    finally:
        await sim.stop()


async def test_an_unreachable_modem_is_down_and_messages_wait(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    host, port = modem.address
    await modem.stop()
    gateway = await make_gateway(
        channels=[modem_channel(None, port=f"tcp://{host}:{port}")], background=True
    )
    account = await new_account(gateway)
    channel = gateway.channels["stick"]
    async with asyncio.timeout(5):
        while channel.health().detail["reason"] in ("starting", None):
            await asyncio.sleep(0.02)
    assert not channel.health().up
    uuid = await send(gateway, account, "waiting")
    await asyncio.sleep(0.3)
    scope = await scope_of(gateway, account)
    msg = await gateway.message(scope, uuid)
    assert msg is not None and msg.state == "queued"


async def test_status_reports_kept_apart_in_sr_storage(make_gateway: GatewayFactory) -> None:
    sim = ModemSimulator(SimulatorConfig(report_storage="SR"))
    await sim.start()
    try:
        gateway = await modem_gateway(make_gateway, sim)
        account = await new_account(gateway)
        msg = await settled(gateway, account, await send(gateway, account, "x" * 300))
        assert msg.state == "delivered"
        async with asyncio.timeout(5):
            while sim.stores["SR"].slots:
                await asyncio.sleep(0.02)
        modem_reads_sm_again = sim.deliver("+447700900557", "after the reports")
        assert modem_reads_sm_again == 1
        [got] = await inbound(gateway, account, 1)
        assert got.text == "after the reports"
    finally:
        await sim.stop()


async def test_reports_for_parts_sent_before_a_retry_are_kept(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    gateway = await modem_gateway(make_gateway, modem)
    account = await new_account(gateway)
    modem.fault("cms", code=42, after=1)  # congestion on the second part: back to the queue
    msg = await settled(gateway, account, await send(gateway, account, "ж" * 150))
    assert (msg.state, msg.units) == ("delivered", 3)
    sequences = [s.submit.header.concat.sequence for s in modem.sent]  # type: ignore[union-attr]
    assert sequences == [1, 2, 3]  # the first part was not sent again
    async with asyncio.timeout(5):
        while modem.store.slots:
            await asyncio.sleep(0.02)


async def test_a_vanished_modem_is_down_at_once(make_gateway: GatewayFactory) -> None:
    sim = ModemSimulator()
    await sim.start()
    gateway = await modem_gateway(make_gateway, sim, health_interval=300)
    channel = await up(gateway)
    await sim.stop()
    async with asyncio.timeout(2):
        while channel.health().up:
            await asyncio.sleep(0.02)
    assert "closed" in channel.health().detail["reason"]


async def test_ussd_answers_outside_gsm(make_gateway: GatewayFactory) -> None:
    sim = ModemSimulator(SimulatorConfig(balance="Баланс: 120,50 руб."))
    await sim.start()
    try:
        channel = await up(await modem_gateway(make_gateway, sim))
        answer = await channel.ussd("*100#")
        assert (answer.text, answer.dcs) == ("Баланс: 120,50 руб.", 72)
    finally:
        await sim.stop()


async def test_a_full_sim_takes_the_modem_down_and_the_message_waits(
    make_gateway: GatewayFactory, modem: ModemSimulator
) -> None:
    gateway = await modem_gateway(make_gateway, modem)
    account = await new_account(gateway)
    channel = gateway.channels["stick"]
    modem.fault("cms", code=322)  # SIM memory full
    msg = await settled(gateway, account, await send(gateway, account, "after the SIM is fixed"))
    assert msg.state == "delivered"
    assert channel.health().detail["opened"] >= 2  # it was reopened
    assert [s.submit.text for s in modem.sent] == ["after the SIM is fixed"]


async def test_each_modem_is_its_own_channel(make_gateway: GatewayFactory) -> None:
    first, second = ModemSimulator(), ModemSimulator(SimulatorConfig(operator="OTHERNET"))
    await first.start()
    await second.start()
    try:
        gateway = await make_gateway(
            channels=[
                {**modem_channel(first), "name": "stick-a"},
                {**modem_channel(second), "name": "stick-b", "send_interval": 3},
            ],
            default_channel="stick-b",
            background=True,
        )
        await up(gateway, "stick-a")
        await up(gateway, "stick-b")
        status = {s.name: s for s in gateway.channel_status()}
        assert status["stick-a"].detail["operator"] == "SIMTEL"
        assert status["stick-b"].detail["operator"] == "OTHERNET"
        account = await new_account(gateway)
        assert (await settled(gateway, account, await send(gateway, account, "b"))).channel == (
            "stick-b"
        )
        assert (len(first.sent), len(second.sent)) == (0, 1)
        second.deliver("+447700900558", "to b")
        first.deliver("+447700900559", "to a")
        found = await inbound(gateway, account, 2)
        assert {m.channel for m in found} == {"stick-a", "stick-b"}
    finally:
        await first.stop()
        await second.stop()

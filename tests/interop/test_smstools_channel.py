"""The smstools channel driving Debian's smsd, which drives the modem simulator over TCP: texts
reach the modem exactly as the text engine encoded them, status reports settle messages part
by part, received messages become inbound messages, refusals fail with smsd's reason, and
restarts of smsgate or smsd lose and duplicate nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from smsgate.channels.smstools import SmstoolsChannel
from smsgate.core import errors
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account, Message
from smsgate.core.submission import Submission
from smsgate.modem.simulator import ModemSimulator
from smsgate.store import parts as part_store
from smsgate.store.messages import MessageFilter
from tests.conftest import GatewayFactory, new_account, scope_of
from tests.smsd import Smsd, need_smsd

# smsd takes seconds per message: these run on SQLite only (the store is tested on both).
pytestmark = [
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
    pytest.mark.timeout(240),
]

FINAL = ("delivered", "undelivered", "failed")


@pytest.fixture
async def modem() -> AsyncIterator[ModemSimulator]:
    sim = ModemSimulator(seed=11)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def smsd(tmp_path: Path, modem: ModemSimulator) -> Iterator[Smsd]:
    need_smsd()
    daemon = Smsd(tmp_path / "spool", modem.address[1])
    yield daemon
    daemon.kill()


def smstools(smsd: Smsd, **options: Any) -> dict[str, Any]:
    return {
        "name": "smsd",
        "kind": "smstools",
        "spool": str(smsd.root),
        "report": str(smsd.dir("report")) if smsd.report_dir else None,
        "poll_interval": 0.5,
        "settle": 0.1,
        "number": "447700900999",
        **options,
    }


async def smstools_gateway(make_gateway: GatewayFactory, smsd: Smsd, **options: Any) -> Gateway:
    return await make_gateway(
        channels=[smstools(smsd, **options)],
        background=True,
        dispatcher={"retry_base": 0.2, "retry_max": 1.0, "poll_interval": 0.05},
    )


async def send(gateway: Gateway, account: Account, text: str, dst: str = "447700900123") -> str:
    scope = await scope_of(gateway, account)
    accepted = await gateway.accept(
        scope, Submission(src="447700900999", dst=dst, text=text), requester_ip="127.0.0.1"
    )
    return accepted.uuids[0]


async def states(
    gateway: Gateway,
    account: Account,
    uuids: list[str],
    wanted: tuple[str, ...] = FINAL,
    timeout: float = 90.0,
) -> list[Message]:
    """The messages once each is in one of the ``wanted`` states (waits on state changes)."""
    scope = await scope_of(gateway, account)
    with gateway.watch() as changes:
        async with asyncio.timeout(timeout):
            while True:
                found = [await gateway.message(scope, uuid) for uuid in uuids]
                if all(m is not None and m.state in wanted for m in found):
                    return [m for m in found if m is not None]
                await changes.get()


async def tidied(condition: Any, timeout: float = 10.0) -> None:
    """Until ``condition()`` holds: a file is tidied just after what it says is committed."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def our_files(smsd: Smsd) -> dict[str, list[str]]:
    return {
        kind: [p.name for p in smsd.files(kind) if p.name.startswith("smsgate.")]
        for kind in ("outgoing", "checked", "sent", "failed")
    }


def received_texts(modem: ModemSimulator, dst: str) -> list[str]:
    """What the modem was given for ``dst``, joined part by part in order of sending."""
    texts: dict[int, dict[int, str]] = {}
    singles = []
    for sent in modem.sent:
        if str(sent.submit.destination) != "+" + dst:
            continue
        concat = sent.submit.header.concat if sent.submit.header else None
        if concat is None:
            singles.append(sent.submit.text or "")
        else:
            texts.setdefault(concat.reference, {})[concat.sequence] = sent.submit.text or ""
    joined = ["".join(parts[n] for n in sorted(parts)) for parts in texts.values()]
    return singles + joined


async def test_texts_reach_the_modem_exactly_and_every_part_is_reported(
    make_gateway: GatewayFactory, smsd: Smsd, modem: ModemSimulator
) -> None:
    smsd.start()
    gateway = await smstools_gateway(make_gateway, smsd)
    account = await new_account(gateway)
    cases = {
        "447700900001": "¤ costs 5€, mail @ home {braces} [x] ~ \\ |\r\nend@",
        "447700900002": "Ж" * 66 + "😀" + "Ж" * 10,  # a surrogate pair at the part boundary
        "447700900003": "Long GSM message. " * 20,  # three parts
        "905321234567": "Çağrı ğüş İstanbul",  # Turkish national tables, one part
    }
    uuids = [await send(gateway, account, text, dst) for dst, text in cases.items()]
    done = await states(gateway, account, uuids)
    assert [m.state for m in done] == ["delivered"] * 4, [m.error_code for m in done]
    for dst, text in cases.items():
        assert received_texts(modem, dst) == [text]
    assert [m.units for m in done] == [1, 2, 3, 1]
    assert len(modem.sent) == 7
    turkish = next(s for s in modem.sent if str(s.submit.destination) == "+905321234567")
    assert turkish.submit.header is not None and turkish.submit.header.shifts != (0, 0)
    # Each part went with its own reference, and each part's report settled it.
    parts = await gateway.db.read(lambda conn: part_store.of_messages(conn, set(uuids)))
    assert sorted(p.state for p in parts) == ["delivered"] * 7
    refs = {sent.reference for sent in modem.sent}
    assert {int(p.ref.rsplit("/", 1)[1]) for p in parts} == refs
    assert all(p.ref.startswith("GSM1/") for p in parts)
    # Every file is tidied once what it said is stored.
    empty = {"outgoing": [], "checked": [], "sent": [], "failed": []}
    await tidied(lambda: our_files(smsd) == empty and smsd.files("report") == [])


async def test_received_messages_become_inbound_messages(
    make_gateway: GatewayFactory, smsd: Smsd, modem: ModemSimulator
) -> None:
    smsd.start()
    gateway = await smstools_gateway(make_gateway, smsd)
    account = await new_account(gateway)
    with gateway.watch() as changes:
        modem.deliver("+447700900555", "Hi [there] €5 ΔΦΓ @home")
        modem.deliver("+447700900556", "Привет 😀 " * 12, order=[1, 0])
        received = []
        async with asyncio.timeout(60):
            while len(received) < 2:
                change = await changes.get()
                if change.direction == "inbound":
                    received.append(change.uuid)
    scope = await scope_of(gateway, account)
    found = {m.from_number: m for m in [await gateway.message(scope, u) for u in received] if m}
    assert found["447700900555"].text == "Hi [there] €5 ΔΦΓ @home"
    assert found["447700900556"].text == "Привет 😀 " * 12
    assert {m.to_number for m in found.values()} == {"447700900999"}
    assert {m.state for m in found.values()} == {"received"}
    await tidied(lambda: smsd.files("incoming") == [])


async def test_reports_are_found_among_received_messages_without_a_report_directory(
    make_gateway: GatewayFactory, tmp_path: Path, modem: ModemSimulator
) -> None:
    need_smsd()
    smsd = Smsd(tmp_path / "spool", modem.address[1], report_dir=False).start()
    try:
        gateway = await smstools_gateway(make_gateway, smsd)
        account = await new_account(gateway)
        uuid = await send(gateway, account, "report me")
        [done] = await states(gateway, account, [uuid])
        assert done.state == "delivered"
        await tidied(lambda: smsd.files("incoming") == [])
    finally:
        smsd.kill()


async def test_a_message_the_network_refuses_fails_with_smsds_reason(
    make_gateway: GatewayFactory, smsd: Smsd, modem: ModemSimulator
) -> None:
    modem.fault("cms", count=10, code=21)  # short message transfer rejected, every try
    smsd.start()
    gateway = await smstools_gateway(make_gateway, smsd)
    account = await new_account(gateway)
    uuid = await send(gateway, account, "You shall not pass")
    [failed] = await states(gateway, account, [uuid])
    assert failed.state == "failed"
    assert failed.error_code == errors.PROHIBITED_BY_CARRIER
    detail = await gateway.db.read(
        lambda conn: [
            row.detail
            for row in conn.exec_driver_sql(
                "SELECT detail FROM message_events WHERE message_uuid = ? AND kind = 'failed'",
                (uuid,),
            )
        ]
    )
    assert detail and "+CMS ERROR: 21" in detail[0]
    assert modem.sent == []
    await tidied(lambda: our_files(smsd)["failed"] == [])


async def test_a_temporary_failure_sends_only_the_failed_part_again(
    make_gateway: GatewayFactory, smsd: Smsd, modem: ModemSimulator
) -> None:
    # Part 1 goes; part 2 meets congestion on every one of smsd's tries, then the fault ends.
    modem.fault("cms", count=3, code=42, after=1)
    smsd.start()
    gateway = await smstools_gateway(make_gateway, smsd)
    account = await new_account(gateway)
    text = "Two parts, the second one late. " * 6
    uuid = await send(gateway, account, text)
    [done] = await states(gateway, account, [uuid], timeout=120)
    assert done.state == "delivered"
    assert received_texts(modem, "447700900123") == [text]
    assert len(modem.sent) == 2  # part 1 was not sent twice
    assert done.attempts >= 2


async def test_restarting_smsgate_and_smsd_loses_and_duplicates_nothing(
    make_gateway: GatewayFactory, smsd: Smsd, modem: ModemSimulator
) -> None:
    # smsd is down: the files wait in outgoing; smsgate stops (and takes them back) and
    # starts again; then smsd starts, is restarted in the middle, and everything goes once.
    gateway = await smstools_gateway(make_gateway, smsd)
    account = await new_account(gateway)
    texts = [f"message {n} " * (n * 15) for n in range(1, 5)]  # 1 to 4 parts
    uuids = [await send(gateway, account, t, f"44770090020{n}") for n, t in enumerate(texts)]
    async with asyncio.timeout(30):
        while len(our_files(smsd)["outgoing"]) < 10:
            await asyncio.sleep(0.05)
    await gateway.stop()
    assert our_files(smsd)["outgoing"] == []  # taken back: they are queued in smsgate
    again = await smstools_gateway(make_gateway, smsd)
    smsd.start()
    await states(again, account, uuids, wanted=("sent", *FINAL), timeout=120)
    smsd.stop()
    smsd.start()
    done = await states(again, account, uuids, timeout=120)
    assert [m.state for m in done] == ["delivered"] * 4
    for n, text in enumerate(texts):
        assert received_texts(modem, f"44770090020{n}") == [text]
    assert len(modem.sent) == sum(m.units for m in done)


async def test_the_channel_shows_its_health(
    make_gateway: GatewayFactory, smsd: Smsd, modem: ModemSimulator
) -> None:
    gateway = await smstools_gateway(make_gateway, smsd, pickup_timeout=0.5)
    channel = gateway.channels["smsd"]
    assert isinstance(channel, SmstoolsChannel)
    assert channel.health().up
    account = await new_account(gateway)
    uuid = await send(gateway, account, "smsd is not running yet")
    async with asyncio.timeout(30):
        while channel.health().up:
            await asyncio.sleep(0.05)
    health = channel.health()
    assert "is it running?" in health.detail["reason"]
    assert health.detail["waiting_in_outgoing"] == 1
    smsd.start()
    [done] = await states(gateway, account, [uuid])
    assert done.state == "delivered" and channel.health().up
    listed, _ = await gateway.messages(MessageFilter(account_ids=[account.id]), 10, 0)
    assert [m.uuid for m in listed] == [uuid]

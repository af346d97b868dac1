"""The smstools channel against what can be found in a spool: files half-written, broken,
unreadable, in an unknown alphabet, with garbage headers; reports that name no message;
directories that vanish or cannot be written. Here the test plays smsd's part on the files
(moving them along as smsd does); the flows with the real smsd are in tests/interop."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from smsgate.channels.base import Outbound
from smsgate.channels.smstools import SmstoolsChannel
from smsgate.core.events import Submitted
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account, Message
from smsgate.core.submission import Submission
from smsgate.store.messages import MessageFilter
from tests.conftest import GatewayFactory, new_account, scope_of

SPOOLS = ("outgoing", "checked", "sent", "failed", "incoming", "report")


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    for kind in SPOOLS:
        (tmp_path / "spool" / kind).mkdir(parents=True)
    return tmp_path / "spool"


async def channel_gateway(make_gateway: GatewayFactory, spool: Path, **options: Any) -> Gateway:
    return await make_gateway(
        channels=[
            {
                "name": "smsd",
                "kind": "smstools",
                "spool": str(spool),
                "report": str(spool / "report"),
                "poll_interval": 0.2,
                "settle": 0,
                "number": "447700900999",
                **options,
            }
        ],
        background=True,
        dispatcher={"retry_base": 0.1, "retry_max": 0.2, "poll_interval": 0.05},
    )


def channel_of(gateway: Gateway) -> SmstoolsChannel:
    channel = gateway.channels["smsd"]
    assert isinstance(channel, SmstoolsChannel)
    return channel


def put(directory: Path, name: str, raw: bytes, age: float = 0.0) -> Path:
    path = directory / name
    path.write_bytes(raw)
    if age:
        past = time.time() - age
        os.utime(path, (past, past))
    return path


def received(sender: str, text: bytes, alphabet: str = "ISO", *extra: str) -> bytes:
    head = [f"From: {sender}", "Modem: GSM1", f"Alphabet: {alphabet}", *extra]
    return ("\n".join(head) + "\n\n").encode() + text


async def until(condition: Any, timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := condition()):
            await asyncio.sleep(0.02)
    return found


async def scans(channel: SmstoolsChannel, count: int = 2) -> None:
    """Until the channel has looked at the spool ``count`` more times."""
    target = channel.status.scans + count
    channel._wake.set()
    await until(lambda: channel.status.scans >= target)


async def inbound(gateway: Gateway, account: Account) -> list[Message]:
    found, _ = await gateway.messages(
        MessageFilter(account_ids=[account.id], direction="inbound"), 50, 0
    )
    return found


async def test_a_received_file_is_stored_once_and_then_removed(
    make_gateway: GatewayFactory, spool: Path
) -> None:
    gateway = await channel_gateway(make_gateway, spool)
    account = await new_account(gateway)
    raw = received("447700900555", b"Price \xa45 \x81 ok")
    path = put(spool / "incoming", "GSM1.AbCdEf", raw)
    await until(lambda: not path.exists())
    [message] = await inbound(gateway, account)
    assert (message.text, message.from_number, message.to_number) == (
        "Price €5 Δ ok",
        "447700900555",
        "447700900999",
    )
    # The same file again (smsgate stopped after storing it, before removing it): not twice.
    put(spool / "incoming", "GSM1.AbCdEf", raw)
    await until(lambda: not path.exists())
    assert len(await inbound(gateway, account)) == 1


async def test_a_half_written_file_waits_and_a_broken_one_is_set_aside(
    make_gateway: GatewayFactory, spool: Path
) -> None:
    gateway = await channel_gateway(make_gateway, spool)
    channel = channel_of(gateway)
    account = await new_account(gateway)
    growing = put(spool / "incoming", "GSM1.grow01", b"From: 447700900556\nAlphabet: ISO\n")
    broken = put(spool / "incoming", "GSM1.broke1", b"From: 447700900557\nAlph", age=120)
    await until(lambda: not broken.exists())
    assert (spool / "incoming" / ".rejected-GSM1.broke1").exists()
    reason = (spool / "incoming" / ".rejected-GSM1.broke1.reason").read_text()
    assert "no empty line" in reason
    await scans(channel)
    assert growing.exists() and await inbound(gateway, account) == []
    growing.write_bytes(growing.read_bytes() + b"\nnow complete")
    await until(lambda: not growing.exists())
    [message] = await inbound(gateway, account)
    assert message.text == "now complete"
    assert channel.health().detail["rejected"] == 1


async def test_unknown_alphabets_and_missing_senders_are_set_aside_the_rest_go_on(
    make_gateway: GatewayFactory, spool: Path, tmp_path: Path
) -> None:
    rejected = tmp_path / "rejected"
    gateway = await channel_gateway(make_gateway, spool, rejected=str(rejected))
    account = await new_account(gateway)
    put(spool / "incoming", "GSM1.ebcdic", received("447700900558", b"\xc8\x85", "EBCDIC"))
    put(spool / "incoming", "GSM1.nofrom", b"Alphabet: ISO\n\nwho am I")
    put(
        spool / "incoming",
        "GSM1.ucs2ok",
        received("447700900559", "Ж😀".encode("utf-16-be"), "UCS2"),
    )
    put(
        spool / "incoming",
        "GSM1.garbag",
        b"From: 447700900560\n\xff\xfe\x00 garbage line\nAlphabet ISO\nModem: GSM1\n\nstill fine",
    )
    await until(lambda: len(list((spool / "incoming").glob("GSM1.*"))) == 0)
    texts = sorted(m.text or "" for m in await inbound(gateway, account))
    assert texts == ["still fine", "Ж😀"]
    assert sorted(p.name for p in (rejected / "incoming").iterdir()) == [
        "GSM1.ebcdic",
        "GSM1.ebcdic.reason",
        "GSM1.nofrom",
        "GSM1.nofrom.reason",
    ]
    assert "unknown alphabet" in (rejected / "incoming" / "GSM1.ebcdic.reason").read_text()


async def test_archived_files_are_kept_aside_once_stored(
    make_gateway: GatewayFactory, spool: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    gateway = await channel_gateway(make_gateway, spool, archive=str(archive))
    account = await new_account(gateway)
    put(spool / "incoming", "GSM1.keepme", received("447700900561", b"keep me"))
    await until(lambda: (archive / "incoming" / "GSM1.keepme").exists())
    assert [m.text for m in await inbound(gateway, account)] == ["keep me"]


async def test_an_unreadable_file_is_reported_once_and_the_rest_go_on(
    make_gateway: GatewayFactory, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = await channel_gateway(make_gateway, spool)
    channel = channel_of(gateway)
    account = await new_account(gateway)
    read = channel.spool.read

    def unreadable(kind: str, name: str) -> bytes:
        if name == "GSM1.secret":  # as a file of another user's, mode 0600, would be
            raise PermissionError(13, "Permission denied", name)
        return read(kind, name)

    monkeypatch.setattr(channel.spool, "read", unreadable)
    secret = put(spool / "incoming", "GSM1.secret", received("447700900562", b"hidden"))
    put(spool / "incoming", "GSM1.public", received("447700900563", b"visible"))
    await until(lambda: not (spool / "incoming" / "GSM1.public").exists())
    await scans(channel)
    assert secret.exists()
    assert [m.text for m in await inbound(gateway, account)] == ["visible"]
    assert ("incoming", "GSM1.secret") in channel._complained


async def test_a_report_that_names_no_message_is_kept_for_a_while_then_dropped(
    make_gateway: GatewayFactory, spool: Path
) -> None:
    gateway = await channel_gateway(make_gateway, spool, report_wait=30)
    channel = channel_of(gateway)
    report = (
        b"From: 447700900123\nModem: GSM1\nAlphabet: ISO\n\n"
        b"SMS STATUS REPORT\nMessage_id: 17\nDischarge_timestamp: 26-12-01 10:00:00\n"
        b"Status: 0,Ok,short message received by the SME"
    )
    fresh = put(spool / "report", "GSM1.fresh1", report)
    stale = put(spool / "report", "GSM1.stale1", report.replace(b"17", b"18"), age=60)
    await until(lambda: not stale.exists())
    await scans(channel)
    assert fresh.exists()
    assert channel.health().detail["unmatched_reports"] == 1


def smsd_moves(spool: Path, name: str, to: str, *headers: str) -> None:
    """What smsd does with a file it has sent (or failed): headers added, moved along."""
    source = spool / "outgoing" / name
    head, _, body = source.read_bytes().partition(b"\n\n")
    added = b"".join(f"{h}\n".encode() for h in headers)
    (spool / to / name).write_bytes(head + b"\n" + added + b"\n" + body)
    source.unlink()


async def outgoing_files(spool: Path, count: int) -> list[str]:
    return await until(
        lambda: (
            (found := sorted(p.name for p in (spool / "outgoing").glob("smsgate.*")))
            and len(found) >= count
            and found
        )
    )


async def message_in(
    gateway: Gateway, account: Account, uuid: str, states: tuple[str, ...]
) -> Message:
    """The message once it is in one of ``states`` (waits on the gateway's state changes)."""
    scope = await scope_of(gateway, account)
    with gateway.watch() as changes:
        async with asyncio.timeout(10):
            while (msg := await gateway.message(scope, uuid)) is None or msg.state not in states:
                await changes.get()
    return msg


async def test_what_smsd_says_of_a_file_becomes_the_messages_state(
    make_gateway: GatewayFactory, spool: Path
) -> None:
    gateway = await channel_gateway(make_gateway, spool)
    account = await new_account(gateway)
    scope = await scope_of(gateway, account)
    texts = ["sent without a reference", "failed for a reason smsd does not give"]
    uuids = []
    for text in texts:
        accepted = await gateway.accept(
            scope, Submission(src="1000", dst="447700900123", text=text), requester_ip=""
        )
        uuids += accepted.uuids
    first, second = await outgoing_files(spool, 2)
    smsd_moves(spool, first, "sent", "Modem: GSM1", "Sent: 26-12-01 10:00:00")
    sent = await message_in(gateway, account, uuids[0], ("sent",))
    assert sent.channel_ref is None  # no Message_id: no report can settle it
    smsd_moves(spool, second, "failed", "Fail_reason: Unknown")
    # A reason that says nothing is worth another try: the file is written again.
    await until(lambda: (spool / "outgoing" / second).exists())
    smsd_moves(spool, second, "failed", "Fail_reason: Destination is blacklisted")
    failed = await message_in(gateway, account, uuids[1], ("failed",))
    assert failed.error_code == "100" and failed.attempts == 2
    await until(lambda: list((spool / "failed").iterdir()) == [])  # tidied once recorded


async def test_a_directory_that_vanishes_holds_messages_in_the_queue(
    make_gateway: GatewayFactory, spool: Path
) -> None:
    gateway = await channel_gateway(make_gateway, spool)
    channel = channel_of(gateway)
    account = await new_account(gateway)
    shutil.rmtree(spool / "sent")
    await until(lambda: not channel.health().up)
    assert "sent" in channel.health().detail["reason"]
    scope = await scope_of(gateway, account)
    accepted = await gateway.accept(
        scope, Submission(src="1000", dst="447700900123", text="wait for me"), requester_ip=""
    )
    await scans(channel)
    held = await gateway.message(scope, accepted.uuids[0])
    assert held is not None and held.state == "queued" and held.attempts == 0
    assert list((spool / "outgoing").iterdir()) == []
    (spool / "sent").mkdir()
    await outgoing_files(spool, 1)
    assert channel.health().up


async def test_an_outgoing_directory_that_cannot_be_written_takes_the_channel_down(
    make_gateway: GatewayFactory, spool: Path
) -> None:
    shutil.rmtree(spool / "outgoing")
    (spool / "outgoing").write_text("not a directory")
    gateway = await channel_gateway(make_gateway, spool)
    health = channel_of(gateway).health()
    assert not health.up and "outgoing" in health.detail["reason"]


async def test_a_message_handed_over_twice_at_once_is_written_once(
    make_gateway: GatewayFactory, spool: Path
) -> None:
    gateway = await channel_gateway(make_gateway, spool)
    channel = channel_of(gateway)
    outbound = Outbound(
        uuid="01a23306-9dde-7000-8265-4aa576775cda",
        src="1000",
        dst="447700900123",
        text="twice at once",
        encoding="GSM",
        units=1,
        attempt=1,
    )
    first = asyncio.create_task(channel.send(outbound))
    second = asyncio.create_task(channel.send(outbound))
    [name] = await outgoing_files(spool, 1)
    await scans(channel)
    assert sorted(p.name for p in (spool / "outgoing").glob("smsgate.*")) == [name]
    smsd_moves(spool, name, "sent", "Modem: GSM1", "Message_id: 5")
    one, two = await asyncio.gather(first, second)
    assert one == two and isinstance(one, Submitted)
    assert one.channel_ref == "GSM1/447700900123/5"
    # Once settled, a later handover of the same message answers the same, writing nothing.
    assert await channel.send(outbound) == one
    assert list((spool / "outgoing").iterdir()) == []


async def test_two_channels_on_one_smsd_must_name_their_files_apart(spool: Path) -> None:
    from smsgate.channels.registry import ChannelConfigError, build_channels
    from smsgate.config import ChannelSettings
    from smsgate.core.clock import SystemClock
    from smsgate.core.record import Outcome
    from smsgate.core.sink import BatchingSink

    async def record(events: list[Any]) -> Outcome:
        return Outcome()

    def channel(name: str, **options: Any) -> ChannelSettings:
        return ChannelSettings(name=name, kind="smstools", spool=str(spool), **options)

    sink, clock = BatchingSink(record), SystemClock()
    with pytest.raises(ChannelConfigError, match="prefix"):
        build_channels([channel("a"), channel("b")], sink, clock)
    with pytest.raises(ChannelConfigError, match="receive = false"):
        build_channels([channel("a"), channel("b", prefix="second.")], sink, clock)
    both = [channel("a"), channel("b", prefix="second.", receive=False)]
    assert sorted(build_channels(both, sink, clock)) == ["a", "b"]


async def test_a_file_that_cannot_be_removed_is_stored_once_and_left_alone(
    make_gateway: GatewayFactory, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = await channel_gateway(make_gateway, spool)
    channel = channel_of(gateway)
    account = await new_account(gateway)
    tidy, record = channel.spool.tidy, channel.sink.record
    recorded: list[object] = []

    def sticky(kind: str, name: str) -> None:
        if name == "GSM1.sticky":  # smsd's file in a sticky directory, smsgate another user
            raise PermissionError(1, "Operation not permitted", name)
        tidy(kind, name)

    async def counting(event: Any) -> bool:
        recorded.append(event)
        return await record(event)

    monkeypatch.setattr(channel.spool, "tidy", sticky)
    monkeypatch.setattr(channel.sink, "record", counting)
    path = put(spool / "incoming", "GSM1.sticky", received("447700900564", b"stays"))
    await until(lambda: ("incoming", "GSM1.sticky") in channel._undeletable)
    await scans(channel, 3)
    assert path.exists() and len(recorded) == 1
    assert [m.text for m in await inbound(gateway, account)] == ["stays"]
    path.unlink()  # the operator tidies up: forgotten
    await scans(channel)
    assert channel._undeletable == set()


async def test_a_file_that_breaks_a_scan_holds_up_nothing(
    make_gateway: GatewayFactory, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Present before start: the channel (and the gateway) still start.
    put(
        spool / "report",
        "GSM1.super2",
        b"From: 447700900123\nModem: GSM1\n\nSMS STATUS REPORT\nMessage_id: \xc2\xb2\nStatus: 0,Ok",
    )
    put(
        spool / "incoming",
        "GSM1.looks1",
        received("447700900565", b"SMS STATUS REPORT\nMessage_id: \xb2\nStatus: 0,Ok"),
    )
    put(
        spool / "incoming",
        "GSM1.nulchr",
        received("447700900566", "a\x00b".encode("utf-16-be"), "UCS2"),
    )
    gateway = await channel_gateway(make_gateway, spool)
    channel = channel_of(gateway)
    account = await new_account(gateway)
    record = channel.sink.record

    async def refusing(event: Any) -> bool:
        if getattr(event, "from_number", "") == "447700900567":
            raise ValueError("the store refused it")
        return await record(event)

    monkeypatch.setattr(channel.sink, "record", refusing)
    refused = put(spool / "incoming", "GSM1.refuse", received("447700900567", b"refused"))
    put(spool / "incoming", "GSM1.fine01", received("447700900568", b"fine"))
    names = ("GSM1.fine01", "GSM1.looks1", "GSM1.nulchr")  # the last two waited for an account
    await until(lambda: not any((spool / "incoming" / n).exists() for n in names))
    texts = sorted(m.text or "" for m in await inbound(gateway, account))
    # A text that only looks like a report is a message; a NUL is stored as U+FFFD.
    assert texts == ["SMS STATUS REPORT\nMessage_id: ²\nStatus: 0,Ok", "a\ufffdb", "fine"]
    assert (spool / "report" / ".rejected-GSM1.super2").exists()
    assert refused.exists() and ("incoming", "GSM1.refuse") in channel._complained


async def test_a_part_that_vanishes_from_the_spool_is_never_written_again(
    make_gateway: GatewayFactory, spool: Path
) -> None:
    gateway = await channel_gateway(make_gateway, spool)
    account = await new_account(gateway)
    scope = await scope_of(gateway, account)
    accepted = await gateway.accept(
        scope, Submission(src="1000", dst="447700900123", text="here and gone"), requester_ip=""
    )
    [name] = await outgoing_files(spool, 1)
    (spool / "outgoing" / name).unlink()  # smsd without a sent directory, say
    failed = await message_in(gateway, account, accepted.uuids[0], ("failed",))
    assert failed.error_code == "300"
    channel = channel_of(gateway)
    assert channel.health().detail["vanished"] == 1
    await scans(channel)
    assert list((spool / "outgoing").iterdir()) == []


async def test_a_temporary_failure_is_sent_again_even_when_its_file_cannot_go(
    make_gateway: GatewayFactory, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = await channel_gateway(make_gateway, spool)
    channel = channel_of(gateway)
    tidy = channel.spool.tidy

    def sticky(kind: str, name: str) -> None:
        if kind == "failed":
            raise PermissionError(1, "Operation not permitted", name)
        tidy(kind, name)

    monkeypatch.setattr(channel.spool, "tidy", sticky)
    account = await new_account(gateway)
    scope = await scope_of(gateway, account)
    accepted = await gateway.accept(
        scope, Submission(src="1000", dst="447700900123", text="try again"), requester_ip=""
    )
    [name] = await outgoing_files(spool, 1)
    smsd_moves(spool, name, "failed", "Fail_reason: +CMS ERROR: 42 (Congestion)")
    await until(lambda: (spool / "outgoing" / name).exists())  # written again
    assert (spool / "failed" / name).exists()  # the old one could not be removed
    smsd_moves(spool, name, "sent", "Modem: GSM1", "Message_id: 9")
    sent = await message_in(gateway, account, accepted.uuids[0], ("sent",))
    assert sent.channel_ref == "GSM1/447700900123/9" and sent.attempts == 2


async def test_symbolic_links_in_the_spool_are_not_followed(
    make_gateway: GatewayFactory, spool: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(received("447700900569", b"do not read me"))
    (spool / "incoming" / "GSM1.linked").symlink_to(secret)
    gateway = await channel_gateway(make_gateway, spool)
    account = await new_account(gateway)
    put(spool / "incoming", "GSM1.plain1", received("447700900570", b"plain"))
    await until(lambda: not (spool / "incoming" / "GSM1.plain1").exists())
    assert [m.text for m in await inbound(gateway, account)] == ["plain"]
    assert (spool / "incoming" / "GSM1.linked").is_symlink()


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"watch": True, "poll_interval": 60}, "the watcher wakes the channel at once"),
        ({"watch": False, "poll_interval": 0.1}, "polling alone finds the file"),
    ],
)
async def test_files_are_noticed_by_the_watcher_or_by_polling(
    make_gateway: GatewayFactory, spool: Path, options: dict[str, Any], why: str
) -> None:
    gateway = await channel_gateway(make_gateway, spool, **options)
    account = await new_account(gateway)
    channel = channel_of(gateway)
    await scans(channel, 1)  # the watcher is running
    path = put(spool / "incoming", "GSM1.notice", received("447700900571", b"noticed"))
    await until(lambda: not path.exists(), timeout=10)  # far less than a 60 s poll
    assert [m.text for m in await inbound(gateway, account)] == ["noticed"], why

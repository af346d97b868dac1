"""The SMPP channel against a small SMSC written here on smsgate's own ``Connection``: binds
refused and kept alive, the window, throttling and the submit_sm_resp statuses, timeouts and
connections lost mid-window, receipts (also before their submit_sm_resp), messages from
handsets in parts, and malformed PDUs; end to end through the gateway on both stores."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import shutil
import ssl
import subprocess
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from smsgate.api.app import create_app
from smsgate.channels.base import Outbound
from smsgate.channels.registry import ChannelConfigError, build_channel
from smsgate.channels.smpp import SmppChannel, SmppOptions, relative_validity, submit_failure
from smsgate.channels.smpp_link import Bind, LinkSettings, Origin
from smsgate.config import ChannelSettings
from smsgate.core import errors
from smsgate.core.clock import SystemClock
from smsgate.core.events import (
    DeliveryReport,
    Event,
    InboundPart,
    InboundReceived,
    SendFailed,
    Submitted,
)
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account, Message
from smsgate.core.submission import Submission
from smsgate.smpp.connection import Connection
from smsgate.smpp.pdu import HEADER, Command, Pdu, Status, Tag, encode, make, response_to
from smsgate.store.messages import MessageFilter
from smsgate.text import udh
from tests.conftest import GatewayFactory, basic, new_account, scope_of
from tests.support import need_peer

Handler = Callable[[Connection, Pdu], Awaitable[Pdu | None]]


class RecordingConnection(Connection):
    """A Connection that also keeps every response it reads (the SMSC's view)."""

    def __init__(self, *args: Any, seen: list[Pdu], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen = seen

    def _frame(self, frame: Any) -> Pdu | None:
        if isinstance(frame, bytes) and len(frame) >= 16:
            command, status, sequence = HEADER.unpack_from(frame)[1:]
            if command & 0x80000000:
                self._seen.append(Pdu(command, sequence, status))
        return super()._frame(frame)


@dataclass
class Session:
    conn: Connection
    writer: asyncio.StreamWriter
    bind: Pdu | None = None


@dataclass
class FakeSmsc:
    """Binds ``smsgate``/``secret``; answers submit_sm with ``answers`` (then ESME_ROK and a
    new message id), holds them while ``holding``, says nothing while ``silent``; sends
    receipts when ``receipts`` (before the submit_sm_resp with ``receipt_before_resp``: the
    resp then waits until ``receipts_read``, smsgate's count of receipts, says it read it)."""

    password: str = "secret"
    tls: ssl.SSLContext | None = None
    answers: deque[int] = field(default_factory=deque)
    holding: bool = False
    silent: bool = False
    receipts: bool = False
    receipt_stat: str = "DELIVRD"
    receipt_before_resp: bool = False
    receipts_read: Callable[[], int] | None = None
    receipts_sent: int = 0
    on_submit: Handler | None = None
    submits: list[Pdu] = field(default_factory=list)
    binds: list[Pdu] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    responses: list[Pdu] = field(default_factory=list)  # what smsgate answered
    unbinds: int = 0
    enquire_links: int = 0
    outstanding: int = 0
    most_outstanding: int = 0
    port: int = 0
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> FakeSmsc:
        self._server = await asyncio.start_server(
            self._client, "127.0.0.1", self.port, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for session in self.sessions:
            await session.conn.close()
        for task in self._tasks:
            task.cancel()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = RecordingConnection(reader, writer, self._request, name="smsc", seen=self.responses)
        self.sessions.append(Session(conn, writer))
        await conn.run()

    def session_of(self, conn: Connection) -> Session:
        return next(s for s in self.sessions if s.conn is conn)

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def release(self) -> None:
        self.holding = False
        self._released.set()
        self._released = asyncio.Event()

    async def _request(self, conn: Connection, pdu: Pdu) -> Pdu | None:
        if self.silent:
            return None
        if pdu.command in (
            Command.BIND_TRANSCEIVER,
            Command.BIND_TRANSMITTER,
            Command.BIND_RECEIVER,
        ):
            self.binds.append(pdu)
            if pdu["password"] != self.password:
                return response_to(pdu, Status.ESME_RINVPASWD)
            self.session_of(conn).bind = pdu
            return response_to(pdu, system_id="fake")
        if pdu.command == Command.ENQUIRE_LINK:
            self.enquire_links += 1
            return response_to(pdu)
        if pdu.command == Command.UNBIND:
            self.unbinds += 1
            return response_to(pdu)
        if pdu.command == Command.SUBMIT_SM:
            return await self._submit(conn, pdu)
        return response_to(pdu, Status.ESME_RINVCMDID)

    async def _submit(self, conn: Connection, pdu: Pdu) -> Pdu | None:
        self.submits.append(pdu)
        self.outstanding += 1
        self.most_outstanding = max(self.most_outstanding, self.outstanding)
        try:
            if self.on_submit is not None:
                answer = await self.on_submit(conn, pdu)
                if answer is not None:
                    return answer
            while self.holding:
                await self._released.wait()
            if self.answers:
                return response_to(pdu, self.answers.popleft())
            message_id = f"m{next(self._ids)}"
            if self.receipts and pdu["registered_delivery"]:
                receipt = self.deliver(receipt_fields(message_id, self.receipt_stat), conn)
                if self.receipt_before_resp:
                    read = self.receipts_read
                    assert read is not None, "receipt_before_resp needs receipts_read"
                    self.receipts_sent += 1
                    self.spawn(receipt)
                    sent = self.receipts_sent
                    await until(lambda: read() >= sent)  # smsgate has it before the resp
                else:
                    self.spawn(_after(receipt))
            return response_to(pdu, message_id=message_id)
        finally:
            self.outstanding -= 1

    def receiver(self) -> Connection:
        for session in reversed(self.sessions):
            bind = session.bind
            if (
                bind is not None
                and bind.command != Command.BIND_TRANSMITTER
                and not session.conn.closed.is_set()
            ):
                return session.conn
        raise AssertionError("no receiving bind")

    async def deliver(self, fields: dict[str, Any], conn: Connection | None = None) -> Pdu:
        """A deliver_sm (or ``command``, popped from fields) and smsgate's answer."""
        command = fields.pop("command", Command.DELIVER_SM)
        return await (conn or self.receiver()).request(command, **fields)

    @property
    def bound(self) -> list[Session]:
        return [s for s in self.sessions if s.bind is not None and not s.conn.closed.is_set()]


async def _after(work: Awaitable[Any]) -> Any:
    await asyncio.sleep(0)
    return await work


def receipt_fields(message_id: str, stat: str = "DELIVRD", err: str = "000") -> dict[str, Any]:
    text = (
        f"id:{message_id} sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 "
        f"stat:{stat} err:{err} text:hello"
    )
    return {
        "source_addr": "447700900123",
        "destination_addr": "14155550100",
        "esm_class": 0x04,
        "short_message": text.encode(),
        "tlvs": {Tag.RECEIPTED_MESSAGE_ID: message_id.encode() + b"\0"},
    }


def mo_fields(text: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": "+447700900555",
        "destination_addr": "14155550100",
        **extra,
        "short_message": text,
    }


class Sink:
    """An event sink that records at once; ``known`` refs are those a report may name."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.recorded: list[tuple[Event, bool]] = []
        self.known: set[str] = set()
        self.failures = 0
        self.gate: asyncio.Event | None = None
        self.waiting = 0

    def emit(self, event: Event) -> None:
        self.events.append(event)

    async def record(self, event: Event) -> bool:
        if self.gate is not None:
            self.waiting += 1
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the store refused it")
        matched = not isinstance(event, DeliveryReport) or event.channel_ref in self.known
        self.recorded.append((event, matched))
        self.events.append(event)
        return matched

    def of(self, kind: type) -> list[Any]:
        return [event for event, matched in self.recorded if isinstance(event, kind) and matched]


@pytest.fixture
async def smsc() -> AsyncIterator[FakeSmsc]:
    server = await FakeSmsc().start()
    yield server
    await server.stop()


def options(smsc: FakeSmsc, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": smsc.port,
        "system_id": "smsgate",
        "password": "secret",
        "reconnect_min": 0.05,
        "reconnect_max": 0.2,
        "response_timeout": 2.0,
        "throttle_pause": 0.2,
        **extra,
    }


@pytest.fixture
async def make_channel() -> AsyncIterator[Callable[..., Awaitable[tuple[SmppChannel, Sink]]]]:
    made: list[SmppChannel] = []

    async def factory(smsc: FakeSmsc, up: bool = True, **extra: Any) -> tuple[SmppChannel, Sink]:
        sink = Sink()
        channel = SmppChannel("carrier", SmppOptions(**options(smsc, **extra)), sink, SystemClock())
        await channel.start()
        made.append(channel)
        if up:
            await until(lambda: channel.health().up)
        return channel, sink

    yield factory
    for channel in made:
        await channel.stop()


async def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := check()):
            await asyncio.sleep(0.005)
    return found


_uuids = itertools.count(1)


def outbound(text: str = "Hello", encoding: str = "GSM", src: str = "14155550100") -> Outbound:
    return Outbound(f"msg-{next(_uuids)}", src, "447700900123", text, encoding, 1, 0)


async def sent(channel: SmppChannel, sink: Sink, message: Outbound) -> Submitted | SendFailed:
    """Send as the dispatcher does: the handover is known as soon as send returns."""
    result = await channel.send(message)
    if isinstance(result, Submitted):
        sink.known.update(result.part_refs or (result.channel_ref or "",))
    return result


def concat_of(pdu: Pdu) -> udh.Concat | None:
    if not pdu["esm_class"] & 0x40:
        return None
    return udh.parse(pdu["short_message"]).concat


# --- binding ------------------------------------------------------------------------------


async def test_a_refused_bind_is_named_and_retried_at_the_longest_backoff(
    make_channel: Any,
) -> None:
    server = await FakeSmsc(password="other").start()
    try:
        channel, _ = await make_channel(server, up=False, reconnect_max=0.4)
        await until(lambda: len(server.binds) >= 2)
        health = channel.health()
        assert not health.up and channel.free_slots == 0
        assert health.detail["reason"] == "bind refused: ESME_RINVPASWD"
        assert health.detail["last_error"] == "bind refused: ESME_RINVPASWD"
        started = time.monotonic()
        server.password = "secret"
        await until(lambda: channel.health().up)
        assert time.monotonic() - started > 0.2  # not at reconnect_min (0.05)
        assert server.binds[0].command == Command.BIND_TRANSCEIVER
        assert (server.binds[0]["system_id"], server.binds[0]["interface_version"]) == (
            "smsgate",
            0x34,
        )
        assert channel.health().detail["last_error"] is None
        assert isinstance(await channel.send(outbound()), Submitted)
    finally:
        await server.stop()


async def test_no_bind_up_is_a_temporary_failure(make_channel: Any) -> None:
    server = await FakeSmsc().start()
    port = server.port
    await server.stop()
    channel, _ = await make_channel(FakeSmsc(port=port), up=False)
    await until(lambda: channel.health().detail["last_error"])
    result = await channel.send(outbound())
    assert isinstance(result, SendFailed) and result.temporary
    assert result.error_code == errors.DISPATCH_FAILED and "no SMPP bind up" in result.reason
    assert "connect to 127.0.0.1" in channel.health().detail["reason"]


async def test_transmitters_and_a_receiver_are_separate_binds(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc, bind="transmitter_receiver", binds=2)
    await until(lambda: len(smsc.bound) == 3)
    commands = sorted(s.bind.command for s in smsc.bound if s.bind is not None)
    assert commands == [Command.BIND_RECEIVER, Command.BIND_TRANSMITTER, Command.BIND_TRANSMITTER]
    assert channel.health().detail["binds_up"] == 3
    assert channel.free_slots == 20  # two windows of 10: the receiver sends nothing
    results = await asyncio.gather(*(sent(channel, sink, outbound()) for _ in range(4)))
    assert all(isinstance(r, Submitted) for r in results)
    transmitters = [s.conn for s in smsc.bound if s.bind.command == Command.BIND_TRANSMITTER]  # type: ignore[union-attr]
    assert len(transmitters) == 2
    answer = await smsc.deliver(mo_fields(b"via the receiver"))
    assert answer.status == Status.ESME_ROK
    assert [e.text for e in sink.of(InboundReceived)] == ["via the receiver"]
    await channel.stop()
    assert smsc.unbinds == 3


async def test_an_unexpected_error_in_a_bind_is_logged_and_tried_again(smsc: FakeSmsc) -> None:
    async def deliver(origin: Origin, pdu: Pdu) -> Pdu:
        return response_to(pdu)

    settings = LinkSettings(
        host="127.0.0.1",
        port=smsc.port,
        system_id="smsgate€",  # not Latin-1: the bind_transceiver cannot be encoded
        password="secret",
        system_type="",
        response_timeout=2.0,
        enquire_link_interval=30.0,
        reconnect_min=0.05,
        reconnect_max=0.1,
    )
    bind = Bind("carrier/1", "transceiver", settings, deliver, lambda: None)
    with structlog.testing.capture_logs() as logs:
        bind.start()
        try:
            await until(lambda: len(smsc.sessions) >= 2)  # connected again after the error
            assert "UnicodeEncodeError" in bind.last_error and not bind.bound
            failures = [e for e in logs if e["event"] == "smpp bind failed"]
            assert failures and failures[0]["bind"] == "carrier/1"
            bind.settings = dataclasses.replace(settings, system_id="smsgate")
            await until(lambda: bind.bound)
            assert bind.last_error == ""
        finally:
            await bind.stop()


async def test_the_smsc_unbinding_is_answered_and_bound_again(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, _ = await make_channel(smsc)
    answer = await smsc.bound[0].conn.request(Command.UNBIND)
    assert answer.command == Command.UNBIND_RESP and answer.status == 0
    await until(lambda: len(smsc.binds) == 2 and channel.health().up)
    assert channel.health().detail["links"]["carrier/1"]["binds"] == 2


# --- sending ------------------------------------------------------------------------------


async def test_submit_sm_carries_the_message_as_encoded(smsc: FakeSmsc, make_channel: Any) -> None:
    channel, sink = await make_channel(smsc, validity=3600, service_type="CMT")
    result = await sent(channel, sink, outbound("Hello @ £", src="MyShop"))
    assert isinstance(result, Submitted) and result.channel_ref == "m1"
    assert result.part_refs == ("m1",) and result.channel == "carrier"
    pdu = smsc.submits[0]
    assert pdu["short_message"] == b"Hello \x00 \x01"  # GSM 03.38, unpacked
    assert (pdu["data_coding"], pdu["esm_class"], pdu["registered_delivery"]) == (0, 0, 1)
    assert (pdu["source_addr"], pdu["source_addr_ton"], pdu["source_addr_npi"]) == ("MyShop", 5, 0)
    assert (pdu["destination_addr"], pdu["dest_addr_ton"], pdu["dest_addr_npi"]) == (
        "447700900123",
        1,
        1,
    )
    assert pdu["validity_period"] == "000000010000000R" and pdu["service_type"] == "CMT"
    await sent(channel, sink, outbound("digits"))
    assert (smsc.submits[1]["source_addr_ton"], smsc.submits[1]["source_addr_npi"]) == (1, 1)
    assert relative_validity(2 * 86_400 + 61) == "000002000101000R"


async def test_multipart_parts_are_pipelined_within_the_window(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc, window=3)
    assert channel.free_slots == 3
    smsc.holding = True
    text = "Ж" * 250  # UCS-2, four parts
    sending = asyncio.ensure_future(sent(channel, sink, outbound(text, "UCS-2")))
    others = [asyncio.ensure_future(sent(channel, sink, outbound())) for _ in range(2)]
    await until(lambda: smsc.outstanding == 3)
    assert channel.free_slots == 0
    assert channel.health().detail["outstanding"] == 3
    smsc.release()
    result = await sending
    assert all(isinstance(other, Submitted) for other in await asyncio.gather(*others))
    assert isinstance(result, Submitted) and len(result.part_refs) == 4
    assert smsc.most_outstanding == 3
    parts = [p for p in smsc.submits if p["data_coding"] == 8]
    concats = [concat_of(p) for p in parts]
    assert [c.sequence for c in concats if c] == [1, 2, 3, 4]
    assert len({c.reference for c in concats if c}) == 1
    joined = b"".join(p["short_message"][6:] for p in parts).decode("utf-16-be")
    assert joined == text
    assert channel.free_slots == 3


async def test_sar_and_payload_concatenation(smsc: FakeSmsc, make_channel: Any) -> None:
    channel, sink = await make_channel(smsc, concat="sar")
    text = "x" * 200
    result = await sent(channel, sink, outbound(text))
    assert isinstance(result, Submitted) and len(result.part_refs) == 2
    first, second = smsc.submits
    assert first["esm_class"] == 0 and first.tlv_int(Tag.SAR_TOTAL_SEGMENTS) == 2
    assert [p.tlv_int(Tag.SAR_SEGMENT_SEQNUM) for p in smsc.submits] == [1, 2]
    assert first.tlvs[Tag.SAR_MSG_REF_NUM] == second.tlvs[Tag.SAR_MSG_REF_NUM]
    await channel.stop()
    channel, sink = await make_channel(smsc, concat="payload", registered_delivery=False)
    result = await sent(channel, sink, outbound(text))
    assert isinstance(result, Submitted) and result.part_refs == ()
    payload = smsc.submits[-1]
    assert payload["short_message"] == b"" and payload.tlvs[Tag.MESSAGE_PAYLOAD] == text.encode()
    assert payload["registered_delivery"] == 0


async def test_throttled_is_retried_and_pauses_the_bind(smsc: FakeSmsc, make_channel: Any) -> None:
    channel, sink = await make_channel(smsc, throttle_pause=0.3)
    smsc.answers.append(Status.ESME_RTHROTTLED)
    result = await sent(channel, sink, outbound())
    assert isinstance(result, SendFailed) and result.temporary
    assert result.error_code == errors.DISPATCH_FAILED and "ESME_RTHROTTLED" in result.reason
    assert channel.free_slots == 0  # the bind pauses
    started = time.monotonic()
    result = await sent(channel, sink, outbound())
    assert isinstance(result, Submitted)
    assert time.monotonic() - started > 0.2
    assert channel.health().detail["throttled"] == 1


@pytest.mark.parametrize(
    ("status", "code", "temporary"),
    [
        (Status.ESME_RINVDSTADR, errors.INVALID_DESTINATION, False),
        (Status.ESME_RINVDSTTON, errors.INVALID_DESTINATION, False),
        (Status.ESME_RINVSRCADR, errors.INVALID_SOURCE, False),
        (Status.ESME_RINVSRCNPI, errors.INVALID_SOURCE, False),
        (Status.ESME_RINVMSGLEN, errors.MESSAGE_TOO_LONG, False),
        (Status.ESME_RX_P_APPN, errors.PROHIBITED_BY_CARRIER, False),
        (Status.ESME_RX_R_APPN, errors.PROHIBITED_BY_CARRIER, False),
        (Status.ESME_RINVOPTPARAMVAL, errors.INVALID_MESSAGE, False),
        (Status.ESME_RUNKNOWNERR, errors.DISPATCH_FAILED, False),
        (0x0400, errors.DISPATCH_FAILED, False),  # vendor-specific
        (Status.ESME_RMSGQFUL, errors.DISPATCH_FAILED, True),
        (Status.ESME_RSYSERR, errors.DISPATCH_FAILED, True),
        (Status.ESME_RX_T_APPN, errors.DISPATCH_FAILED, True),
        (Status.ESME_RSUBMITFAIL, errors.DISPATCH_FAILED, True),
    ],
)
def test_submit_sm_resp_statuses(status: int, code: str, temporary: bool) -> None:
    assert submit_failure(status) == (code, temporary)


async def test_refusals_fail_or_retry_with_their_codes(smsc: FakeSmsc, make_channel: Any) -> None:
    channel, sink = await make_channel(smsc, window=1)
    smsc.answers.extend([Status.ESME_RINVDSTADR, Status.ESME_RX_R_APPN, Status.ESME_RMSGQFUL])
    failures = [await sent(channel, sink, outbound()) for _ in range(3)]
    assert [(f.error_code, f.temporary) for f in failures] == [  # type: ignore[union-attr]
        (errors.INVALID_DESTINATION, False),
        (errors.PROHIBITED_BY_CARRIER, False),
        (errors.DISPATCH_FAILED, True),
    ]
    assert "ESME_RINVDSTADR" in failures[0].reason  # type: ignore[union-attr]
    # A part refused for good stops the message: its other parts are not sent.
    smsc.answers.append(Status.ESME_RINVSRCADR)
    before = len(smsc.submits)
    failed = await sent(channel, sink, outbound("y" * 400))  # three parts
    assert isinstance(failed, SendFailed) and failed.error_code == errors.INVALID_SOURCE
    assert len(smsc.submits) - before == 1


async def test_a_text_that_does_not_encode_fails_as_invalid(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc, default_alphabet="latin1")
    result = await sent(channel, sink, outbound("curly {braces} € ok"))  # € is GSM, not Latin-1
    assert isinstance(result, SendFailed) and not result.temporary
    assert result.error_code == errors.INVALID_MESSAGE
    result = await sent(channel, sink, outbound("Hi", encoding="no such alphabet"))
    assert isinstance(result, SendFailed) and result.error_code == errors.INVALID_MESSAGE
    result = await sent(channel, sink, outbound("Hi", src="A" * 21))  # source_addr: 20 at most
    assert isinstance(result, SendFailed) and not result.temporary
    assert result.error_code == errors.INVALID_MESSAGE and "source_addr" in result.reason
    assert smsc.submits == []


async def test_a_response_timeout_is_temporary_and_counted(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc, response_timeout=0.3, enquire_link_interval=30)
    smsc.holding = True
    result = await sent(channel, sink, outbound())
    assert isinstance(result, SendFailed) and result.temporary
    assert "no submit_sm_resp in 0.3 s" in result.reason
    assert channel.health().detail["unconfirmed"] == 1
    smsc.release()
    await until(lambda: len(smsc.binds) == 2 and channel.health().up)  # bound again
    assert isinstance(await sent(channel, sink, outbound()), Submitted)


async def test_a_connection_lost_mid_message_resends_only_the_missing_parts(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc, window=1)

    async def drop_second_part(conn: Connection, pdu: Pdu) -> Pdu | None:
        concat = concat_of(pdu)
        if concat is not None and concat.sequence == 2 and len(smsc.sessions) == 1:
            await conn.close()
            return None
        return None

    smsc.on_submit = drop_second_part
    message = outbound("z" * 400)  # three parts
    first = await sent(channel, sink, message)
    assert isinstance(first, SendFailed) and first.temporary
    assert "connection lost" in first.reason
    assert channel.health().detail["unconfirmed"] == 1
    await until(lambda: channel.health().up and len(smsc.sessions) == 2)
    second = await sent(channel, sink, message)
    assert isinstance(second, Submitted)
    sequences = [concat_of(p).sequence for p in smsc.submits]  # type: ignore[union-attr]
    assert sequences == [1, 2, 2, 3]  # part 1 was accepted: not sent again
    assert len({concat_of(p).reference for p in smsc.submits}) == 1  # type: ignore[union-attr]
    # The SMSC took part 2 as m2 before the connection went: it reaches the handset twice,
    # the one case SMPP cannot avoid.
    assert second.part_refs == ("m1", "m3", "m4") and second.channel_ref == "m1"


async def test_throughput_spaces_submits(smsc: FakeSmsc, make_channel: Any) -> None:
    channel, sink = await make_channel(smsc, throughput=20)
    started = time.monotonic()
    results = await asyncio.gather(*(sent(channel, sink, outbound()) for _ in range(5)))
    assert all(isinstance(r, Submitted) for r in results)
    assert time.monotonic() - started >= 0.19  # four gaps of 50 ms


async def cancelled_once_written(channel: SmppChannel, message: Outbound, smsc: FakeSmsc) -> None:
    """Send ``message`` and cancel the send once the SMSC holds all its parts, as the
    dispatcher's send_timeout does to a send that takes too long."""
    before = len(smsc.submits)
    sending = asyncio.ensure_future(channel.send(message))
    await until(lambda: len(smsc.submits) - before == 2 and smsc.outstanding >= 2)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending


async def test_parts_written_by_a_cancelled_send_keep_their_outcome(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc)
    smsc.holding = True
    answered_late = outbound("a" * 200)  # two parts
    await cancelled_once_written(channel, answered_late, smsc)
    smsc.release()
    await until(lambda: channel.counts.parts == 2)  # the answers came after the send ended
    again = await sent(channel, sink, answered_late)
    assert isinstance(again, Submitted) and again.part_refs == ("m1", "m2")
    assert len(smsc.submits) == 2  # not sent again

    smsc.holding = True
    still_waiting = outbound("b" * 200)
    await cancelled_once_written(channel, still_waiting, smsc)
    # A receipt before its submit_sm_resp waits for the parts written, as for a send.
    receipt = asyncio.ensure_future(smsc.deliver(receipt_fields("m3")))
    await until(lambda: channel.counts.receipts == 1)
    retry = asyncio.ensure_future(sent(channel, sink, still_waiting))  # before the answers
    await until(lambda: still_waiting.uuid in channel._active)  # the retry waits
    smsc.release()
    result = await retry
    assert isinstance(result, Submitted) and result.part_refs == ("m3", "m4")
    assert len(smsc.submits) == 4  # the retry waited for the parts written before
    assert channel.health().detail["unconfirmed"] == 0
    assert (await receipt).status == Status.ESME_ROK
    await until(lambda: sink.of(DeliveryReport))
    assert [r.channel_ref for r in sink.of(DeliveryReport)] == ["m3"]


async def test_parts_wait_for_room_only_while_their_answer_can_come_in_time(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    # send_timeout 0.6 s, response_timeout 0.4 s: parts are written in the first 0.2 s.
    channel, sink = await make_channel(
        smsc, throughput=10, send_timeout=0.6, response_timeout=0.4, enquire_link_interval=30
    )
    message = outbound("Ж" * 536, "UCS-2")  # eight parts, one each 0.1 s: 0.7 s in all
    results = []
    while not results or isinstance(results[-1], SendFailed):
        async with asyncio.timeout(0.6):  # as the dispatcher gives the channel
            results.append(await sent(channel, sink, message))
    first, *_, last = results
    assert isinstance(first, SendFailed) and first.temporary
    assert "found no room (window, throughput) in 0.2 s" in first.reason
    assert isinstance(last, Submitted) and len(last.part_refs) == 8
    assert len(smsc.submits) == 8  # each part once

    # A full window: the second message gives up waiting before its handover times out.
    channel, sink = await make_channel(
        smsc, window=1, send_timeout=0.6, response_timeout=0.4, enquire_link_interval=30
    )
    smsc.holding = True
    holder = asyncio.ensure_future(sent(channel, sink, outbound()))
    await until(lambda: smsc.outstanding)
    async with asyncio.timeout(0.6):
        waiting = await sent(channel, sink, outbound())
    assert isinstance(waiting, SendFailed) and waiting.temporary
    assert "part 1 found no room" in waiting.reason
    smsc.release()
    await holder


# --- receiving ----------------------------------------------------------------------------


async def test_a_receipt_settles_the_part_it_names(smsc: FakeSmsc, make_channel: Any) -> None:
    channel, sink = await make_channel(smsc)
    result = await sent(channel, sink, outbound())
    assert isinstance(result, Submitted)
    answer = await smsc.deliver(receipt_fields("m1", "UNDELIV", "001"))
    assert answer.command == Command.DELIVER_SM_RESP and answer.status == Status.ESME_ROK
    [report] = sink.of(DeliveryReport)
    assert report == DeliveryReport(
        False, errors.INVALID_DESTINATION, channel="carrier", channel_ref="m1"
    )
    # Pending receipts change nothing; receipts for unknown ids are answered all the same.
    pending = receipt_fields("m1", "ENROUTE")
    assert (await smsc.deliver(pending)).status == Status.ESME_ROK
    assert (await smsc.deliver(receipt_fields("nobody"))).status == Status.ESME_ROK
    assert len(sink.of(DeliveryReport)) == 1
    assert channel.health().detail["receipts"] == 3


async def test_a_receipt_id_written_in_another_form_is_matched(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc)

    async def hex_ids(conn: Connection, pdu: Pdu) -> Pdu:
        return response_to(pdu, message_id="00ab12")

    smsc.on_submit = hex_ids
    assert isinstance(await sent(channel, sink, outbound()), Submitted)
    await smsc.deliver(receipt_fields(str(0xAB12)))  # the same id, in decimal
    [report] = sink.of(DeliveryReport)
    assert report.channel_ref == "00ab12" and report.delivered


async def test_a_receipt_before_its_submit_sm_resp_waits_for_the_handover(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc)
    smsc.receipts = smsc.receipt_before_resp = True
    smsc.receipts_read = lambda: channel.counts.receipts
    result = await sent(channel, sink, outbound())
    assert isinstance(result, Submitted)
    await until(lambda: sink.of(DeliveryReport))
    reports = [(e.channel_ref, ok) for e, ok in sink.recorded if isinstance(e, DeliveryReport)]
    assert reports == [("m1", False), ("m1", True)]  # recorded again after the handover
    await until(lambda: any(r.command == Command.DELIVER_SM_RESP for r in smsc.responses))
    answers = [r for r in smsc.responses if r.command == Command.DELIVER_SM_RESP]
    assert [a.status for a in answers] == [Status.ESME_ROK]


async def test_receipts_of_parts_accepted_before_a_retry_wait_for_the_retry(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc, window=1)
    smsc.receipts = True
    refusals = [Status.ESME_RMSGQFUL]

    async def refuse_second(conn: Connection, pdu: Pdu) -> Pdu | None:
        concat = concat_of(pdu)
        if concat is not None and concat.sequence == 2 and refusals:
            return response_to(pdu, refusals.pop())
        return None

    smsc.on_submit = refuse_second
    message = outbound("w" * 300)  # two parts
    failed = await sent(channel, sink, message)
    assert isinstance(failed, SendFailed) and failed.temporary
    await until(lambda: any(r.command == Command.DELIVER_SM_RESP for r in smsc.responses))
    assert sink.of(DeliveryReport) == []  # part 1's receipt is held, not lost
    done = await sent(channel, sink, message)
    assert isinstance(done, Submitted) and done.part_refs == ("m1", "m2")
    await until(lambda: len(sink.of(DeliveryReport)) == 2)
    assert sorted(e.channel_ref for e in sink.of(DeliveryReport)) == ["m1", "m2"]


async def test_answers_wait_for_the_record_and_a_failure_asks_again(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    _, sink = await make_channel(smsc)
    sink.gate = asyncio.Event()
    answer = asyncio.ensure_future(smsc.deliver(mo_fields(b"Hello")))
    await until(lambda: sink.waiting)
    await asyncio.sleep(0.05)  # time for an answer sent too early to arrive
    assert not answer.done()  # not answered before it is stored
    sink.gate.set()
    assert (await answer).status == Status.ESME_ROK
    sink.failures = 1
    answer2 = await smsc.deliver(mo_fields(b"again"))
    assert answer2.status == Status.ESME_RX_T_APPN
    assert (await smsc.deliver(mo_fields(b"again"))).status == Status.ESME_ROK
    assert [e.text for e in sink.of(InboundReceived)] == ["Hello", "again"]
    first = sink.of(InboundReceived)[0]
    assert (first.from_number, first.to_number, first.units) == ("447700900555", "14155550100", 1)
    assert first.channel == "carrier" and first.channel_ref


async def test_a_message_whose_answer_was_lost_is_not_stored_twice(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc)
    sink.gate = asyncio.Event()
    first = smsc.receiver()
    answer = asyncio.ensure_future(smsc.deliver(mo_fields(b"only once"), first))
    await until(lambda: sink.waiting)
    await first.close()  # the link goes while smsgate stores the message
    await until(lambda: not channel.health().up)
    sink.gate.set()
    with pytest.raises(ConnectionError):
        await answer
    await until(lambda: channel.health().up and len(smsc.binds) == 2)
    again = await smsc.deliver(mo_fields(b"only once"))  # the SMSC tries again
    assert again.status == Status.ESME_ROK
    assert [e.text for e in sink.of(InboundReceived)] == ["only once"]
    assert (await smsc.deliver(mo_fields(b"only once"))).status == Status.ESME_ROK
    assert len(sink.of(InboundReceived)) == 2  # the same text sent anew is a new message


async def lose_the_answer(smsc: FakeSmsc, channel: SmppChannel, sink: Sink, text: bytes) -> None:
    """Deliver ``text`` and close the connection while smsgate stores it; bind again."""
    sink.gate = asyncio.Event()
    first = smsc.receiver()
    binds = len(smsc.binds)
    answer = asyncio.ensure_future(smsc.deliver(mo_fields(text), first))
    await until(lambda: sink.waiting)
    await first.close()
    await until(lambda: not channel.health().up)
    sink.gate.set()
    sink.gate = None
    with pytest.raises(ConnectionError):
        await answer
    await until(lambda: channel.health().up and len(smsc.binds) == binds + 1)


async def test_a_repeat_after_the_redelivery_window_or_on_the_same_session_is_new(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc, redelivery_window=0.2)
    await lose_the_answer(smsc, channel, sink, b"YES")
    bind = channel.binds[0]
    loop = asyncio.get_running_loop()
    await until(lambda: loop.time() - bind.bound_at > 0.2)
    assert (await smsc.deliver(mo_fields(b"YES"))).status == Status.ESME_ROK
    assert [e.text for e in sink.of(InboundReceived)] == ["YES", "YES"]  # the handset's again

    # Within the window, on the session bound after the loss: the SMSC's second try.
    await lose_the_answer(smsc, channel, sink, b"NO")
    assert (await smsc.deliver(mo_fields(b"NO"))).status == Status.ESME_ROK
    assert [e.text for e in sink.of(InboundReceived)] == ["YES", "YES", "NO"]


def udh_part(sequence: int, total: int, body: bytes, reference: int = 0x42) -> dict[str, Any]:
    header = bytes([5, 0, 3, reference, total, sequence])
    return mo_fields(header + body, esm_class=0x40, data_coding=8)


def sar_part(sequence: int, body: bytes) -> dict[str, Any]:
    tlvs = {
        Tag.SAR_MSG_REF_NUM: (0x1234).to_bytes(2, "big"),
        Tag.SAR_TOTAL_SEGMENTS: b"\x02",
        Tag.SAR_SEGMENT_SEQNUM: bytes([sequence]),
    }
    return mo_fields(body, tlvs=tlvs)


async def test_each_part_is_recorded_before_it_is_answered(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    _, sink = await make_channel(smsc)
    sink.gate = asyncio.Event()
    answer = asyncio.ensure_future(smsc.deliver(udh_part(2, 3, "Жb".encode("utf-16-be"))))
    await until(lambda: sink.waiting)
    await asyncio.sleep(0.05)  # time for an answer sent too early to arrive
    assert not answer.done()
    sink.gate.set()
    sink.gate = None
    assert (await answer).status == Status.ESME_ROK
    [recorded] = sink.of(InboundPart)
    assert recorded == InboundPart(
        "carrier", "447700900555", "14155550100", 0x42, 3, 2, "Жb", account_auth_id=None
    )
    sink.failures = 1
    assert (await smsc.deliver(sar_part(1, b"first"))).status == Status.ESME_RX_T_APPN
    assert (await smsc.deliver(sar_part(1, b"first"))).status == Status.ESME_ROK
    assert [(e.reference, e.total, e.sequence, e.text) for e in sink.of(InboundPart)[1:]] == [
        (0x1234, 2, 1, "first")
    ]
    assert sink.of(InboundReceived) == []


async def test_a_multipart_message_is_reassembled_from_udh_and_from_sar(
    make_gateway: GatewayFactory, smsc: FakeSmsc
) -> None:
    gateway = await smpp_gateway(make_gateway, smsc)
    account = await new_account(gateway)
    text = "Ж" * 100
    halves = [text[:67].encode("utf-16-be"), text[67:].encode("utf-16-be")]
    for sequence in (2, 1):  # out of order
        assert (await smsc.deliver(udh_part(sequence, 2, halves[sequence - 1]))).status == 0
        if sequence == 2:
            assert await inbound(gateway, account) == []
    # SAR, and a part delivered twice
    for sequence in (1, 1, 2):
        body = b"first half " if sequence == 1 else b"second half"
        assert (await smsc.deliver(sar_part(sequence, body))).status == Status.ESME_ROK
    received = await inbound(gateway, account)
    assert sorted((m.text, m.units) for m in received) == [
        ("first half second half", 2),
        (text, 2),
    ]
    await smsc.deliver(sar_part(2, b"second half"))  # a late duplicate
    assert len(await inbound(gateway, account)) == 2
    assert all(m.channel == "carrier" and m.from_number == "447700900555" for m in received)


async def test_parts_answered_before_a_restart_complete_their_message_after_it(
    make_gateway: GatewayFactory, smsc: FakeSmsc
) -> None:
    gateway = await smpp_gateway(make_gateway, smsc)
    account = await new_account(gateway)
    assert (await smsc.deliver(udh_part(1, 2, "first ".encode("utf-16-be")))).status == 0
    await gateway.stop()  # or a crash: the part is in the database, not in memory
    assert await inbound(gateway, account) == []
    await until(lambda: not smsc.bound)
    again = await smpp_gateway(make_gateway, smsc)
    assert (await smsc.deliver(udh_part(2, 2, "second".encode("utf-16-be")))).status == 0
    [message] = await inbound(again, account)
    assert (message.text, message.units, message.channel) == ("first second", 2, "carrier")


async def inbound(gateway: Gateway, account: Account) -> list[Message]:
    scope = await scope_of(gateway, account)
    where = MessageFilter(account_ids=scope.account_ids, direction="inbound")
    found, _ = await gateway.messages(where, 10, 0)
    return found


async def test_data_sm_and_unreadable_messages(smsc: FakeSmsc, make_channel: Any) -> None:
    channel, sink = await make_channel(smsc)
    answer = await smsc.deliver(
        {
            "command": Command.DATA_SM,
            "source_addr": "447700900555",
            "destination_addr": "14155550100",
            "data_coding": 3,
            "tlvs": {Tag.MESSAGE_PAYLOAD: "Grüße".encode("latin-1")},
        }
    )
    assert answer.command == Command.DATA_SM_RESP and answer.status == Status.ESME_ROK
    # An odd-length UCS-2 message will never read: answered OK, dropped, counted.
    bad = await smsc.deliver(mo_fields(b"\x04\x16\x04", data_coding=8))
    assert bad.status == Status.ESME_ROK
    assert [e.text for e in sink.of(InboundReceived)] == ["Grüße"]
    assert channel.health().detail["unreadable"] == 1


async def test_enquire_link_keeps_the_link_and_a_silent_smsc_is_left(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, _ = await make_channel(smsc, enquire_link_interval=0.1, response_timeout=0.3)
    await until(lambda: smsc.enquire_links >= 3)
    assert len(smsc.binds) == 1 and channel.health().up
    smsc.silent = True
    await until(lambda: not channel.health().up)
    assert "enquire_link" in channel.health().detail["reason"]
    smsc.silent = False
    await until(lambda: channel.health().up)
    assert len(smsc.binds) == 2


async def test_malformed_pdus_get_generic_nack_and_the_link_survives(
    smsc: FakeSmsc, make_channel: Any
) -> None:
    channel, sink = await make_channel(smsc)
    session = smsc.bound[0]
    session.writer.write(HEADER.pack(16, 0x00000099, 0, 7001))  # unknown command
    frame = encode(make(Command.DELIVER_SM, 7002, source_addr="1", destination_addr="2"))
    cut = HEADER.pack(20, Command.DELIVER_SM, 0, 7002) + frame[16:20]  # ends inside a field
    session.writer.write(cut)
    await until(lambda: len(smsc.responses) >= 2)
    nack, refused = smsc.responses[:2]
    assert (nack.command, nack.sequence, nack.status) == (
        Command.GENERIC_NACK,
        7001,
        Status.ESME_RINVCMDID,
    )
    assert (refused.command, refused.sequence) == (Command.DELIVER_SM_RESP, 7002)
    assert refused.status != Status.ESME_ROK
    assert (await smsc.deliver(mo_fields(b"still here"))).status == Status.ESME_ROK
    assert [e.text for e in sink.of(InboundReceived)] == ["still here"]
    assert len(smsc.binds) == 1 and channel.health().up


# --- TLS ----------------------------------------------------------------------------------


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    need_peer(shutil.which("openssl") is not None, "openssl is not installed")
    cert, key = directory / "smsc.pem", directory / "smsc.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_a_checked_certificate(tmp_path: Path, make_channel: Any) -> None:
    cert, key = certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = await FakeSmsc(tls=context).start()
    try:
        channel, sink = await make_channel(server, tls=True, tls_ca_file=str(cert))
        assert isinstance(await sent(channel, sink, outbound("over TLS")), Submitted)
        assert server.submits[0]["short_message"] == b"over TLS"
        untrusted, _ = await make_channel(server, up=False, tls=True)
        await until(lambda: untrusted.health().detail["last_error"])
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.health().detail["last_error"]
        assert not untrusted.health().up
        unchecked, _ = await make_channel(server, tls=True, tls_verify=False)
        assert unchecked.health().up
    finally:
        await server.stop()


# --- options ------------------------------------------------------------------------------


def test_options_are_checked() -> None:
    clock = SystemClock()
    good = {"name": "c", "kind": "smpp", "host": "smsc", "system_id": "me"}
    channel = build_channel(ChannelSettings(**good), Sink(), clock)
    assert isinstance(channel, SmppChannel) and channel.options.port == 2775
    assert channel.options.window == 10 and channel.options.bind == "transceiver"
    for bad in (
        {"password": "123456789"},
        {"system_id": "x" * 16},
        {"bind": "receiver"},
        {"concat": "none"},
        {"reconnect_min": 5, "reconnect_max": 1},
        {"windw": 3},
        {"tls_ca_file": "/nonexistent/ca.pem"},
    ):
        with pytest.raises(ChannelConfigError):
            build_channel(ChannelSettings(**{**good, **bad}), Sink(), clock)
    for bad, says in (
        ({"system_id": "jürgen"}, "system_id must be printable ASCII"),
        ({"password": "pass\n"}, "password must be printable ASCII"),
        ({"system_type": "€"}, "system_type must be printable ASCII"),
        ({"service_type": "\x01"}, "service_type must be printable ASCII"),
        ({"response_timeout": 60}, "response_timeout (60 s) must be less than send_timeout"),
        ({"response_timeout": 5, "send_timeout": 4}, "must be less than send_timeout (4 s)"),
    ):
        with pytest.raises(ChannelConfigError, match=re.escape(says)):
            build_channel(ChannelSettings(**{**good, **bad}), Sink(), clock)


# --- end to end ---------------------------------------------------------------------------


async def smpp_gateway(make_gateway: GatewayFactory, smsc: FakeSmsc, **extra: Any) -> Gateway:
    gateway = await make_gateway(
        channels=[{"name": "carrier", "kind": "smpp", **options(smsc, **extra)}],
        background=True,
        dispatcher={"retry_base": 0.1, "poll_interval": 0.05},
    )
    channel = gateway.channels["carrier"]
    await until(lambda: channel.health().up)
    return gateway


async def accept(gateway: Gateway, account: Account, text: str) -> str:
    scope = await scope_of(gateway, account)
    submission = Submission(src="14155550100", dst="447700900123", text=text)
    accepted = await gateway.accept(scope, submission, requester_ip="127.0.0.1")
    return accepted.uuids[0]


async def state_of(
    gateway: Gateway, account: Account, uuid: str, states: tuple[str, ...], timeout: float = 10
) -> Message:
    scope = await scope_of(gateway, account)
    async with asyncio.timeout(timeout):
        while True:
            msg = await gateway.message(scope, uuid)
            assert msg is not None
            if msg.state in states:
                return msg
            await asyncio.sleep(0.02)


async def test_end_to_end_receipts_settle_messages_part_by_part(
    make_gateway: GatewayFactory, smsc: FakeSmsc
) -> None:
    gateway = await smpp_gateway(make_gateway, smsc)
    account = await new_account(gateway)
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        response = await http.post(
            f"/v1/Account/{account.auth_id}/Message/",
            json={"src": "14155550100", "dst": "447700900123", "text": "Ж" * 150},
            headers=basic(account.auth_id, account.auth_token),
        )
    assert response.status_code == 202, response.text
    [uuid] = response.json()["message_uuid"]
    msg = await state_of(gateway, account, uuid, ("sent",))
    assert (msg.channel, msg.channel_ref, msg.units) == ("carrier", "m1", 3)
    assert len(smsc.submits) == 3
    await smsc.deliver(receipt_fields("m1"))
    await smsc.deliver(receipt_fields("m3"))
    scope = await scope_of(gateway, account)
    still = await gateway.message(scope, uuid)
    assert still is not None and still.state == "sent"  # one part has no receipt yet
    await smsc.deliver(receipt_fields("m2"))
    msg = await state_of(gateway, account, uuid, ("delivered",))
    assert msg.error_code == "000"

    other = await accept(gateway, account, "not delivered")
    await state_of(gateway, account, other, ("sent",))
    await smsc.deliver(receipt_fields("m4", "UNDELIV", "013"))
    msg = await state_of(gateway, account, other, ("undelivered",))
    assert msg.error_code == errors.PROHIBITED_BY_CARRIER


async def test_end_to_end_receipt_before_resp_throttling_and_inbound(
    make_gateway: GatewayFactory, smsc: FakeSmsc
) -> None:
    gateway = await smpp_gateway(make_gateway, smsc, throttle_pause=0.05)
    account = await new_account(gateway)
    smsc.receipts = smsc.receipt_before_resp = True
    channel = gateway.channels["carrier"]
    assert isinstance(channel, SmppChannel)
    smsc.receipts_read = lambda: channel.counts.receipts
    smsc.answers.append(Status.ESME_RTHROTTLED)
    uuid = await accept(gateway, account, "fast receipt")
    msg = await state_of(gateway, account, uuid, ("delivered", "undelivered", "failed"))
    assert msg.state == "delivered" and msg.channel_ref == "m1"
    assert [p["short_message"] for p in smsc.submits] == [b"fast receipt"] * 2
    await until(lambda: any(r.command == Command.DELIVER_SM_RESP for r in smsc.responses))
    answers = [r for r in smsc.responses if r.command == Command.DELIVER_SM_RESP]
    assert [a.status for a in answers] == [Status.ESME_ROK]

    await smsc.deliver(mo_fields(b"STOP please"))
    scope = await scope_of(gateway, account)
    where = MessageFilter(account_ids=scope.account_ids, direction="inbound")
    found, _ = await gateway.messages(where, 10, 0)
    assert [(m.text, m.from_number, m.to_number, m.channel) for m in found] == [
        ("STOP please", "447700900555", "14155550100", "carrier")
    ]

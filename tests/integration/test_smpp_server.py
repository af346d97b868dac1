"""The SMPP server face, driven by ESMEs written here on our own Connection (and raw sockets
for PDUs no well-behaved ESME sends): binds and their refusals, submits stored as every face
stores them, concatenated parts assembled durably, limits, permissions, malformed PDUs,
timeouts, TLS, query_sm, stopping, the credentials CLI, and one smpplib session."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import re
import sqlite3
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from smsgate.api.app import create_app
from smsgate.cli import main
from smsgate.config import SmppServerSettings
from smsgate.core.bootstrap import Bootstrap
from smsgate.core.clock import FakeClock, seconds
from smsgate.core.errors import InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account, Message
from smsgate.core.passwords import hash_password
from smsgate.core.permissions import Effect, Kind
from smsgate.server import banner
from smsgate.smpp.connection import Connection
from smsgate.smpp.pdu import (
    HEADER,
    Command,
    Framer,
    Oversized,
    Pdu,
    SmeAddress,
    Status,
    Tag,
    decode,
    encode,
    make,
    response_to,
)
from smsgate.smpp_server import session as session_module
from smsgate.smpp_server.server import SmppServer, tls_context
from smsgate.store import accounts as account_store
from smsgate.store import permissions as permission_store
from smsgate.store import smpp_users as user_store
from smsgate.store.schema import messages, smpp_parts
from tests.conftest import GatewayFactory, new_account

WAIT = 5.0
PASSWORD = "pa55word"
SRC, DST = "14155550100", "447700900123"
BINDS = {
    "transmitter": Command.BIND_TRANSMITTER,
    "receiver": Command.BIND_RECEIVER,
    "transceiver": Command.BIND_TRANSCEIVER,
}
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
PART_PATTERN = r"[0-9a-f]{32}-\d"


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite, unless a test asks for PostgreSQL too."""
    return str(getattr(request, "param", "sqlite"))


class Esme:
    """An ESME on our Connection. What the server sends it is queued and answered."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.received: asyncio.Queue[Pdu] = asyncio.Queue()
        self.connection = Connection(reader, writer, self._on_request, name="esme")
        self.task = asyncio.create_task(self.connection.run())

    async def _on_request(self, _: Connection, pdu: Pdu) -> Pdu:
        self.received.put_nowait(pdu)
        return response_to(pdu)

    async def bind(
        self, system_id: str, password: str = PASSWORD, mode: str = "transceiver"
    ) -> Pdu:
        return await self.connection.request(
            BINDS[mode], system_id=system_id, password=password, interface_version=0x34
        )

    async def submit(self, **fields: Any) -> Pdu:
        values: dict[str, Any] = {
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": SRC,
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": DST,
            "short_message": b"Hello from an ESME",
            **fields,
        }
        command = values.pop("command", Command.SUBMIT_SM)
        return await self.connection.request(command, **values)

    async def closed(self) -> None:
        await asyncio.wait_for(self.connection.closed.wait(), WAIT)

    async def close(self) -> None:
        await self.connection.close()
        await self.task


class Raw:
    """The bare socket: any bytes out, frames in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = Framer()
        self.frames: list[bytes | Oversized] = []

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read(self) -> Pdu:
        while not self.frames:
            data = await asyncio.wait_for(self.reader.read(65536), WAIT)
            assert data, "the server closed the connection"
            self.frames += self.framer.feed(data)
        frame = self.frames.pop(0)
        assert isinstance(frame, bytes)
        return decode(frame)

    async def request(self, command: int, sequence: int, **fields: Any) -> Pdu:
        self.send(encode(make(command, sequence, **fields)))
        return await self.read()

    async def at_eof(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(65536), WAIT) == b""
        except ConnectionError:
            return True


class Face:
    def __init__(self, gateway: Gateway, server: SmppServer, account: Account) -> None:
        self.gateway, self.server, self.account = gateway, server, account
        self.system_id = ""
        self._esmes: list[Esme] = []
        self._raws: list[Raw] = []

    async def user(self, system_id: str, account: Account | None = None, **options: Any) -> str:
        values: dict[str, Any] = {
            "binds": "transmitter,receiver,transceiver",
            "max_binds": 4,
            "submit_rate": "",
            "label": "",
            **options,
        }
        owner = account or self.account
        digest = password_hash()
        await self.gateway.writer.run(
            lambda conn: user_store.add(
                conn,
                account_id=owner.id,
                system_id=system_id,
                password_hash=digest,
                now=self.gateway.clock.now_us(),
                **values,
            )
        )
        return system_id

    async def connect(self, tls: ssl.SSLContext | None = None) -> Esme:
        port = self.server.tls_port if tls else self.server.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
        esme = Esme(reader, writer)
        self._esmes.append(esme)
        return esme

    async def esme(self, mode: str = "transceiver", system_id: str | None = None) -> Esme:
        esme = await self.connect()
        bound = await esme.bind(system_id or self.system_id, mode=mode)
        assert bound.status == Status.ESME_ROK, bound
        return esme

    async def raw(self, bind: bool = True) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        raw = Raw(reader, writer)
        self._raws.append(raw)
        if bind:
            bound = await raw.request(
                Command.BIND_TRANSCEIVER, 1, system_id=self.system_id, password=PASSWORD
            )
            assert bound.status == Status.ESME_ROK
        return raw

    async def stored(self) -> list[Message]:
        def work(conn: Any) -> list[Message]:
            rows = conn.execute(select(messages).order_by(messages.c.created_at))
            return [Message.from_row(row._mapping) for row in rows]

        return await self.gateway.db.read(work)

    async def parts(self) -> int:
        return int(
            await self.gateway.db.read(
                lambda conn: conn.execute(select(func.count()).select_from(smpp_parts)).scalar()
            )
        )

    async def close(self) -> None:
        for esme in self._esmes:
            await esme.close()
        for raw in self._raws:
            raw.writer.close()


FaceFactory = Callable[..., Awaitable[Face]]


@pytest.fixture
async def make_face(make_gateway: GatewayFactory) -> AsyncIterator[FaceFactory]:
    made: list[Face] = []

    async def factory(
        gateway: Gateway | None = None,
        account: Account | None = None,
        refused_bind_delay: float = 0.0,
        **settings: Any,
    ) -> Face:
        """A started server, an account, and its SMPP user ``shop`` (made unless the account
        is given: it has one then). Refused binds are answered at once unless asked."""
        gateway = gateway or await make_gateway()
        server = SmppServer(
            gateway,
            SmppServerSettings(enabled=True, port=0, **settings),
            refused_bind_delay=refused_bind_delay,
        )
        face = Face(gateway, server, account or await new_account(gateway))
        await face.server.start()
        made.append(face)
        face.system_id = "shop" if account is not None else await face.user("shop")
        return face

    yield factory
    for face in made:
        await face.close()
        if not face.server.closing:
            await face.server.stop()


@pytest.fixture
async def face(make_face: FaceFactory) -> Face:
    return await make_face()


# binds ---------------------------------------------------------------------------------------


async def test_each_bind_mode_binds_and_receivers_are_the_receiving_sessions(
    face: Face, monkeypatch: pytest.MonkeyPatch
) -> None:
    made_due: list[str] = []

    async def bound(system_id: str) -> int:
        made_due.append(system_id)
        return 0

    monkeypatch.setattr(face.gateway.smpp_delivery, "bound", bound)
    sessions = {}
    for mode in ("transmitter", "receiver", "transceiver"):
        esme = await face.connect()
        bound = await esme.bind(face.system_id, mode=mode)
        assert bound.status == Status.ESME_ROK
        assert bound.command == BINDS[mode] | 0x80000000
        assert bound["system_id"] == "smsgate"
        assert bound.tlvs[Tag.SC_INTERFACE_VERSION] == b"\x34"
        assert (await esme.connection.request(Command.ENQUIRE_LINK)).status == Status.ESME_ROK
        sessions[mode] = esme
    # The most recently active receiving session first.
    await sessions["receiver"].connection.request(Command.ENQUIRE_LINK)
    found = face.server.receivers(face.system_id)
    assert [s.mode for s in found] == ["receiver", "transceiver"]
    assert all(s.account.id == face.account.id and s.system_id == "shop" for s in found)
    assert {s.mode for s in face.server.bound("shop")} == set(BINDS)
    assert face.server.receivers("nobody") == []
    assert face.gateway.metrics.smpp_binds.labels("bound")._value.get() == 3
    # What waits for the ESME is made due when a session that can receive binds.
    assert made_due == ["shop", "shop"]


async def test_binds_are_refused_with_the_status_that_says_why(
    face: Face, monkeypatch: pytest.MonkeyPatch
) -> None:
    checker = face.server.passwords
    checked: list[tuple[str, str | None]] = []
    check = checker.check

    async def recorded(password: str, stored: str | None, who: str = "") -> bool:
        checked.append((who, stored))
        return await check(password, stored, who)

    monkeypatch.setattr(checker, "check", recorded)
    other = await new_account(face.gateway)
    await face.user("off")
    await face.gateway.writer.run(lambda conn: user_store.set_enabled(conn, "off", False, 1))
    await face.user("theirs", account=other)
    await face.gateway.writer.run(
        lambda conn: account_store.update_account(conn, other.id, 1, enabled=False)
    )
    await face.user("tx-only", binds="transmitter")
    await face.user("single", max_binds=1)

    async def bind(system_id: str, password: str = PASSWORD, mode: str = "transceiver") -> int:
        esme = await face.connect()
        return (await esme.bind(system_id, password, mode)).status

    assert await bind("shop", "wrong") == Status.ESME_RINVPASWD
    assert await bind("nobody") == Status.ESME_RINVSYSID
    # An unknown system_id is checked too (against a dummy hash): it takes as long.
    assert checked[-1] == ("smpp/nobody", None)
    assert await bind("not valid!") == Status.ESME_RINVSYSID
    assert await bind("off") == Status.ESME_RBINDFAIL
    assert await bind("theirs") == Status.ESME_RBINDFAIL
    assert await bind("tx-only", mode="receiver") == Status.ESME_RBINDFAIL
    assert await bind("tx-only", mode="transmitter") == Status.ESME_ROK
    assert await bind("single") == Status.ESME_ROK
    assert await bind("single", mode="transmitter") == Status.ESME_RBINDFAIL

    # A second bind on a bound session.
    esme = await face.esme()
    assert (await esme.bind(face.system_id)).status == Status.ESME_RALYBND

    # Three wrong binds on one connection, and it is closed.
    esme = await face.connect()
    for _ in range(3):
        assert (await esme.bind("shop", "wrong")).status == Status.ESME_RINVPASWD
    await esme.closed()


async def test_refused_binds_are_answered_later_each_time_on_a_password_checker_of_their_own(
    make_face: FaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    face = await make_face(refused_bind_delay=0.05)
    assert face.server.passwords is not face.gateway.accounts.passwords

    async def not_for_binds(*args: Any) -> bool:
        raise AssertionError("a bind used the gateway's password checker")

    monkeypatch.setattr(face.gateway.accounts.passwords, "check", not_for_binds)
    loop = asyncio.get_running_loop()
    esme = await face.connect()
    for refused in (1, 2, 3):
        started = loop.time()
        assert (await esme.bind("shop", "wrong")).status == Status.ESME_RINVPASWD
        assert loop.time() - started >= 0.05 * refused
    await esme.closed()
    assert (await (await face.connect()).bind("shop")).status == Status.ESME_ROK


async def test_connections_not_bound_are_capped_in_all_and_per_address(
    make_face: FaceFactory,
) -> None:
    face = await make_face(max_unbound=3)
    face.server.max_unbound_per_peer = 2

    async def accepted() -> Raw:
        raw = await face.raw(bind=False)
        assert (await raw.request(Command.ENQUIRE_LINK, 1)).status == Status.ESME_ROK
        return raw

    async def closed_at_once() -> bool:
        return await (await face.raw(bind=False)).at_eof()

    with capture_logs() as logs:
        first, _ = await accepted(), await accepted()
        assert await closed_at_once()  # two from this address already
        face.server.max_unbound_per_peer = 8
        await accepted()
        assert await closed_at_once()  # three in all
        bound = await first.request(
            Command.BIND_TRANSCEIVER, 2, system_id=face.system_id, password=PASSWORD
        )
        assert bound.status == Status.ESME_ROK
        await accepted()  # a bound session does not count
    refused = [e for e in logs if e["event"].startswith("smpp connection closed: too many")]
    assert [(e["unbound"], e["from_peer"]) for e in refused] == [(2, 2), (3, 3)]


async def test_before_a_bind_only_binds_enquire_link_and_unbind_are_served(face: Face) -> None:
    esme = await face.connect()
    assert (await esme.submit()).status == Status.ESME_RINVBNDSTS
    query = await esme.connection.request(Command.QUERY_SM, message_id="x")
    assert (query.command, query.status) == (Command.QUERY_SM_RESP, Status.ESME_RINVBNDSTS)
    assert (await esme.connection.request(Command.ENQUIRE_LINK)).status == Status.ESME_ROK
    # A receiver may not submit or query.
    receiver = await face.esme("receiver")
    assert (await receiver.submit()).status == Status.ESME_RINVBNDSTS
    assert (await receiver.submit(command=Command.DATA_SM)).status == Status.ESME_RINVBNDSTS
    assert await face.stored() == []
    unbound = await esme.connection.request(Command.UNBIND)
    assert unbound.status == Status.ESME_ROK
    await esme.closed()


async def test_unbind_answers_then_closes(face: Face) -> None:
    esme = await face.esme()
    assert len(face.server.sessions) == 1
    unbound = await esme.connection.request(Command.UNBIND)
    assert (unbound.command, unbound.status) == (Command.UNBIND_RESP, Status.ESME_ROK)
    await esme.closed()
    await asyncio.wait_for(_until(lambda: not face.server.sessions), WAIT)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_a_connection_that_does_not_bind_or_stays_silent_is_closed(
    make_face: FaceFactory,
) -> None:
    face = await make_face(bind_timeout=0.2, enquire_link_timeout=0.3)
    silent = await face.connect()
    await silent.closed()
    # Bound and quiet: the server unbinds it.
    idle = await face.esme()
    await idle.closed()
    request = await asyncio.wait_for(idle.received.get(), WAIT)
    assert request.command == Command.UNBIND


async def test_a_session_whose_unbind_does_not_end_is_cut_off(
    make_face: FaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "GOODBYE_SECONDS", 0.1)
    face = await make_face(enquire_link_timeout=0.2)
    esme = await face.esme()
    [session] = face.server.sessions

    async def stuck(wait: float = 2.0) -> None:
        await asyncio.Event().wait()  # as when the peer stops reading

    monkeypatch.setattr(session.connection, "unbind", stuck)
    with capture_logs() as logs:
        await esme.closed()
        await asyncio.wait_for(_until(lambda: not face.server.sessions), WAIT)
    assert any(e["event"] == "smpp connection cut off: the peer does not read" for e in logs)


async def test_changed_credentials_unbind_the_sessions_that_hold_them(
    face: Face, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "RECHECK_SECONDS", 0.05)
    kept = await face.esme()
    await face.user("gone")
    going = await face.esme(system_id="gone")
    await face.gateway.writer.run(lambda conn: user_store.set_enabled(conn, "gone", False, 1))
    await going.closed()
    assert (await going.received.get()).command == Command.UNBIND
    assert not kept.connection.closed.is_set()


# submits -------------------------------------------------------------------------------------


async def test_a_submit_is_stored_queued_as_the_faces_store_it(face: Face) -> None:
    esme = await face.esme("transmitter")
    sent = await esme.submit(registered_delivery=1, validity_period="000000010000000R")
    assert sent.status == Status.ESME_ROK
    uuid = sent["message_id"]
    assert re.fullmatch(UUID_PATTERN, uuid)
    [msg] = await face.stored()
    assert (msg.uuid, msg.account_id, msg.from_number, msg.to_number) == (
        uuid,
        face.account.id,
        SRC,
        DST,
    )
    assert (msg.text, msg.encoding, msg.units, msg.state) == (
        "Hello from an ESME",
        "GSM",
        1,
        "queued",
    )
    assert (msg.submitted_by, msg.url, msg.method) == ("smpp/shop", "smpp://shop", "POST")
    assert msg.expires_at - msg.created_at == seconds(3600)
    scope_msg = await face.gateway.message(
        session_module.Scope(face.account, (face.account.id,)), uuid
    )
    assert scope_msg is not None and scope_msg.state == "queued"

    # UCS-2, "+" and "00" prefixes, failure-only receipts, an absolute validity, no receipts.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    absolute = later.strftime("%y%m%d%H%M%S") + "004+"  # an hour ahead of UTC: 30 min ago UTC…
    ahead = (later + dt.timedelta(hours=1)).strftime("%y%m%d%H%M%S") + "004+"
    for fields in (
        {"data_coding": 8, "short_message": "Привет".encode("utf-16-be"), "registered_delivery": 2},
        {"destination_addr": "+" + DST, "validity_period": ahead},
        {"dest_addr_ton": 0, "destination_addr": "00" + DST, "registered_delivery": 0},
    ):
        assert (await esme.submit(**fields)).status == Status.ESME_ROK, fields
    _, ucs2, plus, zeros = await face.stored()
    assert (ucs2.text, ucs2.encoding, ucs2.url) == ("Привет", "UCS-2", "smpp://shop?failure_only=1")
    assert plus.to_number == zeros.to_number == DST and zeros.url is None
    assert abs((plus.expires_at - plus.created_at) - seconds(1800)) < seconds(5)

    refusals = [
        ({"dest_addr_ton": 2, "destination_addr": "07700900123"}, Status.ESME_RINVDSTTON),
        ({"destination_addr": "12"}, Status.ESME_RINVDSTADR),
        ({"destination_addr": "4477<1415"}, Status.ESME_RINVDSTADR),
        ({"source_addr_ton": 5, "source_addr": "MyShop"}, Status.ESME_RINVSRCADR),
        ({"source_addr": ""}, Status.ESME_RINVSRCADR),
        ({"short_message": b""}, Status.ESME_RINVMSGLEN),
        ({"short_message": b"\x80"}, Status.ESME_RSUBMITFAIL),
        ({"data_coding": 4, "short_message": b"\x01\x02"}, Status.ESME_RSUBMITFAIL),
        ({"data_coding": 8, "short_message": b"\x04"}, Status.ESME_RSUBMITFAIL),
        ({"esm_class": 0x04}, Status.ESME_RINVESMCLASS),
        ({"validity_period": "nonsense"}, Status.ESME_RINVEXPIRY),
        ({"validity_period": absolute}, Status.ESME_RINVEXPIRY),
        ({"validity_period": "000000000002000R"}, Status.ESME_RINVEXPIRY),
        ({"schedule_delivery_time": "000000010000000R"}, Status.ESME_RINVSCHED),
    ]
    for fields, status in refusals:
        answer = await esme.submit(**fields)
        assert (answer.command, answer.status) == (Command.SUBMIT_SM_RESP, status), fields
    assert len(await face.stored()) == 4


async def test_a_long_validity_is_capped_and_message_payload_carries_a_long_text(
    face: Face,
) -> None:
    esme = await face.esme()
    long_text = "All the long news that fits in one message payload. " * 6
    sent = await esme.submit(
        short_message=b"",
        tlvs={Tag.MESSAGE_PAYLOAD: long_text.encode()},
        validity_period="000002000000000R",
    )
    assert sent.status == Status.ESME_ROK
    [msg] = await face.stored()
    assert (msg.uuid, msg.text, msg.units) == (sent["message_id"], long_text, 3)
    assert msg.expires_at - msg.created_at == seconds(10_800)

    data = await esme.submit(
        command=Command.DATA_SM,
        data_coding=8,
        tlvs={Tag.MESSAGE_PAYLOAD: "data_sm ✓".encode("utf-16-be")},
    )
    assert (data.command, data.status) == (Command.DATA_SM_RESP, Status.ESME_ROK)
    stored = await face.stored()
    assert (stored[-1].uuid, stored[-1].text) == (data["message_id"], "data_sm ✓")
    empty = await esme.submit(command=Command.DATA_SM)
    assert (empty.command, empty.status) == (Command.DATA_SM_RESP, Status.ESME_RMISSINGOPTPARAM)


def udh_part(reference: int, total: int, seq: int, body: bytes) -> bytes:
    return bytes((5, 0, 3, reference, total, seq)) + body


def sar(reference: int, total: int, seq: int) -> dict[int, bytes]:
    return {
        Tag.SAR_MSG_REF_NUM: reference.to_bytes(2, "big"),
        Tag.SAR_TOTAL_SEGMENTS: bytes((total,)),
        Tag.SAR_SEGMENT_SEQNUM: bytes((seq,)),
    }


async def test_udh_parts_become_one_message_once_each_is_stored(face: Face) -> None:
    esme = await face.esme()
    # The emoji's surrogate pair is split between the two UCS-2 parts.
    whole = "Ж" * 66 + "😀" + " конец"
    units = whole.encode("utf-16-be")
    first, second = units[: 67 * 2], units[67 * 2 :]
    fields = {"esm_class": 0x40, "data_coding": 8, "registered_delivery": 1}
    one = await esme.submit(short_message=udh_part(7, 2, 1, first), **fields)
    assert one.status == Status.ESME_ROK
    group, number = one["message_id"].split("-")
    assert number == "1" and len(group) == 32
    assert await face.parts() == 1 and await face.stored() == []
    # While parts wait, query_sm says the message is on its way.
    query = await esme.connection.request(Command.QUERY_SM, message_id=one["message_id"])
    assert (query.status, query["message_state"]) == (Status.ESME_ROK, 1)
    # The same part again: its id, stored once.
    again = await esme.submit(short_message=udh_part(7, 2, 1, first), **fields)
    assert again["message_id"] == one["message_id"] and await face.parts() == 1

    two = await esme.submit(short_message=udh_part(7, 2, 2, second), **fields)
    assert two["message_id"] == f"{group}-2"
    [msg] = await face.stored()
    assert (msg.text, msg.encoding, msg.units, msg.url) == (
        whole,
        "UCS-2",
        2,
        f"smpp://shop/{group}/2",
    )
    assert msg.request_id.replace("-", "") == group
    assert await face.parts() == 0
    query = await esme.connection.request(Command.QUERY_SM, message_id=f"{group}-2")
    assert (query.status, query["message_state"], query["final_date"]) == (Status.ESME_ROK, 1, "")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_sar_parts_survive_a_restart_and_arrive_in_any_order(
    make_gateway: GatewayFactory, make_face: FaceFactory
) -> None:
    gateway = await make_gateway()
    face = await make_face(gateway)
    esme = await face.esme()
    texts = ["part one, ", "part two, ", "part three"]
    ids = {}
    for seq in (3, 1):
        sent = await esme.submit(short_message=texts[seq - 1].encode(), tlvs=sar(0x1234, 3, seq))
        assert sent.status == Status.ESME_ROK
        ids[seq] = sent["message_id"]
    group = ids[3].split("-")[0]
    assert ids[1] == f"{group}-1"
    # Parts of another destination, or of another ESME, under the same reference stay apart.
    await face.user("other")
    other = await face.esme(system_id="other")
    elsewhere = {"tlvs": sar(0x1234, 3, 2), "short_message": texts[1].encode()}
    assert (await esme.submit(destination_addr="447700900999", **elsewhere)).status == 0
    assert (await other.submit(**elsewhere)).status == 0
    assert await face.parts() == 4 and await face.stored() == []

    # The gateway goes away between the parts; the parts stay stored.
    await face.close()
    await face.server.stop()
    await gateway.stop()
    gateway = await make_gateway()
    face = await make_face(gateway, account=face.account)
    esme = await face.esme()
    last = await esme.submit(short_message=texts[1].encode(), tlvs=sar(0x1234, 3, 2))
    assert (last.status, last["message_id"]) == (Status.ESME_ROK, f"{group}-2")
    assembled = [m for m in await face.stored() if m.to_number == DST]
    assert [(m.text, m.submitted_by, m.url) for m in assembled] == [
        ("part one, part two, part three", "smpp/shop", None)
    ]
    assert await face.parts() == 2  # the other destination's part and the other ESME's


async def test_a_temporary_failure_on_the_last_part_keeps_the_parts_for_it_to_be_sent_again(
    face: Face, monkeypatch: pytest.MonkeyPatch
) -> None:
    esme = await face.esme()
    prepare = face.gateway.prepare_send
    failures: list[Exception] = [
        OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))
    ]

    async def failing_once(*args: Any) -> Any:
        if len(args) == 4 and failures:  # the assembled message (with its request_id)
            raise failures.pop(0)
        return await prepare(*args)

    monkeypatch.setattr(face.gateway, "prepare_send", failing_once)
    one = await esme.submit(short_message=b"first half, ", tlvs=sar(3, 2, 1))
    group = one["message_id"].split("-")[0]
    last = {"short_message": b"second half", "tlvs": sar(3, 2, 2)}
    assert (await esme.submit(**last)).status == Status.ESME_RSYSERR
    assert await face.parts() == 2 and await face.stored() == []
    again = await esme.submit(**last)
    assert (again.status, again["message_id"]) == (Status.ESME_ROK, f"{group}-2")
    [msg] = await face.stored()
    assert msg.text == "first half, second half" and await face.parts() == 0
    # A refusal is definitive: the parts go.
    failures.append(InvalidParameter("text", "too long"))
    assert (await esme.submit(short_message=b"a", tlvs=sar(4, 2, 1))).status == Status.ESME_ROK
    refused = await esme.submit(short_message=b"b", tlvs=sar(4, 2, 2))
    assert refused.status == Status.ESME_RINVMSGLEN
    assert await face.parts() == 0 and len(await face.stored()) == 1


async def test_incomplete_groups_are_dropped_after_ten_minutes(
    make_gateway: GatewayFactory, make_face: FaceFactory
) -> None:
    clock = FakeClock()
    face = await make_face(await make_gateway(clock=clock))
    esme = await face.esme()
    first = await esme.submit(short_message=b"one", tlvs=sar(9, 2, 1), registered_delivery=1)
    clock.advance(601)
    # A part after that starts a new group, and the sweep drops the old one.
    second = await esme.submit(short_message=b"two", tlvs=sar(9, 2, 2))
    assert first["message_id"].split("-")[0] != second["message_id"].split("-")[0]
    assert await face.parts() == 1
    clock.advance(601)
    with capture_logs() as logs:
        expired = await face.server.assembly.sweep()
    assert [(e.parts, e.total) for e in expired] == [(1, 2)]
    assert await face.parts() == 0 and await face.stored() == []
    assert any(entry["event"] == "smpp incomplete message dropped" for entry in logs)


async def test_a_reference_used_again_with_other_text_starts_a_new_message(face: Face) -> None:
    esme = await face.esme()
    first = await esme.submit(short_message=b"old", tlvs=sar(5, 2, 1))
    second = await esme.submit(short_message=b"new", tlvs=sar(5, 2, 1))
    assert first["message_id"] != second["message_id"]
    await esme.submit(short_message=b" text", tlvs=sar(5, 2, 2))
    [msg] = await face.stored()
    assert msg.text == "new text"


async def test_permission_rules_on_the_esme_refuse_and_store_nothing(face: Face) -> None:
    await face.user("free")
    for kind, pattern in ((Kind.DESTINATION, "44*"), (Kind.SENDER, "1415*")):
        await face.gateway.writer.run(
            lambda conn, kind=kind, pattern=pattern: permission_store.insert(
                conn,
                subject="smpp/shop",
                kind=kind,
                effect=Effect.DENY,
                pattern=pattern,
                note="",
                created_by="test",
                now=1,
            )
        )
    face.gateway.permissions.forget()
    esme = await face.esme()
    allowed_src = {"source_addr": "16175550100"}
    assert (await esme.submit(**allowed_src)).status == Status.ESME_RINVDSTADR
    allowed_dst = {"destination_addr": "33612345678"}
    assert (await esme.submit(**allowed_dst)).status == Status.ESME_RINVSRCADR
    part = await esme.submit(short_message=b"one", tlvs=sar(1, 2, 1), **allowed_src)
    assert part.status == Status.ESME_RINVDSTADR
    assert await face.stored() == [] and await face.parts() == 0
    # The rules narrow that ESME only.
    free = await face.esme(system_id="free")
    assert (await free.submit()).status == Status.ESME_ROK


async def test_rate_limits_throttle_submits(face: Face) -> None:
    await face.gateway.writer.run(
        lambda conn: account_store.set_limits(conn, face.account.id, 1, api_requests="3/min")
    )
    await face.user("slow", submit_rate="1/min")
    esme = await face.esme()
    statuses = [(await esme.submit()).status for _ in range(4)]
    assert statuses == [0, 0, 0, Status.ESME_RTHROTTLED]
    slow = await face.esme(system_id="slow")
    assert [(await slow.submit()).status for _ in range(2)] == [0, Status.ESME_RTHROTTLED]
    assert len(await face.stored()) == 4


async def test_a_store_failure_answers_a_temporary_error_and_stores_nothing(
    face: Face, monkeypatch: pytest.MonkeyPatch
) -> None:
    esme = await face.esme()

    async def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(face.gateway, "store", broken)
    with capture_logs() as logs:
        assert (await esme.submit()).status == Status.ESME_RSYSERR
    assert any(entry["event"] == "smpp submit failed" for entry in logs)
    assert await face.stored() == []


# malformed PDUs and unsupported commands ------------------------------------------------------


async def test_malformed_pdus_are_answered_and_the_session_goes_on(face: Face) -> None:
    raw = await face.raw()
    submit = encode(make(Command.SUBMIT_SM, 2, source_addr=SRC, destination_addr=DST))

    def framed(body: bytes, command: int = Command.SUBMIT_SM, sequence: int = 2) -> bytes:
        return HEADER.pack(16 + len(body), command, 0, sequence) + body

    cases = [
        # A TLV header cut short.
        (framed(submit[16:] + b"\x04\x24\x00"), Command.SUBMIT_SM_RESP,
         Status.ESME_RINVOPTPARSTREAM),
        # A TLV longer than what is left.
        (framed(submit[16:] + b"\x04\x24\x00\x09ab"), Command.SUBMIT_SM_RESP,
         Status.ESME_RINVOPTPARSTREAM),
        # The body ends inside the mandatory parameters.
        (framed(submit[16:30]), Command.SUBMIT_SM_RESP, Status.ESME_RINVCMDLEN),
        (framed(b"", command=0x00000077), Command.GENERIC_NACK, Status.ESME_RINVCMDID),
    ]  # fmt: skip
    for frame, command, status in cases:
        raw.send(frame)
        answer = await raw.read()
        assert (answer.command, answer.status, answer.sequence) == (command, status, 2)
    # Too long to read: skipped whole, answered.
    raw.send(HEADER.pack(80_000, Command.SUBMIT_SM, 0, 3) + b"\x00" * (80_000 - 16))
    answer = await raw.read()
    assert (answer.command, answer.status, answer.sequence) == (
        Command.SUBMIT_SM_RESP,
        Status.ESME_RINVCMDLEN,
        3,
    )
    unsupported = [
        (Command.SUBMIT_MULTI, {"dest_addresses": (SmeAddress(DST, 1, 1),)},
         Command.SUBMIT_MULTI_RESP, Status.ESME_RINVCMDID),
        (Command.CANCEL_SM, {"message_id": "x"}, Command.CANCEL_SM_RESP, Status.ESME_RCANCELFAIL),
        (Command.REPLACE_SM, {"message_id": "x"}, Command.REPLACE_SM_RESP,
         Status.ESME_RREPLACEFAIL),
        (Command.DELIVER_SM, {}, Command.DELIVER_SM_RESP, Status.ESME_RINVCMDID),
        (Command.ALERT_NOTIFICATION, {}, Command.GENERIC_NACK, Status.ESME_RINVCMDID),
    ]  # fmt: skip
    for sequence, (request, fields, command, status) in enumerate(unsupported, 10):
        answer = await raw.request(request, sequence, **fields)
        assert (answer.command, answer.status, answer.sequence) == (command, status, sequence)
    alive = await raw.request(Command.ENQUIRE_LINK, 99)
    assert (alive.command, alive.status) == (Command.ENQUIRE_LINK_RESP, Status.ESME_ROK)
    assert await face.stored() == []
    # A stream that cannot be cut into frames any more is closed.
    raw.send(HEADER.pack(8, Command.ENQUIRE_LINK, 0, 100))
    assert await raw.at_eof()


# query_sm ------------------------------------------------------------------------------------


async def test_query_sm_reports_a_message_state(face: Face) -> None:
    esme = await face.esme()
    uuid = (await esme.submit())["message_id"]

    async def query(message_id: str) -> Pdu:
        return await esme.connection.request(Command.QUERY_SM, message_id=message_id)

    answer = await query(uuid)
    assert (answer.status, answer["message_id"], answer["message_state"]) == (0, uuid, 1)
    assert answer["final_date"] == ""
    done = int(dt.datetime(2026, 12, 1, 10, 30, 5, tzinfo=dt.UTC).timestamp() * 1e6)
    for state, error, expected in (
        ("delivered", "000", 2),
        ("undelivered", "50", 5),
        ("failed", "420", 3),
        ("failed", "300", 5),
    ):
        await face.gateway.writer.run(
            lambda conn, state=state, error=error: conn.execute(
                update(messages)
                .where(messages.c.uuid == uuid)
                .values(state=state, error_code=error, dlr_at=done)
            )
        )
        answer = await query(uuid)
        assert (answer["message_state"], answer["final_date"]) == (expected, "261201103005000+")
    theirs = await new_account(face.gateway)
    await face.user("theirs", account=theirs)
    stranger = await face.esme(system_id="theirs")
    assert (await stranger.connection.request(Command.QUERY_SM, message_id=uuid)).status == (
        Status.ESME_RQUERYFAIL
    )
    for unknown in ("01890000-0000-7000-8000-000000000000", "nonsense", "0" * 32 + "-1"):
        assert (await query(unknown)).status == Status.ESME_RQUERYFAIL


# TLS, stopping, the application --------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_tls_binds_and_submits(make_face: FaceFactory, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    face = await make_face(tls_port=0, tls_cert_file=cert, tls_key_file=key)
    client = ssl.create_default_context(cafile=str(cert))
    client.check_hostname = False
    esme = await face.connect(tls=client)
    assert (await esme.bind(face.system_id)).status == Status.ESME_ROK
    sent = await esme.submit()
    assert sent.status == Status.ESME_ROK
    assert [m.uuid for m in await face.stored()] == [sent["message_id"]]
    [session] = face.server.bound("shop")
    assert session.tls
    # The listener takes TLS 1.2 or later.
    assert tls_context(face.server.settings).minimum_version == ssl.TLSVersion.TLSv1_2


async def test_stop_lets_a_submit_finish_then_unbinds(
    face: Face, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = face.server.port
    esme = await face.esme()
    entered, release = asyncio.Event(), asyncio.Event()
    store = face.gateway.store

    async def slow(*args: Any, **kwargs: Any) -> bool:
        entered.set()
        await release.wait()
        return await store(*args, **kwargs)

    monkeypatch.setattr(face.gateway, "store", slow)
    submitting = asyncio.create_task(esme.submit())
    await asyncio.wait_for(entered.wait(), WAIT)
    stopping = asyncio.create_task(face.server.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    release.set()
    sent = await asyncio.wait_for(submitting, WAIT)
    assert sent.status == Status.ESME_ROK
    await asyncio.wait_for(stopping, WAIT)
    assert (await esme.received.get()).command == Command.UNBIND
    await esme.closed()
    assert [m.uuid for m in await face.stored()] == [sent["message_id"]]
    assert not face.server.sessions
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_the_application_runs_the_server_when_enabled(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(smpp_server={"enabled": True, "port": 0})
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with app.router.lifespan_context(app):
        server: SmppServer = app.state.smpp_server
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode(make(Command.ENQUIRE_LINK, 1)))
        assert decode(await asyncio.wait_for(reader.read(16), WAIT)).status == 0
        writer.close()
    assert server.closing and not server.sessions
    account = await new_account(gateway)
    shown = banner(gateway.settings, 8080, Bootstrap(account, False, None), False, (2776, None))
    assert "SMPP server:   127.0.0.1:2776 (`smsgate smpp users add` issues credentials)" in shown
    assert "SMPP server" not in banner(
        gateway.settings, 8080, Bootstrap(account, False, None), False
    )


# smpplib -------------------------------------------------------------------------------------


async def test_smpplib_binds_and_submits(face: Face) -> None:
    import smpplib.client as smpplib

    answers: list[Any] = []

    def session() -> None:
        client = smpplib.Client(
            "127.0.0.1", face.server.port, timeout=WAIT, allow_unknown_opt_params=True
        )
        client.set_message_sent_handler(lambda pdu: answers.append(pdu))
        client.connect()
        try:
            client.bind_transceiver(system_id=face.system_id, password=PASSWORD)
            client.send_message(
                source_addr_ton=1,
                source_addr_npi=1,
                source_addr=SRC,
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=DST,
                short_message=b"Hello from smpplib",
                registered_delivery=1,
            )
            client.read_once()
            client.unbind()
        finally:
            client.disconnect()

    await asyncio.wait_for(asyncio.to_thread(session), WAIT * 2)
    [resp] = answers
    assert resp.status == 0
    [msg] = await face.stored()
    assert resp.message_id.decode() == msg.uuid and msg.text == "Hello from smpplib"


# the CLI -------------------------------------------------------------------------------------


def test_the_cli_issues_lists_and_changes_smpp_users(live_database_url: str) -> None:
    runner = CliRunner()

    def cli(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(main, ["--database-url", live_database_url, *args])
        assert (result.exit_code == 0) is ok, (args, result.output)
        return result

    account = json.loads(cli("accounts", "create", "--json").output)["auth_id"]
    made = json.loads(
        cli(
            "smpp", "users", "add", "--account", account, "--system-id", "shop",
            "--binds", "transceiver, transmitter", "--max-binds", "2", "--submit-rate", "50/s",
            "--label", "Shop", "--json",
        ).output
    )  # fmt: skip
    assert (made["system_id"], made["account"], made["binds"], made["max_binds"]) == (
        "shop",
        account,
        ["transmitter", "transceiver"],
        2,
    )
    assert (made["submit_rate"], made["label"], made["enabled"]) == ("50/s", "Shop", True)
    password = made["password"]
    assert len(password) == 8 and password.isalnum()
    shown = cli("smpp", "users", "add", "--account", account).output
    generated = shown.split()[1]
    assert shown.startswith("system_id  esme") and "(shown once)" in shown

    listed = json.loads(cli("smpp", "users", "list", "--json").output)
    assert [u["system_id"] for u in listed] == ["shop", generated]
    assert all("password" not in u and "password_hash" not in u for u in listed)
    assert "shop" in cli("smpp", "users", "list", "--account", account).output

    renewed = cli("smpp", "users", "passwd", "shop").output
    assert renewed.split()[3] != password
    assert "disabled" in cli("smpp", "users", "disable", "shop").output
    assert not json.loads(cli("smpp", "users", "list", "--json").output)[0]["enabled"]
    assert "enabled" in cli("smpp", "users", "enable", "shop").output
    assert "removed" in cli("smpp", "users", "remove", generated).output

    add = ("smpp", "users", "add", "--account", account)
    refusals = [
        (("smpp", "users", "add", "--account", "MA00000000000000000X"), "no account"),
        ((*add, "--system-id", "shop"), "exists already"),
        ((*add, "--system-id", "sixteen-chars-id"), "invalid system_id"),
        ((*add, "--binds", "sender"), "invalid binds"),
        ((*add, "--max-binds", "0"), "invalid max binds"),
        ((*add, "--submit-rate", "fast"), "rate 'fast'"),
        (("smpp", "users", "remove", generated), "no SMPP user"),
        (("smpp", "users", "passwd", "nobody"), "no SMPP user"),
        (("smpp", "users", "disable", "nobody"), "no SMPP user"),
    ]
    for args, said in refusals:
        assert said in cli(*args, ok=False).output, args
    # A rule can narrow one ESME.
    assert (
        "smpp/shop" in cli("permissions", "add", "smpp/shop", "deny", "destination", "44*").output
    )

"""Receipts and inbound messages to ESMEs bound to the SMPP server face, through the callback
outbox: real PDUs over a real connection to an ESME written here, the server face stood in
for by an object that lists the sessions bound on this node."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from smsgate.api.app import create_app
from smsgate.cli import main
from smsgate.core.clock import FakeClock, seconds, to_datetime
from smsgate.core.events import (
    DeliveryReport,
    Event,
    Expired,
    InboundReceived,
    SendFailed,
    Submitted,
)
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.submission import Submission
from smsgate.smpp.coding import decode_short_message
from smsgate.smpp.connection import Connection
from smsgate.smpp.pdu import Command, Pdu, Status, Tag, response_to
from smsgate.smpp.receipts import parse_receipt
from smsgate.store import numbers as number_store
from smsgate.store.schema import callbacks, messages
from tests.conftest import GatewayFactory, basic, new_account, scope_of
from tests.support import CallbackReceiver

SENDER = "14155550100"
PHONE = "447700900123"
SYSTEM_ID = "esme1"
GROUP = "0190aa55bb66cc77dd88ee99ff001122"
#: For what does not depend on the database (the outbox and its queries run on both).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


class Esme:
    """The ESME end of an SMPP connection: keeps every deliver_sm, answers with ``status``;
    while ``hold`` is clear it answers nothing yet."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[Pdu] = asyncio.Queue()
        self.status = int(Status.ESME_ROK)
        self.hold = asyncio.Event()
        self.hold.set()
        self.waiting = 0
        self.most_waiting = 0

    async def handle(self, conn: Connection, pdu: Pdu) -> Pdu | None:
        if pdu.command != Command.DELIVER_SM:
            return response_to(pdu, Status.ESME_RINVCMDID)
        self.received.put_nowait(pdu)
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        await self.hold.wait()
        self.waiting -= 1
        if self.status:
            return response_to(pdu, self.status)
        return response_to(pdu, message_id="")

    def taken(self) -> list[Pdu]:
        found = []
        while not self.received.empty():
            found.append(self.received.get_nowait())
        return found


@dataclass
class Session:
    """What the server face's sessions show the delivery side."""

    system_id: str
    account: Account
    connection: Connection
    default_alphabet: str = "gsm7"


@dataclass
class Server:
    sessions: list[Session] = field(default_factory=list)

    def receivers(self, system_id: str) -> list[Session]:
        return [
            s
            for s in self.sessions
            if s.system_id == system_id and not s.connection.closed.is_set()
        ]


class Link:
    """A socket pair: the gateway's Connection on one end, an ``Esme`` on the other."""

    def __init__(self) -> None:
        self.esme = Esme()
        self.tasks: list[asyncio.Task[None]] = []
        self.connections: list[Connection] = []

    async def open(self) -> Connection:
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=ours)
        smsc = Connection(reader, writer, self._refuse, name="smsc", response_timeout=5)
        reader, writer = await asyncio.open_connection(sock=theirs)
        esme = Connection(reader, writer, self.esme.handle, name="esme")
        for conn in (smsc, esme):
            self.connections.append(conn)
            self.tasks.append(asyncio.create_task(conn.run()))
        return smsc

    async def _refuse(self, conn: Connection, pdu: Pdu) -> Pdu | None:
        return response_to(pdu, Status.ESME_RINVCMDID)

    async def close(self) -> None:
        for conn in self.connections:
            await conn.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    made = Link()
    yield made
    await made.close()


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def gw(make_gateway: GatewayFactory, clock: FakeClock) -> Gateway:
    return await make_gateway(clock=clock)


@pytest.fixture
async def esme_account(gw: Gateway) -> Account:
    return await new_account(gw)


@pytest.fixture
async def server(gw: Gateway, esme_account: Account, link: Link) -> Server:
    found = Server([Session(SYSTEM_ID, esme_account, await link.open())])
    gw.smpp_delivery.attach(found)
    return found


async def submit(gateway: Gateway, account: Account, url: str | None, text: str = "Hi") -> str:
    scope = await scope_of(gateway, account)
    prepared = await gateway.accept(
        scope, Submission(src=SENDER, dst=PHONE, text=text, url=url), requester_ip=""
    )
    [uuid] = prepared.uuids
    return uuid


async def rows(gateway: Gateway, uuid: str | None = None) -> list[Any]:
    query = select(callbacks).order_by(callbacks.c.id)
    if uuid is not None:
        query = query.where(callbacks.c.message_uuid == uuid)
    return await gateway.db.read(lambda conn: list(conn.execute(query)))


async def attempt(gateway: Gateway, rounds: int = 2) -> None:
    for _ in range(rounds):
        await gateway.notifier.tick()
        await gateway.notifier.drain()
        await gateway.sink.drain()


async def receipts(esme: Esme, count: int) -> list[Pdu]:
    got = [await asyncio.wait_for(esme.received.get(), 5) for _ in range(count)]
    assert esme.taken() == []
    return got


async def test_a_delivered_message_gets_one_receipt_and_no_status_callbacks(
    gw: Gateway, esme_account: Account, server: Server, link: Link, clock: FakeClock
) -> None:
    uuid = await submit(gw, esme_account, f"smpp://{SYSTEM_ID}", "Hello there, this is a long one")
    assert await rows(gw) == []  # no "queued" callback
    created = clock.now_us()
    clock.advance(3600)
    await gw.record([Submitted(uuid, "simulator")])
    assert await rows(gw) == []  # nor "sent"
    clock.advance(60)
    await gw.record([DeliveryReport(True, message_uuid=uuid)])
    [row] = await rows(gw)
    assert (row.kind, row.url, row.state) == ("smpp_receipt", f"smpp://{SYSTEM_ID}", "pending")
    assert row.deadline == clock.now_us() + seconds(24 * 3600)
    await attempt(gw)
    [pdu] = await receipts(link.esme, 1)
    assert (pdu["esm_class"], pdu["data_coding"]) == (0x04, 0)
    # From the message's destination to its sender, as an SMSC sends a receipt.
    assert (pdu["source_addr"], pdu["source_addr_ton"], pdu["source_addr_npi"]) == (PHONE, 1, 1)
    assert pdu["destination_addr"] == SENDER
    receipt = parse_receipt(pdu["short_message"].decode("ascii"))
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.err) == (uuid, "DELIVRD", "000")
    assert (receipt.submitted, receipt.delivered, receipt.text) == (1, 1, "Hello there, this is")
    assert receipt.submit_date == f"{to_datetime(created):%y%m%d%H%M}"
    assert receipt.done_date == f"{to_datetime(clock.now_us()):%y%m%d%H%M}"
    assert pdu.tlvs[Tag.RECEIPTED_MESSAGE_ID] == uuid.encode() + b"\x00"
    assert pdu.tlvs[Tag.MESSAGE_STATE] == b"\x02"
    [row] = await rows(gw)
    assert (row.state, row.attempts) == ("delivered", 1)


@SQLITE_ONLY
async def test_an_assembled_message_gets_a_receipt_for_each_part(
    gw: Gateway, esme_account: Account, server: Server, link: Link
) -> None:
    uuid = await submit(gw, esme_account, f"smpp://{SYSTEM_ID}/{GROUP}/3", "x" * 400)
    await gw.record([Submitted(uuid, "simulator"), DeliveryReport(True, message_uuid=uuid)])
    await attempt(gw)
    got = await receipts(link.esme, 3)
    ids = [f"{GROUP}-{n}" for n in (1, 2, 3)]
    assert [pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) for pdu in got] == ids
    read = [parse_receipt(pdu["short_message"].decode()) for pdu in got]
    assert [(r.message_id, r.stat) for r in read if r] == [(i, "DELIVRD") for i in ids]
    [row] = await rows(gw)
    assert row.state == "delivered"


def undelivered(code: str) -> Callable[[str], list[Event]]:
    return lambda uuid: [Submitted(uuid, "simulator"), DeliveryReport(False, code, uuid)]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("events", "stat", "err", "state"),
    [
        (undelivered("80"), "UNDELIV", "080", 5),
        (undelivered("1000"), "UNDELIV", "999", 5),
        (lambda uuid: [Expired(uuid)], "EXPIRED", "420", 3),
        (lambda uuid: [SendFailed(uuid, "100", "refused")], "REJECTD", "100", 8),
    ],
)
async def test_a_message_that_was_not_delivered_gets_a_receipt_saying_why(
    gw: Gateway,
    esme_account: Account,
    server: Server,
    link: Link,
    events: Callable[[str], list[Event]],
    stat: str,
    err: str,
    state: int,
) -> None:
    uuid = await submit(gw, esme_account, f"smpp://{SYSTEM_ID}")
    await gw.record(events(uuid))
    await attempt(gw)
    [pdu] = await receipts(link.esme, 1)
    receipt = parse_receipt(pdu["short_message"].decode())
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.err, receipt.delivered) == (
        uuid,
        stat,
        err,
        0,
    )
    assert pdu.tlv_int(Tag.MESSAGE_STATE) == state


@SQLITE_ONLY
async def test_failure_only_receipts_skip_delivered_messages(
    gw: Gateway, esme_account: Account, server: Server, link: Link
) -> None:
    url = f"smpp://{SYSTEM_ID}?failure_only=1"
    good = await submit(gw, esme_account, url)
    bad = await submit(gw, esme_account, url)
    await gw.record(
        [
            DeliveryReport(True, message_uuid=good),
            DeliveryReport(False, "50", message_uuid=bad),
        ]
    )
    await attempt(gw)
    [pdu] = await receipts(link.esme, 1)
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == bad
    assert [row.state for row in await rows(gw)] == ["delivered", "delivered"]


async def test_a_receipt_waits_for_its_esme_and_a_bind_makes_it_due(
    gw: Gateway, esme_account: Account, link: Link, clock: FakeClock
) -> None:
    other = await submit(gw, esme_account, "smpp://esme10")
    uuid = await submit(gw, esme_account, f"smpp://{SYSTEM_ID}")
    await gw.record(
        [DeliveryReport(True, message_uuid=uuid), DeliveryReport(True, message_uuid=other)]
    )
    await attempt(gw, rounds=1)
    found = {row.message_uuid: row for row in await rows(gw)}
    row = found[uuid]
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error == f"no receiver bound for {SYSTEM_ID} on this node"
    assert row.next_attempt_at > clock.now_us()
    await attempt(gw, rounds=1)
    assert (await rows(gw, uuid))[0].attempts == 1  # backing off
    # The ESME binds: its receipt is due at once, not after the backoff.
    gw.smpp_delivery.attach(Server([Session(SYSTEM_ID, esme_account, await link.open())]))
    assert await gw.smpp_delivery.bound(SYSTEM_ID) == 1
    assert (await rows(gw, uuid))[0].next_attempt_at == clock.now_us()
    assert (await rows(gw, other))[0].next_attempt_at > clock.now_us()  # another ESME's
    await attempt(gw, rounds=1)
    [pdu] = await receipts(link.esme, 1)
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == uuid
    assert (await rows(gw, uuid))[0].state == "delivered"
    assert await gw.smpp_delivery.bound(SYSTEM_ID) == 0


async def test_a_refused_receipt_is_sent_again_later(
    gw: Gateway, esme_account: Account, server: Server, link: Link, clock: FakeClock
) -> None:
    link.esme.status = Status.ESME_RMSGQFUL
    uuid = await submit(gw, esme_account, f"smpp://{SYSTEM_ID}/{GROUP}/2")
    await gw.record([DeliveryReport(True, message_uuid=uuid)])
    await attempt(gw, rounds=1)
    assert len(await receipts(link.esme, 1)) == 1  # the first part's refusal ends the attempt
    [row] = await rows(gw)
    assert (row.state, row.last_error) == (
        "pending",
        "esme1 answered deliver_sm with ESME_RMSGQFUL",
    )
    link.esme.status = Status.ESME_ROK
    clock.advance(900)
    await attempt(gw, rounds=1)
    got = await receipts(link.esme, 2)
    assert [pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) for pdu in got] == [f"{GROUP}-1", f"{GROUP}-2"]
    assert [(row.state, row.attempts) for row in await rows(gw)] == [("delivered", 2)]


@SQLITE_ONLY
async def test_a_closed_session_hands_the_receipt_to_the_next(
    gw: Gateway, esme_account: Account, link: Link
) -> None:
    first, second = await link.open(), await link.open()
    gw.smpp_delivery.attach(
        Server([Session(SYSTEM_ID, esme_account, first), Session(SYSTEM_ID, esme_account, second)])
    )
    link.esme.hold.clear()
    uuid = await submit(gw, esme_account, f"smpp://{SYSTEM_ID}")
    await gw.record([DeliveryReport(True, message_uuid=uuid)])
    await gw.notifier.tick()
    await asyncio.wait_for(link.esme.received.get(), 5)
    await first.close()  # unanswered: the attempt goes on with the other session
    link.esme.hold.set()
    await gw.notifier.drain()
    [pdu] = await receipts(link.esme, 1)
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == uuid
    assert [row.state for row in await rows(gw)] == ["delivered"]


@SQLITE_ONLY
async def test_receipts_go_only_to_the_esme_of_the_messages_account(
    gw: Gateway, esme_account: Account, server: Server, link: Link
) -> None:
    stranger = await new_account(gw)
    uuid = await submit(gw, stranger, f"smpp://{SYSTEM_ID}")
    await gw.record([DeliveryReport(True, message_uuid=uuid)])
    await attempt(gw, rounds=1)
    assert link.esme.taken() == []
    [row] = await rows(gw)
    assert (row.state, row.last_error) == ("pending", "esme1 is not an ESME of this account")


@SQLITE_ONLY
async def test_a_session_has_at_most_its_window_of_receipts_outstanding(
    make_gateway: GatewayFactory, link: Link
) -> None:
    gw = await make_gateway(smpp_server={"receipt_window": 2})
    account = await new_account(gw)
    smsc = await link.open()
    gw.smpp_delivery.attach(Server([Session(SYSTEM_ID, account, smsc)]))
    link.esme.hold.clear()
    uuids = [await submit(gw, account, f"smpp://{SYSTEM_ID}") for _ in range(5)]
    await gw.record([DeliveryReport(True, message_uuid=uuid) for uuid in uuids])
    await gw.notifier.tick()  # five attempts at once: each waits for room before it sends
    for _ in range(2):
        await asyncio.wait_for(link.esme.received.get(), 5)
    assert smsc.outstanding == 2 and link.esme.received.empty()
    link.esme.hold.set()
    await gw.notifier.drain()
    assert len(link.esme.taken()) == 3 and link.esme.most_waiting == 2
    assert {row.state for row in await rows(gw)} == {"delivered"}


@SQLITE_ONLY
async def test_http_status_callbacks_are_unchanged(
    gw: Gateway, esme_account: Account, server: Server, link: Link, receiver: CallbackReceiver
) -> None:
    uuid = await submit(gw, esme_account, receiver.url)
    await gw.record([Submitted(uuid, "simulator"), DeliveryReport(True, message_uuid=uuid)])
    for _ in range(3):
        await attempt(gw, rounds=1)
    got = [receiver.get().form for _ in range(3)]
    assert [(p["Status"], p["Sequence"]) for p in got] == [
        ("queued", "1"),
        ("sent", "2"),
        ("delivered", "3"),
    ]
    assert {row.kind for row in await rows(gw)} == {"status"}
    assert link.esme.taken() == []


# inbound messages -----------------------------------------------------------------------------


async def bind_number(gateway: Gateway, account: Account, url: str) -> None:
    now = gateway.clock.now_us()

    def work(conn: Any) -> None:
        app = number_store.insert_application(
            conn,
            account_id=account.id,
            name="esme",
            message_url=url,
            message_method="POST",
            log_incoming_messages=True,
            now=now,
        )
        number_store.insert_number(
            conn,
            number=SENDER,
            account_id=account.id,
            application_id=app.id,
            channel=None,
            alias="",
            now=now,
        )

    await gateway.writer.run(work)


async def arrive(gateway: Gateway, text: str) -> str:
    outcome = await gateway.record([InboundReceived("simulator", PHONE, SENDER, text)])
    [change] = [t for t in outcome.transitions if t.state == "received"]
    return change.uuid


async def state_of(gateway: Gateway, uuid: str) -> str:
    query = select(messages.c.state).where(messages.c.uuid == uuid)
    return str(await gateway.db.read(lambda conn: conn.execute(query).scalar_one()))


async def test_an_inbound_message_reaches_the_esme_its_application_names(
    gw: Gateway, esme_account: Account, server: Server, link: Link
) -> None:
    await bind_number(gw, esme_account, f"smpp://{SYSTEM_ID}")
    uuid = await arrive(gw, "Hello @ {smsgate}")
    await attempt(gw)
    [pdu] = await receipts(link.esme, 1)
    assert (pdu["esm_class"], pdu["data_coding"]) == (0, 0)
    assert (pdu["source_addr"], pdu["destination_addr"]) == (PHONE, SENDER)
    read = decode_short_message(0, 0, pdu["short_message"], pdu.tlvs)
    assert (read.text, read.concat, read.is_receipt) == ("Hello @ {smsgate}", None, False)
    assert await state_of(gw, uuid) == "delivered"


@SQLITE_ONLY
async def test_a_long_ucs2_inbound_message_goes_in_parts(
    gw: Gateway, esme_account: Account, server: Server, link: Link
) -> None:
    await bind_number(gw, esme_account, f"smpp://{SYSTEM_ID}")
    text = "Привет, это длинное сообщение! " * 4  # 124 characters: two UCS-2 parts
    uuid = await arrive(gw, text)
    await attempt(gw)
    got = await receipts(link.esme, 2)
    assert [(pdu["esm_class"], pdu["data_coding"]) for pdu in got] == [(0x40, 8), (0x40, 8)]
    read = [decode_short_message(8, 0x40, pdu["short_message"], pdu.tlvs) for pdu in got]
    concat = [r.concat for r in read]
    assert all(c is not None for c in concat)
    assert [(c.total, c.sequence) for c in concat if c] == [(2, 1), (2, 2)]
    assert len({c.reference for c in concat if c}) == 1
    assert "".join(r.text for r in read) == text
    assert await state_of(gw, uuid) == "delivered"


async def test_an_inbound_message_waits_for_its_esme(
    gw: Gateway, esme_account: Account, link: Link
) -> None:
    await bind_number(gw, esme_account, f"smpp://{SYSTEM_ID}")
    uuid = await arrive(gw, "later")
    await attempt(gw, rounds=1)
    [row] = await rows(gw)
    assert (row.kind, row.state, row.attempts) == ("inbound", "pending", 1)
    assert await state_of(gw, uuid) == "received"
    gw.smpp_delivery.attach(Server([Session(SYSTEM_ID, esme_account, await link.open())]))
    assert await gw.smpp_delivery.bound(SYSTEM_ID) == 1
    await attempt(gw)
    [pdu] = await receipts(link.esme, 1)
    assert decode_short_message(0, 0, pdu["short_message"], {}).text == "later"
    assert await state_of(gw, uuid) == "delivered"


@SQLITE_ONLY
async def test_applications_take_an_smpp_message_url(gw: Gateway, esme_account: Account) -> None:
    app = create_app(gw, manage_gateway=False, access_log=False)
    auth = basic(esme_account.auth_id, esme_account.auth_token)
    path = f"/v1/Account/{esme_account.auth_id}/Application/"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        made = await http.post(
            path, json={"app_name": "esme", "message_url": " smpp://esme1 "}, headers=auth
        )
        assert made.status_code == 201
        got = await http.get(f"{path}{made.json()['app_id']}/", headers=auth)
        assert got.json()["message_url"] == "smpp://esme1"
        for bad in ("smpp://", "smpp://esme 1", "smpp://esme1/x/2", "smpp://esme1?failure_only=1"):
            refused = await http.post(
                path, json={"app_name": "esme", "message_url": bad}, headers=auth
            )
            assert refused.status_code == 400, bad
            assert "message_url" in refused.json()["error"]


@SQLITE_ONLY
def test_the_cli_takes_an_smpp_message_url(live_database_url: str) -> None:
    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(main, ["--database-url", live_database_url, *args])

    account = json.loads(cli("accounts", "create", "--json").output)["auth_id"]
    create = ("applications", "create", "--account", account, "--name", "esme")
    made = cli(*create, "--message-url", "smpp://esme1")
    assert made.exit_code == 0, made.output
    listed = json.loads(cli("applications", "list", "--json").output)
    assert [app["message_url"] for app in listed] == ["smpp://esme1"]
    refused = cli(*create, "--message-url", "smpp://esme1/x/2")
    assert refused.exit_code != 0 and "is smpp://SYSTEM_ID" in refused.output

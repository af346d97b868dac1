"""smpplib, a third-party ESME, against smsgate's SMPP server face: it binds as a
transceiver, submits a GSM text and a long UCS-2 text in parts, gets a receipt for every
message_id it was given once the simulator delivers, and receives an inbound message sent
to a number whose application names it."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from smsgate.core.events import InboundReceived
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.passwords import hash_password
from smsgate.smpp.receipts import parse_receipt
from smsgate.smpp_server.server import SmppServer
from smsgate.store import numbers as number_store
from smsgate.store import smpp_users
from tests.conftest import GatewayFactory, new_account
from tests.support import need_peer, wait_for

# The protocol, not the store, is under test here (the outbox runs on both in integration).
pytestmark = [pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

SYSTEM_ID, PASSWORD = "shop", "pa55word"
SENDER = "14155550100"
PHONE = "447700900123"


def need_smpplib() -> None:
    need_peer(importlib.util.find_spec("smpplib") is not None, "smpplib is not installed")


@dataclass
class Esme:
    """smpplib's client bound as a transceiver, listening in a thread of its own."""

    client: Any
    sequences: list[int] = field(default_factory=list)  # of the submit_sm sent, in order
    answers: dict[int, str] = field(default_factory=dict)  # their message_ids, by sequence
    received: list[Any] = field(default_factory=list)  # deliver_sm PDUs
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None

    def on_sent(self, pdu: Any, **_: Any) -> None:
        assert pdu.status == 0, pdu.status
        with self.lock:
            self.answers[pdu.sequence] = pdu.message_id.decode()

    def on_received(self, pdu: Any, **_: Any) -> int:
        with self.lock:
            self.received.append(pdu)
        return 0

    def listen(self) -> None:
        import smpplib.exceptions

        with contextlib.suppress(smpplib.exceptions.ConnectionError, OSError):
            self.client.listen()  # until the end of the test closes the socket

    def submit(self, text: str) -> int:
        """Submit ``text`` in as many parts as smpplib cuts it into; how many."""
        import smpplib.consts
        import smpplib.gsm

        parts, coding, esm_class = smpplib.gsm.make_parts(text)
        for part in parts:
            sent = self.client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_INTL,
                source_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                source_addr=SENDER,
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                destination_addr=PHONE,
                short_message=part,
                data_coding=coding,
                esm_class=esm_class,
                registered_delivery=1,
            )
            self.sequences.append(sent.sequence)
        return len(parts)

    def message_ids(self) -> list[str] | None:
        """The message_ids answered, in the order of the submits; None until all are."""
        with self.lock:
            if len(self.answers) < len(self.sequences):
                return None
            return [self.answers[sequence] for sequence in self.sequences]

    def receipts(self) -> list[Any]:
        with self.lock:
            return [pdu for pdu in self.received if pdu.esm_class & 0x3C == 0x04]

    def messages(self) -> list[Any]:
        with self.lock:
            return [pdu for pdu in self.received if pdu.esm_class & 0x3C == 0]


@pytest.fixture
async def gateway_up(make_gateway: GatewayFactory) -> AsyncIterator[tuple[Gateway, SmppServer]]:
    gateway = await make_gateway(background=True, smpp_server={"enabled": True, "port": 0})
    server = SmppServer(gateway)
    await server.start()
    yield gateway, server
    await server.stop()


@pytest.fixture
async def esme_account(gateway_up: tuple[Gateway, SmppServer]) -> Account:
    gateway, _ = gateway_up
    account = await new_account(gateway)
    now = gateway.clock.now_us()
    await gateway.writer.run(
        lambda conn: smpp_users.add(
            conn,
            account_id=account.id,
            system_id=SYSTEM_ID,
            password_hash=hash_password(PASSWORD),
            binds=",".join(smpp_users.MODES),
            max_binds=4,
            submit_rate="",
            label="smpplib",
            now=now,
        )
    )
    return account


@pytest.fixture
def esme_factory(gateway_up: tuple[Gateway, SmppServer]) -> Iterator[Any]:
    need_smpplib()
    import smpplib.client

    made: list[Esme] = []

    def bind() -> Esme:
        _, server = gateway_up
        client = smpplib.client.Client(
            "127.0.0.1", server.port, timeout=5, allow_unknown_opt_params=True
        )
        esme = Esme(client)
        client.set_message_sent_handler(esme.on_sent)
        client.set_message_received_handler(esme.on_received)
        client.connect()
        client.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
        esme.thread = threading.Thread(target=esme.listen, daemon=True)
        esme.thread.start()
        made.append(esme)
        return esme

    yield bind
    for esme in made:
        esme.client._socket.shutdown(socket.SHUT_RDWR)  # wakes the listening thread
        esme.client.disconnect()
        if esme.thread is not None:
            esme.thread.join(timeout=10)


async def waited(check: Any, timeout: float = 20.0) -> Any:
    return await asyncio.to_thread(wait_for, check, timeout)


async def test_smpplib_gets_a_receipt_for_every_message_id(
    gateway_up: tuple[Gateway, SmppServer], esme_account: Account, esme_factory: Any
) -> None:
    esme: Esme = await asyncio.to_thread(esme_factory)
    single = await asyncio.to_thread(esme.submit, "Hello from smpplib, {ok}?")
    long = await asyncio.to_thread(esme.submit, "Доставка сегодня до восьми вечера. " * 3)
    assert (single, long) == (1, 2)
    ids = await waited(esme.message_ids)
    assert len(set(ids)) == 3
    group = ids[1].rsplit("-", 1)[0]
    assert ids[1:] == [f"{group}-1", f"{group}-2"]
    got = await waited(lambda: len(esme.receipts()) >= 3 and esme.receipts())
    assert len(got) == 3
    read = [parse_receipt(pdu.short_message.decode("ascii")) for pdu in got]
    assert sorted((r.message_id, r.stat, r.err) for r in read if r) == sorted(
        (message_id, "DELIVRD", "000") for message_id in ids
    )
    by_id = {r.message_id: r for r in read if r}
    assert by_id[ids[0]].text == "Hello from smpplib, "
    assert sorted(pdu.receipted_message_id.decode() for pdu in got) == sorted(ids)
    assert {pdu.message_state for pdu in got} == {2}
    assert {(pdu.source_addr.decode(), pdu.destination_addr.decode()) for pdu in got} == {
        (PHONE, SENDER)
    }


async def test_an_inbound_message_reaches_smpplib(
    gateway_up: tuple[Gateway, SmppServer], esme_account: Account, esme_factory: Any
) -> None:
    gateway, _ = gateway_up
    now = gateway.clock.now_us()

    def bind_number(conn: Any) -> None:
        app = number_store.insert_application(
            conn,
            account_id=esme_account.id,
            name="esme",
            message_url=f"smpp://{SYSTEM_ID}",
            message_method="POST",
            log_incoming_messages=True,
            now=now,
        )
        number_store.insert_number(
            conn,
            number=SENDER,
            account_id=esme_account.id,
            application_id=app.id,
            channel=None,
            alias="",
            now=now,
        )

    await gateway.writer.run(bind_number)
    await gateway.record([InboundReceived("simulator", PHONE, SENDER, "Где мой заказ?")])
    # Arrived before the ESME bound: it waits, and the bind brings it.
    esme: Esme = await asyncio.to_thread(esme_factory)
    [pdu] = await waited(lambda: esme.messages())
    assert (pdu.source_addr.decode(), pdu.destination_addr.decode()) == (PHONE, SENDER)
    assert pdu.data_coding == 8
    assert pdu.short_message.decode("utf-16-be") == "Где мой заказ?"

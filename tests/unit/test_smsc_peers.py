"""The third-party SMSCs of tests/smsc_peers.py, checked with smpplib as the ESME."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

from tests import smsc_peers
from tests.smsc_peers import Smsc, need_smsc

npm_smsc = smsc_peers.npm_smsc
smsc34 = smsc_peers.smsc34

Pdu = Any


ANSWERS = {
    "deliver_sm": "deliver_sm_resp",
    "enquire_link": "enquire_link_resp",
    "unbind": "unbind_resp",
}


class Esme:
    """An smpplib client whose read loop runs in a thread: every PDU it reads is queued, and
    deliver_sm, enquire_link and unbind are answered."""

    def __init__(self, smsc: Smsc) -> None:
        self.client = smpplib.client.Client(
            smsc.host, smsc.port, timeout=10, allow_unknown_opt_params=True
        )
        self.pdus: queue.Queue[Pdu] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.backlog: list[Pdu] = []

    def bind(self, system_id: str = "smsgate", password: str = "secret") -> Pdu:
        self.client.connect()
        resp = self.client.bind_transceiver(system_id=system_id, password=password)
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()
        return resp

    def _listen(self) -> None:
        with contextlib.suppress(smpplib.exceptions.ConnectionError, OSError):
            while True:
                pdu = self.client.read_pdu()
                if pdu.command in ANSWERS:
                    answer = smpplib.smpp.make_pdu(ANSWERS[pdu.command], client=self.client)
                    answer.sequence = pdu.sequence
                    self.client.send_pdu(answer)
                self.pdus.put(pdu)

    def send(self, command: str) -> Pdu:
        pdu = smpplib.smpp.make_pdu(command, client=self.client)
        self.client.send_pdu(pdu)
        return pdu

    def submit(self, text: str = "Hello there", registered_delivery: int = 1, **kw: Any) -> Pdu:
        parts, data_coding, esm_class = smpplib.gsm.make_parts(text)
        return self.client.send_message(
            source_addr="4915112345678",
            source_addr_ton=1,
            source_addr_npi=1,
            destination_addr="447700900123",
            dest_addr_ton=1,
            dest_addr_npi=1,
            short_message=parts[0],
            data_coding=data_coding,
            esm_class=esm_class,
            registered_delivery=registered_delivery,
            **kw,
        )

    def next(self, match: Callable[[Pdu], bool], timeout: float = 5.0) -> Pdu:
        """The first PDU read that matches, in the order read; others are kept for later."""
        for pdu in self.backlog:
            if match(pdu):
                self.backlog.remove(pdu)
                return pdu
        while True:
            pdu = self.pdus.get(timeout=timeout)
            if match(pdu):
                return pdu
            self.backlog.append(pdu)

    def close(self) -> None:
        sock = self.client._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self.thread is not None:
            self.thread.join(5)
        self.client.disconnect()


@pytest.fixture
def esmes() -> Iterator[list[Esme]]:
    made: list[Esme] = []
    yield made
    for esme in made:
        esme.close()


async def bound(smsc: Smsc, esmes: list[Esme]) -> Esme:
    esme = Esme(smsc)
    esmes.append(esme)
    await asyncio.to_thread(esme.bind)
    return esme


async def next_pdu(esme: Esme, match: Callable[[Pdu], bool]) -> Pdu:
    return await asyncio.to_thread(esme.next, match)


def command(name: str) -> Callable[[Pdu], bool]:
    return lambda pdu: pdu.command == name


@pytest.fixture(params=["npm", "smpp34"])
async def smsc(request: pytest.FixtureRequest) -> AsyncIterator[Smsc]:
    need_smsc(request.param)
    peer = await Smsc.start(request.param)
    yield peer
    await peer.stop()


async def test_submit_gets_an_id_and_a_delivery_receipt(smsc: Smsc, esmes: list[Esme]) -> None:
    esme = await bound(smsc, esmes)
    bind = await smsc.wait_for("bind")
    assert bind["system_id"] == "smsgate"
    esme.submit("Hello @ there")
    resp = await next_pdu(esme, command("submit_sm_resp"))
    assert resp.status == 0
    message_id = resp.message_id.decode()

    receipt = await next_pdu(esme, command("deliver_sm"))
    text = receipt.short_message.decode()
    assert receipt.esm_class == 0x04
    assert f"id:{message_id} " in text
    assert "stat:DELIVRD err:000" in text
    assert re.search(r"submit date:\d{10} done date:\d{10} ", text)
    assert receipt.receipted_message_id.decode().rstrip("\0") == message_id
    assert receipt.message_state == 2
    assert receipt.source_addr.decode() == "447700900123"
    assert receipt.destination_addr.decode() == "4915112345678"

    submit = smsc.submits[0]
    assert submit["message_id"] == message_id
    # The raw bytes: "@" is 0x00 in GSM 03.38, undecoded.
    assert bytes.fromhex(submit["short_message"]) == b"Hello \x00 there"
    assert submit["source_addr"] == "4915112345678"
    assert (submit["source_addr_ton"], submit["dest_addr_ton"]) == (1, 1)
    assert submit["registered_delivery"] == 1
    acked = await smsc.wait_for("deliver_sm_resp")
    assert (acked["kind"], acked["message_id"], acked["command_status"]) == (
        "receipt",
        message_id,
        0,
    )


async def test_submit_reports_its_tlvs(smsc: Smsc, esmes: list[Esme]) -> None:
    esme = await bound(smsc, esmes)
    esme.submit(
        "part one",
        registered_delivery=0,
        sar_msg_ref_num=0x1234,
        sar_total_segments=2,
        sar_segment_seqnum=1,
    )
    await next_pdu(esme, command("submit_sm_resp"))
    submit = await smsc.wait_for("submit")
    assert submit["sar_msg_ref_num"] == 0x1234
    assert (submit["sar_total_segments"], submit["sar_segment_seqnum"]) == (2, 1)
    esme.client.send_message(
        source_addr="4915",
        destination_addr="123",
        short_message=None,
        message_payload=b"\x00\x01payload",
        data_coding=4,
    )
    await next_pdu(esme, command("submit_sm_resp"))
    submit = await smsc.wait_for(lambda e: "message_payload" in e)
    assert submit["message_payload"] == b"\x00\x01payload".hex()
    assert (submit["short_message"], submit["data_coding"]) == ("", 4)


async def test_rejected_submits_carry_the_status(smsc: Smsc, esmes: list[Esme]) -> None:
    esme = await bound(smsc, esmes)
    await smsc.command({"cmd": "reject", "status": 0x58, "count": 1})
    esme.submit("one")
    esme.submit("two")
    first = await next_pdu(esme, command("submit_sm_resp"))
    second = await next_pdu(esme, command("submit_sm_resp"))
    assert first.status == smpplib.consts.SMPP_ESME_RTHROTTLED
    assert second.status == 0
    receipt = await next_pdu(esme, command("deliver_sm"))
    assert f"id:{second.message_id.decode()} " in receipt.short_message.decode()
    stats = await smsc.command({"cmd": "stats"})
    assert (stats["submits"], stats["rejected"], stats["receipts"]) == (2, 1, 1)


async def test_an_injected_mo_arrives(smsc: Smsc, esmes: list[Esme]) -> None:
    esme = await bound(smsc, esmes)
    await smsc.wait_for("bind")
    sent = await smsc.command(
        {"cmd": "mo", "source": "4915112345678", "destination": "12345", "text": "hi", "ref": 7}
    )
    assert sent["session"] == 1
    mo = await next_pdu(esme, command("deliver_sm"))
    assert (mo.short_message, mo.esm_class, mo.data_coding) == (b"hi", 0, 0)
    assert (mo.source_addr, mo.destination_addr) == (b"4915112345678", b"12345")
    acked = await smsc.wait_for("deliver_sm_resp")
    assert (acked["kind"], acked["ref"], acked["command_status"]) == ("mo", 7, 0)


async def test_ucs2_mo_with_a_udh_in_the_payload(smsc: Smsc, esmes: list[Esme]) -> None:
    esme = await bound(smsc, esmes)
    await smsc.command(
        {
            "cmd": "mo",
            "source": "4915",
            "destination": "12345",
            "data_coding": 8,
            "hex": "04110440",
            "udh": "050003AA0201",
            "payload": True,
        }
    )
    mo = await next_pdu(esme, command("deliver_sm"))
    assert (mo.esm_class, mo.data_coding, mo.short_message) == (0x40, 8, b"")
    assert mo.message_payload == bytes.fromhex("050003AA0201") + "Бр".encode("utf-16-be")


async def test_receipt_mode_and_receipt_before_resp(smsc: Smsc, esmes: list[Esme]) -> None:
    esme = await bound(smsc, esmes)
    await smsc.command({"cmd": "receipt_mode", "stat": "UNDELIV", "err": "001"})
    await smsc.command({"cmd": "receipt_before_resp", "on": True})
    esme.submit("late")
    first = await next_pdu(esme, lambda p: p.command in ("deliver_sm", "submit_sm_resp"))
    assert first.command == "deliver_sm"
    assert "dlvrd:000" in first.short_message.decode()
    assert "stat:UNDELIV err:001" in first.short_message.decode()
    assert first.message_state == 5
    resp = await next_pdu(esme, command("submit_sm_resp"))
    assert resp.message_id == first.receipted_message_id.rstrip(b"\0")


async def test_hold_answers_on_release(smsc: Smsc, esmes: list[Esme]) -> None:
    esme = await bound(smsc, esmes)
    await smsc.command({"cmd": "hold", "count": 2})
    esme.submit("one", registered_delivery=0)
    esme.submit("two", registered_delivery=0)
    await smsc.wait_for(lambda e: "held" in e and bytes.fromhex(e["short_message"]) == b"two")
    assert esme.pdus.empty()
    released = await smsc.command({"cmd": "release"})
    assert released["released"] == 2
    ids = [(await next_pdu(esme, command("submit_sm_resp"))).message_id for _ in range(2)]
    # smpp34 may send the two answers in either order.
    assert sorted(i.decode() for i in ids) == sorted(e["message_id"] for e in smsc.submits)


async def test_npm_refuses_wrong_credentials(npm_smsc: Smsc, esmes: list[Esme]) -> None:
    for system_id, password, status in [
        ("smsgate", "wrong", smpplib.consts.SMPP_ESME_RINVPASWD),
        ("nobody", "secret", smpplib.consts.SMPP_ESME_RINVSYSID),
    ]:
        esme = Esme(npm_smsc)
        esmes.append(esme)
        since = len(npm_smsc.events)
        with pytest.raises(smpplib.exceptions.PDUError) as refused:
            await asyncio.to_thread(esme.bind, system_id, password)
        assert refused.value.args[1] == status
        bind = await npm_smsc.wait_for("bind", since=since)
        assert (bind["system_id"], bind["command_status"]) == (system_id, status)


async def test_npm_receipts_wait_for_a_receiver(npm_smsc: Smsc) -> None:
    transmitter = smpplib.client.Client("127.0.0.1", npm_smsc.port, allow_unknown_opt_params=True)
    transmitter.connect()
    try:
        await asyncio.to_thread(
            transmitter.bind_transmitter, system_id="smsgate", password="secret"
        )
        transmitter.send_message(
            source_addr="4915", destination_addr="123", short_message=b"x", registered_delivery=1
        )
        resp = await asyncio.to_thread(transmitter.read_pdu)
        assert resp.command == "submit_sm_resp"
        stats = await npm_smsc.command({"cmd": "stats"})
        assert stats["pending"] == 1
    finally:
        transmitter.disconnect()
    receiver = Esme(npm_smsc)
    try:
        await asyncio.to_thread(receiver.bind)
        receipt = await next_pdu(receiver, command("deliver_sm"))
        assert f"id:{resp.message_id.decode()} " in receipt.short_message.decode()
    finally:
        receiver.close()


async def test_npm_silent_and_close(npm_smsc: Smsc, esmes: list[Esme]) -> None:
    esme = await bound(npm_smsc, esmes)
    await npm_smsc.command({"cmd": "silent", "on": True})
    esme.send("enquire_link")
    esme.submit("lost", registered_delivery=0)
    await npm_smsc.wait_for(lambda e: "dropped" in e)
    await npm_smsc.command({"cmd": "silent", "on": False})
    second = esme.send("enquire_link")
    # Only the second enquire_link is answered; the dropped submit never is.
    first = await next_pdu(esme, lambda p: True)
    assert (first.command, first.sequence) == ("enquire_link_resp", second.sequence)
    closed = await npm_smsc.command({"cmd": "close"})
    assert closed["closed"] == 1
    await npm_smsc.wait_for("closed")
    await asyncio.to_thread(esme.thread.join, 5)  # type: ignore[union-attr]
    assert not esme.thread.is_alive()  # type: ignore[union-attr]
    assert esme.pdus.empty()


async def test_smpp34_unbinds_an_unknown_system_id(smsc34: Smsc, esmes: list[Esme]) -> None:
    assert smsc34.ready["checks_password"] is False
    esme = Esme(smsc34)
    esmes.append(esme)
    await asyncio.to_thread(esme.bind, "nobody", "x")
    bind = await smsc34.wait_for("bind")
    assert (bind["system_id"], bind["unbound"]) == ("nobody", True)
    await next_pdu(esme, command("unbind"))
    # smpp34 leaves the connection open after the unbind_resp, for the ESME to close.
    esme.close()
    await smsc34.wait_for("closed")


async def test_npm_redelivers_an_unanswered_receipt(npm_smsc: Smsc, esmes: list[Esme]) -> None:
    mute = smpplib.client.Client("127.0.0.1", npm_smsc.port, allow_unknown_opt_params=True)
    mute.connect()
    try:
        await asyncio.to_thread(mute.bind_transceiver, system_id="smsgate", password="secret")
        mute.send_message(
            source_addr="4915", destination_addr="123", short_message=b"x", registered_delivery=1
        )
        resp = await asyncio.to_thread(mute.read_pdu)
        first = await asyncio.to_thread(mute.read_pdu)
        assert first.command == "deliver_sm"
    finally:
        mute.disconnect()
    await npm_smsc.wait_for("closed")
    esme = await bound(npm_smsc, esmes)
    again = await next_pdu(esme, command("deliver_sm"))
    assert again.short_message == first.short_message
    assert f"id:{resp.message_id.decode()} " in again.short_message.decode()
    stats = await npm_smsc.command({"cmd": "stats"})
    assert (stats["receipts"], stats["receipts_acked"], stats["redelivered"]) == (2, 1, 1)


async def test_npm_enquire_link_and_unbind_commands(npm_smsc: Smsc, esmes: list[Esme]) -> None:
    esme = await bound(npm_smsc, esmes)
    assert (await npm_smsc.command({"cmd": "enquire_link"}))["sent"] == 1
    await npm_smsc.wait_for("enquire_link_resp")
    assert (await npm_smsc.command({"cmd": "unbind"}))["unbound"] == 1
    await next_pdu(esme, command("unbind"))
    # The SMSC ends the connection once answered, and the ESME closes its side.
    await asyncio.to_thread(esme.thread.join, 5)  # type: ignore[union-attr]
    assert not esme.thread.is_alive()  # type: ignore[union-attr]
    esme.close()
    await npm_smsc.wait_for("closed")


async def test_npm_start_options(esmes: list[Esme]) -> None:
    need_smsc("npm")
    smsc = await Smsc.start(
        "npm", system_id="acme", password="pw", quiet=True, receipt_delay_ms=300
    )
    try:
        esme = Esme(smsc)
        esmes.append(esme)
        await asyncio.to_thread(esme.bind, "acme", "pw")
        esme.submit("quiet")
        await next_pdu(esme, command("submit_sm_resp"))
        answered = asyncio.get_running_loop().time()
        await next_pdu(esme, command("deliver_sm"))
        assert asyncio.get_running_loop().time() - answered >= 0.25
        stats = await smsc.command({"cmd": "stats"})
        assert (stats["submits"], stats["receipts_acked"]) == (1, 1)
        assert smsc.submits == []
    finally:
        await smsc.stop()

"""Our SMPP client channel bound to our own SMPP server face: two gateways, each on its own
store. The carrier gateway takes submits on its server face and delivers them through its
simulator; the sending gateway's ``smpp`` channel gets receipts back and folds them into its
messages, and a message arriving at the carrier for the sender's number comes back as MO."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from smsgate.config import Settings, SmppServerSettings
from smsgate.core.accounts import Scope
from smsgate.core.bootstrap import create_account
from smsgate.core.events import InboundReceived
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.passwords import hash_password
from smsgate.core.states import State
from smsgate.core.submission import Submission
from smsgate.smpp_server.server import SmppServer
from smsgate.store import numbers as number_store
from smsgate.store import smpp_users as user_store
from smsgate.store.database import Database, open_database
from smsgate.store.messages import MessageFilter
from smsgate.store.migrate import migrate
from tests.conftest import simulator

WAIT = 20.0


async def _store(path: Path) -> Database:
    db = open_database(f"sqlite:///{path}")
    await migrate(db)
    return db


async def _account(gateway: Gateway) -> Account:
    def work(conn: Any) -> Account:
        return create_account(conn, now=gateway.clock.now_us())

    return await gateway.writer.run(work)


async def _state(gateway: Gateway, account: Account, uuid: str, *states: State) -> Any:
    scope = Scope(account, (account.id,))
    async with asyncio.timeout(WAIT):
        while True:
            msg = await gateway.message(scope, uuid)
            if msg is not None and msg.state in states:
                return msg
            await asyncio.sleep(0.02)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Account, Gateway, Account]]:
    """(sender, its account, carrier, its account): the sender's channel binds to the
    carrier's server face as ``sender``."""
    carrier_db, sender_db = await _store(tmp_path / "carrier.db"), await _store(tmp_path / "s.db")
    limits = {"number_pace": "", "api_requests": ""}
    carrier = Gateway(Settings(channels=[simulator()], limits=limits), carrier_db)
    await carrier.start()
    face = SmppServer(carrier, SmppServerSettings(enabled=True, port=0))
    await face.start()
    carrier_account = await _account(carrier)
    digest = hash_password("s3cret")
    await carrier.writer.run(
        lambda conn: user_store.add(
            conn,
            account_id=carrier_account.id,
            system_id="sender",
            password_hash=digest,
            binds="transmitter,receiver,transceiver",
            max_binds=4,
            submit_rate="",
            label="",
            now=carrier.clock.now_us(),
        )
    )
    channel = {
        "name": "carrier",
        "kind": "smpp",
        "host": "127.0.0.1",
        "port": face.port,
        "system_id": "sender",
        "password": "s3cret",
        "window": 20,
        "reconnect_min": 0.05,
    }
    sender = Gateway(Settings(channels=[channel], limits=limits), sender_db)
    await sender.start()
    sender_account = await _account(sender)
    try:
        async with asyncio.timeout(WAIT):
            while not sender.channels["carrier"].health().up:
                await asyncio.sleep(0.02)
        yield sender, sender_account, carrier, carrier_account
    finally:
        await sender.stop()
        await face.stop()
        await carrier.stop()
        await sender_db.dispose()
        await carrier_db.dispose()


@pytest.mark.parametrize(
    "text",
    ["Hello over SMPP, both ends ours", "Привет! " * 20],
    ids=["gsm7", "ucs2-multipart"],
)
async def test_our_client_through_our_server_face(
    pair: tuple[Gateway, Account, Gateway, Account], text: str
) -> None:
    sender, sender_account, carrier, carrier_account = pair
    prepared = await sender.accept(
        Scope(sender_account, (sender_account.id,)),
        Submission(src="14155550100", dst="447700900123", text=text),
        requester_ip="127.0.0.1",
    )
    uuid = prepared.uuids[0]
    msg = await _state(sender, sender_account, uuid, State.DELIVERED, State.UNDELIVERED)
    assert msg.state == State.DELIVERED
    # The carrier took it whole through its face, as one message, and delivered it.
    carried, _ = await carrier.messages(_everything(carrier_account), 10, 0)
    assert [(m.from_number, m.to_number, m.text, m.state) for m in carried] == [
        ("14155550100", "447700900123", text, State.DELIVERED)
    ]
    assert carried[0].submitted_by == "smpp/sender"
    assert carried[0].units == msg.units


async def test_mo_from_the_carrier_reaches_the_sender(
    pair: tuple[Gateway, Account, Gateway, Account],
) -> None:
    sender, sender_account, carrier, carrier_account = pair
    # An application on the carrier sends what arrives for the sender's number to its ESME.
    now = carrier.clock.now_us()

    def bind_number(conn: Any) -> None:
        app = number_store.insert_application(
            conn,
            account_id=carrier_account.id,
            name="sender",
            message_url="smpp://sender",
            message_method="POST",
            log_incoming_messages=True,
            now=now,
        )
        number_store.insert_number(
            conn,
            number="14155550100",
            account_id=carrier_account.id,
            application_id=app.id,
            channel=None,
            alias="",
            now=now,
        )

    await carrier.writer.run(bind_number)
    await carrier.record(
        [
            InboundReceived(
                channel="simulator",
                from_number="447700900123",
                to_number="14155550100",
                text="Reply from a handset: ça marche",
            )
        ]
    )
    async with asyncio.timeout(WAIT):
        while True:
            received, _ = await sender.messages(_everything(sender_account, "inbound"), 10, 0)
            if received:
                break
            await asyncio.sleep(0.05)
    assert [(m.from_number, m.to_number, m.text) for m in received] == [
        ("447700900123", "14155550100", "Reply from a handset: ça marche")
    ]


def _everything(account: Account, direction: str | None = None) -> MessageFilter:
    return MessageFilter(account_ids=(account.id,), direction=direction)

"""The store on SQLite and PostgreSQL: migrations, group commit, claims, state changes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, select, text

from smsgate.core.clock import FakeClock
from smsgate.core.events import DeliveryReport, Expired, InboundReceived, SendFailed, Submitted
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.submission import Submission
from smsgate.store import messages as message_store
from smsgate.store import nodes as node_store
from smsgate.store.database import Database
from smsgate.store.migrate import migrate
from smsgate.store.schema import (
    callbacks,
    message_events,
    message_parts,
    messages,
    metadata,
    nodes,
)
from smsgate.store.writer import Writer
from tests.conftest import GatewayFactory, scope_of


async def test_migrations_build_exactly_the_declared_schema(database: Database) -> None:
    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn)
        return list(compare_metadata(context, metadata))

    assert await database.read(diff) == []
    await migrate(database)  # a second run changes nothing


async def test_group_commit_batches_concurrent_writes(database: Database) -> None:
    writer = Writer(database.writer)
    writer.start()
    try:

        async def insert(i: int) -> int:
            def work(conn: Connection) -> int:
                conn.execute(
                    text(
                        "INSERT INTO nodes (id, hostname, started_at, heartbeat_at) "
                        "VALUES (:id, 'h', 0, 0)"
                    ),
                    {"id": f"n{i}"},
                )
                return i

            return await writer.run(work)

        results = await asyncio.gather(*(insert(i) for i in range(200)))
        assert results == list(range(200))
        assert writer.batches < 200
    finally:
        await writer.stop()
        writer.close()
    count = await database.read(lambda c: c.execute(text("SELECT count(*) FROM nodes")).scalar())
    assert count == 200


async def test_a_failing_write_fails_alone(database: Database) -> None:
    writer = Writer(database.writer)
    writer.start()

    def node(name: str) -> Callable[[Connection], None]:
        def work(conn: Connection) -> None:
            conn.execute(
                text(
                    "INSERT INTO nodes (id, hostname, started_at, heartbeat_at) "
                    "VALUES (:id, 'h', 0, 0)"
                ),
                {"id": name},
            )

        return work

    try:
        await writer.run(node("dup"))
        outcomes = await asyncio.gather(
            writer.run(node("a")),
            writer.run(node("dup")),
            writer.run(node("b")),
            writer.insert(
                {nodes: [{"id": "c", "hostname": "h", "started_at": 0, "heartbeat_at": 0}]}
            ),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
        writer.close()
    assert outcomes[0] is None and outcomes[2] is None and outcomes[3] is None
    assert isinstance(outcomes[1], Exception)
    rows = await database.read(
        lambda c: c.execute(text("SELECT id FROM nodes ORDER BY id")).scalars().all()
    )
    assert rows == ["a", "b", "c", "dup"]


async def _queue(
    gateway: Gateway, account: Account, dst: str = "14155550101<14155550102", **extra: object
) -> list[str]:
    scope = await scope_of(gateway, account)
    sub = Submission(src="14155550100", dst=dst, text="hi", **extra)  # type: ignore[arg-type]
    prepared = await gateway.accept(scope, sub, requester_ip="10.0.0.1")
    return prepared.uuids


async def test_accept_stores_rows_events_and_callbacks(gateway: Gateway, account: Account) -> None:
    uuids = await _queue(gateway, account, url="http://example.com/cb")

    def read(conn: Connection) -> tuple[list[Any], list[Any], list[Any]]:
        return (
            conn.execute(select(messages).order_by(messages.c.uuid)).all(),
            conn.execute(select(message_events)).all(),
            conn.execute(select(callbacks)).all(),
        )

    rows, events, outbox = await gateway.db.read(read)
    assert sorted(uuids) == [row.uuid for row in rows]
    assert {row.state for row in rows} == {"queued"}
    assert events == []  # a message's first state is its row; events record changes
    assert len(outbox) == 2
    assert {row.kind for row in outbox} == {"status"}


async def test_claims_are_exclusive_and_released(
    make_gateway: GatewayFactory, account: Account, gateway: Gateway
) -> None:
    uuids = await _queue(gateway, account, dst="<".join(f"1415555{i:04d}" for i in range(10)))
    now = gateway.clock.now_us()
    first = await gateway.writer.run(lambda c: message_store.claim(c, "node-a", now, 6))
    second = await gateway.writer.run(lambda c: message_store.claim(c, "node-b", now, 6))
    assert len(first) == 6 and len(second) == 4
    assert not {m.uuid for m in first} & {m.uuid for m in second}
    assert {m.uuid for m in first} | {m.uuid for m in second} == set(uuids)
    released = await gateway.writer.run(lambda c: node_store.leave(c, "node-a"))
    assert released == 6
    again = await gateway.writer.run(lambda c: message_store.claim(c, "node-c", now, 100))
    assert {m.uuid for m in again} == {m.uuid for m in first}
    assert all(m.attempts == 2 for m in again)


async def test_record_walks_the_state_machine(gateway: Gateway, account: Account) -> None:
    a, b, c = await _queue(gateway, account, dst="14155550101<14155550102<14155550103")
    scope = await scope_of(gateway, account)
    with gateway.watch() as changes:
        await gateway.record(
            [
                Submitted(a, "simulator", "ref-a", "0.00500"),
                DeliveryReport(True, channel="simulator", channel_ref="ref-a"),
            ]
        )
        await gateway.record([SendFailed(b, "50", "bad number")])
        await gateway.record([DeliveryReport(False, "80", message_uuid=c)])
    seen = []
    while not changes.empty():
        change = changes.get_nowait()
        seen.append((change.uuid, change.state))
    assert seen == [(a, "sent"), (a, "delivered"), (b, "failed"), (c, "sent"), (c, "undelivered")]
    msg_a = await gateway.message(scope, a)
    assert msg_a is not None
    assert (msg_a.state, msg_a.error_code, msg_a.total_rate) == ("delivered", "000", "0.00500")
    assert msg_a.sent_at and msg_a.dlr_at
    msg_b = await gateway.message(scope, b)
    assert msg_b is not None and (msg_b.state, msg_b.error_code) == ("failed", "50")
    msg_c = await gateway.message(scope, c)
    assert msg_c is not None and (msg_c.state, msg_c.error_code) == ("undelivered", "80")
    # Terminal states stay terminal; late reports are noted, not applied.
    outcome = await gateway.record([DeliveryReport(True, message_uuid=c), Expired(b)])
    assert outcome.transitions == []


async def test_part_reports_settle_the_message(gateway: Gateway, account: Account) -> None:
    a, b, c = await _queue(gateway, account, dst="14155550101<14155550102<14155550103")
    scope = await scope_of(gateway, account)

    async def state(uuid: str) -> tuple[str, str]:
        msg = await gateway.message(scope, uuid)
        assert msg is not None
        return msg.state, msg.error_code

    def part(ref: str, delivered: bool = True, code: str = "") -> DeliveryReport:
        return DeliveryReport(delivered, code, channel="modem", channel_ref=ref)

    # a: both parts delivered, the second report in the same batch as the handover.
    await gateway.record(
        [Submitted(a, "modem", "101/7", part_refs=("101/7", "101/8")), part("101/8")]
    )
    assert await state(a) == ("sent", "")
    await gateway.record([part("101/7")])
    assert await state(a) == ("delivered", "000")
    # b: the first failed part settles the message; later parts change nothing.
    await gateway.record([Submitted(b, "modem", "102/9", part_refs=("102/9", "102/10"))])
    await gateway.record([part("102/10", False, "70")])
    assert await state(b) == ("undelivered", "70")
    outcome = await gateway.record([part("102/9")])
    assert outcome.transitions == [] and outcome.unmatched == [part("102/9")]
    # c: a reference the network reuses names the newest message still waiting.
    await gateway.record([Submitted(c, "modem", "101/7", part_refs=("101/7",))])
    await gateway.record([part("101/7", False, "80")])
    assert await state(c) == ("undelivered", "80")
    assert await state(a) == ("delivered", "000")
    rows = await gateway.db.read(
        lambda conn: conn.execute(
            select(message_parts.c.message_uuid, message_parts.c.state).order_by(message_parts.c.id)
        ).all()
    )
    assert [tuple(r) for r in rows] == [
        (a, "delivered"),
        (a, "delivered"),
        (b, "sent"),
        (b, "undelivered"),
        (c, "undelivered"),
    ]


async def test_temporary_failures_wait_and_then_expire(
    make_gateway: GatewayFactory, account: Account
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock)
    [uuid] = await _queue(gateway, account, dst="14155550101", message_expiry=60)
    scope = await scope_of(gateway, account)
    retry_at = clock.now_us() + 30_000_000
    await gateway.record([SendFailed(uuid, "80", "busy", temporary=True, retry_at=retry_at)])
    msg = await gateway.message(scope, uuid)
    assert msg is not None and (msg.state, msg.next_attempt_at) == ("queued", retry_at)
    too_late = clock.now_us() + 120_000_000
    await gateway.record([SendFailed(uuid, "80", "busy", temporary=True, retry_at=too_late)])
    msg = await gateway.message(scope, uuid)
    assert msg is not None and (msg.state, msg.error_code) == ("failed", "420")


async def test_log_false_forgets_content_and_numbers(gateway: Gateway, account: Account) -> None:
    [uuid] = await _queue(gateway, account, dst="14155550101", log="false")
    scope = await scope_of(gateway, account)
    await gateway.record([Submitted(uuid, "simulator", "r1")])
    msg = await gateway.message(scope, uuid)
    assert msg is not None and msg.text is None and msg.to_number == "14155550101"
    await gateway.record([DeliveryReport(True, message_uuid=uuid)])
    msg = await gateway.message(scope, uuid)
    assert msg is not None and (msg.from_number, msg.to_number) == ("141XXXXX100", "141XXXXX101")


async def test_inbound_messages_are_stored_as_received(gateway: Gateway, account: Account) -> None:
    outcome = await gateway.record(
        [InboundReceived("simulator", "+447700900123", "14155550100", "Ping ж")]
    )
    [change] = outcome.transitions
    assert (change.direction, change.state) == ("inbound", "received")
    msg = await gateway.message(await scope_of(gateway, account), change.uuid)
    assert msg is not None
    assert (msg.from_number, msg.to_number, msg.text, msg.encoding) == (
        "447700900123",
        "14155550100",
        "Ping ж",
        "UCS-2",
    )


@pytest.mark.parametrize(
    "events",
    [
        [Submitted("no-such-uuid", "simulator", "r")],
        [DeliveryReport(True, channel="simulator", channel_ref="unknown")],
    ],
)
async def test_events_for_unknown_messages_change_nothing(
    gateway: Gateway, events: list[object]
) -> None:
    outcome = await gateway.record(events)  # type: ignore[arg-type]
    assert outcome.transitions == [] and len(outcome.unmatched) == 1


async def test_claims_of_gone_or_forgotten_nodes_return_live_ones_stay(
    gateway: Gateway, account: Account
) -> None:
    """A node that stopped beating, or whose row was lost, holds nothing; a live node keeps
    its claims (PostgreSQL; on SQLite only one node ever runs, so every other claim is
    released); this node's own claims, being worked on, stay on both."""
    uuids = await _queue(gateway, account, dst="<".join(f"1415556{i:04d}" for i in range(8)))
    pg = not gateway.db.is_sqlite

    def claim_for_four(conn: Connection) -> None:
        now = node_store.now_us(conn, gateway.clock.now_us())
        node_store.heartbeat(conn, "gone", "h", now - 3_600_000_000)
        node_store.heartbeat(conn, "alive", "h", now)
        for node in ("gone", "forgotten", "alive", gateway.node_id):
            message_store.claim(conn, node, gateway.clock.now_us(), 2)

    await gateway.writer.run(claim_for_four)
    await gateway._recover()

    def holders(conn: Connection) -> list[str | None]:
        rows = conn.execute(select(messages.c.claimed_by).where(messages.c.uuid.in_(uuids)))
        return sorted(row.claimed_by or "" for row in rows)

    mine = [gateway.node_id] * 2
    expected = ["", "", "", "", "alive", "alive"] if pg else [""] * 6
    assert await gateway.db.read(holders) == sorted(expected + mine)
    # A forgotten node that is still running comes back with its next heartbeat.
    await gateway.writer.run(lambda c: node_store.heartbeat(c, "forgotten", "h", 1))
    ids = await gateway.db.read(lambda c: c.execute(select(nodes.c.id)).scalars().all())
    assert "forgotten" in ids


async def test_inbound_for_an_unknown_account_goes_nowhere(
    gateway: Gateway, account: Account
) -> None:
    outcome = await gateway.record(
        [
            InboundReceived(
                "simulator",
                "447700900123",
                "14155550100",
                "hi",
                account_auth_id="MA0000000000000000ZZ",
            )
        ]
    )
    assert outcome.transitions == [] and len(outcome.unmatched) == 1


async def test_upgrading_keeps_every_row(backend: str, tmp_path: Any) -> None:
    """A database at the first revision, with messages in it, upgrades without losing any."""
    from alembic import command
    from alembic.config import Config

    from smsgate.store.database import open_database
    from tests.conftest import PG_URL, _pg_connect, need_postgres

    schema = None
    if backend == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        need_postgres()
        schema = f"up_{uuid.uuid4().hex[:10]}"
        admin = _pg_connect()
        admin.execute(f"CREATE SCHEMA {schema}")
        db = open_database(PG_URL, pg_schema=schema)

    def upgrade(target: str) -> None:
        with db.writer.begin() as conn:
            config = Config()
            config.set_main_option("script_location", "smsgate.store:migrations")
            config.attributes["connection"] = conn
            command.upgrade(config, target)

    try:
        upgrade("0001")
        with db.writer.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO accounts (auth_id, auth_token, name, enabled, alphanumeric_sender,"
                    " created_at, updated_at) VALUES ('MA0000000000000000AA', 't', '', true, false,"
                    " 1, 1)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO messages (uuid, account_id, request_id, direction, state, type,"
                    " from_number, to_number, text, encoding, units, created_at, updated_at,"
                    " expires_at, next_attempt_at) SELECT 'u1', id, 'r', 'outbound', 'queued',"
                    " 'sms', '1', '2', 'hi', 'UCS-2', 1, 1, 1, 1, 1 FROM accounts"
                )
            )
        upgrade("head")
        with db.reader.connect() as conn:
            row = conn.execute(
                text("SELECT uuid, text, encoding, text_replaced FROM messages")
            ).one()
            smart = conn.execute(text("SELECT smart_encoding FROM accounts")).scalar()
        assert (row.uuid, row.text, row.encoding, bool(row.text_replaced)) == (
            "u1",
            "hi",
            "UCS-2",
            False,
        )
        assert smart is False or smart == 0
    finally:
        await db.dispose()
        if schema:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
            admin.close()

"""The parts of concatenated inbound messages (``InboundPart``) through the core: stored as
they come, a duplicate ignored, the message recorded once with its parts joined when the last
one is there, and recorded as it is when the others never came; on both stores."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from smsgate.core.clock import FakeClock
from smsgate.core.events import InboundPart
from smsgate.core.gateway import PART_TIMEOUT_SECONDS, Gateway
from smsgate.core.models import Account, Message
from smsgate.store import smpp_parts
from smsgate.store.messages import MessageFilter
from smsgate.store.schema import smpp_parts as parts_table
from tests.conftest import GatewayFactory, new_account, scope_of

PHONE = "447700900123"
NUMBER = "14155550100"


def part(sequence: int, text: str, total: int = 3, reference: int = 0x42) -> InboundPart:
    return InboundPart("simulator", PHONE, NUMBER, reference, total, sequence, text)


async def inbound(gateway: Gateway, account: Account) -> list[Message]:
    scope = await scope_of(gateway, account)
    where = MessageFilter(account_ids=scope.account_ids, direction="inbound")
    found, _ = await gateway.messages(where, 100, 0)
    return found


async def stored_parts(gateway: Gateway) -> int:
    def count(conn: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(parts_table)).scalar_one())

    return await gateway.db.read(count)


async def test_parts_make_one_message_once_every_part_is_there(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway()
    account = await new_account(gateway)
    # A surrogate pair split across two UCS-2 parts is whole again.
    for event in (part(2, "b \ud83d"), part(2, "b \ud83d"), part(1, "a ")):
        outcome = await gateway.record([event])
        assert outcome.transitions == [] and outcome.unmatched == []
    assert await inbound(gateway, account) == []
    assert await stored_parts(gateway) == 2  # the part delivered twice is stored once
    outcome = await gateway.record([part(3, "\ude00 c")])
    [change] = outcome.transitions
    assert change.state == "received" and change.channel == "simulator"
    [message] = await inbound(gateway, account)
    assert message.text == "a b \U0001f600 c" and message.units == 3
    assert (message.from_number, message.to_number) == (PHONE, NUMBER)
    assert message.channel_ref and message.channel_ref.startswith("parts:")
    # A part that comes again after the message was recorded is the network's second try.
    assert (await gateway.record([part(3, "\ude00 c")])).transitions == []
    assert len(await inbound(gateway, account)) == 1
    # Another text under the reference is a new message's part.
    await gateway.record([part(1, "new ")])
    assert len(await inbound(gateway, account)) == 1 and await stored_parts(gateway) == 1


async def test_the_parts_of_one_batch_and_of_other_groups_stay_apart(
    make_gateway: GatewayFactory,
) -> None:
    gateway = await make_gateway()
    account = await new_account(gateway)
    other = InboundPart("simulator", "447700900999", NUMBER, 0x42, 2, 1, "other ")
    outcome = await gateway.record([part(1, "x", total=2), other, part(2, "y", total=2)])
    assert [t.state for t in outcome.transitions] == ["received"]
    assert [m.text for m in await inbound(gateway, account)] == ["xy"]
    assert await stored_parts(gateway) == 3  # the other's part, and "xy"'s kept till expiry


async def test_a_message_missing_parts_is_recorded_as_it_is_after_the_timeout(
    make_gateway: GatewayFactory,
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock)
    account = await new_account(gateway)
    await gateway.record([part(3, "end"), part(1, "start ")])
    await gateway.record([part(1, "x", total=2, reference=7), part(2, "y", total=2, reference=7)])
    clock.advance(PART_TIMEOUT_SECONDS - 1)
    assert (await gateway.expire_parts()).transitions == []
    # The server face's expiry leaves the channels' groups alone.
    cutoff = clock.now_us() + 10**12
    assert await gateway.writer.run(lambda conn: smpp_parts.expire(conn, cutoff)) == []
    assert await stored_parts(gateway) == 4  # complete ones kept against duplicates
    clock.advance(2)
    outcome = await gateway.expire_parts()
    assert [t.state for t in outcome.transitions] == ["received"]
    texts = sorted((m.text, m.units) for m in await inbound(gateway, account))
    assert texts == [("start end", 3), ("xy", 2)]
    assert await stored_parts(gateway) == 0
    assert (await gateway.expire_parts()).transitions == []


def test_a_channel_s_groups_fit_the_system_id_column() -> None:
    long_name = "c" * 64
    made = {smpp_parts.channel_system_id(name) for name in ("carrier", "carrier2", long_name)}
    assert len(made) == 3
    assert all(len(s) == 15 and s.startswith(smpp_parts.CHANNEL_PREFIX) for s in made)

"""The event sink: batches in order, waits out an unreachable store, sets poison aside."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from smsgate.core.events import Event, Expired
from smsgate.core.record import Outcome
from smsgate.core.sink import POISON_TRIES, BatchingSink


async def test_events_are_recorded_in_order_and_batched() -> None:
    batches: list[list[Event]] = []

    async def record(events: list[Event]) -> Outcome:
        batches.append(list(events))
        return Outcome()

    sink = BatchingSink(record)
    for i in range(5):
        sink.emit(Expired(f"m{i}"))
    await sink.drain()
    assert batches == [[Expired(f"m{i}") for i in range(5)]]


async def test_an_unreachable_store_is_waited_out() -> None:
    attempts = 0
    recorded: list[Event] = []

    async def record(events: list[Event]) -> Outcome:
        nonlocal attempts
        attempts += 1
        if attempts <= POISON_TRIES + 2:
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        recorded.extend(events)
        return Outcome()

    sink = BatchingSink(record, retry_delay=0.001)
    sink.emit(Expired("a"))
    sink.emit(Expired("b"))
    await sink.drain()
    assert recorded == [Expired("a"), Expired("b")]


async def test_a_poison_event_is_set_aside_and_the_rest_go_on() -> None:
    recorded: list[Event] = []

    async def record(events: list[Event]) -> Outcome:
        if Expired("bad") in events:
            raise ValueError("cannot record this one")
        recorded.extend(events)
        return Outcome()

    sink = BatchingSink(record, retry_delay=0.001)
    for name in ("a", "bad", "b"):
        sink.emit(Expired(name))
    await sink.drain()
    assert recorded == [Expired("a"), Expired("b")]


def test_which_errors_mean_the_store_is_unavailable() -> None:
    import sqlite3

    from smsgate.store.database import store_unavailable

    def error(orig: Exception) -> OperationalError:
        return OperationalError("SELECT 1", {}, orig)

    assert store_unavailable(error(sqlite3.OperationalError("database is locked")))
    assert not store_unavailable(error(sqlite3.OperationalError("no such table: messages")))
    assert store_unavailable(error(Exception("connection refused")))  # a server's driver
    assert not store_unavailable(ValueError("x"))


async def test_record_returns_once_the_event_is_committed() -> None:
    import asyncio

    committed: list[Event] = []
    gate = asyncio.Event()

    async def record(events: list[Event]) -> Outcome:
        await gate.wait()
        committed.extend(events)
        return Outcome()

    sink = BatchingSink(record)
    waiting = asyncio.create_task(sink.record(Expired("a")))
    await asyncio.sleep(0)
    assert not waiting.done() and committed == []
    gate.set()
    assert await waiting is True
    assert committed == [Expired("a")]


async def test_record_tells_an_event_that_named_no_message() -> None:
    async def record(events: list[Event]) -> Outcome:
        return Outcome(unmatched=[e for e in events if e == Expired("nobody")])

    sink = BatchingSink(record)
    import asyncio

    found, missing = await asyncio.gather(
        sink.record(Expired("someone")), sink.record(Expired("nobody"))
    )
    assert (found, missing) == (True, False)


async def test_record_raises_for_an_event_set_aside() -> None:
    import pytest

    async def record(events: list[Event]) -> Outcome:
        raise ValueError("never")

    sink = BatchingSink(record, retry_delay=0.001)
    with pytest.raises(ValueError):
        await sink.record(Expired("x"))

"""Rates and the in-process limiter: at most so many units per key in any window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.core.clock import FakeClock
from smsgate.core.limits import Limit, MemoryLimiter, wait_us
from smsgate.core.rates import Rate, check_rate, parse_rate

PACE = Rate(10, 60.0)


@pytest.mark.parametrize(
    ("raw", "rate"),
    [
        ("10/min", Rate(10, 60.0)),
        ("30/s", Rate(30, 1.0)),
        ("30 / sec", Rate(30, 1.0)),
        ("500/h", Rate(500, 3600.0)),
        ("100/10s", Rate(100, 10.0)),
        ("5/2min", Rate(5, 120.0)),
        ("7/", Rate(7, 1.0)),
    ],
)
def test_rates_are_read_as_operators_write_them(raw: str, rate: Rate) -> None:
    assert parse_rate(raw) == rate
    assert parse_rate(str(rate)) == rate


@pytest.mark.parametrize("raw", ["", "none", "OFF", None])
def test_no_limit(raw: str | None) -> None:
    assert parse_rate(raw) is None


@pytest.mark.parametrize("raw", ["fast", "10", "0/s", "10/day", "-1/s", "10/0s", "2/25h"])
def test_bad_rates_say_how_to_write_one(raw: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        check_rate(raw)


async def test_a_window_takes_its_count_then_waits_for_the_oldest() -> None:
    clock = FakeClock(0)
    limiter = MemoryLimiter(clock)
    pace = [Limit("src:1", PACE)]
    for _ in range(10):
        assert await limiter.take(pace) == 0.0
        clock.advance(1)
    # The first went at 0 s: the 11th may go once it is a minute old.
    assert await limiter.take(pace) == pytest.approx(50.0)
    clock.advance(50)
    assert await limiter.take(pace) == 0.0


async def test_parts_count_and_a_refusal_counts_nothing() -> None:
    clock = FakeClock(0)
    limiter = MemoryLimiter(clock)
    src, dst = Limit("src:1", PACE), Limit("dst:2", PACE)
    assert await limiter.take([src, dst], cost=8) == 0.0
    # Three more parts would pass dst alone, but not src+dst: nothing is counted.
    assert await limiter.take([Limit("dst:2", PACE), src], cost=3) > 0
    assert await limiter.take([Limit("dst:2", PACE)], cost=2) == 0.0
    assert await limiter.take([Limit("dst:2", PACE)], cost=1) > 0


async def test_a_message_longer_than_the_allowance_goes_when_the_key_is_idle() -> None:
    clock = FakeClock(0)
    limiter = MemoryLimiter(clock)
    pace = [Limit("dst:3", PACE)]
    assert await limiter.take(pace, cost=15) == 0.0
    assert await limiter.take(pace, cost=1) == pytest.approx(60.0)
    clock.advance(60)
    assert await limiter.take(pace, cost=1) == 0.0


@given(st.lists(st.tuples(st.integers(0, 30_000_000), st.integers(1, 4)), min_size=1, max_size=60))
def test_no_window_ever_holds_more_than_its_count(steps: list[tuple[int, int]]) -> None:
    clock = FakeClock(0)
    limiter = MemoryLimiter(clock)
    pace = [Limit("k", PACE)]
    taken: list[tuple[int, int]] = []
    for gap, cost in steps:
        clock._now += gap
        if limiter.take_now(pace, cost) == 0.0:
            taken.append((clock.now_us(), cost))
    window = 60_000_000
    for at, _ in taken:
        inside = [(t, c) for t, c in taken if at <= t < at + window]
        # More than the count only when a single oversized message went alone.
        assert sum(c for _, c in inside) <= PACE.count or len(inside) == 1


def test_wait_is_until_enough_units_leave_the_window() -> None:
    entries = [(0, 4), (10, 3), (20, 3)]
    # 10 used of 10: 5 more need the first two entries (7 units) gone.
    assert wait_us(entries, 10, 100, 5, now=30) == 10 + 100 - 30
    assert wait_us([], 10, 100, 50, now=30) == 0

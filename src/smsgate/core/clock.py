"""Time as an injected dependency, so expiry, retries and backoff are tested without sleeping.

Times are integers: microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

US_PER_SECOND = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    def now_us(self) -> int: ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start_us: int | None = None) -> None:
        self._now = start_us if start_us is not None else time.time_ns() // 1000

    def now_us(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * US_PER_SECOND)


def seconds(value: float) -> int:
    """``value`` seconds in microseconds."""
    return int(value * US_PER_SECOND)


def to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def iso(us: int | None) -> str | None:
    """``us`` as an ISO 8601 time in UTC, for listings; None stays None."""
    return None if us is None else to_datetime(us).isoformat()


def from_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def plivo_time(us: int | None) -> str | None:
    """The MDR ``message_time`` form: ``2021-07-13 13:04:06.799021+00:00``."""
    if us is None:
        return None
    return to_datetime(us).isoformat(sep=" ", timespec="microseconds")


def callback_time(us: int | None) -> str:
    """The status-callback time form: ``2021-07-13 13:04:06.799021`` (UTC), ``""`` when unset."""
    if us is None:
        return ""
    return to_datetime(us).strftime("%Y-%m-%d %H:%M:%S.%f")


#: Formats Plivo's list filters take, and the span of time each one names.
_FILTER_FORMATS = (
    ("%Y-%m-%d %H:%M:%S.%f", 1),
    ("%Y-%m-%d %H:%M:%S", US_PER_SECOND),
    ("%Y-%m-%d %H:%M", 60 * US_PER_SECOND),
    ("%Y-%m-%d", 86_400 * US_PER_SECOND),
)


def parse_filter_span(text: str) -> tuple[int, int] | None:
    """Parse ``YYYY-MM-DD HH:MM[:ss[.uuuuuu]]`` (UTC): the instant it starts and how long the
    precision given lasts (``13:04`` is the whole minute)."""
    text = text.strip().replace("T", " ")
    for fmt, span in _FILTER_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return from_datetime(parsed.replace(tzinfo=UTC)), span
    return None

"""Rate limits: at most so many units (requests, message parts) per key in any window.

A limiter answers one question for several limits at once: may ``cost`` units go now under
every one of them? If so they are counted against all of them; if not, nothing is counted
and the answer is how long to wait. A cost larger than a whole window's allowance goes when
its key is idle, so a long message is paced, never stuck.

``MemoryLimiter`` counts in this process. ``RedisLimiter`` (``core/limits_redis.py``) counts
in Redis, so that several gateway processes share one count.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from smsgate.core.clock import Clock, seconds
from smsgate.core.rates import Rate

MAX_KEYS = 200_000


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    rate: Rate


class Limiter(Protocol):
    async def take(self, limits: Sequence[Limit], cost: int = 1) -> float:
        """0.0 when ``cost`` units were counted under every limit; otherwise the seconds to
        wait before they could be (and nothing was counted)."""
        ...

    async def close(self) -> None: ...


def wait_us(
    entries: Sequence[tuple[int, int]], count: int, window: int, cost: int, now: int
) -> int:
    """Microseconds until ``cost`` more units fit under ``count`` per ``window``, given the
    window's ``(time, units)`` entries, oldest first (all within the window)."""
    used = sum(units for _, units in entries)
    need = used + cost - count
    if used == 0 or need <= 0:
        return 0
    freed = 0
    for at, units in entries:
        freed += units
        if freed >= need:
            return max(1, at + window - now)
    return max(1, entries[-1][0] + window - now)  # more than a window's worth: wait for idle


class MemoryLimiter:
    """Sliding windows in this process."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: OrderedDict[str, deque[tuple[int, int]]] = OrderedDict()

    def _entries(self, key: str, window: int, now: int) -> deque[tuple[int, int]]:
        entries = self._windows.get(key)
        if entries is None:
            entries = self._windows[key] = deque()
            while len(self._windows) > MAX_KEYS:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(key)
        while entries and entries[0][0] <= now - window:
            entries.popleft()
        return entries

    async def take(self, limits: Sequence[Limit], cost: int = 1) -> float:
        return self.take_now(limits, cost)

    def take_now(self, limits: Sequence[Limit], cost: int = 1) -> float:
        now = self._clock.now_us()
        longest = 0
        found = []
        for limit in limits:
            window = seconds(limit.rate.seconds)
            entries = self._entries(limit.key, window, now)
            found.append(entries)
            longest = max(longest, wait_us(entries, limit.rate.count, window, cost, now))
        if longest:
            return longest / 1_000_000
        for entries in found:
            entries.append((now, cost))
        return 0.0

    async def close(self) -> None:
        self._windows.clear()

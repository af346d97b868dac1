"""Slowing down, then refusing, whoever keeps getting a secret wrong (the send page's pass
codes): per client address, in this process."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from smsgate.core.clock import Clock, seconds

MAX_TRACKED = 100_000


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    window: float = 900.0  # seconds over which failures count
    free: int = 3  # failures answered at once
    max_delay: float = 4.0  # seconds, the longest wait before an answer
    block_after: int = 10  # failures after which every try is refused
    block_for: float = 900.0  # seconds a refusal lasts after the last failure


class FailureThrottle:
    def __init__(self, clock: Clock, rules: ThrottleRules | None = None) -> None:
        self._clock = clock
        self.rules = rules or ThrottleRules()
        self._failures: OrderedDict[str, list[int]] = OrderedDict()

    def _recent(self, key: str) -> list[int]:
        since = self._clock.now_us() - seconds(self.rules.window)
        found = [t for t in self._failures.get(key, []) if t > since]
        if found:
            self._failures[key] = found
        else:
            self._failures.pop(key, None)
        return found

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, when it is refused now."""
        recent = self._recent(key)
        if len(recent) < self.rules.block_after:
            return None
        until = recent[-1] + seconds(self.rules.block_for)
        left = (until - self._clock.now_us()) / 1e6
        return left if left > 0 else None

    def delay(self, key: str) -> float:
        """Seconds to wait before answering ``key``: doubling after the free failures."""
        extra = len(self._recent(key)) - self.rules.free
        if extra < 0:
            return 0.0
        return float(min(self.rules.max_delay, 0.25 * 2**extra))

    def failed(self, key: str) -> None:
        self._failures.setdefault(key, []).append(self._clock.now_us())
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

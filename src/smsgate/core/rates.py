"""Rates as operators write them: ``10/min``, ``30/s``, ``500/h``, ``100/10s``.

A rate of ``count`` per ``seconds`` means: at most ``count`` units (requests, or message parts)
in any window of that many seconds. ``""``, ``none`` or ``off`` means no limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour)?\s*", re.I)
_UNIT = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_NONE = {"", "none", "off", "unlimited"}
MAX_COUNT = 1_000_000
MAX_WINDOW = 86_400


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: float

    def __str__(self) -> str:
        for name, size in (("h", 3600), ("min", 60), ("s", 1)):
            if self.seconds == size:
                return f"{self.count}/{name}"
        return f"{self.count}/{self.seconds:g}s"


def parse_rate(raw: str | None) -> Rate | None:
    """``raw`` as a Rate, None for no limit; ValueError saying what is wrong otherwise."""
    if raw is None or raw.strip().lower() in _NONE:
        return None
    found = _RATE.fullmatch(raw)
    if found is None:
        raise ValueError(
            f"rate {raw!r}: write a count per time, such as 10/min, 30/s, 500/h or 100/10s"
        )
    count, size, unit = int(found[1]), found[2], (found[3] or "s").lower()
    window = (int(size) if size else 1) * _UNIT[unit]
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"rate {raw!r}: the count must be 1 to {MAX_COUNT:,}")
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"rate {raw!r}: the window must be 1 second to 24 hours")
    return Rate(count, float(window))


def check_rate(raw: str | None) -> str:
    """``raw`` normalised (``""`` for no limit), or ValueError."""
    rate = parse_rate(raw)
    return "" if rate is None else str(rate)

"""Reassembly of concatenated messages: parts may arrive in any order, twice, or never.

Pure logic with time passed in: ``add`` a part, get the whole message once every part is in;
``expire`` hands back what waited too long, for the caller to deliver as it is or drop.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from smsgate.text.segments import well_formed


@dataclass(slots=True)
class _Pending:
    total: int
    first_seen: int
    parts: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reassembled:
    key: Hashable
    text: str
    total: int
    received: int  # parts present (less than total only for an expired message)

    @property
    def complete(self) -> bool:
        return self.received == self.total


def join(texts: list[str]) -> str:
    """Join part texts; a surrogate pair split across parts is whole again, and a lone
    surrogate left over becomes U+FFFD."""
    return well_formed("".join(texts))


class Reassembler:
    def __init__(self, ttl_us: int) -> None:
        self._ttl = ttl_us
        self._pending: dict[Hashable, _Pending] = {}
        # Messages completed within ``ttl``: a part arriving again (same key, number and
        # text) is a network duplicate, not the start of a new message.
        self._done: dict[Hashable, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self, key: Hashable, sequence: int, total: int, text: str, now: int
    ) -> Reassembled | None:
        """Add part ``sequence`` of ``total`` of the message ``key`` (the sender, reference
        and total, say). Returns the message once complete; a repeated part is ignored."""
        if not 1 <= sequence <= total:
            raise ValueError(f"part {sequence} of {total} is not a part")
        if self.completed(key, sequence, text, now):
            return None
        self._done.pop(key, None)
        pending = self._pending.get(key)
        if pending is None or pending.total != total:
            pending = _Pending(total, now)
            self._pending[key] = pending
        pending.parts.setdefault(sequence, text)
        if len(pending.parts) < total:
            return None
        del self._pending[key]
        self._done[key] = _Pending(total, now, pending.parts)
        texts = [pending.parts[index] for index in range(1, total + 1)]
        return Reassembled(key, join(texts), total, total)

    def completed(self, key: Hashable, sequence: int, text: str, now: int) -> bool:
        """Whether this part belongs to a message already completed within ``ttl``."""
        done = self._done.get(key)
        return (
            done is not None
            and now - done.first_seen <= self._ttl
            and (done.parts.get(sequence) == text)
        )

    def expire(self, now: int) -> list[Reassembled]:
        """Messages whose first part arrived more than ``ttl`` ago, with what came of them."""
        for key in [key for key, p in self._done.items() if now - p.first_seen > self._ttl]:
            del self._done[key]
        gone = [key for key, p in self._pending.items() if now - p.first_seen > self._ttl]
        out = []
        for key in gone:
            pending = self._pending.pop(key)
            texts = [pending.parts[index] for index in sorted(pending.parts)]
            out.append(Reassembled(key, join(texts), pending.total, len(pending.parts)))
        return out

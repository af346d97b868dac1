"""The message state machine (Plivo's states).

Outbound: queued -> sent -> delivered | undelivered; queued -> failed. A delivery report may
overtake the record of its own submission, so queued -> delivered | undelivered is allowed.
Inbound: received -> delivered | undelivered.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    RECEIVED = "received"


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


_ALLOWED: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.SENT, State.FAILED, State.DELIVERED, State.UNDELIVERED}),
    State.SENT: frozenset({State.DELIVERED, State.UNDELIVERED}),
    State.RECEIVED: frozenset({State.DELIVERED, State.UNDELIVERED}),
}

TERMINAL = frozenset({State.DELIVERED, State.UNDELIVERED, State.FAILED})


def can_move(current: State, target: State) -> bool:
    return target in _ALLOWED.get(current, frozenset())

"""Following message changes (``smsgate messages tail``): what is a change, which to show, how
to show it, and where to read from next. Pure: the command feeds it rows from the store.

Two streams make up a message's life: its creation (its row: ``queued``, or ``received`` for
inbound) and its events. On PostgreSQL with several gateway nodes, neither is committed in
the order it is numbered: node A may take event id 100, node B id 101 and commit first. So a
follower does not simply read "after the last id": ``IdCursor`` remembers the ids it skipped
over and asks for them again for a while, and ``CreationWindow`` looks back a few seconds for
messages made earlier but committed late, remembering those it has shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from smsgate.core.clock import US_PER_SECOND, plivo_time, to_datetime
from smsgate.core.privacy import HIDE_CONTENT, HIDE_NUMBERS
from smsgate.core.states import TERMINAL, Direction, State
from smsgate.text.numbers import mask_number, sanitize_destination

#: States after which nothing more is expected. An inbound message is settled once received.
FINAL = frozenset({*(s.value for s in TERMINAL), State.RECEIVED.value})
STATES = tuple(s.value for s in State)
#: How long a skipped event id, or a message made before the last look, may take to commit.
GRACE_SECONDS = 10.0
LOOKBACK_US = 10 * US_PER_SECOND
#: Event ids below the highest at start that are checked for late commits, and the most
#: skipped ids remembered at once.
START_WINDOW = 1000
MAX_GAPS = 1000
CREATED = "created"


class SinceError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Since:
    """Where to start: ``replay`` the changes since ``start`` (µs; None for all), or only
    follow new ones."""

    replay: bool
    start: int | None


def parse_since(value: str, now_us: int) -> Since:
    """``now``, ``all``, or a number of minutes to replay."""
    wanted = value.strip().lower()
    if wanted == "now":
        return Since(False, now_us)
    if wanted == "all":
        return Since(True, None)
    try:
        minutes = float(wanted)
    except ValueError:
        raise SinceError(f"{value!r}: use now, all, or a number of minutes") from None
    if not minutes >= 0 or minutes == float("inf"):
        raise SinceError(f"{value!r}: use now, all, or a number of minutes")
    return Since(True, now_us - int(minutes * 60 * US_PER_SECOND))


def uuid_floor(us: int) -> str:
    """The lowest UUIDv7 made in the millisecond of ``us``, as text: every message uuid made
    then or later sorts above it (the uuids are lower-case hex of fixed width)."""
    h = f"{max(0, us // 1000) & 0xFFFF_FFFF_FFFF:012x}"
    return f"{h[:8]}-{h[8:]}-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class Change:
    time: int  # µs
    message_uuid: str
    account: str
    direction: str
    event: str  # "created", or the event's kind: a state, or retry, late_report, …
    state: str
    from_number: str
    to_number: str
    error_code: str
    channel: str | None
    detail: str
    log: str
    text: str | None = None  # creations only
    event_id: int | None = None

    @property
    def sort_key(self) -> tuple[int, int, int]:
        return (self.time, 0 if self.event_id is None else 1, self.event_id or 0)

    def masked(self) -> Change:
        """What the message's ``log`` setting lets be shown."""
        found = self
        if self.log in HIDE_NUMBERS:
            found = replace(
                found,
                from_number=mask_number(self.from_number),
                to_number=mask_number(self.to_number),
            )
        if self.log in HIDE_CONTENT and self.text is not None:
            found = replace(found, text=None)
        return found


def from_event(row: Mapping[str, Any]) -> Change:
    return Change(
        time=int(row["created_at"]),
        message_uuid=str(row["message_uuid"]),
        account=str(row["auth_id"]),
        direction=str(row["direction"]),
        event=str(row["kind"]),
        state=str(row["state"]),
        from_number=str(row["from_number"]),
        to_number=str(row["to_number"]),
        error_code=str(row["error_code"] or ""),
        channel=row["channel"],
        detail=str(row["detail"] or ""),
        log=str(row["log"]),
        event_id=int(row["id"]),
    )


def from_message(row: Mapping[str, Any]) -> Change:
    """A message's creation: its first state, whatever it is now."""
    inbound = row["direction"] == Direction.INBOUND
    return Change(
        time=int(row["created_at"]),
        message_uuid=str(row["uuid"]),
        account=str(row["auth_id"]),
        direction=str(row["direction"]),
        event=CREATED,
        state=State.RECEIVED.value if inbound else State.QUEUED.value,
        from_number=str(row["from_number"]),
        to_number=str(row["to_number"]),
        error_code="",
        channel=row["channel"] if inbound else None,
        detail="",
        log=str(row["log"]),
        text=row["text"],
    )


def _time(us: int) -> str:
    return to_datetime(us).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def line(change: Change) -> str:
    """One line: time (UTC), uuid, direction, state, from→to, error code, channel, and what
    else the event says."""
    c = change.masked()
    note = ""
    if c.event not in (CREATED, c.state):
        note = f"  ({c.event}{': ' + c.detail if c.detail else ''})"
    elif c.detail:
        note = f"  ({c.detail})"
    return (
        f"{_time(c.time)}  {c.message_uuid}  {c.direction:<8}  {c.state:<11}  "
        f"{c.from_number}→{c.to_number}  {c.error_code or '-'}  {c.channel or '-'}{note}"
    )


def record(change: Change) -> dict[str, Any]:
    """The change as a JSON object."""
    c = change.masked()
    return {
        "time": plivo_time(c.time),
        "event_id": c.event_id,
        "message_uuid": c.message_uuid,
        "account": c.account,
        "direction": c.direction,
        "event": c.event,
        "state": c.state,
        "from_number": c.from_number,
        "to_number": c.to_number,
        "error_code": c.error_code,
        "channel": c.channel,
        "detail": c.detail,
        "text": c.text,
    }


class Selection:
    """Which changes are relevant (``--number``) and which are shown (``--state``).

    A message matched by its number stays followed by its uuid: once a ``log=false`` message
    is final, its stored numbers are masked and would no longer match."""

    def __init__(self, numbers: Iterable[str] = (), states: Iterable[str] = ()) -> None:
        self.numbers = {sanitize_destination(n) for n in numbers if sanitize_destination(n)}
        self.states = set(states)
        self._matched: set[str] = set()

    def relevant(self, change: Change) -> bool:
        if not self.numbers:
            return True
        if change.message_uuid in self._matched:
            relevant = True
        else:
            relevant = bool({change.from_number, change.to_number} & self.numbers)
            if relevant:
                self._matched.add(change.message_uuid)
        if relevant and change.state in FINAL and change.event != CREATED:
            self._matched.discard(change.message_uuid)  # nothing more will come
        return relevant

    def shown(self, change: Change) -> bool:
        return not self.states or change.state in self.states


class Followed:
    """The messages seen, and whether each has reached a final state (``--until-final``)."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    def know(self, uuid: str, state: str) -> None:
        """A message's current state, read from its row."""
        self.states[uuid] = state

    def see(self, change: Change) -> None:
        known = self.states.get(change.message_uuid)
        if known in FINAL:
            return  # final states stay final, whatever order the changes come in
        if change.event == CREATED and known is not None:
            return  # a creation says nothing newer than what is known
        self.states[change.message_uuid] = change.state

    @property
    def done(self) -> bool:
        return bool(self.states) and all(state in FINAL for state in self.states.values())


class IdCursor:
    """Where to read events from next: above ``high``, and the ids skipped below it that may
    still commit (for ``grace`` seconds)."""

    def __init__(
        self,
        high: int,
        present: Iterable[int] = (),
        *,
        now: float,
        window: int = START_WINDOW,
        grace: float = GRACE_SECONDS,
        max_gaps: int = MAX_GAPS,
    ) -> None:
        self.high = high
        self.grace = grace
        self.max_gaps = max_gaps
        there = set(present)
        self.gaps: dict[int, float] = {
            i: now for i in range(max(0, high - window) + 1, high + 1) if i not in there
        }
        self._trim()

    def also(self) -> list[int]:
        """Skipped ids to ask for again."""
        return sorted(self.gaps)

    def take(self, ids: Iterable[int], now: float) -> list[int]:
        """The ids among ``ids`` not taken before; the ones skipped over are remembered."""
        fresh: list[int] = []
        for i in sorted(set(ids)):
            if i > self.high:
                for missing in range(max(self.high + 1, i - self.max_gaps), i):
                    self.gaps[missing] = now
                self.high = i
                fresh.append(i)
            elif self.gaps.pop(i, None) is not None:
                fresh.append(i)
        for i, noticed in list(self.gaps.items()):
            if now - noticed > self.grace:
                del self.gaps[i]
        self._trim()
        return fresh

    def _trim(self) -> None:
        if len(self.gaps) > self.max_gaps:
            for i in sorted(self.gaps)[: len(self.gaps) - self.max_gaps]:
                del self.gaps[i]


class CreationWindow:
    """Which new messages to read: those made since ``lookback`` ago (and not before
    ``start_floor``), less those already shown."""

    def __init__(self, start_floor: str, lookback_us: int = LOOKBACK_US) -> None:
        self.start_floor = start_floor
        self.lookback_us = lookback_us
        self.seen: set[str] = set()
        self._floor = start_floor

    def floor(self, now_us: int) -> str:
        """The uuid to read above; it never moves back, even if the clock does."""
        self._floor = max(self._floor, uuid_floor(now_us - self.lookback_us))
        return self._floor

    def mark(self, uuid: str) -> None:
        self.seen.add(uuid)

    def fresh(self, uuids: Iterable[str], now_us: int) -> list[str]:
        """The uuids among ``uuids`` not shown before (now marked shown)."""
        found = [u for u in uuids if u not in self.seen]
        self.seen.update(found)
        floor = self.floor(now_us)
        self.seen = {u for u in self.seen if u > floor}
        return found

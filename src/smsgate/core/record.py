"""The one place a message changes state.

``apply`` takes a batch of events, loads the messages they name, moves each through the state
machine, and writes the new state, an event row and (when the message has a ``url``) the status
callback in the caller's transaction: a crash loses nothing, and no callback is ever sent for a
change that was not stored.

The parts of a concatenated inbound message (``InboundPart``) are stored as they come; the
last one records the message, and ``expired_parts`` gives up, as they are, the messages whose
missing parts never came.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import Connection

from smsgate.config import InboundSettings
from smsgate.core import errors
from smsgate.core import inbound_routing as routing
from smsgate.core.clock import seconds
from smsgate.core.events import (
    DeliveryReport,
    Event,
    Expired,
    Forwarded,
    InboundPart,
    InboundReceived,
    SendFailed,
    Submitted,
)
from smsgate.core.ids import api_id, uuid7
from smsgate.core.models import Message
from smsgate.core.privacy import HIDE_CONTENT, HIDE_NUMBERS
from smsgate.core.states import TERMINAL, Direction, State, can_move
from smsgate.core.submission import is_smpp_url, receipt_row, status_callback_row
from smsgate.store import accounts as account_store
from smsgate.store import messages as message_store
from smsgate.store import outbox
from smsgate.store import parts as part_store
from smsgate.store import smpp_parts as inbound_parts
from smsgate.store.parts import Part
from smsgate.store.smpp_parts import PartKey
from smsgate.text.errors import EncodeError
from smsgate.text.numbers import mask_number, sanitize_sender
from smsgate.text.pdu.reassembly import join
from smsgate.text.segments import segment, well_formed

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Transition:
    uuid: str
    direction: str
    previous: str | None
    state: str
    channel: str | None


@dataclass(slots=True)
class Outcome:
    transitions: list[Transition] = field(default_factory=list)
    unmatched: list[Event] = field(default_factory=list)
    callbacks: int = 0
    queued: int = 0  # outbound messages created (replies)


class _Batch:
    """The messages of one batch and the rows their changes produce."""

    def __init__(self, loaded: list[Message], now: int, receipt_window: int) -> None:
        self.now = now
        self.receipt_window = receipt_window
        self.by_uuid = {msg.uuid: msg for msg in loaded}
        self.by_ref: dict[tuple[str | None, str | None], Message] = {
            (msg.channel, msg.channel_ref): msg for msg in loaded if msg.channel_ref
        }
        self.changed: dict[str, Message] = {}
        self.parts: dict[str, list[Part]] = {}
        self.part_by_ref: dict[tuple[str, str], Part] = {}
        self.new_parts: list[Part] = []
        self.changed_parts: dict[int, Part] = {}
        self.created: list[Message] = []
        self.created_uuids: set[str] = set()  # written by INSERT, not UPDATE
        self.inbound_refs: set[tuple[str, str]] = set()
        self.events: list[dict[str, Any]] = []
        self.callbacks: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.outcome = Outcome()

    def find(self, uuid: str | None, channel: str | None, ref: str | None) -> Message | None:
        if uuid is not None:
            return self.by_uuid.get(uuid)
        part = self.part(channel, ref)
        if part is not None:
            return self.by_uuid.get(part.message_uuid)
        return self.by_ref.get((channel, ref))

    def part(self, channel: str | None, ref: str | None) -> Part | None:
        return self.part_by_ref.get((channel, ref)) if channel and ref else None

    def add_parts(self, found: list[Part]) -> None:
        """Index parts by reference; a reference reused by the network names the newest."""
        for part in found:
            if part.message_uuid in self.by_uuid:
                self.parts.setdefault(part.message_uuid, []).append(part)
                known = self.part_by_ref.get((part.channel, part.ref))
                mine = self.by_uuid[part.message_uuid]
                if known is None or self.by_uuid[known.message_uuid].created_at <= mine.created_at:
                    self.part_by_ref[(part.channel, part.ref)] = part

    def note(self, msg: Message, kind: str, error_code: str = "", detail: str = "") -> None:
        self.events.append(
            {
                "message_uuid": msg.uuid,
                "kind": kind,
                "state": msg.state,
                "error_code": error_code,
                "detail": detail,
                "created_at": self.now,
            }
        )
        if msg.uuid not in self.created_uuids:
            self.changed[msg.uuid] = msg
        msg.updated_at = self.now

    def move(self, msg: Message, target: State, error_code: str = "", detail: str = "") -> None:
        previous = msg.state
        msg.state = target
        msg.error_code = error_code
        if target in (State.DELIVERED, State.UNDELIVERED):
            msg.dlr_at = self.now
        msg.claimed_by = None
        self.note(msg, target.value, error_code, detail)
        if msg.url and msg.direction == Direction.OUTBOUND:
            if not is_smpp_url(msg.url):
                msg.callback_seq += 1
                self.callbacks.append(status_callback_row(msg, target, msg.callback_seq, self.now))
                self.outcome.callbacks += 1
            elif target in TERMINAL:
                deadline = self.now + self.receipt_window
                self.callbacks.append(receipt_row(msg, target, self.now, deadline))
                self.outcome.callbacks += 1
        self.outcome.transitions.append(
            Transition(msg.uuid, msg.direction, previous, target.value, msg.channel)
        )
        _forget(msg, target)


def _forget(msg: Message, state: State) -> None:
    """Drop what ``log`` says not to keep, once the message no longer needs it."""
    if msg.direction != Direction.OUTBOUND:
        return
    if msg.log in HIDE_CONTENT and state in (State.SENT, *TERMINAL):
        msg.text = None
    if msg.log in HIDE_NUMBERS and state in TERMINAL:
        msg.from_number = mask_number(msg.from_number)
        msg.to_number = mask_number(msg.to_number)


def _submitted(batch: _Batch, msg: Message, event: Submitted) -> None:
    if (
        msg.state != State.QUEUED
        and msg.channel == event.channel
        and msg.channel_ref == event.channel_ref
        and msg.sent_at is not None
    ):
        return  # this handover is recorded already (a channel and the dispatcher both tell)
    msg.channel = event.channel
    msg.channel_ref = event.channel_ref
    if event.rate is not None:
        msg.total_rate = event.rate
    msg.claimed_by = None
    if event.channel_ref:
        batch.by_ref[(event.channel, event.channel_ref)] = msg
    if event.part_refs:
        new = [
            Part(msg.uuid, event.channel, ref, number, "sent", updated_at=batch.now)
            for number, ref in enumerate(event.part_refs, 1)
        ]
        batch.new_parts.extend(new)
        batch.add_parts(new)
    if can_move(State(msg.state), State.SENT):
        msg.sent_at = batch.now
        batch.move(msg, State.SENT)
    else:
        batch.note(msg, "submitted", detail="submission recorded after its delivery report")


def _send_failed(batch: _Batch, msg: Message, event: SendFailed) -> None:
    if not can_move(State(msg.state), State.FAILED):
        return  # already handed over or settled: a late failure changes nothing
    if event.temporary:
        retry_at = event.retry_at if event.retry_at is not None else batch.now
        if retry_at < msg.expires_at:
            msg.next_attempt_at = retry_at
            msg.claimed_by = None
            batch.note(msg, "retry", event.error_code, event.reason)
        else:
            batch.move(msg, State.FAILED, errors.EXPIRED, f"expired before a retry: {event.reason}")
        return
    batch.move(msg, State.FAILED, event.error_code, event.reason)


def _delivery_report(batch: _Batch, msg: Message, event: DeliveryReport) -> None:
    target = State.DELIVERED if event.delivered else State.UNDELIVERED
    if not can_move(State(msg.state), target):
        batch.note(msg, "late_report", event.error_code, f"report {target} after {msg.state}")
        return
    if can_move(State(msg.state), State.SENT):  # the report overtook the handover's record
        msg.sent_at = msg.sent_at or batch.now
        batch.move(msg, State.SENT)
    code = errors.SUCCESS if event.delivered else (event.error_code or errors.UNKNOWN)
    batch.move(msg, target, code)


def _part_report(batch: _Batch, msg: Message, part: Part, event: DeliveryReport) -> None:
    """One part's verdict: the first failed part settles the message, else the last one."""
    siblings = batch.parts.get(msg.uuid, [part])
    if part.state != "sent":
        batch.note(msg, "late_report", event.error_code, f"part {part.sequence} reported again")
        return
    part.state = "delivered" if event.delivered else "undelivered"
    part.error_code = errors.SUCCESS if event.delivered else (event.error_code or errors.UNKNOWN)
    part.updated_at = batch.now
    if part.id is not None:
        batch.changed_parts[part.id] = part
    if not event.delivered or all(s.state == "delivered" for s in siblings):
        _delivery_report(batch, msg, event)
    else:
        batch.note(msg, "part_report", detail=f"part {part.sequence}/{len(siblings)} delivered")


def _expired(batch: _Batch, msg: Message) -> None:
    if can_move(State(msg.state), State.FAILED):
        batch.move(msg, State.FAILED, errors.EXPIRED, "message_expiry elapsed in the queue")


def _forwarded(batch: _Batch, msg: Message, event: Forwarded) -> None:
    target = State.DELIVERED if event.delivered else State.UNDELIVERED
    if msg.direction == Direction.INBOUND and can_move(State(msg.state), target):
        batch.move(msg, target, "" if event.delivered else errors.DISPATCH_FAILED, event.detail)


def _inbound(
    conn: Connection, batch: _Batch, event: InboundReceived, settings: InboundSettings | None
) -> None:
    if event.channel_ref and (
        (event.channel, event.channel_ref) in batch.inbound_refs
        or message_store.inbound_exists(conn, event.channel, event.channel_ref)
    ):
        return  # recorded already: the channel could not forget it before a restart
    to_number = sanitize_sender(event.to_number)[:32]
    owner_id, application_id = routing.owner(conn, to_number, event.channel)
    if owner_id is not None:
        # An account owns the number: the message is its, whatever the channel's default.
        account = account_store.by_id(conn, owner_id)
    elif event.account_auth_id:
        # A named account must exist: never hand one tenant's message to another.
        account = account_store.by_auth_id(conn, event.account_auth_id)
    else:
        account = account_store.first_main_account(conn)
    if account is None:
        log.warning(
            "inbound message has no account to own it",
            channel=event.channel,
            account=event.account_auth_id,
        )
        batch.outcome.unmatched.append(event)
        return
    # A database text holds no NUL; numbers have 32 characters (a sender ID, at most 11).
    text = well_formed(event.text).replace("\x00", "\ufffd")
    try:
        seg = segment(text)
        encoding, units = seg.name, seg.units
    except EncodeError:
        # Longer than any one message can be sent (255 parts): still a message received.
        encoding, units = "UCS2", 255
    now = batch.now
    msg = Message(
        uuid=uuid7(),
        account_id=account.id,
        direction=Direction.INBOUND,
        state=State.RECEIVED,
        from_number=sanitize_sender(event.from_number)[:32],
        to_number=to_number,
        text=text,
        encoding=encoding,
        units=event.units or units,
        created_at=now,
        request_id=api_id(),
        channel=event.channel,
        channel_ref=event.channel_ref,
    )
    if event.channel_ref:
        batch.inbound_refs.add((event.channel, event.channel_ref))
    batch.created.append(msg)
    batch.created_uuids.add(msg.uuid)
    batch.by_uuid[msg.uuid] = msg
    batch.outcome.transitions.append(
        Transition(msg.uuid, msg.direction, None, State.RECEIVED.value, event.channel)
    )
    if owner_id is None:
        batch.note(msg, "unknown_number", detail=f"no account owns {to_number}")
        log.info("inbound message for a number no account owns", number=mask_number(to_number))
    if settings is None:
        return
    plan = routing.plan(conn, msg, account, application_id, settings, now)
    for kind, detail in plan.notes:
        batch.note(msg, kind, detail=detail)
    batch.callbacks += plan.callbacks
    batch.outcome.callbacks += len(plan.callbacks)
    batch.replies += plan.replies
    batch.outcome.queued += len(plan.replies)


def _parts_ref(group_id: str) -> str:
    """The ``channel_ref`` of the message a group of parts became (group ids are unique)."""
    return f"parts:{group_id}"


def _inbound_part(
    conn: Connection, batch: _Batch, event: InboundPart, settings: InboundSettings | None
) -> None:
    whole = InboundReceived(
        channel=event.channel,
        from_number=event.from_number,
        to_number=event.to_number,
        text=event.text,
        account_auth_id=event.account_auth_id,
        units=event.total,
    )
    if not 1 <= event.sequence <= event.total:
        _inbound(conn, batch, whole, settings)  # no part of anything: a message of its own
        return
    key = PartKey(
        inbound_parts.channel_system_id(event.channel),
        event.from_number[:32],
        event.to_number[:32],
        event.reference,
        event.total,
    )
    stored = inbound_parts.store_inbound(
        conn, key, event.sequence, event.text, now=batch.now, new_group=_group_id
    )
    if stored.duplicate or not stored.complete:
        return
    text = join([stored.texts[n] for n in range(1, event.total + 1)])
    message = replace(whole, text=text, channel_ref=_parts_ref(stored.group_id))
    _inbound(conn, batch, message, settings)


def _group_id() -> str:
    return uuid7().replace("-", "")


def expired_parts(
    conn: Connection, channel: str, account_auth_id: str | None, cutoff: int
) -> list[InboundReceived]:
    """Let go ``channel``'s groups of parts started before ``cutoff``; the messages that did
    not complete, their parts joined in order, to be recorded in the same transaction."""
    found = inbound_parts.expire_inbound(conn, inbound_parts.channel_system_id(channel), cutoff)
    for group in found:
        log.info(
            "inbound message incomplete; recorded as it is",
            channel=channel,
            parts=len(group.texts),
            total=group.total,
        )
    return [
        InboundReceived(
            channel=channel,
            from_number=group.src,
            to_number=group.dst,
            text=join([group.texts[n] for n in sorted(group.texts)]),
            account_auth_id=account_auth_id,
            units=group.total,
            channel_ref=_parts_ref(group.group_id),
        )
        for group in found
    ]


def apply(
    conn: Connection,
    events: list[Event],
    *,
    now: int,
    inbound: InboundSettings | None = None,
    receipt_hours: float = 24.0,
) -> Outcome:
    """Apply ``events`` in order inside the caller's transaction. With ``inbound``, new
    inbound messages are routed (see ``core/inbound_routing.py``). A message an ESME
    submitted (an ``smpp://`` url) gets a receipt row for its final state instead of status
    callbacks, tried for ``receipt_hours``."""
    uuids = {
        e.message_uuid
        for e in events
        if not isinstance(e, InboundReceived | InboundPart) and e.message_uuid
    }
    refs = {
        (e.channel, e.channel_ref)
        for e in events
        if isinstance(e, DeliveryReport) and e.message_uuid is None and e.channel and e.channel_ref
    }
    loaded = message_store.lock(conn, uuids, refs)
    batch = _Batch(loaded, now, seconds(receipt_hours * 3600))
    if refs:
        batch.add_parts(part_store.of_messages(conn, batch.by_uuid))
    for event in events:
        if isinstance(event, InboundReceived):
            _inbound(conn, batch, event, inbound)
            continue
        if isinstance(event, InboundPart):
            _inbound_part(conn, batch, event, inbound)
            continue
        if isinstance(event, DeliveryReport):
            msg = batch.find(event.message_uuid, event.channel, event.channel_ref)
        else:
            msg = batch.find(event.message_uuid, None, None)
        if msg is None:
            batch.outcome.unmatched.append(event)
            continue
        if isinstance(event, Submitted):
            _submitted(batch, msg, event)
        elif isinstance(event, SendFailed):
            _send_failed(batch, msg, event)
        elif isinstance(event, DeliveryReport):
            part = None if event.message_uuid else batch.part(event.channel, event.channel_ref)
            if part is not None:
                _part_report(batch, msg, part, event)
            else:
                _delivery_report(batch, msg, event)
        elif isinstance(event, Expired):
            _expired(batch, msg)
        elif isinstance(event, Forwarded):
            _forwarded(batch, msg, event)
    message_store.insert(conn, [msg.as_row() for msg in batch.created] + batch.replies)
    message_store.save(conn, list(batch.changed.values()))
    message_store.insert_events(conn, batch.events)
    part_store.insert(conn, batch.new_parts)
    part_store.save(conn, list(batch.changed_parts.values()))
    outbox.insert(conn, batch.callbacks)
    return batch.outcome

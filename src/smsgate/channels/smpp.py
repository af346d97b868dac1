"""The SMPP channel: smsgate as an ESME bound to a carrier's SMSC (SMPP 3.4).

A link is one or more binds (``smpp_link.Bind``), each its own connection, as transceivers
or as transmitters with one receiver beside them. A message's parts are encoded as the
gateway segmented it (``smpp.coding.submit_parts``) and pipelined over the bound
transmitters within each bind's window and the link's throughput; the message is ``sent``
once every part was accepted, with the SMSC's message_id of each part kept so that delivery
receipts settle it part by part. Parts accepted before a later part failed are not sent
again when the message is retried (the concatenation reference comes from its UUID).

submit_sm_resp statuses:

    command_status                                 message          error
    ESME_RTHROTTLED (and the bind pauses)          retried          300
    ESME_RMSGQFUL, ESME_RSYSERR, ESME_RX_T_APPN,   retried          300
      ESME_RSUBMITFAIL
    ESME_RINVBNDSTS (and the bind binds again)     retried          300
    no submit_sm_resp in response_timeout,         retried          300
      connection lost before it came
    ESME_RINVDSTADR, ESME_RINVDSTTON,              failed           50 invalid destination
      ESME_RINVDSTNPI
    ESME_RINVSRCADR, ESME_RINVSRCTON,              failed           40 invalid source
      ESME_RINVSRCNPI
    ESME_RINVMSGLEN                                failed           110 message too long
    ESME_RINVESMCLASS, ESME_RINVOPTPARSTREAM,      failed           10 invalid message
      ESME_ROPTPARNOTALLWD, ESME_RINVPARLEN,
      ESME_RMISSINGOPTPARAM, ESME_RINVOPTPARAMVAL
    ESME_RX_P_APPN, ESME_RX_R_APPN                 failed           100 prohibited by carrier
    any other                                      failed           300 dispatch failed

A part is written only while its answer can still come within the handover's send_timeout
(a part that finds no window room or throughput turn by then goes back with its message).
Once written it is not cancelled with the send: an answer that comes after the send ended
is kept for the retry, which waits for the parts still unanswered rather than sending them
again. A part whose submit_sm_resp never came (a timeout, a connection lost mid-window) may
have been accepted: it is sent again with the retry. SMPP offers no way to ask; this is the
one case where a part can reach the handset twice, and the health detail counts it
(``unconfirmed``).

Received deliver_sm and data_sm are answered only once what they carry is recorded: a
delivery receipt becomes a ``DeliveryReport`` for the part it names (a receipt that came
before its submit_sm_resp waits for the sends under way), a message from a handset an
``InboundReceived``, each part of a concatenated one an ``InboundPart`` (the core stores the
parts and records the message once the last is there, or as it is after
reassembly_timeout). A failure to record is answered ESME_RX_T_APPN, for the SMSC to deliver
it again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import ssl
import time
import zlib
from collections import OrderedDict
from collections.abc import Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import structlog
from pydantic import Field, ValidationInfo, field_validator, model_validator

from smsgate.channels.base import Channel, ChannelOptions, EventSink, Health, Outbound
from smsgate.channels.smpp_link import Bind, LinkSettings, NotSent, Origin
from smsgate.core import errors
from smsgate.core.clock import Clock
from smsgate.core.events import (
    DeliveryReport,
    InboundPart,
    InboundReceived,
    SendFailed,
    Submitted,
)
from smsgate.core.ids import uuid7
from smsgate.smpp.coding import CodingError, Incoming, ShortMessage, decode_short_message
from smsgate.smpp.coding import submit_parts as encode_parts
from smsgate.smpp.connection import ConnectionClosed, ResponseTimeout
from smsgate.smpp.pdu import Command, Pdu, PduError, Status, Tag, response_to, status_name
from smsgate.smpp.receipts import Outcome, Receipt, id_forms, outcome_of, plivo_error, receipt_from
from smsgate.text.errors import EncodeError

log = structlog.get_logger(__name__)

#: submit_sm_resp statuses after which the message is tried again later.
TEMPORARY = frozenset(
    (
        Status.ESME_RTHROTTLED,
        Status.ESME_RMSGQFUL,
        Status.ESME_RSYSERR,
        Status.ESME_RX_T_APPN,
        Status.ESME_RSUBMITFAIL,
        Status.ESME_RINVBNDSTS,
    )
)
#: submit_sm_resp statuses that fail the message, with their error code.
PERMANENT: dict[int, str] = {
    Status.ESME_RINVDSTADR: errors.INVALID_DESTINATION,
    Status.ESME_RINVDSTTON: errors.INVALID_DESTINATION,
    Status.ESME_RINVDSTNPI: errors.INVALID_DESTINATION,
    Status.ESME_RINVSRCADR: errors.INVALID_SOURCE,
    Status.ESME_RINVSRCTON: errors.INVALID_SOURCE,
    Status.ESME_RINVSRCNPI: errors.INVALID_SOURCE,
    Status.ESME_RINVMSGLEN: errors.MESSAGE_TOO_LONG,
    Status.ESME_RINVESMCLASS: errors.INVALID_MESSAGE,
    Status.ESME_RINVOPTPARSTREAM: errors.INVALID_MESSAGE,
    Status.ESME_ROPTPARNOTALLWD: errors.INVALID_MESSAGE,
    Status.ESME_RINVPARLEN: errors.INVALID_MESSAGE,
    Status.ESME_RMISSINGOPTPARAM: errors.INVALID_MESSAGE,
    Status.ESME_RINVOPTPARAMVAL: errors.INVALID_MESSAGE,
    Status.ESME_RX_P_APPN: errors.PROHIBITED_BY_CARRIER,
    Status.ESME_RX_R_APPN: errors.PROHIBITED_BY_CARRIER,
}

#: esm_class message type of an SMSC delivery receipt.
_ESM_RECEIPT = 0x04
_ESM_TYPE = 0x3C
_ESM_UDHI = 0x40
#: Message ids of recent parts kept to match receipts written in another form.
_RECENT_IDS = 100_000
#: Seconds a message's accepted parts are remembered for its retry.
_PROGRESS_TTL = 86_400.0
#: Seconds a submit_sm may go before its turn under the throughput (the timer's slack).
_PACE_SLACK = 0.001
_MAX_VALIDITY = 30 * 86_400


def submit_failure(status: int) -> tuple[str, bool]:
    """(error code, temporary) for a submit_sm_resp status (the module's table)."""
    if status in TEMPORARY:
        return errors.DISPATCH_FAILED, True
    return PERMANENT.get(status, errors.DISPATCH_FAILED), False


def relative_validity(value: float) -> str:
    """``value`` seconds as an SMPP relative time (``YYMMDDhhmmss000R``)."""
    days, rest = divmod(int(value), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def _number(address: str) -> str:
    """An address as smsgate stores numbers: digits without ``+``; a sender ID as it is."""
    bare = address.strip()
    digits = bare.lstrip("+")
    return digits if digits.isdigit() else bare


class SmppOptions(ChannelOptions):
    host: str = Field(min_length=1, description="the SMSC's host name or address")
    port: int = Field(default=2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field(default="", max_length=8)
    system_type: str = Field(default="", max_length=12)
    bind: Literal["transceiver", "transmitter_receiver", "transmitter"] = Field(
        default="transceiver",
        description="transceivers, or transmitters with one receiver, or transmitters only",
    )
    binds: int = Field(default=1, ge=1, le=64, description="sending binds, each a connection")
    source_addr_ton: int | None = Field(default=None, ge=0, le=255)
    source_addr_npi: int | None = Field(default=None, ge=0, le=255)
    dest_addr_ton: int = Field(default=1, ge=0, le=255)
    dest_addr_npi: int = Field(default=1, ge=0, le=255)
    default_alphabet: Literal["gsm7", "latin1", "ascii"] = "gsm7"
    national: bool = Field(default=True, description="the SMSC carries national shift tables")
    concat: Literal["udh", "sar", "payload"] = "udh"
    registered_delivery: bool = True
    window: int = Field(default=10, ge=1, le=1000, description="submit_sm unanswered per bind")
    throughput: float = Field(default=0.0, ge=0, description="submit_sm per second; 0: no cap")
    throttle_pause: float = Field(
        default=1.0, ge=0, description="seconds a bind waits after ESME_RTHROTTLED"
    )
    enquire_link_interval: float = Field(default=30.0, gt=0)
    response_timeout: float = Field(default=10.0, gt=0)
    reconnect_min: float = Field(default=1.0, gt=0)
    reconnect_max: float = Field(default=60.0, gt=0)
    tls: bool = False
    tls_ca_file: str | None = None
    tls_verify: bool = True
    service_type: str = Field(default="", max_length=5)
    validity: float | None = Field(default=None, ge=1, le=_MAX_VALIDITY)
    reassembly_timeout: float = Field(
        default=300.0, gt=0, description="seconds to wait for the missing parts of a message"
    )
    redelivery_window: float = Field(
        default=60.0,
        gt=0,
        description="seconds after a rebind in which a message whose answer was lost is "
        "taken for the SMSC's second try",
    )

    @field_validator("system_id", "password", "system_type", "service_type")
    @classmethod
    def _printable(cls, value: str, info: ValidationInfo) -> str:
        if not (value.isascii() and value.isprintable()):
            raise ValueError(f"{info.field_name} must be printable ASCII (SMPP C-Octet strings)")
        return value

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isfile(value):
            raise ValueError(f"tls_ca_file {value!r} is not a file")
        return value

    @model_validator(mode="after")
    def _backoff(self) -> SmppOptions:
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must not be less than reconnect_min")
        if self.response_timeout >= self.send_timeout:
            raise ValueError(
                f"response_timeout ({self.response_timeout:g} s) must be less than "
                f"send_timeout ({self.send_timeout:g} s): a part's answer must be able to "
                "come within the handover"
            )
        return self


@dataclass(slots=True)
class _Progress:
    """The parts of a message the SMSC accepted, and those whose submit_sm waits for its
    answer, kept across a retry of that message."""

    reference: int
    since: float
    ids: dict[int, str] = field(default_factory=dict)
    sending: dict[int, asyncio.Task[SendFailed | None]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Lost:
    """A message from a handset recorded whose deliver_sm_resp could not be sent."""

    session: str
    at: float  # the event loop's time


@dataclass(slots=True)
class _Counts:
    messages: int = 0
    parts: int = 0
    unconfirmed: int = 0
    throttled: int = 0
    receipts: int = 0
    received: int = 0
    unreadable: int = 0
    unmatched: int = 0


class SmppChannel(Channel):
    kind: ClassVar[str] = "smpp"
    options_model: ClassVar[type[ChannelOptions]] = SmppOptions
    capabilities: ClassVar[frozenset[str]] = frozenset({"sms", "delivery_reports", "inbound"})
    options: SmppOptions

    def __init__(self, name: str, options: ChannelOptions, sink: EventSink, clock: Clock) -> None:
        super().__init__(name, options, sink, clock)
        assert isinstance(options, SmppOptions)
        settings = LinkSettings(
            host=options.host,
            port=options.port,
            system_id=options.system_id,
            password=options.password,
            system_type=options.system_type,
            response_timeout=options.response_timeout,
            enquire_link_interval=options.enquire_link_interval,
            reconnect_min=options.reconnect_min,
            reconnect_max=options.reconnect_max,
            ssl=self._tls() if options.tls else None,
        )
        mode = "transceiver" if options.bind == "transceiver" else "transmitter"
        self.binds = [
            Bind(f"{name}/{n}", mode, settings, self._deliver, self._notify)
            for n in range(1, options.binds + 1)
        ]
        if options.bind == "transmitter_receiver":
            self.binds.append(Bind(f"{name}/rx", "receiver", settings, self._deliver, self._notify))
        self._transmitters = [bind for bind in self.binds if bind.transmits]
        self.counts = _Counts()
        self._changed = asyncio.Event()
        self._next_submit = 0.0
        self._progress: dict[str, _Progress] = {}
        self._active: dict[str, asyncio.Future[None]] = {}  # sends under way, done at the end
        self._held: dict[str, list[DeliveryReport]] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._aliases: dict[str, str] = {}  # another form of a recent id -> the id
        self._answer_lost: dict[Hashable, _Lost] = {}  # recorded, answer not sent
        self._later_tasks: set[asyncio.Task[None]] = set()
        self._mo_numbers = itertools.count(1)
        self._housekeeper: asyncio.Task[None] | None = None
        self.started = False

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.options.tls_ca_file)
        if not self.options.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.started = True
        for bind in self.binds:
            bind.start()
        self._housekeeper = asyncio.create_task(self._housekeep(), name=f"smpp-{self.name}")

    async def stop(self) -> None:
        self.started = False
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper
            self._housekeeper = None
        await asyncio.gather(*(bind.stop() for bind in self.binds))
        for task in list(self._later_tasks):
            task.cancel()
        self._notify()

    def health(self) -> Health:
        up = [bind for bind in self._transmitters if bind.bound]
        errors_seen = [bind.last_error for bind in self.binds if bind.last_error]
        last_error = errors_seen[0] if errors_seen else None
        c = self.counts
        detail: dict[str, Any] = {
            "smsc": f"{self.options.host}:{self.options.port}",
            "reason": None if up else (last_error or ("starting" if self.started else "stopped")),
            "binds_up": sum(1 for bind in self.binds if bind.bound),
            "binds": len(self.binds),
            "outstanding": sum(bind.submits for bind in self._transmitters),
            "submitted": c.messages,
            "parts": c.parts,
            "unconfirmed": c.unconfirmed,
            "throttled": c.throttled,
            "receipts": c.receipts,
            "received": c.received,
            "unreadable": c.unreadable,
            "last_error": last_error,
            "links": {bind.label: bind.detail() for bind in self.binds},
        }
        return Health(bool(up), detail)

    @property
    def free_slots(self) -> int:
        """Room in the windows of the bound transmitters: the dispatcher never hands over
        more messages than they take at once."""
        now = time.monotonic()
        window = self.options.window
        capacity = window * sum(
            1 for bind in self._transmitters if bind.bound and bind.paused_until <= now
        )
        if not capacity:
            return 0
        used = max(self.in_flight, sum(bind.submits for bind in self._transmitters))
        return max(0, min(self.options.max_in_flight - self.in_flight, capacity - used))

    def _notify(self) -> None:
        """Wake whoever waits for a bind or for window room."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _housekeep(self) -> None:
        interval = min(10.0, self.options.reassembly_timeout / 4)
        while True:
            await asyncio.sleep(interval)
            loop_now = asyncio.get_running_loop().time()
            lost_before = loop_now - self.options.reassembly_timeout
            for key in [k for k, lost in self._answer_lost.items() if lost.at < lost_before]:
                del self._answer_lost[key]
            oldest = loop_now - _PROGRESS_TTL
            for uuid in [u for u, p in self._progress.items() if p.since < oldest]:
                if uuid not in self._active:
                    self._progress.pop(uuid, None)
                    self._held.pop(uuid, None)

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` once the current task yields, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._later_tasks.add(task)
        task.add_done_callback(self._later_tasks.discard)

    # --- sending --------------------------------------------------------------------------

    async def send(self, message: Outbound) -> Submitted | SendFailed:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._active[message.uuid] = done
        try:
            return await self._send(message)
        except Exception as exc:
            log.exception("smpp send failed", channel=self.name, message_uuid=message.uuid)
            return SendFailed(message.uuid, errors.DISPATCH_FAILED, f"{exc}", temporary=True)
        finally:
            # Receipts waiting for this handover are recorded after it: the dispatcher
            # emits the handover before its task yields again.
            done.set_result(None)
            if self._active.get(message.uuid) is done:
                del self._active[message.uuid]

    async def _send(self, message: Outbound) -> Submitted | SendFailed:
        loop = asyncio.get_running_loop()
        progress = self._progress.get(message.uuid)
        if progress is None:
            # From the UUID: parts sent again after a restart are parts of the same message.
            progress = _Progress(zlib.crc32(message.uuid.encode()) & 0xFFFF, loop.time())
        opts = self.options
        try:
            parts = encode_parts(
                message.text,
                message.encoding,
                reference=progress.reference,
                concat=opts.concat,
                default_alphabet=opts.default_alphabet,
                national=opts.national,
            )
        except (EncodeError, CodingError, ValueError) as exc:
            self._forget(message.uuid)
            return SendFailed(message.uuid, errors.INVALID_MESSAGE, str(exc))
        if not any(bind.bound for bind in self._transmitters):
            return SendFailed(
                message.uuid,
                errors.DISPATCH_FAILED,
                f"no SMPP bind up: {self.health().detail['reason']}",
                temporary=True,
            )
        self._progress[message.uuid] = progress
        # A part is written only while its answer can still come within send_timeout; once
        # written it is not cancelled with the send: its outcome is kept for the retry.
        deadline = loop.time() + opts.send_timeout - opts.response_timeout
        failures: list[SendFailed] = []
        tasks: list[asyncio.Task[SendFailed | None]] = []
        for index, part in enumerate(parts):
            if index in progress.ids:
                continue
            under_way = progress.sending.get(index)
            if under_way is not None:
                tasks.append(under_way)  # written by an earlier try: its answer is awaited
                continue
            if self._failed(tasks):
                break  # the message goes back to the queue (or fails) anyway
            try:
                async with asyncio.timeout_at(deadline):
                    bind = await self._slot()
            except TimeoutError:
                wait = opts.send_timeout - opts.response_timeout
                reason = f"part {index + 1} found no room (window, throughput) in {wait:g} s"
                failures.append(
                    SendFailed(message.uuid, errors.DISPATCH_FAILED, reason, temporary=True)
                )
                break
            if bind is None:
                reason = "no SMPP bind up"
                failures.append(
                    SendFailed(message.uuid, errors.DISPATCH_FAILED, reason, temporary=True)
                )
                break
            if self._failed(tasks):  # a part was refused while this one waited
                bind.submits -= 1
                self._notify()
                break
            tasks.append(self._start(bind, message, progress, index, part))
        if tasks:
            await asyncio.wait(tasks)
        # What the parts sent were told explains more than a bind lost meanwhile.
        failures[:0] = [f for f in (task.result() for task in tasks) if f is not None]
        permanent = [f for f in failures if not f.temporary]
        if permanent:
            self._forget(message.uuid)
            return permanent[0]
        if failures:
            log.info(
                "smpp message goes back to the queue",
                channel=self.name,
                message_uuid=message.uuid,
                accepted=len(progress.ids),
                parts=len(parts),
                reason=failures[0].reason,
            )
            return failures[0]
        self._progress.pop(message.uuid, None)
        self.counts.messages += 1
        held = self._held.pop(message.uuid, [])
        if held:
            self._later(self._release(held))
        ids = tuple(progress.ids[index] for index in range(len(parts)))
        refs = ids if opts.registered_delivery else ()
        return Submitted(message.uuid, self.name, ids[0], opts.rate, part_refs=refs)

    @staticmethod
    def _failed(tasks: list[asyncio.Task[SendFailed | None]]) -> bool:
        return any(
            task.done() and not task.cancelled() and task.result() is not None for task in tasks
        )

    def _forget(self, uuid: str) -> None:
        """The message failed for good: its accepted parts and their receipts settle
        nothing."""
        self._progress.pop(uuid, None)
        self._held.pop(uuid, None)

    async def _slot(self) -> Bind | None:
        """A bound transmitter with window room, its slot reserved once the link's
        throughput lets the next submit_sm go (a slot is not held while pacing); None when
        none is bound."""
        rate = self.options.throughput
        loop = asyncio.get_running_loop()
        while True:
            if rate and (wait := self._next_submit - loop.time()) > 0:
                await asyncio.sleep(wait)
            bind = await self._acquire()
            if bind is None or not rate:
                return bind
            now = loop.time()
            if self._next_submit - now <= _PACE_SLACK:
                self._next_submit = max(now, self._next_submit) + 1 / rate
                return bind
            bind.submits -= 1  # another part took this turn while this one waited for room
            self._notify()

    async def _acquire(self) -> Bind | None:
        """A bound transmitter with window room, its slot reserved; None when none is
        bound. Waits for room (and for a throttled bind's pause to end)."""
        window = self.options.window
        while True:
            now = time.monotonic()
            bound = [bind for bind in self._transmitters if bind.bound]
            if not bound:
                return None
            best = max(bound, key=lambda bind: bind.room(window, now))
            if best.room(window, now) > 0:
                best.submits += 1
                return best
            changed = self._changed
            paused = [bind.paused_until - now for bind in bound if bind.paused_until > now]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(paused) if paused else None):
                    await changed.wait()

    def _start(
        self, bind: Bind, message: Outbound, progress: _Progress, index: int, part: ShortMessage
    ) -> asyncio.Task[SendFailed | None]:
        """Submit a part in a task of its own, known to ``progress`` until it ends."""
        task = asyncio.get_running_loop().create_task(
            self._submit(bind, message, progress, index, part)
        )
        progress.sending[index] = task

        def ended(_: asyncio.Task[SendFailed | None]) -> None:
            if progress.sending.get(index) is task:
                del progress.sending[index]

        task.add_done_callback(ended)
        return task

    def _fields(self, message: Outbound, part: ShortMessage) -> dict[str, Any]:
        opts = self.options
        source = message.src.lstrip("+") if message.src.lstrip("+").isdigit() else message.src
        numeric = source.isdigit()
        return {
            "service_type": opts.service_type,
            "source_addr_ton": opts.source_addr_ton
            if opts.source_addr_ton is not None
            else (1 if numeric else 5),
            "source_addr_npi": opts.source_addr_npi
            if opts.source_addr_npi is not None
            else (1 if numeric else 0),
            "source_addr": source,
            "dest_addr_ton": opts.dest_addr_ton,
            "dest_addr_npi": opts.dest_addr_npi,
            "destination_addr": message.dst.lstrip("+"),
            "esm_class": _ESM_UDHI if part.esm_class_udhi else 0,
            "validity_period": relative_validity(opts.validity) if opts.validity else "",
            "registered_delivery": 1 if opts.registered_delivery else 0,
            "data_coding": part.data_coding,
            "short_message": part.short_message,
            "tlvs": part.tlvs,
        }

    async def _submit(
        self, bind: Bind, message: Outbound, progress: _Progress, index: int, part: ShortMessage
    ) -> SendFailed | None:
        """Submit one part on ``bind`` (its slot already reserved); None once accepted."""
        uuid = message.uuid
        temporary = errors.DISPATCH_FAILED
        try:
            answer = await bind.submit(**self._fields(message, part))
        except NotSent:
            return SendFailed(uuid, temporary, f"{bind.label} went down", temporary=True)
        except ResponseTimeout:
            # An SMSC that leaves a submit_sm unanswered that long is stuck: bind again.
            self.counts.unconfirmed += 1
            reason = f"no submit_sm_resp in {self.options.response_timeout:g} s"
            bind.reset(f"{reason}: binding again")
            return SendFailed(uuid, temporary, reason, temporary=True)
        except ConnectionClosed:
            self.counts.unconfirmed += 1
            reason = f"{bind.label}: connection lost before the submit_sm_resp"
            return SendFailed(uuid, temporary, reason, temporary=True)
        except PduError as exc:
            return SendFailed(uuid, errors.INVALID_MESSAGE, f"submit_sm: {exc.reason}")
        finally:
            bind.submits -= 1
            self._notify()
        status = answer.status
        if answer.command == Command.SUBMIT_SM_RESP and status == Status.ESME_ROK:
            message_id = str(answer.fields.get("message_id") or "") or f"{uuid}/{index + 1}"
            progress.ids[index] = message_id
            self._remember(message_id)
            self.counts.parts += 1
            return None
        if answer.command == Command.GENERIC_NACK and status == Status.ESME_ROK:
            status = Status.ESME_RSYSERR
        name = status_name(status)
        code, is_temporary = submit_failure(status)
        if status == Status.ESME_RTHROTTLED:
            self.counts.throttled += 1
            bind.pause(self.options.throttle_pause)
        elif status == Status.ESME_RINVBNDSTS:
            bind.reset(f"the SMSC says {name}: binding again")
        log.info(
            "smpp part refused",
            channel=self.name,
            message_uuid=uuid,
            part=index + 1,
            status=name,
            temporary=is_temporary,
        )
        return SendFailed(uuid, code, f"SMSC answered {name}", temporary=is_temporary)

    def _remember(self, message_id: str) -> None:
        self._recent[message_id] = None
        for form in id_forms(message_id)[1:]:
            self._aliases.setdefault(form, message_id)
        if len(self._recent) > _RECENT_IDS:
            old, _ = self._recent.popitem(last=False)
            for form in id_forms(old)[1:]:
                if self._aliases.get(form) == old:
                    del self._aliases[form]

    # --- receiving ------------------------------------------------------------------------

    async def _deliver(self, origin: Origin, pdu: Pdu) -> Pdu:
        """A deliver_sm or data_sm: its answer, once what it carries is recorded."""
        try:
            status = await self._incoming(origin, pdu)
        except Exception:
            log.exception("smpp deliver_sm could not be recorded", channel=self.name)
            status = Status.ESME_RX_T_APPN
        return response_to(pdu, status)

    async def _incoming(self, origin: Origin, pdu: Pdu) -> int:
        esm_class = int(pdu.fields.get("esm_class") or 0)
        data = bytes(pdu.fields.get("short_message") or b"")
        try:
            incoming = decode_short_message(
                int(pdu.fields.get("data_coding") or 0),
                esm_class,
                data,
                pdu.tlvs,
                default_alphabet=self.options.default_alphabet,
            )
        except CodingError as exc:
            return await self._unreadable(pdu, esm_class, data, str(exc))
        if incoming.is_receipt or Tag.RECEIPTED_MESSAGE_ID in pdu.tlvs:
            receipt = receipt_from(incoming.text, pdu.tlvs)
            if receipt is not None:
                return await self._receipt(receipt)
            if incoming.is_receipt:
                self.counts.unreadable += 1
                log.warning("smpp receipt unreadable; ignored", channel=self.name)
                return Status.ESME_ROK
        return await self._mo(origin, pdu, incoming)

    async def _unreadable(self, pdu: Pdu, esm_class: int, data: bytes, error: str) -> int:
        """A message that cannot be read as it says it is coded: a receipt is read as
        ASCII all the same; anything else is dropped, answered OK (it would never read
        better, and an SMSC told otherwise delivers it again and again)."""
        if (esm_class & _ESM_TYPE) == _ESM_RECEIPT or Tag.RECEIPTED_MESSAGE_ID in pdu.tlvs:
            raw = pdu.tlvs.get(Tag.MESSAGE_PAYLOAD) or data
            receipt = receipt_from(raw.decode("latin-1"), pdu.tlvs)
            if receipt is not None:
                return await self._receipt(receipt)
        self.counts.unreadable += 1
        log.warning(
            "smpp message unreadable; dropped",
            channel=self.name,
            source=pdu.fields.get("source_addr", ""),
            error=error,
        )
        return Status.ESME_ROK

    async def _receipt(self, receipt: Receipt) -> int:
        self.counts.receipts += 1
        outcome = outcome_of(receipt.stat)
        if outcome is Outcome.PENDING:
            return Status.ESME_ROK  # the SMSC is still trying: a final receipt follows
        delivered = outcome is Outcome.DELIVERED
        code = "" if delivered else plivo_error(receipt.stat, receipt.err)

        def report(ref: str) -> DeliveryReport:
            return DeliveryReport(delivered, code, channel=self.name, channel_ref=ref)

        written = receipt.message_id
        ref = written if written in self._recent else None
        if ref is None:
            active = self._under_way()
            if await self.sink.record(report(written)):
                return Status.ESME_ROK  # sent before a restart, most likely
            if active:
                # It may have overtaken its submit_sm_resp: the sends under way end first.
                await self._settled(active)
            ref = written if written in self._recent else self._alias(written)
        if ref is None:
            for form in id_forms(written)[1:]:
                if await self.sink.record(report(form)):
                    return Status.ESME_ROK
            self.counts.unmatched += 1
            log.info(
                "smpp receipt names no message",
                channel=self.name,
                message_id=written,
                stat=receipt.stat,
            )
            return Status.ESME_ROK
        owner = self._owner(ref)
        if owner is not None and owner in self._active:
            await self._settled([self._active[owner]])
            owner = self._owner(ref)
        if owner is not None:
            # A part of a message that went back to the queue after some of its parts:
            # recorded once the rest are handed over.
            self._held.setdefault(owner, []).append(report(ref))
            return Status.ESME_ROK
        if not await self.sink.record(report(ref)):
            self.counts.unmatched += 1
            log.info("smpp receipt for a message no longer known", channel=self.name, ref=ref)
        return Status.ESME_ROK

    def _alias(self, message_id: str) -> str | None:
        """The recent id ``message_id`` is another form of (hex for decimal, leading zeros,
        case: an SMSC may write the id of its submit_sm_resp otherwise in the receipt)."""
        for form in id_forms(message_id):
            if form in self._recent:
                return form
            if form in self._aliases:
                return self._aliases[form]
        return None

    def _owner(self, ref: str) -> str | None:
        for uuid, progress in self._progress.items():
            if ref in progress.ids.values():
                return uuid
        return None

    def _under_way(self) -> list[asyncio.Future[Any]]:
        """The sends under way, and the submit_sm waiting for their answer (also those of
        sends that ended before it came)."""
        parts = [task for p in self._progress.values() for task in p.sending.values()]
        return [*self._active.values(), *parts]

    async def _settled(self, sends: list[asyncio.Future[Any]]) -> None:
        if sends:
            await asyncio.wait(sends, timeout=self.options.send_timeout)

    async def _release(self, held: list[DeliveryReport]) -> None:
        for event in held:
            try:
                await self.sink.record(event)
            except Exception:
                log.exception("smpp held receipt could not be recorded", channel=self.name)

    async def _mo(self, origin: Origin, pdu: Pdu, incoming: Incoming) -> int:
        source = _number(str(pdu.fields.get("source_addr") or ""))
        destination = _number(str(pdu.fields.get("destination_addr") or "")) or self.name
        concat = incoming.concat
        # SMPP gives a message from a handset no identity: this names the session and the
        # deliver_sm it came in (unique, so it never makes a message look like another).
        ref = f"{origin.session or uuid7()}/{next(self._mo_numbers)}/{pdu.sequence}"
        if concat is None or concat.total <= 1:
            key: Hashable = (source, destination, incoming.text)
            lost = self._answer_lost.get(key)
            if lost is not None and self._redelivered(lost, origin):
                del self._answer_lost[key]
                return Status.ESME_ROK  # recorded already; its answer was lost
            await self._store(source, destination, incoming.text, 1, ref)
            if origin.connection.closed.is_set():
                # The answer will not go: the SMSC delivers it again, on another session.
                loop_now = asyncio.get_running_loop().time()
                self._answer_lost[key] = _Lost(origin.session, loop_now)
            return Status.ESME_ROK
        # Stored before it is answered: a failure leaves it for the SMSC's next try.
        await self.sink.record(
            InboundPart(
                channel=self.name,
                from_number=source,
                to_number=destination,
                reference=concat.reference,
                total=concat.total,
                sequence=concat.sequence,
                text=incoming.text,
                account_auth_id=self.options.account,
            )
        )
        if concat.sequence == concat.total:
            self.counts.received += 1
        return Status.ESME_ROK

    def _redelivered(self, lost: _Lost, origin: Origin) -> bool:
        """Whether a copy of a message whose answer was lost is the SMSC's second try: it
        comes on another session, within redelivery_window of the loss or of the bind it
        came on, whichever was later (and within reassembly_timeout of the loss). Any other
        copy is the handset's new message."""
        now = asyncio.get_running_loop().time()
        if origin.session == lost.session or now - lost.at > self.options.reassembly_timeout:
            return False
        return now - max(lost.at, origin.bind.bound_at) <= self.options.redelivery_window

    async def _store(
        self, source: str, destination: str, text: str, units: int, ref: str | None
    ) -> None:
        await self.sink.record(
            InboundReceived(
                channel=self.name,
                from_number=source,
                to_number=destination,
                text=text,
                account_auth_id=self.options.account,
                units=units,
                channel_ref=ref,
            )
        )
        self.counts.received += 1

"""The GSM modem channel: one modem (USB stick on a serial port, or a network modem) per
channel, in PDU mode.

A supervisor opens and initialises the modem, watches its health, and when it hangs or
vanishes reopens it with backoff. Sending writes one ``AT+CMGS`` per part at the configured
pace; each part's message reference comes back with the handover so that status reports
(``+CDSI``) settle the message part by part. Received messages (``+CMTI``, and a sweep of
the storage at every start) are decoded, reassembled, stored in smsgate, and only then
deleted from the modem.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import structlog
from pydantic import Field

from smsgate.channels.base import Channel, ChannelOptions, EventSink, Health, Outbound
from smsgate.core import errors
from smsgate.core.clock import Clock
from smsgate.core.events import DeliveryReport, InboundReceived, SendFailed, Submitted
from smsgate.modem import commands as at
from smsgate.modem.at import Unsolicited
from smsgate.modem.driver import CommandFailed, Modem, ModemError, ModemLost, ModemTimeout
from smsgate.text.errors import EncodeError, PduError
from smsgate.text.pdu import Deliver, StatusReport, decode
from smsgate.text.pdu.reassembly import Reassembler
from smsgate.text.pdu.tpdu import Outcome, outcome_of, submit_parts
from smsgate.text.segments import encoding_named, segment

log = structlog.get_logger(__name__)

SECOND_US = 1_000_000


class ModemOptions(ChannelOptions):
    port: str = Field(description="serial device (/dev/ttyUSB0) or tcp://host:port")
    baudrate: int = Field(default=115200, gt=0)
    pin: str | None = Field(default=None, pattern=r"^\d{4,8}$", description="SIM PIN")
    number: str | None = Field(
        default=None, description="this SIM's own number: the To of received messages"
    )
    send_interval: float = Field(
        default=6.0, ge=0, description="seconds between two messages (the carrier's pace)"
    )
    status_reports: bool = Field(default=True, description="ask the network for reports")
    storage: str = Field(default="SM", pattern=r"^[A-Z]{2}$", description="SM, ME or MT")
    command_timeout: float = Field(default=10.0, gt=0)
    submit_timeout: float = Field(default=60.0, gt=0, description="seconds AT+CMGS may take")
    health_interval: float = Field(default=30.0, gt=0)
    reconnect_max: float = Field(default=60.0, gt=0, description="longest wait between opens")
    ussd_packed: bool = Field(
        default=True, description="send USSD codes as packed GSM hex (Huawei's default mode)"
    )
    reassembly_timeout: float = Field(
        default=3600.0, gt=0, description="seconds to wait for the missing parts of a message"
    )
    max_in_flight: int = Field(default=1, ge=1)
    send_timeout: float = Field(default=600.0, gt=0)


@dataclass(slots=True)
class _Progress:
    """The parts of a message already handed over, kept across a retry of that message."""

    reference: int
    refs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Status:
    up: bool = False
    reason: str = "starting"
    signal: at.Signal | None = None
    registration: int | None = None
    operator: str | None = None
    imei: str | None = None
    imsi: str | None = None
    opened: int = 0
    sent: int = 0
    received: int = 0
    reports: int = 0


def digits(number: str) -> str:
    return "".join(char for char in number if char.isdigit())


class ModemChannel(Channel):
    kind: ClassVar[str] = "modem"
    options_model: ClassVar[type[ChannelOptions]] = ModemOptions
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"sms", "delivery_reports", "inbound", "ussd"}
    )
    options: ModemOptions

    def __init__(self, name: str, options: ChannelOptions, sink: EventSink, clock: Clock) -> None:
        super().__init__(name, options, sink, clock)
        assert isinstance(options, ModemOptions)
        self.status = _Status()
        self._modem: Modem | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._unsolicited: asyncio.Queue[Unsolicited] = asyncio.Queue()
        self._lost = asyncio.Event()
        self._stopping = False
        self._send_lock = asyncio.Lock()
        self._idle = asyncio.Event()  # no send under way: reports may be recorded
        self._idle.set()
        self._last_send = 0.0
        self._progress: dict[str, _Progress] = {}
        # Reports for parts of a message not handed over yet (it went back to the queue after
        # some parts): kept, with their storage index, until its handover is recorded.
        self._held: dict[str, list[tuple[DeliveryReport, int | None]]] = {}
        self._reassembler = Reassembler(int(options.reassembly_timeout * SECOND_US))
        self._part_slots: dict[Any, list[int]] = {}  # reassembly key -> storage indexes
        self._releasing: set[asyncio.Task[None]] = set()
        self._ussd: asyncio.Future[at.Ussd] | None = None
        self._ussd_lock = asyncio.Lock()
        self._pin_rejected = False

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._supervisor = asyncio.create_task(self._supervise(), name=f"modem-{self.name}")
        self._worker = asyncio.create_task(self._work(), name=f"modem-{self.name}-inbound")

    async def stop(self) -> None:
        self._stopping = True
        self._lost.set()
        for task in (self._supervisor, self._worker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._modem is not None:
            await self._modem.close()
            self._modem = None
        self.status.up = False
        self.status.reason = "stopped"

    def health(self) -> Health:
        s = self.status
        detail: dict[str, Any] = {
            "port": self.options.port,
            "reason": None if s.up else s.reason,
            "signal_dbm": s.signal.dbm if s.signal else None,
            "signal_bars": s.signal.bars if s.signal else None,
            "registration": None if s.registration is None else at.REGISTRATION.get(s.registration),
            "operator": s.operator,
            "imei": s.imei,
            "imsi": s.imsi,
            "opened": s.opened,
            "sent": s.sent,
            "received": s.received,
            "reports": s.reports,
        }
        return Health(s.up, detail)

    async def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping:
            modem = Modem(
                self.options.port,
                baudrate=self.options.baudrate,
                timeout=self.options.command_timeout,
                on_unsolicited=self._unsolicited.put_nowait,
                on_lost=lambda error: self._down(str(error)),
            )
            try:
                await modem.open()
                self._lost.clear()
                await self._initialise(modem)
                self._modem = modem
                self.status.up, self.status.reason = True, ""
                self.status.opened += 1
                delay = 1.0
                log.info("modem ready", channel=self.name, port=self.options.port)
                await self._sweep(modem)
                await self._watch(modem)
            except asyncio.CancelledError:
                await modem.close()
                raise
            except (ModemError, OSError, TimeoutError) as exc:
                self._down(str(exc) or type(exc).__name__)
            self._modem = None
            await modem.close()
            if self._stopping:
                return
            if self._pin_rejected:
                return  # another wrong PIN could lock the SIM: wait for the operator
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            delay = min(delay * 2, self.options.reconnect_max)

    def _down(self, reason: str) -> None:
        if self.status.up or self.status.reason != reason:
            log.warning("modem down", channel=self.name, reason=reason)
        self.status.up, self.status.reason = False, reason
        self._lost.set()

    async def _initialise(self, modem: Modem) -> None:
        # A modem left waiting for a PDU takes the first line as one: cancel it, then sync.
        for attempt in range(3):
            try:
                await modem.command("\x1bAT" if attempt == 0 else "AT", seconds=3)
                break
            except ModemTimeout:
                if attempt == 2:
                    raise
        await modem.check("ATE0")
        await modem.check("AT+CMEE=1")
        pin = await modem.check("AT+CPIN?")
        if not any("READY" in line for line in pin.lines):
            if not self.options.pin:
                raise ModemError("the SIM asks for a PIN: set the channel's pin option")
            answer = await modem.command(f'AT+CPIN="{self.options.pin}"')
            if not answer.ok:
                self._pin_rejected = True
                raise ModemError(f"the SIM refused the PIN ({answer.result.text}); not retrying")
        await modem.check("AT+CMGF=0")
        storage = self.options.storage
        await modem.check(f'AT+CPMS="{storage}","{storage}","{storage}"')
        # New messages and status reports are stored, and their index announced.
        await modem.check("AT+CNMI=2,1,0,2,0")
        self.status.imei = await self._optional(modem, "AT+CGSN", at.parse_identity)
        self.status.imsi = await self._optional(modem, "AT+CIMI", at.parse_identity)
        await self._health(modem)

    async def _optional(self, modem: Modem, command: str, parse: Any) -> Any:
        response = await modem.command(command)
        if not response.ok:
            return None
        try:
            return parse(response.lines)
        except at.AtParseError:
            return None

    async def _health(self, modem: Modem) -> None:
        self.status.signal = await self._optional(modem, "AT+CSQ", at.parse_csq)
        self.status.registration = await self._optional(modem, "AT+CREG?", at.parse_creg)
        self.status.operator = await self._optional(modem, "AT+COPS?", at.parse_cops)

    async def _watch(self, modem: Modem) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.health_interval):
                    await self._lost.wait()
            if modem.lost is not None:
                raise modem.lost
            if self._lost.is_set():
                raise ModemLost(self.status.reason or "modem lost")
            await self._health(modem)
            expired = self._reassembler.expire(self.clock.now_us())
            for message in expired:
                await self._store_joined(modem, message.key, message.text, message.total)

    # --- sending --------------------------------------------------------------------------

    async def send(self, message: Outbound) -> Submitted | SendFailed:
        async with self._send_lock:
            self._idle.clear()
            try:
                return await self._send(message)
            finally:
                # Reports waiting for this handover are recorded after it (the dispatcher
                # records the handover before this task yields again).
                self._idle.set()

    async def _send(self, message: Outbound) -> Submitted | SendFailed:
        modem = self._modem
        if modem is None or not self.status.up:
            return SendFailed(
                message.uuid, errors.DISPATCH_FAILED, f"modem down: {self.status.reason}", True
            )
        progress = self._progress.setdefault(
            message.uuid,
            _Progress(random.randrange(256)),  # noqa: S311 - a concatenation reference
        )
        try:
            seg = segment(
                message.text,
                encoding=encoding_named(message.encoding),
                reference=progress.reference,
            )
            # Destinations are international numbers without their "+" (E.164 digits).
            destination = f"+{message.dst}" if message.dst.isdigit() else message.dst
            pdus = submit_parts(
                destination, seg, status_report=self.options.status_reports, reference=0
            )
        except EncodeError as exc:
            self._progress.pop(message.uuid, None)
            self._drop_held(message.uuid)
            return SendFailed(message.uuid, errors.INVALID_MESSAGE, str(exc))
        number = digits(message.dst)
        try:
            for pdu in pdus[len(progress.refs) :]:
                # The pace counts parts: each is one SMS to the carrier.
                wait = self._last_send + self.options.send_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._last_send = time.monotonic()
                response = await modem.command(
                    f"AT+CMGS={pdu.tpdu_length}", pdu.hex(), seconds=self.options.submit_timeout
                )
                if not response.ok:
                    return self._refused(message, modem, response)
                progress.refs.append(f"{number}/{at.parse_cmgs(response.lines)}")
        except (ModemTimeout, ModemLost) as exc:
            # The part in flight may or may not have left: the modem never said. The parts
            # it confirmed are not sent again when the message is retried.
            self._down(str(exc))
            return SendFailed(message.uuid, errors.DISPATCH_FAILED, str(exc), temporary=True)
        except at.AtParseError as exc:
            self._down(f"unreadable answer to AT+CMGS: {exc}")
            return SendFailed(message.uuid, errors.DISPATCH_FAILED, str(exc), temporary=True)
        self._progress.pop(message.uuid, None)
        self.status.sent += 1
        held = self._held.pop(message.uuid, [])
        if held:
            # The dispatcher records the handover before this task yields: these come after.
            self._later(self._release(held))
        refs = tuple(progress.refs) if self.options.status_reports else ()
        return Submitted(message.uuid, self.name, progress.refs[0], part_refs=refs)

    def _refused(self, message: Outbound, modem: Modem, response: Any) -> SendFailed:
        result = response.result
        failure = at.cms_failure(result.code if result.kind == "+CMS ERROR" else None)
        if failure.modem_down:
            self._down(failure.reason)
        if not failure.temporary:
            self._progress.pop(message.uuid, None)
            self._drop_held(message.uuid)
        log.info(
            "modem refused a part",
            channel=self.name,
            message_uuid=message.uuid,
            answer=result.text,
            temporary=failure.temporary,
        )
        return SendFailed(message.uuid, failure.error_code, failure.reason, failure.temporary)

    # --- USSD -----------------------------------------------------------------------------

    async def ussd(self, code: str, seconds: float = 30.0) -> at.Ussd:
        """Ask the network (``*100#``, say) and return its answer."""
        modem = self._modem
        if modem is None or not self.status.up:
            raise ModemError(f"modem down: {self.status.reason}")
        request = at.encode_ussd_request(code, packed=self.options.ussd_packed)
        async with self._ussd_lock:
            self._ussd = asyncio.get_running_loop().create_future()
            try:
                await modem.check(f'AT+CUSD=1,"{request}",15')
                async with asyncio.timeout(seconds):
                    return await self._ussd
            except TimeoutError:
                raise ModemTimeout(f"no USSD answer in {seconds:g} s") from None
            except ModemLost as exc:
                self._down(str(exc))
                raise
            finally:
                self._ussd = None

    # --- receiving ------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            event = await self._unsolicited.get()
            try:
                await self._unsolicited_event(event)
            except asyncio.CancelledError:
                raise
            except ModemError as exc:
                self._down(str(exc))
            except Exception:
                log.exception("modem event failed", channel=self.name, code=event.name)

    async def _unsolicited_event(self, event: Unsolicited) -> None:
        if event.name == "+CUSD":
            if self._ussd is not None and not self._ussd.done():
                try:
                    self._ussd.set_result(at.parse_cusd(event.value))
                except at.AtParseError as exc:
                    self._ussd.set_exception(ModemError(str(exc)))
            return
        modem = self._modem
        if event.name in ("+CMTI", "+CDSI") and modem is not None:
            try:
                storage, index = at.parse_new_message(event.value)
            except at.AtParseError:
                return
            # Many sticks keep status reports apart ("SR"): read and delete them there.
            elsewhere = bool(storage) and storage != self.options.storage
            if elsewhere:
                await modem.check(f'AT+CPMS="{storage}"')
            try:
                response = await modem.command(f"AT+CMGR={index}")
                stored = at.parse_cmgr(response.lines, index) if response.ok else None
                if stored is not None:
                    await self._pdu(modem, stored.pdu, stored.index)
            finally:
                if elsewhere:
                    await modem.check(f'AT+CPMS="{self.options.storage}"')
        elif event.name in ("+CMT", "+CDS") and event.pdu:
            await self._pdu(modem, event.pdu, None)
        elif event.name == "^BOOT" or event.name == "^SIMST":
            self._down(f"modem reported {event.name}")

    async def _sweep(self, modem: Modem) -> None:
        """Everything already in storage (arrived while smsgate was away)."""
        response = await modem.command("AT+CMGL=4")
        if not response.ok:
            return
        for stored in at.parse_cmgl(response.lines):
            await self._pdu(modem, stored.pdu, stored.index)

    async def _pdu(self, modem: Modem | None, pdu: str, index: int | None) -> None:
        try:
            decoded = decode(pdu, direction="mt")
        except PduError as exc:
            log.warning("unreadable PDU from modem", channel=self.name, error=str(exc))
            await self._delete(modem, [index])  # it will never read better
            return
        if isinstance(decoded, StatusReport):
            if await self._report(decoded, index):
                await self._delete(modem, [index])
        elif isinstance(decoded, Deliver):
            await self._deliver(modem, decoded, index)

    async def _report(self, report: StatusReport, index: int | None) -> bool:
        """Record a status report; False when it is held (its storage slot kept) until the
        message it names is handed over."""
        outcome = outcome_of(report.status)
        self.status.reports += 1
        if outcome is Outcome.PENDING:
            return True  # the network is still trying: a final report follows
        await self._idle.wait()
        ref = f"{digits(report.recipient.value)}/{report.reference}"
        delivered = outcome is Outcome.DELIVERED
        code = "" if delivered else at.report_error(report.status)
        event = DeliveryReport(delivered, code, channel=self.name, channel_ref=ref)
        for uuid, progress in self._progress.items():
            if ref in progress.refs:
                self._held.setdefault(uuid, []).append((event, index))
                return False
        await self.sink.record(event)
        return True

    async def _release(self, held: list[tuple[DeliveryReport, int | None]]) -> None:
        for event, _ in held:
            await self.sink.record(event)
        await self._delete(self._modem, [index for _, index in held])

    def _drop_held(self, uuid: str) -> None:
        """The message failed for good: its parts' reports settle nothing."""
        held = self._held.pop(uuid, [])
        if held:
            self._later(self._delete(self._modem, [index for _, index in held]))

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` once the current task yields, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _deliver(self, modem: Modem | None, message: Deliver, index: int | None) -> None:
        originator = str(message.originator)
        concat = message.header.concat if message.header else None
        text = message.text if message.text is not None else message.data.hex()
        if concat is None or concat.total <= 1:
            await self._store_inbound(originator, text, 1)
            await self._delete(modem, [index])
            return
        key = (originator, concat.reference, concat.total)
        now = self.clock.now_us()
        if self._reassembler.completed(key, concat.sequence, text, now):
            await self._delete(modem, [index])  # the network sent a part twice
            return
        if index is not None:
            self._part_slots.setdefault(key, []).append(index)
        whole = self._reassembler.add(key, concat.sequence, concat.total, text, now)
        if whole is not None:
            await self._store_joined(modem, key, whole.text, concat.total)

    async def _store_joined(self, modem: Modem | None, key: Any, text: str, total: int) -> None:
        await self._store_inbound(key[0], text, total)
        await self._delete(modem, self._part_slots.pop(key, []))

    async def _store_inbound(self, originator: str, text: str, units: int) -> None:
        await self.sink.record(
            InboundReceived(
                channel=self.name,
                from_number=originator,
                to_number=self.options.number or self.name,
                text=text,
                account_auth_id=self.options.account,
                units=units,
            )
        )
        self.status.received += 1

    async def _delete(self, modem: Modem | None, indexes: Sequence[int | None]) -> None:
        for index in indexes:
            if index is not None and modem is not None:
                with contextlib.suppress(CommandFailed):
                    await modem.check(f"AT+CMGD={index}")

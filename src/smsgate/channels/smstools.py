"""The SMS Server Tools 3 channel: smsgate drives an ``smsd`` through its spool directories.

Sending writes one file per part into ``outgoing`` (hidden name, flushed, renamed) and follows
the files by name through ``checked`` to ``sent`` or ``failed``; the message stays ``queued``
until smsd has sent every part (then it is ``sent``, with each part's ``Message_id``) or failed
one (``failed`` with the ``Fail_reason`` as an error code; a temporary failure sends the failed
parts again later, never the parts already sent). Status reports (the ``report`` directory, or
``incoming``) settle the message part by part; received messages in ``incoming`` become inbound
messages. A file is archived or removed only once what it says is stored.

The files are the state: a restart of smsgate looks at every directory before it sends
anything, finds each message's parts by name wherever smsd has put them, and neither loses nor
writes a part twice. A filesystem watcher (watchfiles) says when to look again; a poll every
``poll_interval`` seconds catches what a watcher cannot see (network file systems).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import structlog
from pydantic import Field

from smsgate.channels.base import Channel, ChannelOptions, EventSink, Health, Outbound
from smsgate.channels.smstools_spool import KINDS, Entry, Spool
from smsgate.core import errors
from smsgate.core.clock import Clock
from smsgate.core.events import DeliveryReport, InboundReceived, SendFailed, Submitted
from smsgate.modem.commands import report_error
from smsgate.smstools import results
from smsgate.smstools.outbound import Flags, PartFile, parse_part_name, part_files, part_name
from smsgate.smstools.outbound import segmentation as outbound_segmentation
from smsgate.smstools.spoolfile import Incomplete, SpoolFile, SpoolFileError, parse
from smsgate.text.errors import EncodeError
from smsgate.text.numbers import sanitize_sender
from smsgate.text.pdu.tpdu import Outcome, outcome_of

log = structlog.get_logger(__name__)

#: Seconds a file may stay without the empty line that ends its headers before it is taken
#: for a broken one (smsd writes received messages in place, not under a temporary name).
INCOMPLETE_AFTER = 30.0
#: Seconds after which the parts left of a message nobody sends any more are tidied away.
STALE_AFTER = 86_400.0
#: Outcomes remembered for messages settled lately (a send after a timeout returns them).
REMEMBERED = 10_000

Result = Submitted | SendFailed


class SmstoolsOptions(ChannelOptions):
    spool: Path = Field(
        default=Path("/var/spool/sms"), description="smsd's spool: the default parent of each"
    )
    outgoing: Path | None = Field(default=None, description="default: <spool>/outgoing")
    checked: Path | None = Field(
        default=None, description="default: <spool>/checked (the queue's directory with queue)"
    )
    sent: Path | None = Field(default=None, description="default: <spool>/sent")
    failed: Path | None = Field(default=None, description="default: <spool>/failed")
    incoming: Path | None = Field(default=None, description="default: <spool>/incoming")
    report: Path | None = Field(
        default=None,
        description="smsd's report directory, when its settings have one; else status "
        "reports arrive in incoming",
    )
    receive: bool = Field(
        default=True,
        description="read incoming and report (false for a second channel on the same smsd)",
    )
    number: str | None = Field(default=None, description="the To of received messages")
    numbers: dict[str, str] = Field(
        default_factory=dict, description="the To of received messages, by smsd modem name"
    )
    prefix: str = Field(
        default="smsgate.",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,39}$",
        description="start of the names of the files smsgate writes",
    )
    status_reports: bool = Field(default=True, description="ask for status reports")
    flash: bool = False
    validity: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,3}( ?(min|hour|day|week|month|year)s?)?$",
        description="smsd's Validity: 0-255, or a number and min, hour, day, week, ...",
    )
    priority: bool = Field(default=False, description="Priority: high")
    queue: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="smsd provider queue"
    )
    archive: Path | None = Field(
        default=None, description="keep the files of settled messages here (default: remove)"
    )
    rejected: Path | None = Field(
        default=None,
        description="set unreadable files aside here (default: renamed .rejected-<name>)",
    )
    watch: bool = Field(default=True, description="watch the directories for changes")
    poll_interval: float = Field(default=5.0, gt=0, description="seconds between looks")
    settle: float = Field(
        default=1.0, ge=0, description="seconds a received file is left alone before reading"
    )
    pickup_timeout: float = Field(
        default=60.0,
        gt=0,
        description="seconds a file may wait in outgoing before smsd is taken to be down",
    )
    report_wait: float = Field(
        default=3600.0, gt=0, description="seconds to keep a report that names no message yet"
    )
    file_mode: str = Field(default="660", pattern=r"^0?[0-7]{3}$")
    max_in_flight: int = Field(default=50, ge=1)
    send_timeout: float = Field(default=3600.0, gt=0)

    def directory(self, kind: str) -> Path | None:
        explicit: Path | None = getattr(self, kind)
        if explicit is not None or kind == "report":
            return explicit
        return self.spool / kind


@dataclass(slots=True)
class _Wait:
    """Sends waiting for what smsd does with one message's files."""

    future: asyncio.Future[Result]
    total: int  # parts
    awaiting: int = 0


@dataclass(slots=True)
class _Status:
    problems: dict[str, str] = field(default_factory=dict)
    stalled: float | None = None  # seconds the oldest of our files has waited in outgoing
    waiting: int = 0  # our files in outgoing
    with_smsd: int = 0  # our files in checked
    sent: int = 0
    failed: int = 0
    received: int = 0
    reports: int = 0
    rejected: int = 0
    vanished: int = 0
    unmatched_reports: int = 0
    scans: int = 0


class SmstoolsChannel(Channel):
    kind: ClassVar[str] = "smstools"
    options_model: ClassVar[type[ChannelOptions]] = SmstoolsOptions
    capabilities: ClassVar[frozenset[str]] = frozenset({"sms", "delivery_reports", "inbound"})
    options: SmstoolsOptions

    def __init__(self, name: str, options: ChannelOptions, sink: EventSink, clock: Clock) -> None:
        super().__init__(name, options, sink, clock)
        assert isinstance(options, SmstoolsOptions)
        self.spool = Spool(
            {kind: options.directory(kind) for kind in KINDS},
            file_mode=int(options.file_mode, 8),
            archive=options.archive,
            rejected=options.rejected,
        )
        self.flags = Flags(
            report=options.status_reports,
            flash=options.flash,
            validity=options.validity,
            priority=options.priority,
            queue=options.queue,
        )
        self.status = _Status()
        self._lock = asyncio.Lock()  # the files of outgoing messages: one look or change at once
        self._waiting: dict[str, _Wait] = {}
        self._settled: OrderedDict[str, Result] = OrderedDict()
        self._retry_at: dict[tuple[str, str], float] = {}  # files to look at again later
        self._early: dict[str, set[str]] = {}  # refs of parts sent, by message not settled yet
        self._complained: set[tuple[str, str]] = set()
        self._undeletable: set[tuple[str, str]] = set()  # done with, but cannot be removed
        self._vanished: set[str] = set()  # parts handed over that left no trace: not again
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        # What smsd did while smsgate was away is recorded before anything is sent.
        try:
            await self._scan()
        except Exception:
            log.exception("looking at the smsd spool failed", channel=self.name)
        self._running = True
        self._tasks = [asyncio.create_task(self._run(), name=f"smstools-{self.name}")]
        if self.options.watch:
            self._tasks.append(
                asyncio.create_task(self._watch(), name=f"smstools-{self.name}-watch")
            )

    def stopping(self) -> None:
        """Sends waiting for smsd end now: their messages go back to smsgate's queue, and the
        files smsd has not taken yet are taken back (a restart finds the others)."""
        self._stopping = True
        for uuid, wait in self._waiting.items():
            if not wait.future.done():
                wait.future.set_result(
                    SendFailed(
                        uuid,
                        errors.DISPATCH_FAILED,
                        "smsgate stopped while smsd had the message",
                        temporary=True,
                    )
                )

    async def stop(self) -> None:
        self._running = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def health(self) -> Health:
        s = self.status
        reason = None
        if not self._running:
            reason = "stopped"
        elif s.problems.keys() & {"outgoing", "checked", "sent", "failed"}:
            reason = "; ".join(s.problems.values())
        elif s.stalled is not None:
            reason = (
                f"smsd has not taken a file from {self.spool.dirs['outgoing']} for "
                f"{s.stalled:.0f} s: is it running?"
            )
        detail: dict[str, Any] = {
            "spool": str(self.options.spool),
            "reason": reason,
            "problems": dict(s.problems),
            "waiting_in_outgoing": s.waiting,
            "with_smsd": s.with_smsd,
            "sent": s.sent,
            "failed": s.failed,
            "received": s.received,
            "reports": s.reports,
            "unmatched_reports": s.unmatched_reports,
            "rejected": s.rejected,
            "vanished": s.vanished,
        }
        return Health(reason is None, detail)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            again = None
            try:
                again = await self._scan()
            except Exception:
                log.exception("looking at the smsd spool failed", channel=self.name)
            interval = self.options.poll_interval
            timeout = interval if again is None else max(0.05, min(interval, again))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _watch(self) -> None:
        from watchfiles import awatch

        kinds = ("outgoing", "sent", "failed", "incoming", "report")
        while True:
            watched = await asyncio.to_thread(
                lambda: [
                    str(path)
                    for kind in kinds
                    if (path := self.spool.dirs.get(kind)) is not None and path.is_dir()
                ]
            )
            try:
                if watched:
                    async for _ in awatch(
                        *watched, recursive=False, step=50, ignore_permission_denied=True
                    ):
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "cannot watch the smsd spool; polling", channel=self.name, error=str(exc)
                )
            await asyncio.sleep(self.options.poll_interval)

    # --- sending --------------------------------------------------------------------------

    async def send(self, message: Outbound) -> Submitted | SendFailed:
        uuid = message.uuid
        known = self._settled.get(uuid)
        if known is not None:
            return known
        try:
            seg = outbound_segmentation(message.text, message.encoding, uuid)
        except EncodeError as exc:
            return SendFailed(uuid, errors.INVALID_MESSAGE, str(exc))
        files = part_files(self.options.prefix, uuid, message.dst, message.src, seg, self.flags)
        async with self._lock:
            known = self._settled.get(uuid)
            if known is not None:
                return known
            try:
                written = await asyncio.to_thread(self._put, files)
            except OSError as exc:
                self.status.problems["outgoing"] = f"cannot write a file: {exc}"
                return SendFailed(
                    uuid,
                    errors.DISPATCH_FAILED,
                    f"cannot write into smsd's outgoing directory: {exc}",
                    temporary=True,
                )
            # A message handed over again while a send of it still waits (claimed twice)
            # waits for the same outcome; nothing is written twice.
            wait = self._waiting.get(uuid)
            if wait is None or wait.future.done():
                wait = self._waiting[uuid] = _Wait(
                    asyncio.get_running_loop().create_future(), len(files)
                )
            wait.awaiting += 1
        if written:
            log.debug("handed to smsd", channel=self.name, message_uuid=uuid, files=written)
        self._wake.set()
        try:
            outcome = await asyncio.shield(wait.future)
        except asyncio.CancelledError:
            # Given up on (a timeout): what smsd has not taken yet is taken back, so that a
            # message that expires meanwhile is not sent after all.
            if wait.awaiting == 1:
                async with self._lock:
                    await asyncio.to_thread(self._withdraw, files)
            raise
        else:
            if self._stopping and uuid not in self._settled:
                async with self._lock:
                    await asyncio.to_thread(self._withdraw, files)
            return outcome
        finally:
            wait.awaiting -= 1
            if wait.awaiting == 0 and self._waiting.get(uuid) is wait:
                del self._waiting[uuid]

    def _put(self, files: list[PartFile]) -> int:
        """Write the parts smsd has not got: neither waiting nor sent. A part that failed is
        written again (its old file may still be in failed); one that vanished after it was
        handed over is not: it may have been sent."""
        written = 0
        for part in files:
            if part.name in self._vanished:
                continue
            if self.spool.where(part.name) in (None, "failed"):
                self.spool.write(part.name, part.content)
                written += 1
        return written

    def _withdraw(self, files: list[PartFile]) -> None:
        for part in files:
            if self.spool.withdraw(part.name):
                log.info("took a file back from outgoing", channel=self.name, file=part.name)
            elif self.spool.where(part.name) in ("outgoing", "checked"):
                log.info("smsd has the file already", channel=self.name, file=part.name)

    def _remember(self, uuid: str, outcome: Result) -> None:
        self._settled[uuid] = outcome
        self._settled.move_to_end(uuid)
        while len(self._settled) > REMEMBERED:
            self._settled.popitem(last=False)

    def _resolve(self, uuid: str, outcome: Result) -> None:
        wait = self._waiting.get(uuid)
        if wait is not None and not wait.future.done():
            wait.future.set_result(outcome)

    async def _settle(self, uuid: str, total: int, now: float) -> None:
        """Look at the parts of one message; once none waits with smsd, record what became of
        it and tidy its files."""
        async with self._lock:
            names = [part_name(self.options.prefix, uuid, n, total) for n in range(1, total + 1)]
            located = await asyncio.to_thread(lambda: [self.spool.where(n) for n in names])
            present = [(n, k) for n, k in zip(names, located, strict=True) if k is not None]
            if any(kind in ("outgoing", "checked") for kind in located):
                # Reports for the parts already sent wait until the message is settled.
                done = [(n, k) for n, k in present if k == "sent"]
                sent_refs = await self._read_parts(done, now) if done else []
                self._early[uuid] = {
                    self._ref(s) for s in sent_refs or [] if isinstance(s, results.Sent)
                }
                return
            self._early.pop(uuid, None)
            waiting = uuid in self._waiting
            if not present:
                if waiting:  # written, and gone from every directory
                    await self._vanish(uuid, names)
                return
            read = await self._read_parts(present, now)
            if read is None:
                return  # a file is still being copied into place, or cannot be read
            sent = [value for value in read if isinstance(value, results.Sent)]
            failed = [value for value in read if isinstance(value, results.Failed)]
            if failed:
                await self._failed_parts(uuid, present, failed, waiting)
            elif len(sent) < total:
                if waiting:
                    gone = [n for n, k in zip(names, located, strict=True) if k is None]
                    await self._vanish(uuid, gone)
                    await self._tidy(present)
                elif now - max(await asyncio.to_thread(self._mtimes, present)) > STALE_AFTER:
                    log.warning("tidying the parts of a message not sent again", message_uuid=uuid)
                    await self._tidy(present)
            else:
                await self._all_sent(uuid, present, sent)

    async def _vanish(self, uuid: str, gone: list[str]) -> None:
        """Parts handed to smsd that are in none of its directories now: smsd may have sent
        them (without a sent directory it deletes what it sent; with keep_filename = no it
        renames files; a queue moves them elsewhere than checked), so they are never written
        again and the message fails."""
        self._vanished.update(gone)
        self.status.vanished += len(gone)
        reason = (
            f"{len(gone)} part(s) disappeared from smsd's spool and are not written again "
            "(they may have been sent): smsd needs a sent directory, keep_filename = yes, and "
            "checked must be the directory it moves files to"
        )
        log.error(
            "a file vanished from smsd's spool", channel=self.name, message_uuid=uuid, files=gone
        )
        outcome = SendFailed(uuid, errors.DISPATCH_FAILED, reason)
        await self.sink.record(outcome)
        self._remember(uuid, outcome)
        self._resolve(uuid, outcome)

    def _mtimes(self, present: list[tuple[str, str]]) -> list[float]:
        found = [self.spool.mtime(kind, name) for name, kind in present]
        return [t for t in found if t is not None] or [time.time()]

    async def _read_parts(
        self, present: list[tuple[str, str]], now: float
    ) -> list[results.Sent | results.Failed] | None:
        found: list[results.Sent | results.Failed] = []
        for name, kind in present:
            spool = await self._read(kind, name, now)
            if spool is None:
                return None
            if isinstance(spool, str):  # smsd did move it there; it says nothing more
                spool = SpoolFile((), b"")
            found.append(results.read_sent(spool) if kind == "sent" else results.read_failed(spool))
        return found

    async def _read(self, kind: str, name: str, now: float) -> SpoolFile | str | None:
        """A spool file; None when it cannot be read (yet); what is wrong with it when it
        stays broken."""
        try:
            raw = await asyncio.to_thread(self.spool.read, kind, name)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._complain(kind, name, f"cannot read it: {exc}")
            return None
        try:
            return parse(raw)
        except Incomplete:
            mtime = await asyncio.to_thread(self._mtime, kind, name)
            if now - mtime < INCOMPLETE_AFTER:
                return None
            return "it has no empty line after its headers"

    def _mtime(self, kind: str, name: str) -> float:
        found = self.spool.mtime(kind, name)
        return time.time() if found is None else found

    async def _failed_parts(
        self,
        uuid: str,
        present: list[tuple[str, str]],
        failed: list[results.Failed],
        waiting: bool,
    ) -> None:
        self.status.failed += 1
        permanent = next((f for f in failed if not f.temporary), None)
        if permanent is not None:
            outcome = SendFailed(uuid, permanent.error_code, f"smsd: {permanent.reason}")
            await self.sink.record(outcome)
            self._remember(uuid, outcome)
            self._resolve(uuid, outcome)
            await self._tidy(present)
            return
        # Only temporary failures: the failed parts go again later; the sent ones stay.
        first = failed[0]
        await self._tidy([(name, kind) for name, kind in present if kind == "failed"])
        log.info(
            "smsd could not send a part; it will be sent again",
            message_uuid=uuid,
            reason=first.reason,
        )
        if waiting:
            self._resolve(
                uuid, SendFailed(uuid, first.error_code, f"smsd: {first.reason}", temporary=True)
            )

    async def _all_sent(
        self, uuid: str, present: list[tuple[str, str]], sent: list[results.Sent]
    ) -> None:
        refs = tuple(self._ref(s) for s in sent if s.message_id is not None)
        if self.options.status_reports and len(refs) < len(sent):
            log.warning("smsd named no message reference for a part", message_uuid=uuid)
        part_refs = refs if self.options.status_reports and len(refs) == len(sent) else ()
        outcome = Submitted(
            uuid,
            self.name,
            part_refs[0] if part_refs else None,
            self.options.rate,
            part_refs=part_refs,
        )
        await self.sink.record(outcome)
        self.status.sent += 1
        self._remember(uuid, outcome)
        self._resolve(uuid, outcome)
        await self._tidy(present)

    @staticmethod
    def _ref(sent: results.Sent) -> str:
        """A part's reference: smsd's modem, the recipient and the TP-MR (reports name all
        three; a TP-MR alone repeats every 256 messages)."""
        return f"{sent.modem}/{sent.to}/{sent.message_id}"

    async def _tidy(self, files: list[tuple[str, str]]) -> None:
        for name, kind in files:
            try:
                await asyncio.to_thread(self.spool.tidy, kind, name)
            except OSError as exc:
                # What it says is stored: it is left alone from now on.
                self._undeletable.add((kind, name))
                self._complain(kind, name, f"cannot archive or remove it: {exc}")

    # --- looking at the spool -------------------------------------------------------------

    async def _scan(self) -> float | None:
        """One look at every directory. Returns when to look again for a file that is still
        settling, or None. A file or message that cannot be handled is logged and looked at
        again later; it never holds up the others."""
        self.status.scans += 1
        self.status.problems = await asyncio.to_thread(self.spool.problems)
        kinds = KINDS if self.options.receive else ("outgoing", "checked", "sent", "failed")
        listing = await asyncio.to_thread(
            lambda: {kind: self.spool.listing(kind) for kind in kinds}
        )
        listing.setdefault("incoming", [])
        listing.setdefault("report", [])
        self._forget_gone({(kind, e.name) for kind, entries in listing.items() for e in entries})
        if self._undeletable:
            listing = {
                kind: [e for e in entries if (kind, e.name) not in self._undeletable]
                for kind, entries in listing.items()
            }
        now = time.time()
        self._outgoing_health(listing, now)
        groups: dict[str, int] = {}
        for kind in ("sent", "failed"):
            for entry in listing[kind]:
                part = parse_part_name(self.options.prefix, entry.name)
                if part is not None:
                    groups.setdefault(part.uuid, part.total)
        for uuid, wait in list(self._waiting.items()):
            groups.setdefault(uuid, wait.total)
        for uuid, total in groups.items():
            try:
                await self._settle(uuid, total, now)
            except Exception:
                log.exception("settling a message failed", channel=self.name, message_uuid=uuid)

        again: list[float] = []
        for kind in ("report", "incoming"):
            for entry in listing[kind]:
                try:
                    later = await self._inbound_file(kind, entry, now)
                except Exception as exc:
                    # Recording it failed (the store refused it): tried again much later.
                    self._complain(kind, entry.name, f"recording it failed: {exc!r}")
                    self._retry_at[(kind, entry.name)] = now + max(60.0, self.options.poll_interval)
                    continue
                if later is not None:
                    again.append(later)
        self.status.unmatched_reports = sum(1 for key in self._retry_at if key[0] == "report")
        return min(again) if again else None

    def _forget_gone(self, present: set[tuple[str, str]]) -> None:
        """What is remembered of files no longer there goes."""
        self._undeletable &= present
        self._complained &= present
        for key in [key for key in self._retry_at if key not in present]:
            del self._retry_at[key]
        if len(self._vanished) > REMEMBERED:
            self._vanished.clear()

    def _outgoing_health(self, listing: dict[str, list[Entry]], now: float) -> None:
        mine = [e for e in listing["outgoing"] if e.name.startswith(self.options.prefix)]
        self.status.waiting = len(mine)
        self.status.with_smsd = sum(
            1 for e in listing["checked"] if e.name.startswith(self.options.prefix)
        )
        oldest = now - min(e.mtime for e in mine) if mine else 0.0
        self.status.stalled = oldest if oldest > self.options.pickup_timeout else None

    async def _inbound_file(self, kind: str, entry: Entry, now: float) -> float | None:
        """A report or received message: recorded, then tidied. Returns seconds until it
        should be looked at again, or None."""
        key = (kind, entry.name)
        if now < self._retry_at.get(key, 0.0):
            return None
        settling = entry.mtime + self.options.settle - now
        if settling > 0:
            return settling
        spool = await self._read(kind, entry.name, now)
        if spool is None:
            return None if key in self._complained else INCOMPLETE_AFTER
        if isinstance(spool, str):
            await self._reject(kind, entry.name, spool)
            return None
        try:
            report = self._as_report(kind, spool)
            if report is not None:
                done = await self._report(report, entry, now)
            else:
                done = await self._received(spool, entry)
        except SpoolFileError as exc:
            await self._reject(kind, entry.name, str(exc))
            return None
        if done:
            self._retry_at.pop(key, None)
            await self._tidy([(entry.name, kind)])
        elif done is False:
            self._retry_at[key] = now + self.options.poll_interval
        return None

    @staticmethod
    def _as_report(kind: str, spool: SpoolFile) -> results.Report | None:
        """The status report a file holds. In the report directory every file must be one;
        among received messages, a text that only starts like one is a message."""
        if kind == "report":
            return results.read_report(spool)
        if not results.is_report(spool.body):
            return None
        try:
            return results.read_report(spool)
        except SpoolFileError:
            return None

    async def _report(self, report: results.Report, entry: Entry, now: float) -> bool | None:
        """True once recorded (or dropped); False to try again later; None to look again at
        the next scan (its message is still being sent)."""
        outcome = outcome_of(report.status)
        if outcome is Outcome.PENDING:
            return True  # the network is still trying; its final report follows
        delivered = outcome is Outcome.DELIVERED
        ref = f"{report.modem}/{report.recipient}/{report.message_id}"
        if any(ref in refs for refs in self._early.values()):
            return None  # its message's other parts are still with smsd
        event = DeliveryReport(
            delivered,
            "" if delivered else report_error(report.status),
            channel=self.name,
            channel_ref=ref,
        )
        if await self.sink.record(event):
            self.status.reports += 1
            return True
        if now - entry.mtime > self.options.report_wait:
            log.warning("a status report named no message; dropped", channel=self.name, ref=ref)
            return True
        return False  # its message may not be known yet: tried again later

    async def _received(self, spool: SpoolFile, entry: Entry) -> bool:
        received = results.read_received(spool)
        if not sanitize_sender(received.originator):
            raise SpoolFileError(f"the sender {received.originator!r} is not a number or name")
        digest = hashlib.sha256(spool.body + repr(spool.headers).encode()).hexdigest()[:16]
        event = InboundReceived(
            channel=self.name,
            from_number=received.originator,
            to_number=self._number(received.modem),
            text=received.text,
            account_auth_id=self.options.account,
            channel_ref=f"{entry.name[:60]}/{digest}",
        )
        if not await self.sink.record(event):
            return False  # no account to own it yet: kept, and tried again
        self.status.received += 1
        return True

    def _number(self, modem: str) -> str:
        return self.options.numbers.get(modem) or self.options.number or self.name

    async def _reject(self, kind: str, name: str, reason: str) -> None:
        log.warning("set a spool file aside", channel=self.name, file=name, reason=reason)
        self._retry_at.pop((kind, name), None)
        try:
            await asyncio.to_thread(self.spool.reject, kind, name, reason)
        except OSError as exc:
            self._complain(kind, name, f"cannot set it aside ({reason}): {exc}")
            self._retry_at[(kind, name)] = float("inf")
            return
        self.status.rejected += 1

    def _complain(self, kind: str, name: str, problem: str) -> None:
        """Log a file's problem once (it is looked at again at every scan)."""
        if (kind, name) not in self._complained:
            self._complained.add((kind, name))
            log.error(
                "a spool file cannot be handled",
                channel=self.name,
                file=name,
                directory=kind,
                problem=problem,
            )

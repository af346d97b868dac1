"""The dispatcher: claims due messages in batches and hands each to its channel.

It claims no more than the channel has room for, so a claimed message is always being sent,
never waiting. Outcomes go to the event sink and through ``record`` like every other change.
Messages that outlive ``message_expiry`` in the queue fail with error 420.

Fair sharing: when several accounts have messages waiting, each claim takes an equal share
from each (what one leaves unused goes to the others), so one account's bulk send does not
hold back another's one-time codes. Pacing (``core/pacing.py``): a claimed message over a
rate limit goes back to the queue, due when the limit lets it go, without counting as an
attempt.
"""

from __future__ import annotations

import asyncio
import dataclasses

import structlog
from sqlalchemy import Connection

from smsgate.channels.base import Channel, Outbound
from smsgate.config import DispatcherSettings
from smsgate.core import errors
from smsgate.core.accounts import AccountDirectory
from smsgate.core.clock import Clock, seconds
from smsgate.core.events import Event, Expired, SendFailed, Submitted
from smsgate.core.inbound_routing import KEYWORD_REPLY
from smsgate.core.loops import finish, run_forever
from smsgate.core.metrics import Metrics
from smsgate.core.models import Message
from smsgate.core.pacing import Pacing
from smsgate.core.sink import BatchingSink
from smsgate.store import messages as message_store
from smsgate.store import opt_outs as opt_out_store
from smsgate.store.database import Database
from smsgate.store.writer import Writer

log = structlog.get_logger(__name__)

#: Accounts a claim shares among at most; beyond that they take turns, tick by tick.
FAIR_ACCOUNTS = 64


class Dispatcher:
    def __init__(
        self,
        *,
        db: Database,
        writer: Writer,
        clock: Clock,
        node_id: str,
        channels: dict[str, Channel],
        default_channel: str,
        sink: BatchingSink,
        settings: DispatcherSettings,
        accounts: AccountDirectory,
        pacing: Pacing,
        metrics: Metrics,
    ) -> None:
        self._db = db
        self._writer = writer
        self._clock = clock
        self._node = node_id
        self._channels = channels
        self._default = default_channel
        self._sink = sink
        self._settings = settings
        self._accounts = accounts
        self._pacing = pacing
        self._metrics = metrics
        self._cursor = 0
        self.paced = 0
        self._wake = asyncio.Event()
        self._sends: set[asyncio.Task[None]] = set()
        self._next_sweep = 0
        self._starved = False

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await run_forever(self.tick, self._wake, self._settings.poll_interval, "dispatcher")

    async def drain(self, grace: float = 10.0) -> None:
        """Wait for sends in flight to finish; cancel those still running after ``grace``
        seconds (their messages go back to the queue and are sent again later)."""
        await finish(self._sends, grace)

    async def tick(self) -> bool:
        """Expire what is overdue and hand due messages to channels. True when more may wait."""
        now = self._clock.now_us()
        limit = self._settings.batch_size
        if now >= self._next_sweep:
            self._next_sweep = now + seconds(self._settings.poll_interval)
            overdue = await self._db.read(
                lambda conn: message_store.expired_uuids(conn, now, limit)
            )
            for uuid in overdue:
                self._sink.emit(Expired(uuid))

        channel = self._channels.get(self._default)
        free = channel.free_slots if channel is not None else 0
        self._starved = free == 0
        if channel is None or free == 0:
            return False
        want = min(free, limit)
        claimed, out = await self._writer.run(lambda conn: self._claim_checked(conn, now, want))
        ready = await self._paced(self._without_opted_out(claimed, out), channel.name, now)
        for msg in ready:
            channel.in_flight += 1
            task = asyncio.create_task(self._send(channel, msg))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        # A channel this claim filled wakes the loop as soon as a send ends, not at the next
        # poll: its window, not the poll interval, sets the pace.
        room = channel.free_slots
        self._starved = room == 0
        return len(claimed) == want and room > 0

    def _claim_checked(
        self, conn: Connection, now: int, want: int
    ) -> tuple[list[Message], set[tuple[int, str]]]:
        """The claim, and which of its destinations opted out of their account's messages
        (read in the claim's own transaction: no second trip to the store)."""
        claimed = self._claim(conn, now, want)
        wanted = {
            (msg.account_id, msg.to_number) for msg in claimed if msg.submitted_by != KEYWORD_REPLY
        }
        return claimed, opt_out_store.opted_out(conn, wanted)

    def _claim(self, conn: Connection, now: int, want: int) -> list[Message]:
        """Up to ``want`` due messages, shared fairly among the accounts waiting."""
        waiting = message_store.waiting_accounts(conn, self._cursor, FAIR_ACCOUNTS)
        if len(waiting) < FAIR_ACCOUNTS and self._cursor:
            more = message_store.waiting_accounts(conn, 0, FAIR_ACCOUNTS - len(waiting))
            waiting += [account for account in more if account not in waiting]
        self._cursor = waiting[-1] if len(waiting) == FAIR_ACCOUNTS else 0
        if len(waiting) <= 1:
            return message_store.claim(conn, self._node, now, want)
        share = max(1, want // len(waiting))
        claimed: list[Message] = []
        hungry = []
        for account in waiting:
            if len(claimed) >= want:
                break
            got = message_store.claim(
                conn, self._node, now, min(share, want - len(claimed)), account
            )
            claimed += got
            if len(got) == share:
                hungry.append(account)
        for account in hungry:
            if len(claimed) >= want:
                break
            claimed += message_store.claim(conn, self._node, now, want - len(claimed), account)
        return claimed

    def _without_opted_out(
        self, claimed: list[Message], out: set[tuple[int, str]]
    ) -> list[Message]:
        """The claimed messages whose destination has not opted out of their account's
        messages (STOP, in ``out``); the others fail with error 200. The replies confirming
        an opt-out go all the same."""
        if not out:
            return claimed
        kept = []
        for msg in claimed:
            if (msg.account_id, msg.to_number) in out and msg.submitted_by != KEYWORD_REPLY:
                reason = f"{msg.to_number} opted out of this account's messages (STOP)"
                self._sink.emit(SendFailed(msg.uuid, errors.OPTED_OUT, reason))
            else:
                kept.append(msg)
        return kept

    async def _paced(self, claimed: list[Message], channel: str, now: int) -> list[Message]:
        """The claimed messages that may go now; the others go back to the queue."""
        ready: list[Message] = []
        held: list[tuple[str, int]] = []
        for msg in claimed:
            account = await self._accounts.by_id(msg.account_id)
            wait = await self._pacing.hold(msg, account, channel)
            if wait:
                held.append((msg.uuid, now + seconds(wait)))
            else:
                ready.append(msg)
        if held:
            self.paced += len(held)
            self._metrics.paced.labels(channel).inc(len(held))
            log.debug("paced messages wait in the queue", count=len(held))
            await self._writer.run(lambda conn: message_store.defer(conn, self._node, held))
        return ready

    def _retry_at(self, msg: Message) -> int:
        delay = self._settings.retry_base * 2 ** max(0, msg.attempts - 1)
        return self._clock.now_us() + seconds(min(delay, self._settings.retry_max))

    async def _send(self, channel: Channel, msg: Message) -> None:
        outbound = Outbound(
            uuid=msg.uuid,
            src=msg.from_number,
            dst=msg.to_number,
            text=msg.text or "",
            encoding=msg.encoding,
            units=msg.units,
            attempt=msg.attempts,
        )
        result: Event
        try:
            async with asyncio.timeout(channel.options.send_timeout):
                sent: Submitted | SendFailed = await channel.send(outbound)
            result = sent
        except TimeoutError:
            log.warning("channel did not answer", channel=channel.name, message_uuid=msg.uuid)
            result = SendFailed(
                msg.uuid,
                errors.DISPATCH_FAILED,
                f"{channel.name} did not answer in {channel.options.send_timeout:g} s",
                temporary=True,
            )
        except Exception as exc:
            log.exception("channel send raised", channel=channel.name, message_uuid=msg.uuid)
            result = SendFailed(
                msg.uuid, errors.DISPATCH_FAILED, f"{channel.name}: {exc}", temporary=True
            )
        finally:
            channel.in_flight -= 1
            if self._starved:
                self._wake.set()
        if isinstance(result, SendFailed) and result.temporary and result.retry_at is None:
            result = dataclasses.replace(result, retry_at=self._retry_at(msg))
        self._sink.emit(result)

"""The gateway: the store, the writer, the channels, the dispatcher and the notifier, wired
together and started and stopped in the right order. Faces call the use cases here."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from sqlalchemy import Connection, text

from smsgate.channels.base import Channel
from smsgate.channels.registry import ChannelConfigError, build_channels
from smsgate.config import Settings
from smsgate.core import record as recorder
from smsgate.core.access import PermissionDirectory, enforce
from smsgate.core.accounts import AccountDirectory, Scope
from smsgate.core.clock import Clock, SystemClock, seconds
from smsgate.core.dispatcher import Dispatcher
from smsgate.core.events import Event
from smsgate.core.forwarding import Forwarding
from smsgate.core.handlers import Handlers
from smsgate.core.ids import api_id, uuid7
from smsgate.core.limits import Limiter, MemoryLimiter
from smsgate.core.limits_redis import RedisLimiter
from smsgate.core.metrics import Metrics
from smsgate.core.models import Message
from smsgate.core.notifier import Notifier
from smsgate.core.pacing import Pacing
from smsgate.core.sink import BatchingSink
from smsgate.core.submission import Prepared, Submission, prepare
from smsgate.smpp_server.delivery import SmppDelivery
from smsgate.store import messages as message_store
from smsgate.store import nodes as node_store
from smsgate.store import schema
from smsgate.store.database import Database
from smsgate.store.messages import MessageFilter
from smsgate.store.writer import Writer

log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 10.0
NODE_DEAD_AFTER_SECONDS = 60.0
#: Seconds the parts of a concatenated inbound message wait for the others, for a channel
#: without a ``reassembly_timeout`` of its own; then the message is recorded as it is.
PART_TIMEOUT_SECONDS = 600.0

ExtraRows = Callable[[Prepared], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    name: str
    kind: str
    up: bool
    in_flight: int
    detail: dict[str, Any]


class Gateway:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        clock: Clock | None = None,
        http_client: httpx.AsyncClient | None = None,
        node_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock: Clock = clock or SystemClock()
        # A stable id (see server.claim_identity) lets a restart reclaim its own work at once.
        self.node_id = node_id or f"{socket.gethostname()[:24]}-{uuid7()[-12:]}"
        self.writer = Writer(db.writer)
        self.metrics = Metrics()
        self.accounts = AccountDirectory(db)
        self.permissions = PermissionDirectory(db, self.accounts)
        self.sink = BatchingSink(self.record)
        self.channels: dict[str, Channel] = build_channels(settings.channels, self.sink, self.clock)
        memory = MemoryLimiter(self.clock)
        limiter: Limiter = (
            RedisLimiter(settings.limits.redis_url, memory) if settings.limits.redis_url else memory
        )
        self.pacing = Pacing(settings.limits, limiter, self.channels, self.metrics)
        self.dispatcher = Dispatcher(
            db=db,
            writer=self.writer,
            clock=self.clock,
            node_id=self.node_id,
            channels=self.channels,
            default_channel=settings.outbound_channel,
            sink=self.sink,
            settings=settings.dispatcher,
            accounts=self.accounts,
            pacing=self.pacing,
            metrics=self.metrics,
        )
        self.notifier = Notifier(
            writer=self.writer,
            clock=self.clock,
            node_id=self.node_id,
            accounts=self.accounts,
            settings=settings.callbacks,
            metrics=self.metrics,
            client=http_client,
        )
        self.notifier.record_in = self.record_in
        self.notifier.publish = self.published
        self.forwarding = Forwarding(self)
        self.handlers = Handlers(self)
        self.smpp_delivery = SmppDelivery(self, window=settings.smpp_server.receipt_window)
        self._tasks: list[asyncio.Task[None]] = []
        self._watchers: set[asyncio.Queue[recorder.Transition]] = set()
        self._last_beat = 0.0
        self.started = False

    # lifecycle -----------------------------------------------------------------------------

    async def start(self, *, background: bool = True) -> None:
        """Start the writer and channels; with ``background`` also the dispatcher, notifier and
        heartbeat loops (tests drive ``dispatcher.tick()`` and ``notifier.tick()`` themselves)."""
        for channel in self.channels.values():
            named = channel.options.account
            if named and await self.accounts.by_auth_id(named) is None:
                raise ChannelConfigError(
                    f"channel {channel.name!r}: account {named!r} does not exist"
                )
        for endpoint in self.settings.inbound_endpoints:
            if endpoint.account and await self.accounts.by_auth_id(endpoint.account) is None:
                raise ChannelConfigError(
                    f"inbound endpoint {endpoint.name!r}: account {endpoint.account!r} "
                    "does not exist"
                )
        self.writer.start()
        # Claims under this node's id are from a previous life of this same node (the id is
        # stable and held by one process at a time): they go back to the queue at once.
        released = await self.writer.run(lambda conn: node_store.leave(conn, self.node_id))
        if released:
            log.info("returned this node's earlier claims to the queue", count=released)
        await self.writer.run(self._beat)
        await self._recover()
        for channel in self.channels.values():
            await channel.start()
        if background:
            if self.settings.dispatcher.enabled:
                self._spawn(self.dispatcher.run, "smsgate-dispatcher")
            self._spawn(self.notifier.run, "smsgate-notifier")
            self._spawn(self._heartbeat, "smsgate-heartbeat")
        self.started = True
        log.info("gateway started", node=self.node_id, channels=list(self.channels))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for channel in self.channels.values():
            channel.stopping()
        await self.dispatcher.drain()
        for channel in self.channels.values():
            await channel.stop()
        await self.sink.close()
        await self.notifier.close()
        await self.pacing.limiter.close()
        with contextlib.suppress(Exception):
            await self.writer.run(lambda conn: node_store.leave(conn, self.node_id))
        await self.writer.stop()
        self.writer.close()
        self.started = False
        log.info("gateway stopped", node=self.node_id)

    def _spawn(self, fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        self._tasks.append(asyncio.create_task(fn(), name=name))

    def _beat(self, conn: Connection) -> None:
        now = node_store.now_us(conn, self.clock.now_us())
        node_store.heartbeat(conn, self.node_id, socket.gethostname(), now)
        self._last_beat = time.monotonic()

    async def _recover(self) -> None:
        """Hand work claimed by nodes that are gone back to the queue. SQLite has one node at a
        time, so there every claim belonged to a process that is gone. Elsewhere a node only
        judges others while its own heartbeats succeed: after an outage it waits to be sure."""
        if not self.db.is_sqlite and time.monotonic() - self._last_beat > 2 * HEARTBEAT_SECONDS:
            return

        def work(conn: Connection) -> int:
            if self.db.is_sqlite:
                return node_store.release_all(conn, keep=self.node_id)
            now = node_store.now_us(conn, self.clock.now_us())
            return node_store.release_orphaned_claims(
                conn, alive_since=now - seconds(NODE_DEAD_AFTER_SECONDS)
            )

        released = await self.writer.run(work)
        if released:
            log.info("returned claimed messages to the queue", count=released)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.writer.run(self._beat)
                await self._recover()
            except Exception:
                log.exception("heartbeat failed")
            try:
                await self.expire_parts()
            except Exception:
                log.exception("expiry of inbound parts failed")

    async def expire_parts(self) -> recorder.Outcome:
        """Record, as they are, the concatenated inbound messages whose first part came more
        than their channel's ``reassembly_timeout`` (or ``PART_TIMEOUT_SECONDS``) ago, and let
        their parts go, in one transaction."""

        def work(conn: Connection) -> recorder.Outcome:
            now = self.clock.now_us()
            events: list[Event] = []
            for channel in self.channels.values():
                timeout = getattr(channel.options, "reassembly_timeout", PART_TIMEOUT_SECONDS)
                cutoff = now - seconds(timeout)
                account = channel.options.account
                events += recorder.expired_parts(conn, channel.name, account, cutoff)
            return self.record_in(conn, events) if events else recorder.Outcome()

        outcome = await self.writer.run(work)
        self.published(outcome)
        return outcome

    # use cases -----------------------------------------------------------------------------

    async def accept(
        self,
        scope: Scope,
        submission: Submission,
        *,
        requester_ip: str,
        request_id: str | None = None,
        extra_rows: ExtraRows | None = None,
    ) -> Prepared:
        """Validate, check against permissions and durably store an outbound request;
        raises InvalidParameter (Forbidden for what permissions refuse)."""
        prepared = await self.prepare_send(scope, submission, requester_ip, request_id)
        callbacks = prepared.callbacks + (extra_rows(prepared) if extra_rows else [])
        await self.store(prepared, callbacks)
        return prepared

    async def prepare_send(
        self,
        scope: Scope,
        submission: Submission,
        requester_ip: str,
        request_id: str | None = None,
    ) -> Prepared:
        """The rows of an outbound request, validated and checked against permissions, not
        stored; raises InvalidParameter (Forbidden for what permissions refuse)."""
        prepared = prepare(
            scope.owner,
            submission,
            now=self.clock.now_us(),
            request_id=request_id or api_id(),
            requester_ip=requester_ip,
            languages_for=self.settings.languages_for,
        )
        enforce(await self.permissions.levels(scope.owner, submission.submitted_by), prepared)
        return prepared

    async def store(
        self,
        prepared: Prepared,
        callbacks: list[dict[str, Any]],
        guard: Callable[[Connection], bool] | None = None,
    ) -> bool:
        """Store prepared messages and their callbacks durably, then wake the dispatcher.
        Without a ``guard`` they join the writer's group commit; with one, ``guard`` runs
        first in their transaction and, when it answers False, nothing is stored."""
        if guard is None:
            await self.writer.insert(
                {schema.messages: prepared.messages, schema.callbacks: callbacks}
            )
        else:

            def guarded(conn: Connection) -> bool:
                if not guard(conn):
                    return False
                conn.execute(schema.messages.insert(), prepared.messages)
                if callbacks:
                    conn.execute(schema.callbacks.insert(), callbacks)
                return True

            if not await self.writer.run(guarded):
                return False
        self.metrics.messages.labels("outbound", "queued", "").inc(len(prepared.uuids))
        self.dispatcher.notify()
        if callbacks:
            self.notifier.notify()
        return True

    async def record(self, events: list[Event]) -> recorder.Outcome:
        """Apply events to messages (the state machine) in one transaction."""
        outcome = await self.writer.run(lambda conn: self.record_in(conn, events))
        self.published(outcome)
        return outcome

    def record_in(self, conn: Connection, events: list[Event]) -> recorder.Outcome:
        """``record``'s work inside a transaction of the caller's (call ``published`` with
        the outcome once it is committed)."""
        now = self.clock.now_us()
        return recorder.apply(
            conn,
            events,
            now=now,
            inbound=self.settings.inbound,
            receipt_hours=self.settings.smpp_server.receipt_retry_hours,
        )

    def published(self, outcome: recorder.Outcome) -> None:
        """Tell watchers, metrics and loops what a committed ``record`` did."""
        for change in outcome.transitions:
            self.metrics.messages.labels(change.direction, change.state, change.channel or "").inc()
            for queue in self._watchers:
                queue.put_nowait(change)
        if outcome.callbacks:
            self.notifier.notify()
        if outcome.queued:
            self.metrics.messages.labels("outbound", "queued", "").inc(outcome.queued)
            self.dispatcher.notify()
        if outcome.unmatched:
            log.warning("events matched no message", count=len(outcome.unmatched))

    @contextlib.contextmanager
    def watch(self) -> Iterator[asyncio.Queue[recorder.Transition]]:
        """A queue that receives every state change stored while the block runs."""
        queue: asyncio.Queue[recorder.Transition] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            yield queue
        finally:
            self._watchers.discard(queue)

    async def message(self, scope: Scope, uuid: str) -> Message | None:
        return await self.db.read(lambda conn: message_store.get(conn, uuid, scope.account_ids))

    async def messages(
        self, where: MessageFilter, limit: int, offset: int
    ) -> tuple[list[Message], int]:
        return await self.db.read(lambda conn: message_store.page(conn, where, limit, offset))

    # operations ----------------------------------------------------------------------------

    async def store_up(self) -> bool:
        try:
            async with asyncio.timeout(2.0):
                await self.db.read(lambda conn: conn.execute(text("SELECT 1")))
        except Exception:
            return False
        return True

    def channel_status(self) -> list[ChannelStatus]:
        result = []
        for channel in self.channels.values():
            health = channel.health()
            self.metrics.channel_up.labels(channel.name).set(1 if health.up else 0)
            result.append(
                ChannelStatus(
                    channel.name, channel.kind, health.up, channel.in_flight, health.detail
                )
            )
        return result

    async def queue_depth(self) -> int:
        depth = await self.db.read(message_store.queue_depth)
        self.metrics.queue_depth.set(depth)
        return depth

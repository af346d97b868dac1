"""Where channels and the dispatcher put events; they are recorded in batches, in order.

``emit`` hands an event over and returns at once; ``record`` returns only once the event is
committed, for a channel that must not acknowledge a network before then (a delivery receipt,
an inbound message), and tells whether the event named a message (a report may arrive before
the handover it refers to is known).

While the store is unreachable, recording is retried with backoff for as long as it takes:
events are never dropped for that. An event that fails for any other reason (one the store
refuses, or a bug) is isolated: the batch is retried one event at a time, and an event that
still fails after a few tries is logged and set aside, so it cannot hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from smsgate.core.events import Event
from smsgate.store.database import store_unavailable

log = structlog.get_logger(__name__)


class Recorded(Protocol):
    """What recording a batch tells: the events that named no message."""

    @property
    def unmatched(self) -> list[Event]: ...


Recorder = Callable[[list[Event]], Awaitable[Recorded]]

POISON_TRIES = 5


class BatchingSink:
    """Collects events and records everything collected while the previous batch was written."""

    def __init__(self, record: Recorder, retry_delay: float = 1.0, max_batch: int = 1000) -> None:
        self._record = record
        self._pending: list[tuple[Event, asyncio.Future[bool] | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._retry_delay = retry_delay
        self._max_batch = max_batch
        self._idle = asyncio.Event()
        self._idle.set()

    def emit(self, event: Event) -> None:
        self._put(event, None)

    async def record(self, event: Event) -> bool:
        """Hand ``event`` over and wait until it is committed (or set aside: then raise).
        False when it named no message."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._put(event, done)
        return await done

    def _put(self, event: Event, done: asyncio.Future[bool] | None) -> None:
        self._pending.append((event, done))
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="smsgate-events")

    async def _flush(self) -> None:
        delay = self._retry_delay
        size = self._max_batch
        tries = 0
        await asyncio.sleep(0)  # let events of the same loop turn join this batch
        while self._pending:
            batch = self._pending[:size]
            try:
                recorded = await self._record([event for event, _ in batch])
            except Exception as exc:
                if store_unavailable(exc):
                    log.warning("store unavailable; will record events later", error=str(exc))
                elif len(batch) > 1:
                    size = 1  # find the event that fails
                    continue
                else:
                    tries += 1
                    if tries >= POISON_TRIES:
                        log.error(
                            "event could not be recorded; set aside",
                            failed_event=repr(batch[0][0]),
                            exc_info=exc,
                        )
                        _settle(batch[0][1], exc)
                        del self._pending[:1]
                        tries = 0
                        continue
                    log.warning(
                        "recording an event failed; retrying",
                        failed_event=repr(batch[0][0]),
                        error=repr(exc),
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay, size, tries = self._retry_delay, self._max_batch, 0
            unmatched = {id(event) for event in recorded.unmatched}
            for event, done in batch:
                _settle(done, None, id(event) not in unmatched)
            del self._pending[: len(batch)]
        self._idle.set()

    async def drain(self) -> None:
        """Wait until everything emitted so far is recorded."""
        await self._idle.wait()

    async def close(self, grace: float = 10.0) -> None:
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drain(), timeout=grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pending:
            log.error("events not recorded before stopping", count=len(self._pending))
            for _, done in self._pending:
                _settle(done, RuntimeError("stopped before the event was recorded"))
            self._pending.clear()


def _settle(
    done: asyncio.Future[bool] | None, error: BaseException | None, matched: bool = True
) -> None:
    if done is None or done.done():
        return
    if error is None:
        done.set_result(matched)
    else:
        done.set_exception(error)

"""The background loops' shared machinery: tick until idle, then wait for a wake-up or a poll
interval; and finishing work in flight at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def run_forever(
    tick: Callable[[], Awaitable[bool]], wake: asyncio.Event, interval: float, name: str
) -> None:
    """Call ``tick`` again at once while it says more may wait, else when ``wake`` is set or
    ``interval`` seconds have passed. A failing tick is logged and retried after the interval."""
    while True:
        wake.clear()
        try:
            busy = await tick()
        except Exception:
            log.exception("background tick failed", loop=name)
            busy = False
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), interval)


async def finish(tasks: set[asyncio.Task[None]], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``tasks``, then cancel what is left."""
    if not tasks:
        return
    _, late = await asyncio.wait(set(tasks), timeout=grace)
    for task in late:
        task.cancel()
    if late:
        log.warning("cancelled work still running at shutdown", count=len(late))
        await asyncio.wait(late)

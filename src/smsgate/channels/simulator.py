"""The simulator: a network in a box, for trying smsgate out and for tests.

Every message it takes is ``sent``; after ``delivery_delay`` seconds it reports ``delivered``, or
``undelivered`` for a ``failure_ratio`` share of them. A ``reject_ratio`` share is refused at
handover (``failed``). Draws come from one random generator, seeded by ``seed`` when given, in
the order messages are handed over, so a seeded run repeats exactly. ``inject_inbound`` makes a
message arrive as if a handset had sent it.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from typing import Annotated, ClassVar

from pydantic import Field

from smsgate.channels.base import Channel, ChannelOptions, EventSink, Health, Outbound
from smsgate.core.clock import Clock
from smsgate.core.events import DeliveryReport, SendFailed, Submitted

ErrorCode = Annotated[str, Field(pattern=r"^[0-9]{1,8}$")]


class SimulatorOptions(ChannelOptions):
    max_in_flight: int = Field(default=10_000, ge=1)
    delivery_delay: float = Field(default=1.0, ge=0, description="seconds until the report")
    failure_ratio: float = Field(default=0.0, ge=0, le=1, description="share undelivered")
    failure_codes: list[ErrorCode] = Field(default_factory=lambda: ["80"], min_length=1)
    reject_ratio: float = Field(default=0.0, ge=0, le=1, description="share failed at handover")
    reject_codes: list[ErrorCode] = Field(default_factory=lambda: ["300"], min_length=1)
    seed: int | None = None


class SimulatorChannel(Channel):
    kind: ClassVar[str] = "simulator"
    options_model: ClassVar[type[ChannelOptions]] = SimulatorOptions
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"sms", "delivery_reports", "inbound", "inbound_injection"}
    )
    options: SimulatorOptions

    def __init__(self, name: str, options: ChannelOptions, sink: EventSink, clock: Clock) -> None:
        super().__init__(name, options, sink, clock)
        assert isinstance(options, SimulatorOptions)
        self._random = random.Random(options.seed)  # noqa: S311 - a simulation, not security
        self._timers: set[asyncio.TimerHandle] = set()
        self._count = 0
        self.sent: deque[Outbound] = deque(maxlen=1000)
        self._running = False

    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        self._running = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def health(self) -> Health:
        return Health(up=self._running, detail={"handed_over": self._count})

    async def send(self, message: Outbound) -> Submitted | SendFailed:
        opts = self.options
        self._count += 1
        if self._random.random() < opts.reject_ratio:
            code = self._random.choice(opts.reject_codes)
            return SendFailed(message.uuid, code, "rejected by the simulator")
        delivered = self._random.random() >= opts.failure_ratio
        code = "" if delivered else self._random.choice(opts.failure_codes)
        ref = message.uuid  # unique across restarts, unlike a counter
        self.sent.append(message)
        self._schedule(
            DeliveryReport(delivered=delivered, error_code=code, channel=self.name, channel_ref=ref)
        )
        return Submitted(message.uuid, self.name, ref, opts.rate)

    def _schedule(self, report: DeliveryReport) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(timer)
            self.sink.emit(report)

        timer = loop.call_later(self.options.delivery_delay, fire)
        self._timers.add(timer)

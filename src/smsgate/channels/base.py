"""The Channel interface.

A channel takes one outbound message at a time in ``send`` and answers what became of the
handover (``Submitted`` or ``SendFailed``). Everything later (delivery reports, inbound
messages) it reports through the ``EventSink`` it is given. Channels never touch the store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smsgate.core.clock import Clock
from smsgate.core.events import Event, SendFailed, Submitted
from smsgate.core.rates import check_rate
from smsgate.modem.commands import Ussd


class EventSink(Protocol):
    def emit(self, event: Event) -> None:
        """Hand an event over; it is recorded soon, in order."""

    async def record(self, event: Event) -> bool:
        """Hand an event over and return once it is committed: False when it named no
        message."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """What a channel needs to send one message."""

    uuid: str
    src: str
    dst: str
    text: str
    encoding: str
    units: int
    attempt: int


@runtime_checkable
class AsksUssd(Protocol):
    """A channel that can ask its network a USSD code (capability ``ussd``)."""

    async def ussd(self, code: str, seconds: float = 30.0) -> Ussd: ...


@dataclass(frozen=True, slots=True)
class Health:
    up: bool
    detail: dict[str, Any] = field(default_factory=dict)


class ChannelOptions(BaseModel):
    """Options every channel takes; kinds extend it."""

    model_config = ConfigDict(extra="forbid")

    max_in_flight: int = Field(default=100, ge=1)
    rate: str = Field(default="0.00000", description="price per unit, up to 5 decimals")
    account: str | None = Field(default=None, pattern=r"^[MS]A[A-Z0-9]{18}$")
    send_timeout: float = Field(
        default=60.0, gt=0, description="seconds a handover may take before it is retried"
    )
    send_rate: str = Field(default="", description="message parts this channel takes, 30/s")

    @field_validator("send_rate")
    @classmethod
    def _send_rate(cls, value: str) -> str:
        return check_rate(value)

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"rate {value!r} is not a decimal number") from None
        if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -5:  # type: ignore[operator]
            raise ValueError(f"rate {value!r}: use a non-negative amount with at most 5 decimals")
        return f"{amount:.5f}"


class Channel(ABC):
    kind: ClassVar[str]
    options_model: ClassVar[type[ChannelOptions]] = ChannelOptions
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, name: str, options: ChannelOptions, sink: EventSink, clock: Clock) -> None:
        self.name = name
        self.options = options
        self.sink = sink
        self.clock = clock
        self.in_flight = 0

    @property
    def free_slots(self) -> int:
        return max(0, self.options.max_in_flight - self.in_flight) if self.health().up else 0

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections, start background work."""

    def stopping(self) -> None:  # noqa: B027 - optional hook
        """The gateway is stopping: give up waits that only wait on others (a send that
        waits for another program to act), so that they do not hold the shutdown up."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Close connections; pending work is dropped, never half-done."""

    @abstractmethod
    async def send(self, message: Outbound) -> Submitted | SendFailed: ...

    @abstractmethod
    def health(self) -> Health: ...

"""Channel kinds by name, and building channels from settings."""

from __future__ import annotations

from pydantic import ValidationError

from smsgate.channels.base import Channel, EventSink
from smsgate.channels.modem import ModemChannel
from smsgate.channels.simulator import SimulatorChannel
from smsgate.channels.smstools import SmstoolsChannel
from smsgate.config import ChannelSettings
from smsgate.core.clock import Clock

KINDS: dict[str, type[Channel]] = {
    SimulatorChannel.kind: SimulatorChannel,
    ModemChannel.kind: ModemChannel,
    SmstoolsChannel.kind: SmstoolsChannel,
}


class ChannelConfigError(ValueError):
    pass


def build_channel(settings: ChannelSettings, sink: EventSink, clock: Clock) -> Channel:
    kind = KINDS.get(settings.kind)
    if kind is None:
        known = ", ".join(sorted(KINDS))
        raise ChannelConfigError(
            f"channel {settings.name!r}: unknown kind {settings.kind!r} (known: {known})"
        )
    try:
        options = kind.options_model(**settings.options)
    except ValidationError as exc:
        raise ChannelConfigError(f"channel {settings.name!r}: {exc}") from exc
    return kind(settings.name, options, sink, clock)

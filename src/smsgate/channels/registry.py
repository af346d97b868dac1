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


def build_channels(
    all_settings: list[ChannelSettings], sink: EventSink, clock: Clock
) -> dict[str, Channel]:
    channels = {cs.name: build_channel(cs, sink, clock) for cs in all_settings}
    _check_spools(channels)
    return channels


def _check_spools(channels: dict[str, Channel]) -> None:
    """Two smstools channels on one smsd must name their files apart: each would take the
    other's files for its own."""
    seen: dict[tuple[str, str], str] = {}
    for channel in channels.values():
        if isinstance(channel, SmstoolsChannel):
            outgoing = channel.spool.dirs["outgoing"]
            key = (str(outgoing.resolve() if outgoing else ""), channel.options.prefix)
            if key in seen:
                raise ChannelConfigError(
                    f"channels {seen[key]!r} and {channel.name!r} share smsd's outgoing "
                    f"directory and the file prefix {key[1]!r}: give one another prefix"
                )
            seen[key] = channel.name

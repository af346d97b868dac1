"""Channel kinds by name, and building channels from settings."""

from __future__ import annotations

from pydantic import ValidationError

from smsgate.channels.base import Channel, EventSink
from smsgate.channels.modem import ModemChannel
from smsgate.channels.simulator import SimulatorChannel
from smsgate.channels.smpp import SmppChannel
from smsgate.channels.smstools import SmstoolsChannel
from smsgate.config import ChannelSettings
from smsgate.core.clock import Clock

KINDS: dict[str, type[Channel]] = {
    SimulatorChannel.kind: SimulatorChannel,
    ModemChannel.kind: ModemChannel,
    SmstoolsChannel.kind: SmstoolsChannel,
    SmppChannel.kind: SmppChannel,
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
    """Two smstools channels on one smsd must name their files apart (each would take the
    other's for its own), and only one may read what smsd receives (both would store it)."""
    seen: dict[tuple[str, str], str] = {}
    for channel in channels.values():
        if not isinstance(channel, SmstoolsChannel):
            continue
        keys = [("outgoing", _resolved(channel, "outgoing"), channel.options.prefix)]
        if channel.options.receive:
            keys += [(kind, _resolved(channel, kind), "") for kind in ("incoming", "report")]
        for kind, directory, prefix in keys:
            if not directory:
                continue
            other = seen.setdefault((directory, prefix), channel.name)
            if other == channel.name:
                continue
            if kind == "outgoing":
                raise ChannelConfigError(
                    f"channels {other!r} and {channel.name!r} share smsd's outgoing directory "
                    f"and the file prefix {prefix!r}: give one another prefix"
                )
            raise ChannelConfigError(
                f"channels {other!r} and {channel.name!r} both read {directory}: set "
                "receive = false on one of them"
            )


def _resolved(channel: SmstoolsChannel, kind: str) -> str:
    directory = channel.spool.dirs.get(kind)
    return str(directory.resolve()) if directory is not None else ""

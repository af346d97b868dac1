"""Inbound messages made to arrive on a channel that can simulate them (the simulator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from smsgate.core.errors import InvalidParameter
from smsgate.core.events import InboundReceived
from smsgate.text.numbers import sanitize_sender, sender_kind

if TYPE_CHECKING:
    from smsgate.core.gateway import Gateway


class InjectionRefused(LookupError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def inbound_event(
    channel: str, from_number: str, to_number: str, text: str, account: str | None
) -> InboundReceived:
    for name, value in (("from", from_number), ("to", to_number)):
        if sender_kind(sanitize_sender(value)) is None:
            raise InvalidParameter(name, f"invalid {name} {value!r}: not a number or sender ID")
    if text == "":
        raise InvalidParameter("text", "text parameter is missing")
    return InboundReceived(
        channel=channel,
        from_number=from_number,
        to_number=to_number,
        text=text,
        account_auth_id=account,
    )


async def inject_inbound(
    gateway: Gateway,
    channel_name: str,
    from_number: str,
    to_number: str,
    text: str,
    account: str | None,
) -> str:
    """Record an inbound message on ``channel_name``; returns its message_uuid."""
    channel = gateway.channels.get(channel_name)
    if channel is None:
        raise InjectionRefused(404, f"no channel named {channel_name!r}")
    if "inbound_injection" not in channel.capabilities:
        raise InjectionRefused(400, f"channel {channel_name!r} cannot simulate inbound messages")
    if account is not None and await gateway.accounts.by_auth_id(account) is None:
        raise InvalidParameter("account", f"no account {account!r}")
    event = inbound_event(
        channel_name, from_number, to_number, text, account or channel.options.account
    )
    outcome = await gateway.record([event])
    if not outcome.transitions:
        raise InjectionRefused(409, "no account exists to receive the message")
    return outcome.transitions[0].uuid

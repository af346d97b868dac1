"""What a Python keyword handler imports: the message it is given, its context, its answers.

A handler is an object registered under the ``smsgate.handlers`` entry point group and named
by a keyword rule as ``python:<name>``::

    # pyproject.toml of the handler's package
    [project.entry-points."smsgate.handlers"]
    wallpaper = "my_package:wallpaper"

    # my_package/__init__.py
    from smsgate.handlers_api import Handled, HandlerContext, InboundMessage, LinkOpened

    async def wallpaper(message: InboundMessage, context: HandlerContext) -> Handled:
        url = await context.link(redirect="https://example.com/unicorn.jpg")
        return Handled(reply=f"Your wallpaper: {url}")

It is awaited once per attempt, in the gateway's process, within ``[callbacks] timeout``
seconds. It answers :class:`Handled` (optionally with a reply that goes back to the sender),
:class:`RetryLater`, or None (handled, no reply); an exception or a timeout counts as a failed
attempt. Failed attempts and retries are tried again with backoff, up to the rule's
``max_attempts``; then the message is undelivered. A message that was handled is never handed
to the handler again.

The handler may also have a ``link_opened`` coroutine (an attribute of the function or a
method of the object): it is awaited with a :class:`LinkOpened` when one of the one-time links
it made is opened (retried the same way when it raises). An entry point that names a class is
instantiated once, without arguments.

See docs/handlers.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "ENTRY_POINT_GROUP",
    "Handled",
    "Handler",
    "HandlerContext",
    "InboundMessage",
    "LinkOpened",
    "Result",
    "RetryLater",
]

#: The entry point group handlers are registered in.
ENTRY_POINT_GROUP = "smsgate.handlers"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """The inbound message a rule sent to the handler."""

    uuid: str  # its message_uuid, as the Plivo Message API shows it
    from_number: str  # the sender (the handset)
    to_number: str  # the number or short code it was sent to
    text: str
    keyword: str  # the rule's keyword ("ABC." for a prefix rule)
    rule_id: int
    received_at: datetime  # when the gateway received it (UTC)


@dataclass(frozen=True, slots=True)
class Handled:
    """The message was handled. ``reply`` goes back to the sender as an outbound message
    linked to the inbound one (its ``reply_to``), from the number it was sent to."""

    reply: str | None = None


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Not handled this time: hand the message over again later (with backoff)."""

    reason: str = ""


Result = Handled | RetryLater


@dataclass(frozen=True, slots=True)
class LinkOpened:
    """One of the handler's one-time links was opened (the first and only time)."""

    link_id: int
    message_uuid: str  # the inbound message the link was made for
    rule_id: int
    opened_at: datetime  # UTC
    opened_ip: str
    user_agent: str


@runtime_checkable
class HandlerContext(Protocol):
    """What the gateway offers a handler during one attempt."""

    async def link(
        self,
        *,
        redirect: str | None = None,
        content: str | None = None,
        content_type: str = "text/plain",
        expires_in: int | None = None,
    ) -> str:
        """A new one-time link for this message; returns its URL.

        Give either ``redirect`` (an http or https URL the link sends the phone to) or
        ``content`` (text the link serves, as ``content_type``: text/plain unless it is one of
        the few safe types, see docs/handlers.md). ``expires_in`` is in seconds (default
        ``[inbound] link_expiry_minutes``). Raises ValueError for a bad request.
        """
        ...


Handler = Callable[[InboundMessage, HandlerContext], Awaitable[Result | None]]

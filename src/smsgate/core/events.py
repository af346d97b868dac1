"""What channels and the dispatcher report to the core. Only the core turns them into state."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Submitted:
    """The channel took the message: it is ``sent``."""

    message_uuid: str
    channel: str
    channel_ref: str | None = None
    rate: str | None = None
    #: One reference per part, when the channel's delivery reports name parts (a modem's
    #: TP-MR per part): the message is delivered once every part is.
    part_refs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SendFailed:
    """The channel refused or could not take the message.

    A ``temporary`` failure leaves the message in the queue until ``retry_at`` (the dispatcher
    sets it from its backoff when the channel does not); otherwise the message is ``failed``.
    """

    message_uuid: str
    error_code: str
    reason: str = ""
    temporary: bool = False
    retry_at: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The network's verdict, naming the message by ``message_uuid`` or by ``channel`` and
    ``channel_ref`` (the message's reference, or one of its ``part_refs``: then it is that
    part's verdict, and the message is settled by the first failed part or the last
    delivered one)."""

    delivered: bool
    error_code: str = ""
    message_uuid: str | None = None
    channel: str | None = None
    channel_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Expired:
    """The message outlived its ``message_expiry`` in the queue."""

    message_uuid: str


@dataclass(frozen=True, slots=True)
class InboundReceived:
    """A message arrived from a handset through ``channel``.

    ``channel_ref`` names it on the channel (a spool file, say): a message already recorded
    under the same reference is not recorded again, so a channel that stores a message and
    crashes before it can forget it does not deliver it twice.
    """

    channel: str
    from_number: str
    to_number: str
    text: str
    account_auth_id: str | None = None
    units: int | None = None
    channel_ref: str | None = None


@dataclass(frozen=True, slots=True)
class InboundPart:
    """One part of a concatenated inbound message: stored until every part is there, then the
    message is recorded as an ``InboundReceived`` in the same transaction.

    Its parts share ``channel``, the numbers, ``reference`` and ``total``; ``sequence`` counts
    from 1. A part stored already (the same sequence) is the network's second try, ignored.
    """

    channel: str
    from_number: str
    to_number: str
    reference: int
    total: int
    sequence: int
    text: str
    account_auth_id: str | None = None


@dataclass(frozen=True, slots=True)
class Forwarded:
    """An inbound message reached its application or handler (``delivered``), or every
    attempt to hand it over failed (``delivered`` False: it is undelivered)."""

    message_uuid: str
    delivered: bool
    detail: str = ""


Event = (
    Submitted | SendFailed | DeliveryReport | Expired | InboundReceived | InboundPart | Forwarded
)

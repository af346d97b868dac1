"""Plain records the store returns and the core works on."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    auth_id: str
    auth_token: str
    parent_id: int | None
    name: str
    enabled: bool
    alphanumeric_sender: bool
    created_at: int
    updated_at: int
    smart_encoding: bool = False
    #: Rate limits (``30/s``, "" for none); None takes the ``[limits]`` setting.
    api_requests: str | None = None
    send_rate: str | None = None
    number_pace: str | None = None

    @property
    def is_subaccount(self) -> bool:
        return self.parent_id is not None


@dataclass(slots=True)
class Message:
    """One MDR: a row of the ``messages`` table. ``created_at`` is the MDR's message_time;
    a new message is due (``next_attempt_at``) and, unless told, expires at once."""

    uuid: str
    account_id: int
    direction: str
    state: str
    from_number: str
    to_number: str
    text: str | None
    encoding: str
    units: int
    created_at: int
    request_id: str = ""
    type: str = "sms"
    error_code: str = ""
    url: str | None = None
    method: str = "POST"
    log: str = "true"
    trackable: bool = False
    requester_ip: str = ""
    destination_country_iso2: str = ""
    dlt_entity_id: str = ""
    dlt_template_id: str = ""
    dlt_template_category: str = ""
    total_rate: str = "0.00000"
    channel: str | None = None
    channel_ref: str | None = None
    attempts: int = 0
    callback_seq: int = 0
    claimed_by: str | None = None
    updated_at: int = 0
    sent_at: int | None = None
    dlr_at: int | None = None
    expires_at: int = 0
    next_attempt_at: int = 0
    text_replaced: bool = False
    submitted_by: str = ""
    reply_to: str | None = None  # an outbound reply: the inbound message it answers
    intent: str = ""  # an inbound message's standard keyword: optout, optin, help

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at
        self.expires_at = self.expires_at or self.created_at
        self.next_attempt_at = self.next_attempt_at or self.created_at

    @classmethod
    def from_row(cls, row: Any) -> Message:
        return cls(**{name: row[name] for name in _MESSAGE_FIELDS})

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _MESSAGE_FIELDS}


_MESSAGE_FIELDS = tuple(f.name for f in fields(Message))


@dataclass(frozen=True, slots=True)
class Callback:
    """A row of the callback outbox."""

    id: int
    account_id: int
    message_uuid: str | None
    kind: str
    url: str
    method: str
    params: str
    attempts: int
    deadline: int | None = None
    max_attempts: int | None = None

"""Shapes for the OpenAPI description of the Plivo routes.

The hot routes read and validate their input themselves (see ``send.py``) so that errors come
in Plivo's envelope and the accept path stays short; these models only document it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class SendMessage(BaseModel):
    src: str = Field(
        description="Sender: a phone number with country code, a short code, or an "
        "alphanumeric ID (when enabled for the account)",
        examples=["14155550100"],
    )
    dst: str = Field(
        description="Destination; several joined with '<' (at most 1,000 unique)",
        examples=["14155550101<14155550102"],
    )
    text: str = Field(description="1,600 GSM-7 or 737 UCS-2 characters at most")
    type: Literal["sms"] = "sms"
    url: str | None = Field(default=None, description="Status callback URL")
    method: Literal["GET", "POST"] = "POST"
    message_expiry: int = Field(
        default=10800, ge=5, le=10800, description="Seconds the message may wait in the queue"
    )
    log: Literal["true", "false", "content_only", "number_only"] = "true"
    trackable: bool = False
    dlt_entity_id: str | None = None
    dlt_template_id: str | None = None
    dlt_template_category: (
        Literal["transactional", "promotional", "service_implicit", "service_explicit"] | None
    ) = None
    callback_url: str | None = Field(
        default=None, description="Async mode: where to deliver this response"
    )
    callback_method: Literal["GET", "POST"] = "POST"
    smart_encoding: bool | None = Field(
        default=None,
        description="Replace look-alike characters (curly quotes, long dashes, …) when that "
        "makes the text GSM; default: the account's setting",
    )


class Queued(BaseModel):
    api_id: str
    message: str = "message(s) queued"
    message_uuid: list[str]
    units: list[int] = Field(description="SMS parts of each message, in message_uuid order")
    encoding: list[str] = Field(description="GSM, GSM/<locking>+<shift> or UCS-2, per message")
    invalid_number: list[str] | None = None
    text_sent: str | None = Field(
        default=None, description="The text after smart encoding, when it replaced anything"
    )


class ErrorEnvelope(BaseModel):
    api_id: str
    error: str


class MDR(BaseModel):
    api_id: str | None = None
    message_uuid: str
    message_time: str
    message_direction: Literal["inbound", "outbound"]
    message_state: str
    message_type: str
    from_number: str
    to_number: str
    units: int
    encoding: str
    text_replaced: bool
    total_rate: str
    total_amount: str
    error_code: str
    destination_country_iso2: str
    destination_network: str
    requester_ip: str
    log: str
    resource_uri: str


class Meta(BaseModel):
    limit: int
    offset: int
    next: str | None
    previous: str | None
    total_count: int


class MessageList(BaseModel):
    api_id: str
    meta: Meta
    objects: list[MDR]


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "A parameter is missing or invalid"},
    401: {"model": ErrorEnvelope, "description": "Authentication failed"},
}

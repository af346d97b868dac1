"""Accepting outbound messages: the rules every face shares, and the rows a request becomes.

Pure: it validates and builds rows; storing them is the caller's (one transaction, see
``core/gateway.py``). Parameter names in errors are Plivo's (``src``, ``dst``, ``text``, …);
other faces translate them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from smsgate.core.callbacks import status_params, total_amount
from smsgate.core.clock import seconds
from smsgate.core.errors import InvalidParameter
from smsgate.core.ids import uuid7
from smsgate.core.models import Account, Message
from smsgate.core.privacy import HIDE_CONTENT, HIDE_NUMBERS
from smsgate.core.states import Direction, State
from smsgate.text.errors import EncodeError
from smsgate.text.numbers import (
    check_destination,
    sanitize_destination,
    sanitize_sender,
    sender_kind,
)
from smsgate.text.segments import Encoding, Segmentation, segment

MAX_DESTINATIONS = 1000
MAX_GSM_CHARACTERS = 1600
MAX_UCS2_CHARACTERS = 737
EXPIRY_MIN = 5
EXPIRY_MAX = 10_800
EXPIRY_DEFAULT = 10_800
LOG_VALUES = ("true", "false", "content_only", "number_only")
DLT_CATEGORIES = ("transactional", "promotional", "service_implicit", "service_explicit")
#: A ``url`` naming an ESME bound to the SMPP server face: receipts, not status callbacks.
SMPP_SCHEME = "smpp://"
RECEIPT = "smpp_receipt"


def is_smpp_url(url: str | None) -> bool:
    return url is not None and url[: len(SMPP_SCHEME)].lower() == SMPP_SCHEME


@dataclass(frozen=True, slots=True)
class Submission:
    """An outbound request as every face expresses it."""

    src: str
    dst: str
    text: str
    url: str | None = None
    method: str = "POST"
    message_expiry: int = EXPIRY_DEFAULT
    log: str = "true"
    trackable: bool = False
    dlt_entity_id: str = ""
    dlt_template_id: str = ""
    dlt_template_category: str = ""
    smart_encoding: bool | None = None  # None: the account's setting
    submitted_by: str = ""  # face/user, for a face with users of its own
    reply_to: str | None = None  # the inbound message this answers


#: National language ids the handsets of a destination country read.
LanguagesFor = Callable[[str], tuple[int, ...]]


def no_languages(country_iso2: str) -> tuple[int, ...]:
    return ()


@dataclass(slots=True)
class Prepared:
    """The rows one request becomes, ready to be written in one transaction. (A message's first
    state is its row: events record the changes after it.)"""

    messages: list[dict[str, Any]]
    callbacks: list[dict[str, Any]]
    uuids: list[str]
    invalid: list[str]
    units: list[int]  # per message, in the order of uuids
    encodings: list[str]
    text_sent: str | None  # the text after smart encoding, when it changed anything


def check_text(text: str, languages: tuple[int, ...] = (), smart: bool = False) -> Segmentation:
    """Segment ``text``, refusing what cannot be encoded."""
    if text == "":
        raise InvalidParameter("text", "text parameter is missing")
    try:
        return segment(text, languages=languages, smart=smart)
    except EncodeError as exc:
        raise InvalidParameter("text", f"invalid text: {exc}") from None


def check_length(seg: Segmentation) -> Segmentation:
    """``seg``, unless it is longer than a message may be."""
    if seg.encoding is Encoding.GSM7 and seg.characters > MAX_GSM_CHARACTERS:
        raise InvalidParameter(
            "text",
            f"text is too long: {seg.characters} GSM characters, "
            f"at most {MAX_GSM_CHARACTERS} are allowed",
        )
    if seg.encoding is Encoding.UCS2 and seg.length > MAX_UCS2_CHARACTERS:
        raise InvalidParameter(
            "text",
            f"text is too long: {seg.length} UCS-2 characters, "
            f"at most {MAX_UCS2_CHARACTERS} are allowed",
        )
    return seg


def check_sender(account: Account, raw: str) -> str:
    src = sanitize_sender(raw)
    kind = sender_kind(src)
    if kind is None:
        raise InvalidParameter(
            "src",
            f"invalid src {raw!r}: a sender is a phone number with its country code "
            "(at most 14 digits), a short code, or an alphanumeric ID of at most 11 characters",
        )
    if kind == "alphanumeric" and not account.alphanumeric_sender:
        raise InvalidParameter(
            "src", f"alphanumeric sender IDs are not enabled for this account (src {raw!r})"
        )
    return src


def prepare(
    account: Account,
    sub: Submission,
    *,
    now: int,
    request_id: str,
    requester_ip: str,
    languages_for: LanguagesFor = no_languages,
) -> Prepared:
    src = check_sender(account, sub.src)
    smart = account.smart_encoding if sub.smart_encoding is None else sub.smart_encoding
    segmentations: dict[tuple[int, ...], Segmentation] = {}

    def segmentation(country: str) -> Segmentation:
        languages = languages_for(country)
        found = segmentations.get(languages)
        if found is None:
            found = segmentations[languages] = check_text(sub.text, languages, smart)
        return found

    # The text alone must be encodable before destinations are looked at; its length is
    # checked per destination, as national tables may fit more characters for some.
    segmentation("")
    if not EXPIRY_MIN <= sub.message_expiry <= EXPIRY_MAX:
        raise InvalidParameter(
            "message_expiry",
            f"invalid message_expiry: {sub.message_expiry}; "
            f"use {EXPIRY_MIN} to {EXPIRY_MAX} seconds",
        )

    # Each destination as given, and as digits; duplicates go before the costly parse.
    wanted: dict[str, str] = {}
    for raw in sub.dst.split("<"):
        if raw.strip():
            wanted.setdefault(sanitize_destination(raw), raw)
    if not wanted:
        raise InvalidParameter("dst", "dst parameter is missing")
    if len(wanted) > MAX_DESTINATIONS:
        raise InvalidParameter(
            "dst", f"too many destinations: at most {MAX_DESTINATIONS:,} unique numbers per request"
        )
    destinations = []
    invalid: list[str] = []
    for digits, raw in wanted.items():
        dest = check_destination(digits)
        if dest is None or dest.number == src:
            invalid.append(raw)
        else:
            destinations.append(dest)
    if not destinations:
        raise InvalidParameter(
            "dst",
            "invalid dst: no valid destination number (a destination is a phone number with "
            f"its country code, and not the src); got {', '.join(invalid)}",
        )

    expires_at = now + seconds(sub.message_expiry)
    messages: list[dict[str, Any]] = []
    units: list[int] = []
    encodings: list[str] = []
    callbacks: list[dict[str, Any]] = []
    uuids: list[str] = []
    queued: dict[str, str] | None = None
    # An ESME's url asks for receipts of the final states only: no "queued" callback.
    status_url = bool(sub.url) and not is_smpp_url(sub.url)
    for dest in destinations:
        uuid = uuid7()
        uuids.append(uuid)
        seg = check_length(segmentation(dest.country_iso2))
        units.append(seg.units)
        encodings.append(seg.name)
        msg = Message(
            uuid=uuid,
            account_id=account.id,
            direction=Direction.OUTBOUND,
            state=State.QUEUED,
            from_number=src,
            to_number=dest.number,
            text=seg.text,
            encoding=seg.name,
            units=seg.units,
            text_replaced=seg.replaced > 0,
            submitted_by=sub.submitted_by,
            reply_to=sub.reply_to,
            created_at=now,
            request_id=request_id,
            url=sub.url,
            method=sub.method,
            log=sub.log,
            trackable=sub.trackable,
            requester_ip=requester_ip,
            destination_country_iso2=dest.country_iso2,
            dlt_entity_id=sub.dlt_entity_id,
            dlt_template_id=sub.dlt_template_id,
            dlt_template_category=sub.dlt_template_category,
            callback_seq=1 if status_url else 0,
            expires_at=expires_at,
        )
        messages.append(msg.as_row())
        if status_url:
            # A destination's "queued" callback is the same as the first's but for its id,
            # number and units.
            if queued is None:
                queued = status_params(msg, State.QUEUED, 1)
            params = {
                **queued,
                "MessageUUID": uuid,
                "ParentMessageUUID": uuid,
                "To": dest.number,
                "Units": str(seg.units),
                "TotalAmount": total_amount(msg.total_rate, seg.units),
            }
            callbacks.append(status_callback_row(msg, State.QUEUED, 1, now, params))
    replaced = [seg for seg in segmentations.values() if seg.replaced]
    text_sent = replaced[0].text if replaced else None
    return Prepared(messages, callbacks, uuids, invalid, units, encodings, text_sent)


def callback_row(
    *,
    account_id: int,
    message_uuid: str | None,
    kind: str,
    url: str,
    method: str,
    params: dict[str, Any],
    private: bool,
    now: int,
    deadline: int | None = None,
    max_attempts: int | None = None,
) -> dict[str, Any]:
    """A row of the callback outbox, due at once; tried until ``deadline`` when given, else
    ``max_attempts`` times (the settings' when None)."""
    return {
        "account_id": account_id,
        "message_uuid": message_uuid,
        "kind": kind,
        "url": url,
        "method": method,
        "params": orjson.dumps(params).decode(),
        "private": private,
        "state": "pending",
        "attempts": 0,
        "claimed_by": None,
        "last_status": None,
        "last_error": "",
        "created_at": now,
        "updated_at": now,
        "next_attempt_at": now,
        "deadline": deadline,
        "max_attempts": max_attempts,
    }


def status_callback_row(
    msg: Message, status: str, sequence: int, now: int, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """The status callback announcing ``msg``'s move to ``status``."""
    assert msg.url is not None
    return callback_row(
        account_id=msg.account_id,
        message_uuid=msg.uuid,
        kind="status",
        url=msg.url,
        method=msg.method,
        params=params or status_params(msg, status, sequence),
        private=msg.log in HIDE_NUMBERS,
        now=now,
    )


def receipt_row(msg: Message, status: str, now: int, deadline: int) -> dict[str, Any]:
    """The delivery receipt announcing ``msg``'s final ``status`` to the ESME its ``url``
    names (``smpp_server/delivery.py`` sends it), tried until ``deadline``."""
    assert msg.url is not None
    return callback_row(
        account_id=msg.account_id,
        message_uuid=msg.uuid,
        kind=RECEIPT,
        url=msg.url,
        method=msg.method,
        params={
            "MessageUUID": msg.uuid,
            "From": msg.from_number,
            "To": msg.to_number,
            "Status": status,
            "ErrorCode": msg.error_code,
            "SubmitDate": msg.created_at,
            "DoneDate": now,
            "Text": "" if msg.log in HIDE_CONTENT or msg.text is None else msg.text[:20],
        },
        private=msg.log in HIDE_NUMBERS,
        now=now,
        deadline=deadline,
    )


def api_response_callback_row(
    account: Account, url: str, method: str, body: dict[str, Any], now: int
) -> dict[str, Any]:
    """The async-API (``callback_url``) delivery of a response body."""
    return callback_row(
        account_id=account.id,
        message_uuid=None,
        kind="api_response",
        url=url,
        method=method,
        params=body,
        private=False,
        now=now,
    )

"""The parameters of ``POST /Account/{auth_id}/Message/``, read into a Submission."""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.api import params as p
from smsgate.core.errors import InvalidParameter
from smsgate.core.submission import DLT_CATEGORIES, EXPIRY_DEFAULT, LOG_VALUES, Submission

TYPES = ("sms", "mms", "whatsapp")
MAX_SENDER = 64  # before sanitising; at most 14 digits or 11 characters remain
MAX_DLT_ID = 64
METHODS = ("GET", "POST")
_NOT_FOR_SMS = ("media_urls", "media_ids", "template", "interactive", "location")


@dataclass(frozen=True, slots=True)
class SendRequest:
    submission: Submission
    callback_url: str | None
    callback_method: str


def read_send(params: p.Params) -> SendRequest:
    kind = p.choice(params, "type", TYPES, "sms")
    if kind != "sms":
        raise InvalidParameter("type", f"type {kind!r} is not supported by this gateway; use sms")
    for name in _NOT_FOR_SMS:
        if params.get(name) not in (None, "", []):
            raise InvalidParameter(name, f"{name} is not valid with type sms")
    if params.get("powerpack_uuid") not in (None, ""):
        if params.get("src") not in (None, ""):
            raise InvalidParameter(
                "powerpack_uuid", "specify either src or powerpack_uuid, not both"
            )
        raise InvalidParameter(
            "powerpack_uuid",
            f"invalid powerpack_uuid {params['powerpack_uuid']!r}: no such powerpack",
        )
    src = p.text(params, "src", numbers=True, max_length=MAX_SENDER)
    if src is None or src.strip() == "":
        raise InvalidParameter("src", "src parameter is missing")
    dst = p.text(params, "dst", required=True, numbers=True)
    text = p.text(params, "text")
    if text is None:
        raise InvalidParameter("text", "text parameter is missing")
    url = p.http_url(params, "url")
    method = p.choice(params, "method", METHODS, "POST")
    expiry = p.integer(params, "message_expiry", EXPIRY_DEFAULT)
    log = p.choice(params, "log", LOG_VALUES, "true")
    category = p.choice(params, "dlt_template_category", DLT_CATEGORIES, "")
    callback_url = p.http_url(params, "callback_url")
    callback_method = p.choice(params, "callback_method", METHODS, "POST")
    assert dst is not None and method is not None and expiry is not None
    assert log is not None and category is not None and callback_method is not None
    submission = Submission(
        src=src,
        dst=dst,
        text=text,
        url=url,
        method=method,
        message_expiry=expiry,
        log=log,
        trackable=p.boolean(params, "trackable", False),
        smart_encoding=None
        if params.get("smart_encoding") is None
        else p.boolean(params, "smart_encoding", False),
        dlt_entity_id=p.text(params, "dlt_entity_id", max_length=MAX_DLT_ID) or "",
        dlt_template_id=p.text(params, "dlt_template_id", max_length=MAX_DLT_ID) or "",
        dlt_template_category=category,
    )
    return SendRequest(submission, callback_url, callback_method)

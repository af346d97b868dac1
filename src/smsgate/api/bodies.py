"""Reading request parameters: JSON objects and form-encoded bodies, leniently typed."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from smsgate.api.errors import ApiError

JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"


MAX_BODY = 1024 * 1024


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refusing one larger than ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body too large: at most {limit:,} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body too large: at most {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_params(request: Request) -> dict[str, Any]:
    """The body's parameters as a dict: JSON when it says so (or looks like it), else form data."""
    body = await read_body(request)
    if not body.strip():
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    looks_json = body.lstrip()[:1] in (b"{", b"[")
    if (
        content_type in JSON_TYPES
        or content_type.endswith("+json")
        or (not content_type and looks_json)
    ):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"invalid JSON body: {exc}") from None
        if not isinstance(parsed, dict):
            raise ApiError(400, "invalid JSON body: expected an object of parameters")
        return parsed
    if content_type in (FORM_TYPE, ""):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "invalid body: form data must be UTF-8") from None
        return dict(parse_qsl(text, keep_blank_values=True))
    raise ApiError(
        400,
        f"unsupported Content-Type {content_type!r}: send application/json "
        "or application/x-www-form-urlencoded",
    )

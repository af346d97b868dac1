"""``GET /v1/segments/`` (with or without the slash): how a text would travel, before it is sent.

Encoding, characters, parts and the room left in the last part, by the same function the
gateway bills with. Public: it computes, it stores nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from smsgate.api import params as p
from smsgate.api.responses import JSONResponse
from smsgate.core.errors import InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.core.ids import api_id
from smsgate.core.submission import MAX_GSM_CHARACTERS, MAX_UCS2_CHARACTERS
from smsgate.text.errors import EncodeError
from smsgate.text.numbers import parse_destination
from smsgate.text.segments import Encoding, segment

router = APIRouter(tags=["Text"])

MAX_TEXT = 10_000


class SegmentPart(BaseModel):
    text: str
    length: int


class Segments(BaseModel):
    api_id: str
    encoding: str = Field(description="GSM, GSM/<locking>+<shift> (national tables) or UCS-2")
    characters: int
    length: int = Field(description="Septets (GSM) or UTF-16 units (UCS-2)")
    units: int = Field(description="SMS parts, as billed")
    per_part: int = Field(description="Capacity of each part in the encoding's unit")
    remaining: int = Field(description="Room left in the last part")
    too_long: bool = Field(description="Over the longest text a message may carry")
    replaced: int = Field(description="Look-alike characters smart encoding replaced")
    text_sent: str
    parts: list[SegmentPart]


@router.get(
    "/v1/segments/",
    summary="Count the encoding, characters and parts of a text before sending it",
    response_model=Segments,
)
async def segments(request: Request) -> Response:
    query: dict[str, Any] = dict(request.query_params)
    text = p.text(query, "text", required=True, max_length=MAX_TEXT)
    assert text is not None
    smart = p.boolean(query, "smart_encoding", False)
    gateway: Gateway = request.app.state.gateway
    country = ""  # no destination: the tables the settings give every destination
    dst = p.text(query, "dst", max_length=32)
    if dst:
        destination = parse_destination(dst)
        if destination is None:
            raise InvalidParameter("dst", f"invalid dst {dst!r}: not a phone number")
        country = destination.country_iso2
    languages = gateway.settings.languages_for(country)
    try:
        seg = segment(text, languages=languages, smart=smart)
    except EncodeError as exc:
        raise InvalidParameter("text", f"invalid text: {exc}") from None
    limit = MAX_GSM_CHARACTERS if seg.encoding is Encoding.GSM7 else MAX_UCS2_CHARACTERS
    size = seg.characters if seg.encoding is Encoding.GSM7 else seg.length
    return JSONResponse(
        {
            "api_id": api_id(),
            "encoding": seg.name,
            "characters": seg.characters,
            "length": seg.length,
            "units": seg.units,
            "per_part": seg.capacity,
            "remaining": seg.remaining,
            "too_long": size > limit,
            "replaced": seg.replaced,
            "text_sent": seg.text,
            "parts": [{"text": part.text, "length": part.length} for part in seg.parts],
        }
    )

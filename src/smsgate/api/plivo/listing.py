"""The query of ``GET /Account/{auth_id}/Message/``: filters, paging and the ``meta`` links."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from smsgate.api import params as p
from smsgate.core.clock import callback_time, parse_filter_span, seconds
from smsgate.core.errors import InvalidParameter
from smsgate.store.messages import MessageFilter

_DIGITS = re.compile(r"[0-9]{1,8}")
DEFAULT_LIMIT = 20
MAX_LIMIT = 20
DEFAULT_WINDOW_SECONDS = 24 * 3600
STATES = ("queued", "sent", "failed", "delivered", "undelivered", "received", "rejected", "read")
_TIME_FILTERS = (
    "message_time",
    "message_time__gt",
    "message_time__gte",
    "message_time__lt",
    "message_time__lte",
)
#: Filters on things smsgate never sets: any value other than these matches nothing.
_FIXED = {
    "powerpack_id": "",
    "tendlc_campaign_id": "",
    "conversation_id": "",
    "conversation_origin": "",
    "tendlc_registration_status": "not_applicable",
}


def _time(params: Mapping[str, str], name: str) -> tuple[int, int] | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    found = parse_filter_span(raw)
    if found is None:
        raise InvalidParameter(
            name, f"invalid {name} {raw!r}: use YYYY-MM-DD HH:MM[:ss[.uuuuuu]] (UTC)"
        )
    return found


def _number(value: str | None) -> str | None:
    return value.strip().lstrip("+") if value else None


@dataclass(frozen=True, slots=True)
class ListQuery:
    where: MessageFilter
    limit: int
    offset: int
    #: The filters to repeat in ``meta.next``/``previous`` (with the default window made
    #: explicit, so that following the links does not slide it).
    link_params: dict[str, str]


def _tightest(values: list[int | None], pick: Callable[..., int]) -> int | None:
    present = [value for value in values if value is not None]
    return pick(present) if present else None


def read_page(params: Mapping[str, str]) -> tuple[int, int]:
    """``limit`` (1 to 20, default 20) and ``offset`` (0 or more) of any Plivo list request;
    refuses NUL characters in every parameter, which no filter needs."""
    for name in params:
        p.text(params, name)
    limit = p.integer(params, "limit", DEFAULT_LIMIT)
    offset = p.integer(params, "offset", 0)
    assert limit is not None and offset is not None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameter("limit", f"invalid limit {limit}: use 1 to {MAX_LIMIT}")
    if offset < 0:
        raise InvalidParameter("offset", f"invalid offset {offset}: use 0 or more")
    return limit, offset


def read_filter(params: Mapping[str, str], account_ids: tuple[int, ...], now: int) -> ListQuery:
    limit, offset = read_page(params)
    link_params = {k: v for k, v in params.items() if k not in ("limit", "offset")}
    times = {name: _time(params, name) for name in _TIME_FILTERS}
    if all(value is None for value in times.values()):
        window = now - seconds(DEFAULT_WINDOW_SECONDS)
        times["message_time__gte"] = (window, 1)
        link_params["message_time__gte"] = callback_time(window)

    def start(name: str) -> int | None:
        found = times[name]
        return found[0] if found else None

    exact = times["message_time"]  # the whole span its precision names: 13:04 is a minute
    error_code = params.get("error_code") or None
    if error_code is not None and not _DIGITS.fullmatch(error_code):
        raise InvalidParameter("error_code", f"invalid error_code {error_code!r}: use a number")
    country = params.get("destination_country_iso2") or None
    nothing = any(params.get(name) not in (None, "", expected) for name, expected in _FIXED.items())
    where = MessageFilter(
        account_ids=account_ids,
        direction=p.choice(params, "message_direction", ("inbound", "outbound"), None),
        state=p.choice(params, "message_state", STATES, None),
        type=p.choice(params, "message_type", ("sms", "mms", "whatsapp"), None),
        error_code=error_code,
        from_number=_number(params.get("from_number")),
        to_number=_number(params.get("to_number")),
        country_iso2=country.upper() if country else None,
        time_gt=start("message_time__gt"),
        time_gte=_tightest([start("message_time__gte"), exact[0] if exact else None], max),
        time_lt=_tightest([start("message_time__lt"), sum(exact) if exact else None], min),
        time_lte=start("message_time__lte"),
        match_nothing=nothing,
    )
    return ListQuery(where, limit, offset, link_params)


def page_links(base: str, query: ListQuery, total: int) -> tuple[str | None, str | None]:
    """``meta.next`` and ``meta.previous``: the same query, one page on or back."""
    return links_around(base, query.link_params, query.limit, query.offset, total)


def links_around(
    base: str, kept_params: Mapping[str, str], limit: int, offset: int, total: int
) -> tuple[str | None, str | None]:
    """The links one page on and one back from ``offset``, keeping ``kept_params``."""
    kept = [(k, v) for k, v in kept_params.items() if k not in ("limit", "offset")]

    def link(at: int) -> str:
        return f"{base}?{urlencode([('limit', limit), ('offset', at), *kept])}"

    following = link(offset + limit) if offset + limit < total else None
    previous = link(max(0, offset - limit)) if offset > 0 else None
    return following, previous

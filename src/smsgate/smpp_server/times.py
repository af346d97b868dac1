"""SMPP 3.4 times (section 7.1.1): ``YYMMDDhhmmsstnnp``, absolute (``p`` is ``+`` or ``-``,
``nn`` the offset from UTC in quarter hours, ``t`` tenths of a second) or relative (``p`` is
``R``: so many years, months, days, hours, minutes and seconds from now; a year counts 365
days and a month 30, as SMSCs commonly reckon them)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_TIME = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([+\-R])")


class TimeError(ValueError):
    pass


def seconds_until(value: str, now_us: int) -> float:
    """Seconds from ``now_us`` to the time ``value`` names (negative when it has passed);
    TimeError when it is not an SMPP time."""
    found = _TIME.fullmatch(value)
    if found is None:
        raise TimeError(f"{value!r} is not an SMPP time (YYMMDDhhmmsstnnp)")
    yy, mo, dd, hh, mi, ss, tenths, quarters = (int(group) for group in found.groups()[:8])
    sign = found[9]
    if sign == "R":
        if hh > 23 or mi > 59 or ss > 59:
            raise TimeError(f"relative time {value!r} is out of range")
        return float((yy * 365 + mo * 30 + dd) * 86400 + hh * 3600 + mi * 60 + ss)
    if quarters > 48:
        raise TimeError(f"{value!r}: an offset of {quarters} quarter hours")
    try:
        local = datetime(2000 + yy, mo, dd, hh, mi, ss, tenths * 100_000, tzinfo=UTC)
    except ValueError:
        raise TimeError(f"{value!r} is not a date") from None
    offset = timedelta(minutes=15 * quarters)
    at = local - offset if sign == "+" else local + offset
    return (at - datetime.fromtimestamp(now_us / 1e6, UTC)).total_seconds()


def absolute(us: int) -> str:
    """``us`` (microseconds since the epoch) as an absolute SMPP time, in UTC."""
    at = datetime.fromtimestamp(us / 1e6, UTC)
    return at.strftime("%y%m%d%H%M%S") + f"{at.microsecond // 100_000}00+"

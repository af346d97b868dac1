"""Time stamps and validity periods (3GPP TS 23.040 9.2.3.11, 9.2.3.12)."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta, timezone

from smsgate.text.errors import EncodeError, PduError

#: Octet -> the two swapped decimal digits it holds, or -1 when it holds other values.
_BCD = tuple(
    (value & 0x0F) * 10 + (value >> 4) if value & 0x0F < 10 and value >> 4 < 10 else -1
    for value in range(0x100)
)


@functools.lru_cache(maxsize=256)
def _zone(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


def _swap(value: int) -> int:
    return (value % 10) << 4 | value // 10


def decode_timestamp(data: bytes) -> datetime:
    """Seven semi-octet pairs: year, month, day, hour, minute, second, time zone."""
    if len(data) != 7:
        raise PduError(f"a time stamp has 7 octets, not {len(data)}")
    year, month, day, hour, minute, second, tz = data
    bcd = _BCD
    fields = (bcd[year], bcd[month], bcd[day], bcd[hour], bcd[minute], bcd[second])
    if -1 in fields:
        bad = data[fields.index(-1)]
        raise PduError(f"time stamp octet 0x{bad:02X} is not two decimal digits")
    year, month, day, hour, minute, second = fields
    quarters = (tz & 0x07) * 10 + (tz >> 4)
    if tz >> 4 > 9 or quarters > 79:
        raise PduError(f"time zone octet 0x{tz:02X} is not a time zone")
    zone = _zone(15 * quarters * (-1 if tz & 0x08 else 1))
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as exc:
        raise PduError(f"impossible time stamp {data.hex().upper()}: {exc}") from None


def encode_timestamp(value: datetime) -> bytes:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not 2000 <= value.year <= 2099:
        raise EncodeError(f"year {value.year} cannot be written in a time stamp")
    offset = value.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    if quarters > 79:
        raise EncodeError(f"time zone offset {offset} is too large")
    tz = _swap(quarters) | (0x08 if offset < timedelta(0) else 0)
    fields = (value.year - 2000, value.month, value.day, value.hour, value.minute, value.second)
    return bytes(_swap(field) for field in fields) + bytes((tz,))


def decode_relative(octet: int) -> timedelta:
    if octet <= 143:
        return timedelta(minutes=(octet + 1) * 5)
    if octet <= 167:
        return timedelta(hours=12, minutes=(octet - 143) * 30)
    if octet <= 196:
        return timedelta(days=octet - 166)
    return timedelta(weeks=octet - 192)


def encode_relative(period: timedelta) -> int:
    """The smallest relative validity period that lasts at least ``period`` (5 minutes to 63
    weeks)."""
    minutes = math.ceil(period.total_seconds() / 60)
    if minutes <= 0:
        raise EncodeError("a validity period must be positive")
    if minutes <= 720:
        return max(0, math.ceil(minutes / 5) - 1)
    if minutes <= 1440:
        return 143 + math.ceil((minutes - 720) / 30)
    days = math.ceil(minutes / 1440)
    if days <= 30:
        return 166 + days
    weeks = math.ceil(days / 7)
    if weeks > 63:
        raise EncodeError("a relative validity period lasts at most 63 weeks")
    return 192 + weeks

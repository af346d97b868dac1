"""Phone numbers and sender IDs: sanitising and validation (Plivo's rules, phonenumbers' data).

Destinations: strip ``/ - . + ( )`` and whitespace; what is left must be digits in international
form (country code first) that the numbering plan of that country allows. Senders: strip every
character that is not a letter or a digit; a numeric sender is at most 14 digits (a phone number
with country code, or a short code), an alphanumeric sender at most 11 characters.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import carrier

_DST_STRIP = re.compile(r"[/\-.+()\s]")
_SRC_STRIP = re.compile(r"[^A-Za-z0-9]")
_DIGITS = re.compile(r"[0-9]+")

MAX_NUMERIC_SENDER = 14
MAX_ALPHANUMERIC_SENDER = 11
MAX_E164_DIGITS = 15


@dataclass(frozen=True, slots=True)
class Destination:
    number: str
    country_iso2: str


def international(number: str) -> str:
    """``number`` as international digits when it is one written another way (``+44 …``,
    ``0044…``); anything else (a short code, a national number) as it is."""
    digits = sanitize_destination(number)
    if digits.startswith("00"):
        digits = digits[2:]
    found = check_destination(digits) if digits.isdigit() else None
    return found.number if found is not None else number


def sanitize_destination(raw: str) -> str:
    return _DST_STRIP.sub("", raw)


def sanitize_sender(raw: str) -> str:
    return _SRC_STRIP.sub("", raw)


def parse_destination(raw: str) -> Destination | None:
    """The destination ``raw`` names, or None when it is not a possible international number."""
    return check_destination(sanitize_destination(raw))


def check_destination(digits: str) -> Destination | None:
    """The destination sanitised ``digits`` name, or None when not a possible number."""
    if not _DIGITS.fullmatch(digits) or len(digits) > MAX_E164_DIGITS or digits[0] == "0":
        return None
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return Destination(number=digits, country_iso2=_region(parsed))


def _region(parsed: phonenumbers.PhoneNumber) -> str:
    """ISO 3166 country of a number; the full lookup only where a code spans several."""
    code = parsed.country_code or 0
    regions = phonenumbers.region_codes_for_country_code(code)
    if len(regions) == 1:
        region: str | None = regions[0]
    elif code == 1:
        # North America: the area code alone decides the country.
        region = _nanp_region(str(parsed.national_number)[:3])
    else:
        region = phonenumbers.region_code_for_number(parsed)
    if not region and regions:
        region = regions[0]
    return "" if region in (None, "ZZ", "001") else str(region)


@functools.lru_cache(maxsize=1024)
def _nanp_region(area_code: str) -> str | None:
    sample = phonenumbers.parse(f"+1{area_code}2345678")
    region = phonenumbers.region_code_for_number(sample)
    if region is None:  # the sample may not be valid where the area code is; try another
        region = phonenumbers.region_code_for_number(phonenumbers.parse(f"+1{area_code}5550123"))
    return str(region) if region else None


def network_name(number: str) -> str:
    """The network a number was allocated to (from numbering data; ported numbers differ)."""
    if not _DIGITS.fullmatch(number):
        return ""
    try:
        parsed = phonenumbers.parse("+" + number)
    except phonenumbers.NumberParseException:
        return ""
    return str(carrier.name_for_number(parsed, "en") or "")


def sender_kind(sender: str) -> str | None:
    """``"numeric"`` or ``"alphanumeric"`` for a sanitised sender; None when empty or too long."""
    if not sender:
        return None
    if sender.isdigit():
        return "numeric" if len(sender) <= MAX_NUMERIC_SENDER else None
    return "alphanumeric" if len(sender) <= MAX_ALPHANUMERIC_SENDER else None


def mask_number(number: str) -> str:
    """Hide the middle of a number as Plivo does for ``log=false``: ``141XXXXX528``."""
    if len(number) <= 6:
        return "X" * len(number)
    return number[:3] + "X" * (len(number) - 6) + number[-3:]

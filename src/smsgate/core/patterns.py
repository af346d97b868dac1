"""Destination patterns, as permissions and pass codes name the numbers they allow.

A pattern is a number (``447700900123``), a glob over the digits (``4477009001??``,
``44*``), or a country as two capital letters (``GB``: every number of that country). A
leading ``+`` and spaces are ignored.
"""

from __future__ import annotations

import fnmatch
import re

_COUNTRY = re.compile(r"[A-Z]{2}")
_GLOB = re.compile(r"[0-9*?]+")


def check_pattern(raw: str) -> str:
    """``raw`` as a pattern, or ValueError saying what is wrong with it."""
    pattern = raw.strip().replace(" ", "").lstrip("+")
    if _COUNTRY.fullmatch(pattern) or _GLOB.fullmatch(pattern):
        return pattern
    raise ValueError(
        f"destination pattern {raw!r}: use digits with * and ?, or a two-letter country code"
    )


def matches(pattern: str, number: str, country_iso2: str = "") -> bool:
    """Whether ``number`` (digits) in ``country_iso2`` is one the pattern names."""
    if _COUNTRY.fullmatch(pattern):
        return pattern == country_iso2
    return fnmatch.fnmatchcase(number, pattern)


def allowed(patterns: list[str] | None, number: str, country_iso2: str = "") -> bool:
    """Whether any of ``patterns`` names ``number``; ``None`` allows every number."""
    if patterns is None:
        return True
    return any(matches(pattern, number, country_iso2) for pattern in patterns)

"""Smart encoding: look-alike characters replaced by their GSM equivalents, so that one curly
quote or long dash does not turn a message into UCS-2 and double its cost.

Only look-alikes are replaced (typographic quotes, dashes and spaces, the ellipsis, fullwidth
ASCII, Greek capitals that look like Latin ones, a lower-case c cedilla); letters of other
alphabets are never transliterated.
"""

from __future__ import annotations

import functools

_QUOTES = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "\u0060": "'",
    "\u02bc": "'",
    "\u02b9": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2039": "<",
    "\u203a": ">",
}
_DASHES = {
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2043": "-",
    "\ufe58": "-",
    "\ufe63": "-",
}
_SPACES = {
    "\u00a0": " ",
    "\u2000": " ",
    "\u2001": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",
    "\u2008": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u205f": " ",
    "\u3000": " ",
    "\t": " ",
}
_INVISIBLE = {"\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": ""}
_OTHER = {
    "\u2026": "...",
    "\u2022": "-",
    "\u00b7": "-",
    "\u2044": "/",
    "\u02c6": "^",
    "\u02dc": "~",
    "\u00e7": "\u00c7",
    "\u2024": ".",
    "\u2027": "-",
    "\u0391": "A",
    "\u0392": "B",
    "\u0395": "E",
    "\u0396": "Z",
    "\u0397": "H",
    "\u0399": "I",
    "\u039a": "K",
    "\u039c": "M",
    "\u039d": "N",
    "\u039f": "O",
    "\u03a1": "P",
    "\u03a4": "T",
    "\u03a5": "Y",
    "\u03a7": "X",
}
#: Fullwidth ASCII (U+FF01 to U+FF5E) is ASCII (and the one ASCII character GSM lacks, the
#: grave accent, a quote).
_FULLWIDTH = {chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}
_FULLWIDTH["\uff40"] = "'"

LOOKALIKES: dict[str, str] = {**_QUOTES, **_DASHES, **_SPACES, **_INVISIBLE, **_OTHER, **_FULLWIDTH}


@functools.cache
def _table() -> dict[int, str]:
    return {ord(char): replacement for char, replacement in LOOKALIKES.items()}


def smarten(text: str) -> tuple[str, int]:
    """``text`` with look-alikes replaced, and how many characters were replaced."""
    table = _table()
    replaced = sum(1 for char in text if ord(char) in table)
    return (text.translate(table), replaced) if replaced else (text, 0)

"""GSM 7-bit text (3GPP TS 23.038 6.2.1): characters to septets and back, through a locking
shift table and a single shift table, and septets packed into octets (6.1.2.1.1) at any
fill-bit offset (the offset that follows a user data header).

Encoding runs through ``str.translate`` (C speed): each table pair has one translation table
that maps every character it can represent to one septet or to escape + septet.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from smsgate.text.errors import EncodeError
from smsgate.text.tables import LANGUAGES, LOCKING, SINGLE_SHIFT

ESCAPE = 0x1B
#: A character no table maps to: what the translation leaves for an unencodable character.
_NOT_ENCODABLE = "\uffff"


@dataclass(frozen=True, slots=True)
class Alphabet:
    """A locking shift table and a single shift table, by national language id (0: the
    default alphabet and its extension table)."""

    locking: int = 0
    single: int = 0

    def __post_init__(self) -> None:
        for name, lang in (("locking", self.locking), ("single", self.single)):
            if not 0 <= lang < len(LANGUAGES):
                raise EncodeError(f"unknown national language id {lang} for the {name} table")
        if LOCKING[self.locking] is None:
            raise EncodeError(f"{LANGUAGES[self.locking]} has no locking shift table")

    @property
    def name(self) -> str:
        """``GSM`` for the default tables; ``/lang`` names a national locking table and
        ``+lang`` a national single shift table: ``GSM/turkish``, ``GSM+spanish``,
        ``GSM/portuguese+spanish``."""
        name = "GSM"
        if self.locking:
            name += f"/{LANGUAGES[self.locking]}"
        if self.single:
            name += f"+{LANGUAGES[self.single]}"
        return name

    def encode(self, text: str) -> bytes:
        """``text`` as septets (one per byte, escapes included)."""
        try:
            return text.translate(_encoder(self.locking, self.single)).encode("ascii")
        except UnicodeEncodeError:
            raise EncodeError(_first_unencodable(text, self)) from None

    def septets(self, text: str) -> int | None:
        """How many septets ``text`` takes, or None when it cannot be represented."""
        try:
            return len(text.translate(_encoder(self.locking, self.single)).encode("ascii"))
        except UnicodeEncodeError:
            return None

    def costs(self) -> Mapping[str, int]:
        """Character -> septets it costs (1, or 2 through the single shift table)."""
        return _costs(self.locking, self.single)

    def decode(self, septets: bytes) -> str:
        """Septets back to text. An escape before a value the single shift table does not
        define shows the locking table's character (TS 23.038 6.2.1.1); a lone escape at
        the end, or two escapes, show a space."""
        lock = LOCKING[self.locking]
        shift = SINGLE_SHIFT[self.single]
        assert lock is not None
        out: list[str] = []
        escaped = False
        for value in septets:
            value &= 0x7F
            if escaped:
                escaped = False
                if value == ESCAPE:
                    out.append(" ")
                    continue
                char = shift[value]
                out.append(char if char != "\0" else _shown(lock[value]))
            elif value == ESCAPE:
                escaped = True
            else:
                out.append(_shown(lock[value]))
        if escaped:
            out.append(" ")
        return "".join(out)


DEFAULT = Alphabet()

_LANGUAGE_ID = {name: index for index, name in enumerate(LANGUAGES)}


def alphabet_named(name: str) -> Alphabet:
    """The Alphabet an ``Alphabet.name`` label names (``GSM``, ``GSM/turkish+spanish`` …)."""
    if not name.startswith("GSM"):
        raise EncodeError(f"{name!r} is not a GSM alphabet")
    rest = name[3:]
    locking = single = 0
    try:
        if "+" in rest:
            rest, shift = rest.split("+", 1)
            single = _LANGUAGE_ID[shift]
        if rest.startswith("/"):
            locking = _LANGUAGE_ID[rest[1:]]
        elif rest:
            raise KeyError(rest)
    except KeyError:
        raise EncodeError(f"{name!r} is not a GSM alphabet") from None
    return Alphabet(locking, single)


def _shown(char: str) -> str:
    return " " if char == "\0" else char


@functools.cache
def _encoder(locking: int, single: int) -> dict[int, str]:
    """The translation table for a table pair. Every Latin-1 code point is mapped, so that an
    unencodable ASCII character cannot pass through as itself; where a character appears
    twice, the lower value wins, and one septet beats escape + septet."""
    lock = LOCKING[locking]
    assert lock is not None
    escaped: dict[int, str] = {}
    for value, char in enumerate(SINGLE_SHIFT[single]):
        if char != "\0":
            escaped.setdefault(ord(char), "\x1b" + chr(value))
    direct: dict[int, str] = {}
    for value, char in enumerate(lock):
        if char != "\0":
            direct.setdefault(ord(char), chr(value))
    return {**dict.fromkeys(range(0x100), _NOT_ENCODABLE), **escaped, **direct}


@functools.cache
def _costs(locking: int, single: int) -> dict[str, int]:
    return {
        chr(code): len(mapped)
        for code, mapped in _encoder(locking, single).items()
        if mapped != _NOT_ENCODABLE
    }


def _first_unencodable(text: str, alphabet: Alphabet) -> str:
    costs = alphabet.costs()
    for index, char in enumerate(text):
        if char not in costs:
            return (
                f"character {char!r} (U+{ord(char):04X}) at position {index} is not in the "
                f"{alphabet.name} alphabet"
            )
    return f"the text cannot be written in the {alphabet.name} alphabet"


def pack(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets into octets, least significant bit first, after ``fill_bits`` zero bits
    (0-6: what is needed to align the text after a user data header)."""
    if not 0 <= fill_bits < 7:
        raise EncodeError(f"fill bits must be 0 to 6, not {fill_bits}")
    bits = fill_bits + 7 * len(septets)
    value = 0
    for index in range(len(septets) - 1, -1, -1):
        value = (value << 7) | (septets[index] & 0x7F)
    return (value << fill_bits).to_bytes((bits + 7) // 8, "little")


def unpack(octets: bytes, count: int, fill_bits: int = 0) -> bytes:
    """The first ``count`` septets packed in ``octets`` after ``fill_bits`` bits."""
    if not 0 <= fill_bits < 7:
        raise EncodeError(f"fill bits must be 0 to 6, not {fill_bits}")
    if count < 0 or fill_bits + 7 * count > 8 * len(octets):
        raise EncodeError(f"{len(octets)} octets do not hold {count} septets")
    value = int.from_bytes(octets, "little") >> fill_bits
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))


def is_gsm7(text: str) -> bool:
    """True when every character is in the default alphabet or its extension table."""
    return DEFAULT.septets(text) is not None

"""Split a text into SMS parts the way handsets and carriers count them: the one function every
face and channel uses.

The cheapest encoding that represents the text exactly wins: the GSM default alphabet, then a
national language table pair among the ``languages`` allowed, else UCS-2. A part carries its
text and its user data header (concatenation, 8- or 16-bit reference; national language
elements). Capacity per part, in septets for GSM and UTF-16 units for UCS-2:

    header                     GSM   UCS-2
    none                       160     70
    concatenation (8-bit)      153     67
    concatenation (16-bit)     152     66
    one shift element          155      -
    concat (8-bit) + one       149      -
    concat (8-bit) + two       146      -

An escape is never separated from its character, nor a surrogate pair split.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from smsgate.text import udh
from smsgate.text.errors import EncodeError
from smsgate.text.gsm7 import Alphabet, alphabet_named
from smsgate.text.smart import smarten
from smsgate.text.tables import LOCKING

MAX_PARTS = 255
_USER_DATA_OCTETS = 140


class Encoding(StrEnum):
    GSM7 = "GSM"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class Part:
    text: str
    length: int  # septets (GSM) or UTF-16 units (UCS-2)
    udh: bytes  # UDHL included; empty without a header


@dataclass(frozen=True, slots=True)
class Segmentation:
    """How a text travels: what is sent, in which encoding, in which parts."""

    encoding: Encoding
    alphabet: Alphabet | None  # the GSM tables; None for UCS-2
    text: str  # what is sent: the text after smart encoding
    characters: int  # code points of ``text``
    length: int  # septets or UTF-16 units of ``text``
    capacity: int  # the encoding's unit per part
    parts: tuple[Part, ...]
    replaced: int = 0  # look-alikes smart encoding replaced

    @property
    def units(self) -> int:
        return len(self.parts)

    @property
    def name(self) -> str:
        """``GSM``, ``GSM+turkish`` …, or ``UCS-2``."""
        return self.alphabet.name if self.alphabet is not None else Encoding.UCS2.value

    @property
    def remaining(self) -> int:
        """Room left in the last part, in the encoding's unit."""
        return self.capacity - self.parts[-1].length


def _utf16_units(text: str) -> int:
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _check_surrogates(text: str) -> None:
    for index, char in enumerate(text):
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise EncodeError(
                f"lone surrogate U+{ord(char):04X} at position {index}: not a character"
            )


def _capacity(encoding: Encoding, header: int) -> int:
    if encoding is Encoding.GSM7:
        return 160 - math.ceil(header * 8 / 7)
    return (_USER_DATA_OCTETS - header) // 2


def _header(alphabet: Alphabet | None, concat: bool, concat_bits: int) -> int:
    locking, single = (alphabet.locking, alphabet.single) if alphabet else (0, 0)
    return udh.length(concat, concat_bits, locking, single)


def _plan(length: int, alphabet: Alphabet | None, concat_bits: int) -> tuple[int, int]:
    """(parts, room left) for ``length`` units, estimated without splitting."""
    encoding = Encoding.GSM7 if alphabet else Encoding.UCS2
    single = _capacity(encoding, _header(alphabet, False, concat_bits))
    if length <= single:
        return 1, single - length
    each = _capacity(encoding, _header(alphabet, True, concat_bits))
    parts = math.ceil(length / each)
    return parts, parts * each - length


def _candidates(languages: Iterable[int]) -> list[Alphabet]:
    allowed = sorted(set(languages) - {0})
    lockings = [0] + [lang for lang in allowed if LOCKING[lang] is not None]
    singles = [0, *allowed]
    return [Alphabet(lock, single) for lock in lockings for single in singles]


def choose(text: str, languages: Iterable[int] = (), concat_bits: int = 8) -> Alphabet | None:
    """The cheapest GSM alphabet for ``text`` (fewest parts, then most room left), or None
    when only UCS-2 represents it."""
    best: tuple[tuple[int, int], Alphabet] | None = None
    for alphabet in _candidates(languages):
        septets = alphabet.septets(text)
        if septets is None:
            continue
        parts, room = _plan(septets, alphabet, concat_bits)
        key = (parts, -room)
        if best is None or key < best[0]:
            best = (key, alphabet)
    return best[1] if best else None


def _split(text: str, each: int, costs: dict[str, int] | None) -> list[tuple[str, int]]:
    parts: list[tuple[str, int]] = []
    start = used = 0
    for index, char in enumerate(text):
        cost = costs[char] if costs is not None else (2 if ord(char) > 0xFFFF else 1)
        if used + cost > each:
            parts.append((text[start:index], used))
            start, used = index, 0
        used += cost
    parts.append((text[start:], used))
    return parts


def encoding_named(name: str) -> Encoding | Alphabet:
    """The decision a ``Segmentation.name`` label records, for ``segment(encoding=…)``."""
    return Encoding.UCS2 if name == Encoding.UCS2.value else alphabet_named(name)


def well_formed(text: str) -> str:
    """``text`` with lone surrogates (which are not characters) replaced by U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def segment(
    text: str,
    *,
    languages: Iterable[int] = (),
    smart: bool = False,
    concat_bits: int = 8,
    reference: int = 0,
    encoding: Encoding | Alphabet | None = None,
) -> Segmentation:
    """Choose the encoding for ``text`` and split it into parts.

    ``languages``: national language ids the destination's handsets read. ``smart``: replace
    look-alikes when that makes the text GSM. ``concat_bits``/``reference``: the
    concatenation reference written in each part's header. ``encoding``: a decision made
    earlier (an Alphabet or UCS-2) to reproduce exactly; EncodeError when the text does
    not fit it.
    """
    _check_surrogates(text)
    languages = tuple(languages)
    replaced = 0
    if encoding is None:
        alphabet = choose(text, languages, concat_bits)
        if alphabet is None and smart:
            candidate, count = smarten(text)
            alphabet = choose(candidate, languages, concat_bits)
            if alphabet is not None:
                text, replaced = candidate, count
    elif isinstance(encoding, Alphabet):
        alphabet = encoding
        if alphabet.septets(text) is None:
            alphabet.encode(text)  # raises EncodeError naming the character
    else:
        alphabet = None

    if alphabet is not None:
        costs: dict[str, int] | None = dict(alphabet.costs())
        length = sum(costs[char] for char in text) if costs else 0
        kind = Encoding.GSM7
    else:
        costs = None
        length = _utf16_units(text)
        kind = Encoding.UCS2

    single = _capacity(kind, _header(alphabet, False, concat_bits))
    locking_id, single_id = (alphabet.locking, alphabet.single) if alphabet else (0, 0)
    if length <= single:
        header = udh.build(udh.elements(None, locking_id, single_id))
        parts: tuple[Part, ...] = (Part(text, length, header),)
        return Segmentation(kind, alphabet, text, len(text), length, single, parts, replaced)

    each = _capacity(kind, _header(alphabet, True, concat_bits))
    pieces = _split(text, each, costs)
    if len(pieces) > MAX_PARTS:
        raise EncodeError(f"text needs {len(pieces)} parts; at most {MAX_PARTS} can be joined")
    parts = tuple(
        Part(
            piece,
            used,
            udh.build(
                udh.elements(
                    udh.Concat(reference, len(pieces), sequence, concat_bits),
                    locking_id,
                    single_id,
                )
            ),
        )
        for sequence, (piece, used) in enumerate(pieces, start=1)
    )
    return Segmentation(kind, alphabet, text, len(text), length, each, parts, replaced)

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

import codecs
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from smsgate.text import udh
from smsgate.text.errors import EncodeError
from smsgate.text.gsm7 import ESCAPE, Alphabet, alphabet_named
from smsgate.text.smart import smarten
from smsgate.text.tables import LOCKING

MAX_PARTS = 255
_USER_DATA_OCTETS = 140


class Encoding(StrEnum):
    GSM7 = "GSM"
    UCS2 = "UCS-2"


# Enum members as plain names: looking one up on its class is slow in Python 3.11.
_GSM7, _UCS2 = Encoding.GSM7, Encoding.UCS2


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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_surrogates(text: str) -> None:
    found = _SURROGATE.search(text)
    if found is not None:
        raise EncodeError(
            f"lone surrogate U+{ord(found.group()):04X} at position {found.start()}: "
            "not a character"
        )


def _utf16(text: str) -> bytes:
    """``text`` in UTF-16-LE; EncodeError naming a lone surrogate, which is not a character
    (a text in a GSM alphabet has none: no table holds one)."""
    try:
        return codecs.utf_16_le_encode(text)[0]  # str.encode, without the codec lookup
    except UnicodeEncodeError:
        _check_surrogates(text)
        raise


def _capacity(encoding: Encoding, header: int) -> int:
    if encoding is _GSM7:
        return 160 - math.ceil(header * 8 / 7)
    return (_USER_DATA_OCTETS - header) // 2


@functools.lru_cache(maxsize=256)
def _capacities(locking: int, single: int, gsm: bool, concat_bits: int) -> tuple[int, int]:
    """Units in a text sent whole, and in each part of a concatenated one (GSM: with these
    tables; else UCS-2)."""
    encoding = _GSM7 if gsm else _UCS2
    return (
        _capacity(encoding, udh.length(False, concat_bits, locking, single)),
        _capacity(encoding, udh.length(True, concat_bits, locking, single)),
    )


@functools.lru_cache(maxsize=256)
def _whole_header(locking: int, single: int) -> bytes:
    """The header of a text sent whole: the national language elements, if any."""
    return udh.build(udh.elements(None, locking, single))


def _plan(length: int, alphabet: Alphabet | None, concat_bits: int) -> tuple[int, int]:
    """(parts, room left) for ``length`` units, estimated without splitting."""
    if alphabet is None:
        single, each = _capacities(0, 0, False, concat_bits)
    else:
        single, each = _capacities(alphabet.locking, alphabet.single, True, concat_bits)
    if length <= single:
        return 1, single - length
    parts = math.ceil(length / each)
    return parts, parts * each - length


@functools.lru_cache(maxsize=64)
def _candidates(languages: tuple[int, ...]) -> tuple[Alphabet, ...]:
    allowed = sorted(set(languages) - {0})
    lockings = [0] + [lang for lang in allowed if LOCKING[lang] is not None]
    singles = [0, *allowed]
    return tuple(Alphabet(lock, single) for lock in lockings for single in singles)


def _cheapest(
    text: str, languages: Iterable[int], concat_bits: int
) -> tuple[Alphabet, bytes] | None:
    """The cheapest GSM alphabet for ``text`` and the text in its septets, or None."""
    candidates = _candidates(tuple(languages))
    if len(candidates) == 1:  # the default alphabet: nothing to compare
        septets = candidates[0].encode_or_none(text)
        return None if septets is None else (candidates[0], septets)
    best: tuple[tuple[int, int], Alphabet, bytes] | None = None
    for alphabet in candidates:
        septets = alphabet.encode_or_none(text)
        if septets is None:
            continue
        parts, room = _plan(len(septets), alphabet, concat_bits)
        key = (parts, -room)
        if best is None or key < best[0]:
            best = (key, alphabet, septets)
    return (best[1], best[2]) if best else None


def choose(text: str, languages: Iterable[int] = (), concat_bits: int = 8) -> Alphabet | None:
    """The cheapest GSM alphabet for ``text`` (fewest parts, then most room left), or None
    when only UCS-2 represents it."""
    found = _cheapest(text, languages, concat_bits)
    return found[0] if found else None


def _split_gsm(text: str, septets: bytes, each: int) -> list[tuple[str, int]]:
    """``text`` in parts of at most ``each`` septets (``septets``: the text encoded), an
    escape never separated from the septet after it."""
    total = len(septets)
    if total == len(text):  # no escapes: a septet per character
        return [
            (text[start : start + each], min(each, total - start))
            for start in range(0, total, each)
        ]
    parts: list[tuple[str, int]] = []
    start = char = 0
    while start < total:
        end = start + each
        if end >= total:
            end = total
        elif septets[end - 1] == ESCAPE:  # 0x1B is never a character, only an escape
            end -= 1
        chars = end - start - septets.count(ESCAPE, start, end)
        parts.append((text[char : char + chars], end - start))
        start, char = end, char + chars
    return parts


def _split_ucs2(text: str, units: bytes, each: int) -> list[tuple[str, int]]:
    """``text`` in parts of at most ``each`` UTF-16 units (``units``: the text in UTF-16-LE),
    a surrogate pair never split."""
    total = len(units) // 2
    if total == len(text):  # no surrogate pairs: a unit per character
        return [
            (text[start : start + each], min(each, total - start))
            for start in range(0, total, each)
        ]
    parts: list[tuple[str, int]] = []
    start = 0
    while start < total:
        end = start + each
        if end >= total:
            end = total
        elif 0xD8 <= units[2 * end - 1] <= 0xDB:  # a high surrogate: its pair follows
            end -= 1
        piece = codecs.utf_16_le_decode(units[2 * start : 2 * end], "strict", True)[0]
        parts.append((piece, end - start))
        start = end
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
    # A lone surrogate is reported before any other error. No GSM table holds one, so it is
    # looked for only once the text is known not to be GSM.
    languages = tuple(languages)
    replaced = 0
    alphabet: Alphabet | None = None
    encoded: bytes | None = None  # septets for GSM, UTF-16-LE for UCS-2
    if encoding is None:
        found = _cheapest(text, languages, concat_bits)
        if found is None:
            encoded = _utf16(text)
            if smart:
                candidate, count = smarten(text)
                found = _cheapest(candidate, languages, concat_bits)
                if found is not None:
                    text, replaced = candidate, count
        if found is not None:
            alphabet, encoded = found
    elif isinstance(encoding, Alphabet):
        alphabet = encoding
        encoded = alphabet.encode_or_none(text)
        if encoded is None:
            _check_surrogates(text)
            encoded = alphabet.encode(text)  # raises EncodeError naming the character
    if encoded is None:
        encoded = _utf16(text)

    if alphabet is not None:
        kind = _GSM7
        length = len(encoded)
        locking_id, single_id = alphabet.locking, alphabet.single
        single, each = _capacities(locking_id, single_id, True, concat_bits)
    else:
        kind = _UCS2
        length = len(encoded) // 2
        locking_id = single_id = 0
        single, each = _capacities(0, 0, False, concat_bits)
    if length <= single:
        header = _whole_header(locking_id, single_id)
        parts: tuple[Part, ...] = (Part(text, length, header),)
        return Segmentation(kind, alphabet, text, len(text), length, single, parts, replaced)

    split = _split_gsm if kind is _GSM7 else _split_ucs2
    pieces = split(text, encoded, each)
    if len(pieces) > MAX_PARTS:
        raise EncodeError(f"text needs {len(pieces)} parts; at most {MAX_PARTS} can be joined")
    headers = udh.concat_headers(reference, len(pieces), concat_bits, locking_id, single_id)
    parts = tuple(
        Part(piece, used, header) for (piece, used), header in zip(pieces, headers, strict=True)
    )
    return Segmentation(kind, alphabet, text, len(text), length, each, parts, replaced)

"""GSM 7-bit text (3GPP TS 23.038 6.2.1): characters to septets and back, through a locking
shift table and a single shift table, and septets packed into octets (6.1.2.1.1) at any
fill-bit offset (the offset that follows a user data header).

Encoding and decoding run through the charmap codec (C speed), with a table per table pair:
encoding maps every character to one octet (a septet, or a marker for escape + septet) and then
widens the markers; decoding handles only the escapes one by one. Septets are packed and
unpacked with a few whole-number shifts and masks rather than a step per septet. The tables
are built once per process, on first use.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smsgate.text.errors import EncodeError
from smsgate.text.tables import LANGUAGES, LOCKING, SINGLE_SHIFT

if TYPE_CHECKING:
    from _codecs import _EncodingMap

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
        septets = self.encode_or_none(text)
        if septets is None:
            raise EncodeError(_first_unencodable(text, self))
        return septets

    def encode_or_none(self, text: str) -> bytes | None:
        """``text`` as septets, or None when it cannot be represented."""
        try:
            data = codecs.charmap_encode(text, "strict", _charmap(self.locking, self.single))[0]
        except UnicodeEncodeError:
            return None
        if 0 in data:  # NUL, which no table has
            return None
        if data.isascii():  # no escapes
            return data.translate(_DIRECT)
        wide = bytearray(2 * len(data))
        wide[0::2] = data.translate(_FIRST)
        wide[1::2] = data.translate(_SECOND)
        return bytes(wide).translate(None, b"\xff")

    def septets(self, text: str) -> int | None:
        """How many septets ``text`` takes, or None when it cannot be represented."""
        septets = self.encode_or_none(text)
        return None if septets is None else len(septets)

    def costs(self) -> Mapping[str, int]:
        """Character -> septets it costs (1, or 2 through the single shift table)."""
        return _costs(self.locking, self.single)

    def decode(self, septets: bytes) -> str:
        """Septets back to text. An escape before a value the single shift table does not
        define shows the locking table's character (TS 23.038 6.2.1.1); a lone escape at
        the end, or two escapes, show a space."""
        return decode_septets(septets, self.locking, self.single)


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


#: Every octet to its low seven bits: decoders ignore the eighth.
_SEVEN_BITS = bytes(value & 0x7F for value in range(0x100))
#: An escape and what follows it, if anything: the escape pairs in a run of septets.
_ESCAPE_PAIR = re.compile(rb"(\x1b.?)", re.DOTALL)


@functools.cache
def _decoder(locking: int, single: int) -> tuple[str, dict[bytes, str]]:
    """The decoding table for a table pair (septet -> character, for the charmap codec), and
    what each escape pair decodes to."""
    lock = LOCKING[locking]
    shift = SINGLE_SHIFT[single]
    assert lock is not None
    plain = "".join(_shown(char) for char in lock) * 2
    pairs = {bytes((ESCAPE,)): " ", bytes((ESCAPE, ESCAPE)): " "}
    for value in range(0x80):
        if value != ESCAPE:
            char = shift[value]
            pairs[bytes((ESCAPE, value))] = char if char != "\0" else _shown(lock[value])
    return plain, pairs


_DEFAULT_DECODER = _decoder(0, 0)


def decode_septets(septets: bytes, locking: int = 0, single: int = 0) -> str:
    """Septets (one per byte) back to text through a table pair; see ``Alphabet.decode``."""
    plain, pairs = _decoder(locking, single) if locking or single else _DEFAULT_DECODER
    data = bytes(septets)
    if not data.isascii():
        data = data.translate(_SEVEN_BITS)
    if ESCAPE not in data:
        return codecs.charmap_decode(data, "strict", plain)[0]
    out: list[str] = []
    for index, piece in enumerate(_ESCAPE_PAIR.split(data)):
        if index % 2:
            out.append(pairs[piece])
        elif piece:
            out.append(codecs.charmap_decode(piece, "strict", plain)[0])
    return "".join(out)


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


# The charmap codec's fast encoding table needs octet 0 to be NUL. A character written as
# septet v (v != 0x1B, which is the escape) takes octet v ^ 0x1B, one written as escape +
# septet v takes 0x80 | v: octet 0 stays free. _DIRECT undoes the first; _FIRST and _SECOND
# give each octet's pair (an escape and v for 0x80 | v, the septet and 0xFF, dropped, for the
# rest).
_DIRECT = bytes(value ^ ESCAPE for value in range(0x80)) + bytes(0x80)
_FIRST = bytes(value ^ ESCAPE if value < 0x80 else ESCAPE for value in range(0x100))
_SECOND = bytes(0xFF if value < 0x80 else value & 0x7F for value in range(0x100))


@functools.cache
def _charmap(locking: int, single: int) -> dict[int, int] | _EncodingMap:
    """The charmap encoding table for a table pair (see above)."""
    octets = ["\ufffe"] * 0x100  # U+FFFE: no character
    octets[0] = "\0"
    for code, mapped in _encoder(locking, single).items():
        if mapped != _NOT_ENCODABLE:
            value = ord(mapped[-1])
            octets[value ^ ESCAPE if len(mapped) == 1 else 0x80 | value] = chr(code)
    table = codecs.charmap_build("".join(octets))
    if isinstance(table, dict):  # the slower form, which would map U+FFFE too
        table.pop(0xFFFE, None)
    return table


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
    count = len(septets)
    if not count:
        return bytes((fill_bits + 7) // 8)
    seven_bits, steps, _ = _PACKING[count] if count <= _PACKED else _packing_for(count)
    # Septet i starts at bit 8i; each step moves every septet whose index has bit k set
    # 2**k bits down, ending with septet i at bit 7i.
    value = int.from_bytes(septets, "little") & seven_bits
    for mask, shift in steps:
        moving = value & mask
        value = (value ^ moving) | (moving >> shift)
    return (value << fill_bits).to_bytes((fill_bits + 7 * count + 7) // 8, "little")


def unpack(octets: bytes, count: int, fill_bits: int = 0) -> bytes:
    """The first ``count`` septets packed in ``octets`` after ``fill_bits`` bits."""
    if not 0 <= fill_bits < 7:
        raise EncodeError(f"fill bits must be 0 to 6, not {fill_bits}")
    if count < 0 or fill_bits + 7 * count > 8 * len(octets):
        raise EncodeError(f"{len(octets)} octets do not hold {count} septets")
    if not count:
        return b""
    value = (int.from_bytes(octets, "little") >> fill_bits) & ((1 << (7 * count)) - 1)
    # pack's steps undone, last first: septet i moves from bit 7i back to bit 8i. Moving
    # bits m up by s adds m * (2**s - 1).
    back = (_PACKING[count] if count <= _PACKED else _packing_for(count))[2]
    for mask, times in back:
        value += (value & mask) * times
    return value.to_bytes(count, "little")


_Steps = tuple[tuple[int, int], ...]


@functools.cache
def _packing(levels: int) -> tuple[int, _Steps, _Steps]:
    """For up to ``2**levels`` septets: the mask of the low seven bits of each octet, pack's
    steps, each (mask of the septets that move, shift), and unpack's, each (mask, 2**shift
    - 1). Pack has one step per bit of the septet index, lowest first: before step k,
    septet i sits at bit 7i + (i with its k lowest bits cleared), and the step moves the
    septets whose index has bit k set down by 2**k. Septets never overlap on the way.
    Unpack takes the same steps back, last first."""
    fields = range(1 << levels)
    seven_bits = sum(0x7F << (8 * i) for i in fields)
    steps = []
    for k in range(levels):
        low = (1 << k) - 1
        mask = sum(0x7F << (7 * i + (i & ~low)) for i in fields if i >> k & 1)
        steps.append((mask, 1 << k))
    back = tuple((mask >> shift, (1 << shift) - 1) for mask, shift in reversed(steps))
    return seven_bits, tuple(steps), back


def _packing_for(count: int) -> tuple[int, _Steps, _Steps]:
    return _packing(max(1, (count - 1).bit_length()))


#: _packing_for every count of septets an SMS holds (and more), by count.
_PACKED = 256
_PACKING = [_packing_for(count) for count in range(_PACKED + 1)]


def is_gsm7(text: str) -> bool:
    """True when every character is in the default alphabet or its extension table."""
    return DEFAULT.septets(text) is not None

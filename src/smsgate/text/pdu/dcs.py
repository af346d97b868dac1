"""Data coding schemes (3GPP TS 23.038 4): which alphabet user data is in, and its class."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from smsgate.text.errors import EncodeError


class Alphabet(StrEnum):
    GSM7 = "gsm7"
    DATA8 = "8bit"
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class DataCoding:
    alphabet: Alphabet
    message_class: int | None = None  # 0 is "flash": shown at once, not stored
    compressed: bool = False
    waiting: bool = False  # a message-waiting indication group


_GENERAL = {0: Alphabet.GSM7, 1: Alphabet.DATA8, 2: Alphabet.UCS2, 3: Alphabet.GSM7}
_BITS = {Alphabet.GSM7: 0x00, Alphabet.DATA8: 0x04, Alphabet.UCS2: 0x08}


@functools.lru_cache(maxsize=256)
def decode_dcs(octet: int) -> DataCoding:
    """Every value decodes: reserved ones as GSM 7-bit, as the standard tells receivers to."""
    group = octet >> 4
    if group <= 0x7:  # general data coding, and marked for automatic deletion
        klass = octet & 0x03 if octet & 0x10 else None
        return DataCoding(_GENERAL[(octet >> 2) & 0x03], klass, bool(octet & 0x20))
    if group in (0xC, 0xD):
        return DataCoding(Alphabet.GSM7, waiting=True)
    if group == 0xE:
        return DataCoding(Alphabet.UCS2, waiting=True)
    if group == 0xF:
        return DataCoding(Alphabet.DATA8 if octet & 0x04 else Alphabet.GSM7, octet & 0x03)
    return DataCoding(Alphabet.GSM7)  # 1000 to 1011: reserved


def encode_dcs(alphabet: Alphabet, message_class: int | None = None) -> int:
    """The general data coding group: alphabet, and the class when given."""
    bits = _BITS[alphabet]
    if message_class is None:
        return bits
    if not 0 <= message_class <= 3:
        raise EncodeError(f"message class {message_class} is not 0 to 3")
    return 0x10 | bits | message_class

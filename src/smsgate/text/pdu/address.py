"""Addresses (3GPP TS 23.040 9.1.2.5): phone numbers in semi-octets, alphanumeric senders in
packed GSM 7-bit, and the service centre address that precedes a TPDU."""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.text.errors import EncodeError, PduError
from smsgate.text.gsm7 import DEFAULT, pack, unpack

TON_UNKNOWN = 0
TON_INTERNATIONAL = 1
TON_NATIONAL = 2
TON_ALPHANUMERIC = 5
NPI_ISDN = 1
NPI_UNKNOWN = 0

#: Semi-octet values above 9 (TS 23.040 9.1.2.3).
_BCD_EXTRA = {0xA: "*", 0xB: "#", 0xC: "a", 0xD: "b", 0xE: "c"}
_BCD_OF = {char: value for value, char in _BCD_EXTRA.items()} | {str(d): d for d in range(10)}
_BCD_CHARS = frozenset(_BCD_OF)
# Semi-octets go through hexadecimal: a digit is its hex digit, * # a b c are a to e; the
# first digit of a pair is the low nibble of its octet, so octets are swapped on the way.
_TO_HEX = str.maketrans("*#abc", "abcde")
_FROM_HEX = str.maketrans("abcde", "*#abc")
_SWAPPED = bytes((value & 0x0F) << 4 | value >> 4 for value in range(0x100))


@dataclass(frozen=True, slots=True)
class Address:
    """An address: ``value`` is digits (and ``*#abc``) or, for TON 5, alphanumeric text."""

    value: str
    ton: int = TON_INTERNATIONAL
    npi: int = NPI_ISDN

    @property
    def alphanumeric(self) -> bool:
        return self.ton == TON_ALPHANUMERIC

    @property
    def toa(self) -> int:
        return 0x80 | (self.ton & 0x07) << 4 | (self.npi & 0x0F)

    def __str__(self) -> str:
        return f"+{self.value}" if self.ton == TON_INTERNATIONAL else self.value

    @classmethod
    def parse(cls, text: str) -> Address:
        """``+4412…`` (international), digits (unknown type), or a sender name (alphanumeric)."""
        text = text.strip()
        if text.startswith("+") and text[1:].isdigit() and len(text) > 1:
            return cls(text[1:], TON_INTERNATIONAL, NPI_ISDN)
        if text and _BCD_CHARS.issuperset(text):
            return cls(text, TON_UNKNOWN, NPI_ISDN)
        if text:
            return cls(text, TON_ALPHANUMERIC, NPI_UNKNOWN)
        raise EncodeError("an address cannot be empty")


def semi_octets(digits: str) -> bytes:
    """Digits as swapped semi-octets, 0xF filling an odd last octet."""
    if not (digits.isascii() and digits.isdecimal()):
        if not _BCD_CHARS.issuperset(digits):
            bad = next(char for char in digits if char not in _BCD_CHARS)
            raise EncodeError(f"{bad!r} cannot be written as a semi-octet")
        digits = digits.translate(_TO_HEX)
    if len(digits) % 2:
        digits += "f"
    return bytes.fromhex(digits).translate(_SWAPPED)


def digits_of(data: bytes, count: int) -> str:
    """``count`` semi-octet digits from ``data``; PduError for values that are not digits."""
    digits = bytes(data[: (count + 1) // 2]).translate(_SWAPPED).hex()[:count]
    if digits.isdecimal() and len(digits) == count:
        return digits
    filler = digits.find("f")
    if filler >= 0:
        raise PduError(f"semi-octet filler 0xF inside an address at digit {filler + 1}")
    if len(digits) < count:
        raise IndexError("index out of range")  # as reading past the end would
    return digits.translate(_FROM_HEX)


def encode(address: Address) -> bytes:
    """TP-OA/TP-DA/TP-RA: length in semi-octets, type of address, value."""
    if address.alphanumeric:
        septets = DEFAULT.encode(address.value)
        if len(septets) > 11:
            raise EncodeError(f"alphanumeric address {address.value!r} is longer than 11")
        body = pack(septets)
        useful = (len(septets) * 7 + 3) // 4
        return bytes((useful, address.toa)) + body
    if not address.value or len(address.value) > 20:
        raise EncodeError(f"address {address.value!r} must have 1 to 20 digits")
    return bytes((len(address.value), address.toa)) + semi_octets(address.value)


def decode(data: bytes, pos: int) -> tuple[Address, int]:
    """An address at ``data[pos]``; returns it and the position after it."""
    if pos + 2 > len(data):
        raise PduError("PDU ends inside an address")
    count, toa = data[pos], data[pos + 1]
    if count > 20:
        raise PduError(f"address length {count} is over 20 semi-octets")
    size = (count + 1) // 2
    end = pos + 2 + size
    if end > len(data):
        raise PduError("PDU ends inside an address")
    body = data[pos + 2 : end]
    ton, npi = (toa >> 4) & 0x07, toa & 0x0F
    if ton == TON_ALPHANUMERIC:
        septets = unpack(body, count * 4 // 7)
        return Address(DEFAULT.decode(septets), ton, npi), end
    digits = body.translate(_SWAPPED).hex()[:count]  # digits_of, inline: the usual case
    if not digits.isdecimal():
        digits = digits_of(body, count)
    return Address(digits, ton, npi), end


def encode_sca(address: Address | None) -> bytes:
    """The service centre address before a TPDU; a single 0 asks for the default one."""
    if address is None:
        return b"\x00"
    if address.alphanumeric:
        raise EncodeError("a service centre address is a number")
    body = bytes((address.toa,)) + semi_octets(address.value)
    return bytes((len(body),)) + body


def decode_sca(data: bytes) -> tuple[Address | None, int]:
    if not data:
        raise PduError("empty PDU")
    size = data[0]
    if size == 0:
        return None, 1
    if size > 11 or size + 1 > len(data):
        raise PduError(f"service centre address of {size} octets does not fit")
    toa = data[1]
    body = data[2 : 1 + size]
    count = len(body) * 2 - (1 if body and body[-1] >> 4 == 0xF else 0)
    return Address(digits_of(body, count), (toa >> 4) & 0x07, toa & 0x0F), 1 + size

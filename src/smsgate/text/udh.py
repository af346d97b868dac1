"""User data headers (3GPP TS 23.040 9.2.3.24): the elements smsgate writes and reads.

A header is its length octet (UDHL) followed by information elements, each an identifier, a
length and data. smsgate writes concatenation (8- and 16-bit references) and the national
language shift elements, and keeps every other element it reads as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.text.errors import EncodeError, PduError
from smsgate.text.tables import LOCKING

CONCAT_8 = 0x00
CONCAT_16 = 0x08
SINGLE_SHIFT = 0x24
LOCKING_SHIFT = 0x25

_FIXED_LENGTH = {CONCAT_8: 3, CONCAT_16: 4, SINGLE_SHIFT: 1, LOCKING_SHIFT: 1}


@dataclass(frozen=True, slots=True)
class Concat:
    reference: int
    total: int
    sequence: int
    bits: int = 8


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed user data header: its elements in order, as (identifier, data)."""

    elements: tuple[tuple[int, bytes], ...]

    def _find(self, iei: int) -> bytes | None:
        for ident, data in self.elements:
            if ident == iei:
                return data
        return None

    @property
    def concat(self) -> Concat | None:
        data = self._find(CONCAT_8)
        if data is not None:
            return Concat(data[0], data[1], data[2], 8)
        data = self._find(CONCAT_16)
        if data is not None:
            return Concat(int.from_bytes(data[:2], "big"), data[2], data[3], 16)
        return None

    @property
    def shifts(self) -> tuple[int, int]:
        """(locking, single): the national language tables, 0 for the default ones."""
        locking = single = None
        for ident, data in self.elements:
            if ident == LOCKING_SHIFT and locking is None:
                locking = data
            elif ident == SINGLE_SHIFT and single is None:
                single = data
        return (locking[0] if locking else 0), (single[0] if single else 0)

    def known_shifts(self) -> tuple[int, int]:
        """``shifts``, checked: PduError when they name tables that do not exist."""
        locking, single = self.shifts
        if locking >= len(LOCKING) or single >= len(LOCKING) or (locking and not LOCKING[locking]):
            raise PduError(f"unknown national language tables {locking}/{single}")
        return locking, single

    @property
    def locking(self) -> int:
        data = self._find(LOCKING_SHIFT)
        return data[0] if data else 0

    @property
    def single(self) -> int:
        data = self._find(SINGLE_SHIFT)
        return data[0] if data else 0


def elements(
    concat: Concat | None = None, locking: int = 0, single: int = 0
) -> list[tuple[int, bytes]]:
    found: list[tuple[int, bytes]] = []
    if concat is not None:
        if not 1 <= concat.sequence <= concat.total <= 255:
            raise EncodeError(f"part {concat.sequence} of {concat.total} is not a valid part")
        if concat.bits == 8:
            if not 0 <= concat.reference <= 0xFF:
                raise EncodeError(f"8-bit reference {concat.reference} is out of range")
            found.append((CONCAT_8, bytes((concat.reference, concat.total, concat.sequence))))
        elif concat.bits == 16:
            if not 0 <= concat.reference <= 0xFFFF:
                raise EncodeError(f"16-bit reference {concat.reference} is out of range")
            data = concat.reference.to_bytes(2, "big") + bytes((concat.total, concat.sequence))
            found.append((CONCAT_16, data))
        else:
            raise EncodeError(f"concatenation references are 8 or 16 bits, not {concat.bits}")
    if locking:
        found.append((LOCKING_SHIFT, bytes((locking,))))
    if single:
        found.append((SINGLE_SHIFT, bytes((single,))))
    return found


def build(parts: list[tuple[int, bytes]]) -> bytes:
    """The header, UDHL first; empty when there are no elements."""
    if not parts:
        return b""
    body = b"".join(bytes((iei, len(data))) + data for iei, data in parts)
    if len(body) > 139:
        raise EncodeError("user data header too long")
    return bytes((len(body),)) + body


def concat_headers(
    reference: int, total: int, bits: int = 8, locking: int = 0, single: int = 0
) -> list[bytes]:
    """The headers of parts 1 to ``total`` of a concatenated message, each
    ``build(elements(Concat(reference, total, sequence, bits), locking, single))``: they
    differ only in the sequence octet, which follows the UDHL, the element's identifier and
    length, the reference and the total."""
    first = build(elements(Concat(reference, total, 1, bits), locking, single))
    at = 5 if bits == 8 else 6
    head, tail = first[:at], first[at + 1 :]
    return [first, *(head + bytes((sequence,)) + tail for sequence in range(2, total + 1))]


def length(concat: bool, concat_bits: int, locking: int, single: int) -> int:
    """Octets a header with these elements takes, UDHL included (0 for none)."""
    size = (2 + (4 if concat_bits == 16 else 3)) if concat else 0
    size += 3 if locking else 0
    size += 3 if single else 0
    return size + 1 if size else 0


def parse(data: bytes) -> Header:
    """Parse a header (UDHL first). Raises PduError for lengths that do not add up."""
    if not data:
        raise PduError("user data header missing")
    if data[:3] == b"\x05\x00\x03" and len(data) >= 6:  # the usual header: 8-bit concatenation
        total, sequence = data[4], data[5]
        if not 1 <= sequence <= total:
            raise PduError(f"concatenation element says part {sequence} of {total}")
        return Header(((CONCAT_8, bytes(data[3:6])),))
    total = data[0]
    if total + 1 > len(data):
        raise PduError(f"user data header says {total} octets, {len(data) - 1} present")
    found: list[tuple[int, bytes]] = []
    pos = 1
    end = 1 + total
    while pos < end:
        if pos + 2 > end:
            raise PduError("user data header ends inside an element")
        iei, size = data[pos], data[pos + 1]
        pos += 2
        if pos + size > end:
            raise PduError(f"element 0x{iei:02X} of {size} octets runs past the header")
        value = data[pos : pos + size]
        expected = _FIXED_LENGTH.get(iei)
        if expected is not None and size != expected:
            raise PduError(f"element 0x{iei:02X} has {size} octets, not {expected}")
        if iei in (CONCAT_8, CONCAT_16):
            total, sequence = value[-2], value[-1]
            if not 1 <= sequence <= total:
                raise PduError(f"concatenation element says part {sequence} of {total}")
        found.append((iei, bytes(value)))
        pos += size
    return Header(tuple(found))

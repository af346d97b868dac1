"""User data headers: building and strict parsing."""

from __future__ import annotations

import pytest

from smsgate.text import udh
from smsgate.text.errors import EncodeError, PduError


def test_build_and_parse() -> None:
    header = udh.build(udh.elements(udh.Concat(0x1234, 3, 2, 16), locking=1, single=2))
    assert header.hex() == "0c080412340302250101240102"
    parsed = udh.parse(header)
    assert parsed.concat == udh.Concat(0x1234, 3, 2, 16)
    assert (parsed.locking, parsed.single) == (1, 2)
    eight = udh.parse(udh.build(udh.elements(udh.Concat(7, 2, 1))))
    assert eight.concat == udh.Concat(7, 2, 1, 8)
    assert udh.build([]) == b""
    assert udh.length(True, 8, 0, 0) == 6 and udh.length(True, 16, 1, 1) == 13


def test_unknown_elements_are_kept() -> None:
    parsed = udh.parse(bytes.fromhex("0605040b8423f0"))  # application port addressing
    assert parsed.elements == ((0x05, bytes.fromhex("0b8423f0")),)
    assert parsed.concat is None


@pytest.mark.parametrize(
    "raw",
    ["", "05", "0500030102", "03000301", "0400020102", "060003010201", "0500030003ff", "03240201"],
)
def test_bad_headers(raw: str) -> None:
    with pytest.raises(PduError):
        udh.parse(bytes.fromhex(raw))


def test_bad_concatenation_values() -> None:
    for concat in (
        udh.Concat(256, 2, 1),
        udh.Concat(1, 2, 3),
        udh.Concat(1, 2, 0),
        udh.Concat(70000, 2, 1, 16),
        udh.Concat(1, 2, 1, 12),
    ):
        with pytest.raises(EncodeError):
            udh.elements(concat)

"""The GSM 7-bit codec: tables, national languages, packing at every fill-bit offset."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.text.errors import EncodeError
from smsgate.text.gsm7 import DEFAULT, Alphabet, alphabet_named, pack, unpack
from smsgate.text.segments import choose, segment
from smsgate.text.tables import LANGUAGES, LOCKING, SINGLE_SHIFT

PAIRS = [Alphabet(lock, single) for lock in range(14) if LOCKING[lock] for single in range(14)]


def chars_of(alphabet: Alphabet) -> list[str]:
    return sorted(alphabet.costs())


@pytest.mark.parametrize("alphabet", PAIRS, ids=lambda a: a.name)
def test_every_character_round_trips(alphabet: Alphabet) -> None:
    for char in chars_of(alphabet):
        septets = alphabet.encode(char)
        assert alphabet.decode(septets) == char
        assert len(septets) == alphabet.costs()[char]


def test_tables_are_complete() -> None:
    assert len(LANGUAGES) == 14
    assert all(len(table) == 128 for table in SINGLE_SHIFT.values())
    assert all(table is None or len(table) == 128 for table in LOCKING.values())
    assert LOCKING[2] is None  # Spanish has no locking table


def test_names_round_trip() -> None:
    for alphabet in PAIRS:
        assert alphabet_named(alphabet.name) == alphabet
    assert Alphabet(1, 0).name == "GSM/turkish"
    assert Alphabet(0, 2).name == "GSM+spanish"
    for bad in ("UCS-2", "GSM/klingon", "GSMx", "GSM/spanish"):
        with pytest.raises(EncodeError):
            alphabet_named(bad)


def test_unencodable_characters_are_named() -> None:
    with pytest.raises(EncodeError, match=r"'`' \(U\+0060\) at position 3"):
        DEFAULT.encode("abc`")
    with pytest.raises(EncodeError, match="U\\+0000"):
        DEFAULT.encode("a\x00b")  # NUL is not '@'
    assert DEFAULT.septets("ж") is None


def test_decoding_follows_the_standard_for_odd_escapes() -> None:
    assert DEFAULT.decode(b"\x1b\x65") == "€"
    assert DEFAULT.decode(b"\x1b\x41") == "A"  # undefined in the extension: the base character
    assert DEFAULT.decode(b"\x1b\x1b") == " "
    assert DEFAULT.decode(b"A\x1b") == "A "


@given(st.binary(max_size=200), st.integers(0, 6))
def test_pack_unpack_round_trip(data: bytes, fill: int) -> None:
    septets = bytes(b & 0x7F for b in data)
    packed = pack(septets, fill)
    assert len(packed) == (fill + 7 * len(septets) + 7) // 8
    assert unpack(packed, len(septets), fill) == septets


def test_pack_known_value_and_bounds() -> None:
    assert pack(DEFAULT.encode("hellohello")).hex() == "e8329bfd4697d9ec37"
    with pytest.raises(EncodeError):
        pack(b"a", 7)
    with pytest.raises(EncodeError):
        unpack(b"\x00", 2)


def test_national_tables_are_chosen_only_when_allowed_and_cheaper() -> None:
    turkish = "Şeker çok güzel, İstanbul"
    assert choose(turkish) is None
    assert choose(turkish, [1]) == Alphabet(1, 0)
    assert choose("plain text", [1]) == DEFAULT  # the default costs no header
    portuguese = "Ação, opção e informação"
    assert choose(portuguese, [3]) is not None
    spanish = "¿Qué tal? Buenos días, señor"
    assert choose(spanish, [2]) == Alphabet(0, 2)
    hindi = "नमस्ते दुनिया, आप कैसे हैं?"
    seg = segment(hindi, languages=range(4, 14))
    assert seg.name.startswith("GSM/hindi") and seg.units == 1


def test_shift_elements_cost_room_in_each_part() -> None:
    seg = segment("ğ" * 200, languages=[1])
    assert seg.name == "GSM/turkish"
    assert [p.length for p in seg.parts] == [149, 51]
    assert seg.parts[0].udh.hex() == "080003000201250101"
    single = segment("ğ" * 155, languages=[1])
    assert single.units == 1 and single.parts[0].udh.hex() == "03250101"
    assert segment("ğ" * 156, languages=[1]).units == 2

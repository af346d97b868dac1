"""Segmentation follows GSM 03.38 / UCS-2 rules: 160/153 septets, 70/67 UTF-16 units."""

from __future__ import annotations

import gsm0338  # noqa: F401 - registers the independent "gsm03.38" codec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.text.errors import EncodeError
from smsgate.text.gsm7 import DEFAULT, ESCAPE, is_gsm7
from smsgate.text.segments import Encoding, encoding_named, segment
from smsgate.text.tables import LOCKING, SINGLE_SHIFT

SEPTET_COST = DEFAULT.costs()
GSM_CHARS = sorted(SEPTET_COST)
CAPACITY = {Encoding.GSM7: (160, 153), Encoding.UCS2: (70, 67)}


def cost(part: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return sum(SEPTET_COST[ch] for ch in part)
    return len(part.encode("utf-16-le")) // 2


def test_alphabet_matches_an_independent_codec() -> None:
    default, extension = LOCKING[0], SINGLE_SHIFT[0]
    assert default is not None
    for value, char in enumerate(default):
        if value != ESCAPE:
            assert char.encode("gsm03.38") == bytes([value]), char
    for value, char in enumerate(extension):
        if char != "\0":
            assert char.encode("gsm03.38") == bytes([ESCAPE, value]), char


def test_short_gsm_text_is_one_part() -> None:
    seg = segment("Hello from smsgate")
    assert (seg.encoding, seg.units, seg.length, seg.characters) == (Encoding.GSM7, 1, 18, 18)


def test_gsm_boundaries() -> None:
    assert segment("a" * 160).units == 1
    assert segment("a" * 161).units == 2
    assert [len(p.text) for p in segment("a" * 161).parts] == [153, 8]
    assert segment("a" * 306).units == 2
    assert segment("a" * 307).units == 3
    assert segment("a" * 1600).units == 11


def test_extension_characters_cost_two_septets() -> None:
    assert segment("€" * 80).units == 1
    assert segment("€" * 80).length == 160
    assert segment("€" * 81).units == 2
    assert segment("[]{}" * 10).length == 80


def test_escape_is_never_separated_from_its_character() -> None:
    seg = segment("a" * 152 + "€" + "b" * 10)
    assert seg.units == 2
    assert seg.parts[0].text == "a" * 152
    assert seg.parts[1].text.startswith("€")


def test_one_character_outside_the_alphabet_means_ucs2() -> None:
    seg = segment("Price: 5 ₽")
    assert seg.encoding is Encoding.UCS2
    assert seg.units == 1


def test_ucs2_boundaries() -> None:
    assert segment("ж" * 70).units == 1
    assert segment("ж" * 71).units == 2
    assert [len(p.text) for p in segment("ж" * 71).parts] == [67, 4]
    assert segment("ж" * 134).units == 2
    assert segment("ж" * 135).units == 3


def test_surrogate_pairs_count_two_and_are_never_split() -> None:
    assert segment("😀" * 35).units == 1
    assert segment("😀" * 35).length == 70
    seg = segment("😀" * 36)
    assert seg.units == 2
    assert [p.text for p in seg.parts] == ["😀" * 33, "😀" * 3]
    assert seg.characters == 36


def test_remaining_counts_room_in_the_last_part() -> None:
    assert segment("a" * 10).remaining == 150
    assert segment("a" * 161).remaining == 145
    assert segment("ж").remaining == 69


@given(st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=2000))
def test_gsm_parts_rejoin_and_fit(text: str) -> None:
    seg = segment(text)
    assert seg.encoding is Encoding.GSM7
    assert "".join(p.text for p in seg.parts) == text
    single, multi = CAPACITY[Encoding.GSM7]
    if seg.units == 1:
        assert cost(text, Encoding.GSM7) <= single
    else:
        assert cost(text, Encoding.GSM7) > single
        assert all(0 < cost(part.text, Encoding.GSM7) <= multi for part in seg.parts)
        # Greedy: no part could have taken the next character.
        for part, after in zip(seg.parts, seg.parts[1:], strict=False):
            assert cost(part.text, Encoding.GSM7) + SEPTET_COST[after.text[0]] > multi


@given(st.text(min_size=1, max_size=800).filter(lambda t: not is_gsm7(t)))
def test_ucs2_parts_rejoin_and_fit(text: str) -> None:
    seg = segment(text)
    assert seg.encoding is Encoding.UCS2
    assert "".join(p.text for p in seg.parts) == text
    assert seg.length == len(text.encode("utf-16-le")) // 2
    single, multi = CAPACITY[Encoding.UCS2]
    if seg.units > 1:
        assert all(0 < cost(part.text, Encoding.UCS2) <= multi for part in seg.parts)
    else:
        assert seg.length <= single


@given(
    st.text(st.sampled_from("aç€ğışĞ😀ж\u201c"), max_size=300),
    st.sampled_from([(), (1,), (2,), (3,), (1, 2, 3)]),
)
def test_a_recorded_encoding_reproduces_the_same_parts(
    text: str, languages: tuple[int, ...]
) -> None:
    """Channels re-segment from the label stored with the message: same parts, same bytes."""
    first = segment(text, languages=languages)
    again = segment(text, encoding=encoding_named(first.name))
    assert again.name == first.name
    assert [(p.text, p.length, p.udh) for p in again.parts] == [
        (p.text, p.length, p.udh) for p in first.parts
    ]


def test_a_recorded_encoding_refuses_text_it_cannot_carry() -> None:
    with pytest.raises(EncodeError, match="ж"):
        segment("жук", encoding=encoding_named("GSM/turkish"))
    for bad in ("UTF-8", "GSM/klingon", "GSM+", "GSMx"):
        with pytest.raises(EncodeError, match="not a GSM alphabet"):
            encoding_named(bad)

"""SMPP short_message coding: parts to send, exactly as segmented, and received messages read
back, with every data_coding, concatenation form and malformed input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from smsgate.smpp.coding import (
    MESSAGE_PAYLOAD,
    SAR_MSG_REF_NUM,
    SAR_SEGMENT_SEQNUM,
    SAR_TOTAL_SEGMENTS,
    CodingError,
    Incoming,
    ShortMessage,
    decode_short_message,
    submit_parts,
)
from smsgate.text.errors import EncodeError
from smsgate.text.gsm7 import DEFAULT
from smsgate.text.pdu.reassembly import join
from smsgate.text.segments import segment
from smsgate.text.udh import Concat

SAR_KEYS = {SAR_MSG_REF_NUM, SAR_TOTAL_SEGMENTS, SAR_SEGMENT_SEQNUM}


def read(message: ShortMessage, **options: str) -> Incoming:
    """Read a part back as an SMSC (or the ESME it delivers to) would get it."""
    esm_class = 0x40 if message.esm_class_udhi else 0
    return decode_short_message(
        message.data_coding, esm_class, message.short_message, message.tlvs, **options
    )


# --- outbound -----------------------------------------------------------------------------


def test_single_gsm_part_is_unpacked_septets_with_data_coding_0() -> None:
    assert submit_parts("Hello @ 10£", "GSM", reference=7) == [
        ShortMessage(0, False, b"Hello \x00 10\x01", {})
    ]


def test_gsm_escapes_are_0x1b_and_the_code() -> None:
    (part,) = submit_parts("€[x]", "GSM", reference=0)
    assert part.short_message == b"\x1be\x1b<x\x1b>"
    assert read(part).text == "€[x]"


def test_two_gsm_parts_carry_a_six_octet_udh_and_153_septets() -> None:
    text = "a" * 153 + "b" * 47
    first, second = submit_parts(text, "GSM", reference=0x2A)
    assert first.short_message == b"\x05\x00\x03\x2a\x02\x01" + b"a" * 153
    assert second.short_message == b"\x05\x00\x03\x2a\x02\x02" + b"b" * 47
    assert first.esm_class_udhi and second.esm_class_udhi
    assert first.data_coding == second.data_coding == 0
    assert first.tlvs == second.tlvs == {}


def test_an_escape_is_not_separated_from_its_code_across_parts() -> None:
    first, second = submit_parts("a" * 152 + "€" + "b" * 10, "GSM", reference=1)
    assert first.short_message[6:] == b"a" * 152
    assert second.short_message[6:] == b"\x1be" + b"b" * 10


def test_the_udh_carries_the_low_octet_of_a_16_bit_reference() -> None:
    first, _ = submit_parts("x" * 200, "GSM", reference=0x1234)
    assert first.short_message[:6] == b"\x05\x00\x03\x34\x02\x01"


def test_two_ucs2_parts_carry_67_units_each() -> None:
    text = "Ж" * 100
    first, second = submit_parts(text, "UCS-2", reference=9)
    assert first.data_coding == second.data_coding == 8
    assert first.short_message == b"\x05\x00\x03\x09\x02\x01" + ("Ж" * 67).encode("utf-16-be")
    assert second.short_message == b"\x05\x00\x03\x09\x02\x02" + ("Ж" * 33).encode("utf-16-be")


def test_a_short_ucs2_text_has_no_header() -> None:
    assert submit_parts("Привет 😀", "UCS-2", reference=3) == [
        ShortMessage(8, False, "Привет 😀".encode("utf-16-be"), {})
    ]


def test_a_surrogate_pair_is_not_split_across_parts() -> None:
    text = "😀" * 40  # 80 units: 33 pairs fit in 67
    parts = submit_parts(text, "UCS-2", reference=0)
    assert [read(part).text for part in parts] == ["😀" * 33, "😀" * 7]


def test_sar_mode_sends_tlvs_and_no_header() -> None:
    text = "a" * 153 + "b" * 10
    first, second = submit_parts(text, "GSM", reference=0xBEEF, concat="sar")
    assert first == ShortMessage(
        0,
        False,
        b"a" * 153,
        {SAR_MSG_REF_NUM: b"\xbe\xef", SAR_TOTAL_SEGMENTS: b"\x02", SAR_SEGMENT_SEQNUM: b"\x01"},
    )
    assert second.short_message == b"b" * 10
    assert second.tlvs[SAR_SEGMENT_SEQNUM] == b"\x02"


def test_sar_mode_keeps_the_parts_the_gateway_counted() -> None:
    # 160 septets per part would fit without a header, but the message was billed as 2 parts
    # of 153: the SMSC adds the header itself.
    text = "z" * 300
    sar = submit_parts(text, "GSM", reference=5, concat="sar")
    assert [len(part.short_message) for part in sar] == [153, 147]


def test_sar_mode_sends_a_text_that_fits_one_part_without_tlvs() -> None:
    assert submit_parts("short", "GSM", reference=5, concat="sar") == [
        ShortMessage(0, False, b"short", {})
    ]


def test_payload_mode_sends_the_whole_text_in_message_payload() -> None:
    text = "€" * 200 + "a" * 100
    (whole,) = submit_parts(text, "GSM", reference=5, concat="payload")
    assert whole == ShortMessage(0, False, b"", {MESSAGE_PAYLOAD: b"\x1be" * 200 + b"a" * 100})
    (ucs2,) = submit_parts("Ж" * 100, "UCS-2", reference=5, concat="payload")
    assert ucs2 == ShortMessage(8, False, b"", {MESSAGE_PAYLOAD: ("Ж" * 100).encode("utf-16-be")})


TURKISH = "Şişli'de güzel bir gün: ğüşıöç"


def test_turkish_single_shift_sends_its_header() -> None:
    (part,) = submit_parts(TURKISH, "GSM+turkish", reference=0)
    assert part.esm_class_udhi and part.data_coding == 0
    assert part.short_message.startswith(b"\x03\x24\x01\x01")
    assert read(part).text == TURKISH


def test_turkish_locking_shift_parts_carry_concat_and_shift_elements() -> None:
    text = "ışığın ğ " * 40
    seg = segment(text, languages=[1])
    assert seg.name == "GSM/turkish" and seg.units > 1
    parts = submit_parts(text, seg.name, reference=0x11)
    assert parts[0].short_message.startswith(b"\x08\x00\x03\x11\x03\x01\x25\x01\x01")
    assert [read(part).text for part in parts] == [part.text for part in seg.parts]


def test_sar_mode_keeps_only_the_national_shift_header() -> None:
    text = "ışığın ğ " * 40
    seg = segment(text, languages=[1])
    parts = submit_parts(text, seg.name, reference=0x11, concat="sar")
    for sequence, part in enumerate(parts, 1):
        assert part.esm_class_udhi
        assert part.short_message.startswith(b"\x03\x25\x01\x01")
        assert part.tlvs[SAR_SEGMENT_SEQNUM] == bytes((sequence,))
    (whole,) = submit_parts(text, seg.name, reference=0x11, concat="payload")
    assert whole.esm_class_udhi and whole.tlvs[MESSAGE_PAYLOAD].startswith(b"\x03\x25\x01\x01")
    assert read(whole).text == text


def test_national_tables_need_a_link_that_carries_them() -> None:
    with pytest.raises(EncodeError, match="national language shift"):
        submit_parts(TURKISH, "GSM+turkish", reference=0, national=False)
    with pytest.raises(EncodeError, match="data_coding 0 as GSM"):
        submit_parts(TURKISH, "GSM+turkish", reference=0, default_alphabet="latin1")


def test_a_latin1_link_gets_gsm_text_as_latin1() -> None:
    (part,) = submit_parts("Ça va? [é] @", "GSM", reference=0, default_alphabet="latin1")
    assert part == ShortMessage(3, False, "Ça va? [é] @".encode("latin-1"), {})
    assert read(part).text == "Ça va? [é] @"
    # Split as counted: 153 characters a part, the SMSC turning them into septets.
    parts = submit_parts("é" * 200, "GSM", reference=4, default_alphabet="latin1")
    assert [len(p.short_message) for p in parts] == [159, 53]
    assert parts[0].short_message[6:] == b"\xe9" * 153


def test_a_gsm_character_outside_latin1_is_refused_not_switched_to_ucs2() -> None:
    with pytest.raises(EncodeError, match="'€'"):
        submit_parts("10€", "GSM", reference=0, default_alphabet="latin1")
    with pytest.raises(EncodeError, match="'é'"):
        submit_parts("café", "GSM", reference=0, default_alphabet="ascii")


def test_an_ascii_link_gets_gsm_text_as_ia5() -> None:
    (part,) = submit_parts("plain [text]", "GSM", reference=0, default_alphabet="ascii")
    assert part == ShortMessage(1, False, b"plain [text]", {})


def test_ucs2_is_ucs2_whatever_the_default_alphabet() -> None:
    (part,) = submit_parts("Ж", "UCS-2", reference=0, default_alphabet="latin1")
    assert part.data_coding == 8 and part.short_message == b"\x04\x16"


@pytest.mark.parametrize(
    ("text", "encoding", "options", "message"),
    [
        ("Ж", "GSM", {}, "not in the GSM alphabet"),
        ("x", "GSM/klingon", {}, "not a GSM alphabet"),
        ("x", "GSM", {"reference": 0x10000}, "reference"),
        ("x", "GSM", {"reference": -1}, "reference"),
        ("x", "GSM", {"concat": "smoke"}, "concatenation"),
        ("x" * 160 * 256, "GSM", {}, "parts"),
    ],
)
def test_what_cannot_be_sent_raises_encode_error(
    text: str, encoding: str, options: dict[str, object], message: str
) -> None:
    kwargs: dict[str, object] = {"reference": 0, **options}
    with pytest.raises(EncodeError, match=message):
        submit_parts(text, encoding, **kwargs)  # type: ignore[arg-type]


# --- inbound ------------------------------------------------------------------------------


@pytest.mark.parametrize("concat", ["udh", "sar"])
@pytest.mark.parametrize(
    ("text", "languages"),
    [
        ("Hello", ()),
        ("€[{}]~^|\\" * 30, ()),
        ("a" * 400, ()),
        ("Ж😀" * 80, ()),
        (TURKISH * 8, (1,)),
        ("ışığın ğ " * 40, (1,)),
    ],
)
def test_parts_read_back_to_their_text_and_concatenation(
    text: str, languages: tuple[int, ...], concat: str
) -> None:
    seg = segment(text, languages=languages, reference=0x77)
    parts = submit_parts(text, seg.name, reference=0x1277, concat=concat)  # type: ignore[arg-type]
    assert len(parts) == seg.units
    total = len(parts)
    for sequence, (part, counted) in enumerate(zip(parts, seg.parts, strict=True), 1):
        got = read(part)
        assert got.text == counted.text and not got.binary and not got.is_receipt
        if total == 1:
            assert got.concat is None
        elif concat == "udh":
            assert got.concat == Concat(0x77, total, sequence, 8)
        else:
            assert got.concat == Concat(0x1277, total, sequence, 16)
    (whole,) = submit_parts(text, seg.name, reference=0, concat="payload")
    assert read(whole) == Incoming(seg.text, None, False, False)


def test_data_coding_1_is_ascii() -> None:
    assert decode_short_message(1, 0, b"plain {text}", {}).text == "plain {text}"


def test_data_coding_3_is_latin1() -> None:
    assert decode_short_message(3, 0, b"\xc7a va", {}).text == "Ça va"
    assert decode_short_message(3, 0, b"\xe9\xff", {}).text == "éÿ"


def test_data_coding_8_is_utf16_with_surrogate_pairs() -> None:
    data = "Hi 😀 Ж".encode("utf-16-be")
    assert decode_short_message(8, 0, data, {}) == Incoming("Hi 😀 Ж", None, False, False)


def test_a_ucs2_part_may_end_inside_a_surrogate_pair() -> None:
    pair = "😀".encode("utf-16-be")
    first = decode_short_message(8, 0, b"\x00a" + pair[:2], {}).text
    second = decode_short_message(8, 0, pair[2:] + b"\x00b", {}).text
    assert join([first, second]) == "a😀b"


@pytest.mark.parametrize("data_coding", [2, 4])
def test_binary_is_hex(data_coding: int) -> None:
    got = decode_short_message(data_coding, 0, b"\x00\xffAB", {})
    assert got == Incoming("00ff4142", None, False, True)


def test_binary_with_a_header_is_the_data_after_it_in_hex() -> None:
    got = decode_short_message(4, 0x40, b"\x05\x00\x03\x09\x02\x01\xca\xfe", {})
    assert got == Incoming("cafe", Concat(9, 2, 1, 8), False, True)


@pytest.mark.parametrize(
    ("data_coding", "data", "text", "binary"),
    [
        (0xF0, b"Flash \x1be", "Flash €", False),  # GSM 7-bit, class 0
        (0xF1, b"\x00", "@", False),
        (0xF4, b"\x01\x02", "0102", True),  # 8-bit, class 0
        (0xF6, b"\xff", "ff", True),
        (0x18, "Ж".encode("utf-16-be"), "Ж", False),  # general group: UCS-2, class 0
        (0x11, b"Hi", "Hi", False),  # general group: GSM, class 1
        (0x15, b"\x7f", "7f", True),  # general group: 8-bit, class 1
        (0x20, b"\x10\x20", "1020", True),  # compressed: not readable as text
        (0xE0, "Ж".encode("utf-16-be"), "Ж", False),  # message waiting, UCS-2
        (0xC8, b"MWI", "MWI", False),  # message waiting, GSM
        (6, "Привет".encode("iso8859_5"), "Привет", False),
        (7, "שלום".encode("iso8859_8"), "שלום", False),
        (0x0A, "日本".encode("iso2022_jp"), "日本", False),
        (5, b"\x00x", "@x", False),  # unknown: the default alphabet
        (0x0B, b"\x1b<", "[", False),
        (0x85, b"\x00", "@", False),  # a reserved GSM group
    ],
)
def test_other_data_codings(data_coding: int, data: bytes, text: str, binary: bool) -> None:
    got = decode_short_message(data_coding, 0, data, {})
    assert (got.text, got.binary) == (text, binary)


@pytest.mark.parametrize(("alphabet", "data_coding"), [("latin1", 0), ("latin1", 5)])
def test_a_latin1_link_reads_the_default_alphabet_as_latin1(
    alphabet: str, data_coding: int
) -> None:
    got = decode_short_message(data_coding, 0, b"\xe9t\xe9 @", {}, default_alphabet=alphabet)  # type: ignore[arg-type]
    assert got.text == "été @"


def test_an_ascii_link_reads_the_default_alphabet_as_ascii() -> None:
    got = decode_short_message(0, 0, b"a@b_", {}, default_alphabet="ascii")
    assert got.text == "a@b_"
    with pytest.raises(CodingError, match="0xE9"):
        decode_short_message(0, 0, b"\xe9", {}, default_alphabet="ascii")


def test_message_payload_is_read_instead_of_short_message() -> None:
    got = decode_short_message(0, 0, b"ignored", {MESSAGE_PAYLOAD: b"used"})
    assert got.text == "used"
    got = decode_short_message(0, 0x40, b"", {MESSAGE_PAYLOAD: b"\x03\x24\x01\x01\x1bS"})
    assert got.text == "Ş"
    assert decode_short_message(0, 0, b"kept", {MESSAGE_PAYLOAD: b""}).text == "kept"


def test_the_udh_wins_over_sar_tlvs() -> None:
    tlvs = {SAR_MSG_REF_NUM: b"\x01\x00", SAR_TOTAL_SEGMENTS: b"\x03", SAR_SEGMENT_SEQNUM: b"\x03"}
    got = decode_short_message(0, 0x40, b"\x05\x00\x03\x07\x02\x02x", tlvs)
    assert got.concat == Concat(7, 2, 2, 8)
    assert decode_short_message(0, 0, b"x", tlvs).concat == Concat(256, 3, 3, 16)
    one_octet = {**tlvs, SAR_MSG_REF_NUM: b"\x09"}
    assert decode_short_message(0, 0, b"x", one_octet).concat == Concat(9, 3, 3, 16)


def test_a_header_with_other_elements_is_skipped() -> None:
    # Application port addressing (0x05) and a 16-bit concatenation element.
    data = b"\x0c\x05\x04\x0b\x84\x23\xf0\x08\x04\x12\x34\x02\x01" + b"WAP"
    got = decode_short_message(0, 0x40, data, {})
    assert got == Incoming("WAP", Concat(0x1234, 2, 1, 16), False, False)


@pytest.mark.parametrize(
    ("esm_class", "is_receipt"),
    [
        (0x00, False),
        (0x40, False),
        (0x03, False),  # store-and-forward mode bits only
        (0x04, True),  # SMSC delivery receipt
        (0x08, True),  # SME delivery acknowledgement
        (0x10, True),  # SME manual/user acknowledgement
        (0x20, True),  # intermediate delivery notification
        (0x44, True),
        (0x18, False),  # not a defined type
    ],
)
def test_receipts_are_flagged(esm_class: int, is_receipt: bool) -> None:
    data = b"\x00\x00x" if esm_class & 0x40 else b"id:1 stat:DELIVRD"
    assert decode_short_message(0, esm_class, data, {}).is_receipt is is_receipt


@pytest.mark.parametrize(
    ("data_coding", "esm_class", "data", "tlvs", "message"),
    [
        (8, 0, b"\x00a\x00", {}, "odd|whole number"),
        (0, 0x40, b"\x05\x00\x03\x01", {}, "header"),
        (0, 0x40, b"\x09\x00\x03\x01\x02\x01", {}, "header says 9"),
        (0, 0x40, b"\x05\x00\x03\x01\x02\x03xx", {}, "part 3 of 2"),
        (0, 0x40, b"", {}, "empty"),
        (0, 0, b"ok\x80", {}, "0x80 at 2 is not a GSM septet"),
        (0, 0x40, b"\x03\x25\x01\x02x", {}, "national language tables 2/0"),
        (0, 0x40, b"\x03\x24\x01\x30x", {}, "national language tables 0/48"),
        (1, 0, b"\xff", {}, "0xFF at 0 is not ascii"),
        (0, 0, b"x", {SAR_TOTAL_SEGMENTS: b"\x02"}, "incomplete"),
        (
            0,
            0,
            b"x",
            {
                SAR_MSG_REF_NUM: b"\x00\x01",
                SAR_TOTAL_SEGMENTS: b"\x02",
                SAR_SEGMENT_SEQNUM: b"\x03",
            },
            "part 3 of 2",
        ),
        (
            0,
            0,
            b"x",
            {
                SAR_MSG_REF_NUM: b"\x00\x00\x01",
                SAR_TOTAL_SEGMENTS: b"\x02",
                SAR_SEGMENT_SEQNUM: b"\x01",
            },
            "octets",
        ),
        (
            0,
            0,
            b"x",
            {SAR_MSG_REF_NUM: b"\x01", SAR_TOTAL_SEGMENTS: b"", SAR_SEGMENT_SEQNUM: b"\x01"},
            "octets",
        ),
    ],
)
def test_malformed_messages_raise_coding_error(
    data_coding: int, esm_class: int, data: bytes, tlvs: dict[int, bytes], message: str
) -> None:
    with pytest.raises(CodingError, match=message) as raised:
        decode_short_message(data_coding, esm_class, data, tlvs)
    assert isinstance(raised.value, ValueError)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data_coding=st.integers(0, 255),
    esm_class=st.integers(0, 255),
    data=st.binary(max_size=300),
    tlvs=st.dictionaries(
        st.sampled_from([MESSAGE_PAYLOAD, *SAR_KEYS, 0x0005]), st.binary(max_size=4), max_size=4
    ),
)
def test_any_input_decodes_or_raises_coding_error(
    data_coding: int, esm_class: int, data: bytes, tlvs: dict[int, bytes]
) -> None:
    try:
        got = decode_short_message(data_coding, esm_class, data, tlvs)
    except CodingError:
        return
    assert isinstance(got.text, str)


# --- the round trip, for any text --------------------------------------------------------

GSM_CHARS = sorted(DEFAULT.costs())
TURKISH_AND_MORE = [*GSM_CHARS, "ş", "ğ", "ı", "İ", "Ş", "ç", "á", "ú", "ê"]


def lengths(chars: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    """Texts of one part and, as often, of several."""
    return st.one_of(
        st.text(chars, max_size=max_size), st.text(chars, min_size=max_size // 3, max_size=max_size)
    )


texts = st.one_of(
    lengths(st.characters(), 300),
    lengths(st.sampled_from(GSM_CHARS), 700),
    lengths(st.sampled_from(TURKISH_AND_MORE), 500),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=texts,
    languages=st.sampled_from([(), (1,), (2,), (3,), (1, 2, 3)]),
    concat=st.sampled_from(["udh", "sar", "payload"]),
    reference=st.integers(0, 0xFFFF),
)
def test_every_part_decodes_and_the_parts_join_to_the_text(
    text: str, languages: tuple[int, ...], concat: str, reference: int
) -> None:
    try:
        seg = segment(text, languages=languages)
    except EncodeError:
        assume(False)
        return
    parts = submit_parts(text, seg.name, reference=reference, concat=concat)  # type: ignore[arg-type]
    read_back = [read(part) for part in parts]
    if concat == "payload":
        assert [got.text for got in read_back] == [seg.text]
        return
    assert [got.text for got in read_back] == [part.text for part in seg.parts]
    assert join([got.text for got in read_back]) == seg.text
    if len(parts) > 1:
        sequences = [got.concat.sequence for got in read_back if got.concat is not None]
        assert sequences == list(range(1, len(parts) + 1))

"""The TS 23.040 codec: known vectors, every option round-tripped, strict errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from smsgate.text import udh
from smsgate.text.errors import EncodeError, PduError
from smsgate.text.gsm7 import Alphabet
from smsgate.text.pdu import (
    Address,
    Coding,
    Deliver,
    Outcome,
    StatusReport,
    Submit,
    decode,
    encode_deliver,
    encode_status_report,
    encode_submit,
)
from smsgate.text.pdu.address import digits_of, semi_octets
from smsgate.text.pdu.dcs import Alphabet as DcsAlphabet
from smsgate.text.pdu.dcs import decode_dcs, encode_dcs
from smsgate.text.pdu.reassembly import Reassembler, join
from smsgate.text.pdu.timestamps import decode_relative, decode_timestamp, encode_relative
from smsgate.text.pdu.tpdu import outcome_of, submit_parts
from smsgate.text.segments import segment

CLASSIC = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
WHEN = datetime(2026, 11, 22, 9, 30, 15, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))


def test_the_classic_deliver() -> None:
    pdu = decode(CLASSIC)
    assert isinstance(pdu, Deliver)
    assert pdu.text == "How are you?"
    assert str(pdu.originator) == "+31641600986"
    assert pdu.sca is not None and str(pdu.sca) == "+31624000000"
    assert pdu.timestamp == datetime(2002, 8, 26, 19, 37, 41, tzinfo=UTC)
    assert pdu.coding.alphabet is DcsAlphabet.GSM7


def submit_round_trip(**options: object) -> Submit:
    pdu = encode_submit(**options)  # type: ignore[arg-type]
    decoded = decode(pdu.octets, direction="mo")
    assert isinstance(decoded, Submit)
    assert decode(pdu.hex(), direction="mo") == decoded
    assert pdu.tpdu_length == len(pdu.octets) - (pdu.octets[0] + 1)
    return decoded


def test_submit_options_round_trip() -> None:
    got = submit_round_trip(
        destination="+447700900123",
        text="Hello [world] €",
        reference=200,
        sca=Address("447785016005"),
        validity=timedelta(hours=24),
        status_report=True,
        reject_duplicates=True,
        reply_path=True,
        message_class=0,
        pid=0x41,
    )
    assert got.text == "Hello [world] €" and got.reference == 200
    assert got.sca == Address("447785016005")
    assert got.validity == timedelta(hours=24)
    assert (got.status_report, got.reject_duplicates, got.reply_path) == (True, True, True)
    assert got.coding.message_class == 0 and got.pid == 0x41
    absolute = submit_round_trip(destination="+1415", text="x", validity=WHEN)
    assert absolute.validity == WHEN
    plain = submit_round_trip(destination="1234", text="x")
    assert plain.destination == Address("1234", 0, 1) and plain.validity is None


def test_ucs2_8bit_and_alphanumeric() -> None:
    ucs2 = submit_round_trip(destination="+79680000000", text="Привет 😀", coding=Coding.UCS2)
    assert ucs2.text == "Привет 😀"
    data = submit_round_trip(destination="+1415", data=b"\x00\xff\x10", coding=Coding.DATA8)
    assert data.text is None and data.data == b"\x00\xff\x10"
    alpha = submit_round_trip(destination=Address("MyShop Ltd", 5, 0), text="hi")
    assert alpha.destination == Address("MyShop Ltd", 5, 0)
    deliver = decode(encode_deliver("InfoSMS", "Your code is 1234", timestamp=WHEN).octets)
    assert isinstance(deliver, Deliver)
    assert (deliver.originator.value, deliver.originator.alphanumeric) == ("InfoSMS", True)
    assert deliver.timestamp == WHEN


def test_parts_carry_headers_and_reassemble() -> None:
    text = "Ünïcödé " * 40 + "ğ"
    for bits, languages in ((8, ()), (16, ()), (8, (1,))):
        seg = segment(text, languages=languages, concat_bits=bits, reference=0x0102 % (1 << bits))
        pdus = submit_parts("+905321234567", seg, reference=9, status_report=True)
        assert len(pdus) == seg.units > 1
        collect = Reassembler(ttl_us=10**9)
        done = None
        for pdu in reversed(pdus):  # out of order
            got = decode(pdu.octets, direction="mo")
            assert isinstance(got, Submit) and got.header is not None
            concat = got.header.concat
            assert concat is not None and concat.bits == bits and got.reference == 9
            assert (got.header.locking, got.header.single) == (
                (seg.alphabet.locking, seg.alphabet.single) if seg.alphabet else (0, 0)
            )
            done = collect.add(concat.reference, concat.sequence, concat.total, got.text or "", 0)
        assert done is not None and done.text == seg.text


def test_status_reports() -> None:
    report = encode_status_report(
        "+31641600986",
        reference=77,
        status=0x00,
        timestamp=WHEN,
        discharge=WHEN + timedelta(seconds=3),
    )
    got = decode(report.octets)
    assert isinstance(got, StatusReport)
    assert (got.reference, got.status, got.outcome) == (77, 0, Outcome.DELIVERED)
    assert got.discharge - got.timestamp == timedelta(seconds=3)
    # With the optional parameter indicator: PID and DCS present, no user data.
    tail = bytes.fromhex("030000")
    extended = decode(report.octets + tail)
    assert isinstance(extended, StatusReport) and extended.user_data is None
    with pytest.raises(PduError, match="follow"):
        decode(report.octets + tail + b"\x00")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (0x00, Outcome.DELIVERED),
        (0x02, Outcome.DELIVERED),
        (0x1F, Outcome.DELIVERED),
        (0x20, Outcome.PENDING),
        (0x3F, Outcome.PENDING),
        (0x40, Outcome.UNDELIVERED),
        (0x45, Outcome.UNDELIVERED),
        (0x60, Outcome.UNDELIVERED),
        (0xFF, Outcome.UNDELIVERED),
    ],
)
def test_status_outcomes(status: int, outcome: Outcome) -> None:
    assert outcome_of(status) is outcome


@pytest.mark.parametrize(
    ("period", "octet"),
    [
        (timedelta(minutes=5), 0),
        (timedelta(minutes=1), 0),
        (timedelta(hours=12), 143),
        (timedelta(hours=12, minutes=30), 144),
        (timedelta(hours=24), 167),
        (timedelta(days=2), 168),
        (timedelta(days=30), 196),
        (timedelta(weeks=5), 197),
        (timedelta(weeks=63), 255),
    ],
)
def test_relative_validity(period: timedelta, octet: int) -> None:
    assert encode_relative(period) == octet
    assert decode_relative(octet) >= period


def test_relative_validity_bounds() -> None:
    for bad in (timedelta(0), timedelta(weeks=64)):
        with pytest.raises(EncodeError):
            encode_relative(bad)


def test_data_coding_schemes() -> None:
    assert decode_dcs(0x00).alphabet is DcsAlphabet.GSM7
    assert decode_dcs(0x08).alphabet is DcsAlphabet.UCS2
    assert decode_dcs(0x10).message_class == 0
    assert decode_dcs(0xF6).alphabet is DcsAlphabet.DATA8 and decode_dcs(0xF6).message_class == 2
    assert decode_dcs(0xE0).alphabet is DcsAlphabet.UCS2 and decode_dcs(0xE0).waiting
    assert decode_dcs(0x8F).alphabet is DcsAlphabet.GSM7  # reserved: read as GSM
    assert encode_dcs(DcsAlphabet.UCS2, 0) == 0x18
    with pytest.raises(EncodeError):
        encode_dcs(DcsAlphabet.GSM7, 4)


def test_semi_octets() -> None:
    assert semi_octets("12345").hex() == "2143f5"
    assert digits_of(bytes.fromhex("2143f5"), 5) == "12345"
    assert digits_of(semi_octets("*#abc1"), 6) == "*#abc1"
    with pytest.raises(PduError, match="filler"):
        digits_of(bytes.fromhex("f1"), 2)
    with pytest.raises(EncodeError):
        semi_octets("12x")


def test_timestamps_reject_impossible_dates() -> None:
    with pytest.raises(PduError, match="impossible"):
        decode_timestamp(bytes.fromhex("62200300000000"))  # 30 February 2026
    assert decode_timestamp(bytes.fromhex("62208200000000")).day == 28


def test_timestamp_errors() -> None:
    with pytest.raises(PduError, match="decimal"):
        decode_timestamp(bytes.fromhex("2A1102030405" + "00"))
    with pytest.raises(PduError, match="time zone"):
        decode_timestamp(bytes.fromhex("621102010203" + "A0"))
    with pytest.raises(PduError):
        decode_timestamp(b"\x00" * 6)


def test_every_truncation_of_a_valid_pdu_is_a_pdu_error() -> None:
    seg = segment("Ünïcödé " * 30)
    samples = [
        bytes.fromhex(CLASSIC),
        submit_parts("+447700900123", seg, validity=WHEN)[0].octets,
        encode_status_report("+1415", reference=1, status=0, timestamp=WHEN, discharge=WHEN).octets,
    ]
    for data in samples:
        direction = "mo" if data in samples[1:2] else "mt"
        for size in range(len(data)):
            with pytest.raises(PduError):
                decode(data[:size], direction=direction)
    with pytest.raises(PduError, match="follow"):
        decode(bytes.fromhex(CLASSIC) + b"\x00")


def test_wrong_directions_and_junk() -> None:
    with pytest.raises(PduError):
        decode(CLASSIC, direction="mo")
    with pytest.raises(PduError):
        decode(encode_submit("+1", "x").octets)  # a SUBMIT does not come from a service centre
    with pytest.raises(PduError, match="hexadecimal"):
        decode("zz")
    with pytest.raises(ValueError):
        decode(CLASSIC, direction="sideways")


def test_encoding_errors() -> None:
    with pytest.raises(EncodeError, match="septets"):
        encode_submit("+1", "a" * 161)
    with pytest.raises(EncodeError, match="octets"):
        encode_submit("+1", "ж" * 71, coding=Coding.UCS2)
    with pytest.raises(EncodeError, match="surrogate"):
        encode_submit("+1", "\ud800", coding=Coding.UCS2)
    with pytest.raises(EncodeError, match="reference"):
        encode_submit("+1", "x", reference=256)
    with pytest.raises(EncodeError):
        encode_submit(Address("ABCDEFGHIJKL", 5, 0), "x")
    with pytest.raises(EncodeError):
        encode_submit("+1", "ğ")  # not in the default alphabet
    assert encode_submit(
        "+1", "ğ", alphabet=Alphabet(1, 0), header=udh.build(udh.elements(None, 1, 0))
    ).octets


def test_reassembly_orders_dedupes_and_expires() -> None:
    collect = Reassembler(ttl_us=1000)
    assert collect.add("k", 2, 3, "b", now=0) is None
    assert collect.add("k", 2, 3, "B", now=1) is None  # a repeat is ignored
    assert collect.add("k", 3, 3, "c", now=2) is None
    done = collect.add("k", 1, 3, "a", now=3)
    assert done is not None and (done.text, done.complete) == ("abc", True)
    assert len(collect) == 0
    collect.add("x", 1, 2, "half", now=0)
    assert collect.expire(now=500) == []
    [gone] = collect.expire(now=2000)
    assert (gone.text, gone.received, gone.total, gone.complete) == ("half", 1, 2, False)
    with pytest.raises(ValueError):
        collect.add("y", 3, 2, "x", now=0)


def test_parts_repeated_after_completion_are_duplicates() -> None:
    collect = Reassembler(ttl_us=1000)
    collect.add("k", 1, 2, "a", now=0)
    assert collect.add("k", 2, 2, "b", now=1) is not None
    assert collect.add("k", 2, 2, "b", now=5) is None  # the network sent it twice
    assert collect.add("k", 1, 2, "a", now=6) is None
    assert len(collect) == 0
    # The same reference with other text is a new message, and so is anything after ttl.
    assert collect.add("k", 1, 2, "c", now=7) is None
    again = collect.add("k", 2, 2, "d", now=8)
    assert again is not None and again.text == "cd"
    collect.expire(now=5000)
    assert collect.add("k", 1, 2, "c", now=5001) is None and len(collect) == 1


def test_a_surrogate_pair_split_across_parts_is_joined() -> None:
    assert join(["ab\ud83d", "\ude00c"]) == "ab😀c"
    assert join(["x\ud83d"]) == "x\ufffd"

"""Spool files without I/O: the format, the files smsgate writes for a message (cross-checked
against the gsm0338 codec), and the meaning of the files smsd writes (samples as Debian's
smsd 3.1.21 wrote them)."""

from __future__ import annotations

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.core import errors
from smsgate.smstools import results
from smsgate.smstools.outbound import (
    Flags,
    concat_reference,
    parse_part_name,
    part_files,
    part_name,
    segmentation,
)
from smsgate.smstools.spoolfile import Incomplete, SpoolFileError, parse, render
from smsgate.text import udh
from smsgate.text.segments import segment
from smsgate.text.tables import LOCKING, SINGLE_SHIFT

UUID = "0190abcd-1234-7000-8000-00000000abcd"

SENT = b"""To: 447700900012
Alphabet: GSM
Autosplit: 0
UDH-DATA: 05 00 03 65 02 01
Report: yes
Modem: GSM1
Sent: 26-12-01 18:49:14
Sending_time: 1
Message_id: 128
IMSI: 234150123456789
IMEI: 867530012345678

xxxx"""

FAILED = b"""To: 447700900300
Alphabet: GSM
Modem: GSM1
IMSI: 234150123456789
Fail_reason: +CMS ERROR: 21 (Short message transfer rejected)
Failed: 26-12-01 18:51:31
PDU: 0031000C914477000930000000FF29

x"""

REPORT = b"""From: 447700900001
From_TOA: 91 international, ISDN/telephone
From_SMSC: 447785016005
Sent: 26-12-01 18:48:32
Received: 26-12-01 18:48:33
Subject: GSM1
Modem: GSM1
IMSI: 234150123456789
Report: no
Alphabet: ISO
Length: 119
UDH: no

SMS STATUS REPORT
Message_id: 122
Discharge_timestamp: 26-12-01 18:48:32
Status: 0,Ok,short message received by the SME"""

INCOMING_ISO = (
    b"From: 447700900777\nFrom_TOA: 91 international, ISDN/telephone\n"
    b"Sent: 26-12-01 18:51:07\nModem: GSM1\nAlphabet: ISO\nLength: 18\n\n"
    b"Hi there [x] \xa45 \x81"
)


def test_parse_splits_headers_and_body() -> None:
    spool = parse(SENT)
    assert spool.get("message_id") == "128"
    assert spool.get("Modem") == "GSM1"
    assert spool.body == b"xxxx"
    assert spool.get("Nope") is None


def test_parse_keeps_the_body_as_bytes_and_accepts_crlf_and_a_bom() -> None:
    spool = parse(b"\xef\xbb\xbfTo: 1\r\nAlphabet: UCS2\r\n\r\n\x00\n\x00\r")
    assert spool.headers == (("To", "1"), ("Alphabet", "UCS2"))
    assert spool.body == b"\x00\n\x00\r"


def test_a_file_without_the_empty_line_is_incomplete() -> None:
    with pytest.raises(Incomplete):
        parse(b"To: 447700900001\nAlphabet: GSM")


def test_garbage_header_lines_are_counted_not_kept() -> None:
    spool = parse(b"From: 447700900001\n\xff\xfe junk\nno colon here\nSub ject: x\n\nhi")
    assert spool.headers == (("From", "447700900001"),)
    assert spool.garbage == 3


def test_render_refuses_a_value_that_would_start_another_header() -> None:
    with pytest.raises(SpoolFileError):
        render([("From", "x\nTo: 123")], b"")
    assert render([("To", "1")], b"hi") == b"To: 1\n\nhi"


def test_part_names_round_trip_and_others_are_not_ours() -> None:
    name = part_name("smsgate.", UUID, 2, 3)
    assert name == f"smsgate.{UUID}.2-3"
    found = parse_part_name("smsgate.", name)
    assert found is not None and (found.uuid, found.sequence, found.total) == (UUID, 2, 3)
    assert parse_part_name("smsgate.", f"other.{UUID}.1-1") is None
    assert parse_part_name("smsgate.", f"smsgate.{UUID}.4-3") is None
    assert parse_part_name("smsgate.", "smsgate.GSM1.AbCdEf") is None


def _texts() -> st.SearchStrategy[str]:
    gsm = LOCKING[0].replace("\x00", "") + "".join(c for c in SINGLE_SHIFT[0] if c != "\x00")
    return st.text(alphabet=gsm, min_size=1, max_size=400)


@given(_texts())
def test_gsm_parts_are_raw_septets_as_gsm0338_encodes_them(text: str) -> None:
    seg = segmentation(text, "GSM", UUID)
    files = part_files("smsgate.", UUID, "447700900001", "1000", seg, Flags())
    assert len(files) == seg.units
    joined = b""
    for number, part in enumerate(files, 1):
        spool = parse(part.content)
        assert spool.get("Alphabet") == "GSM"
        assert spool.get("Autosplit") == "0"
        assert part.name == part_name("smsgate.", UUID, number, seg.units)
        if seg.units > 1:
            header = udh.parse(bytes.fromhex(spool.get("UDH-DATA") or ""))
            concat = header.concat
            assert concat is not None and concat.sequence == number
            assert concat.reference == concat_reference(UUID)
            assert len(spool.body) <= 153
        else:
            assert spool.get("UDH-DATA") is None and len(spool.body) <= 160
        joined += spool.body
    assert joined == text.encode("gsm03.38")


def test_ucs2_parts_keep_surrogate_pairs_whole() -> None:
    text = "Ж" * 66 + "😀" + "Ж" * 10
    seg = segmentation(text, "UCS-2", UUID)
    files = part_files("smsgate.", UUID, "447700900001", "", seg, Flags())
    bodies = [parse(f.content).body for f in files]
    assert [parse(f.content).get("Alphabet") for f in files] == ["UCS2", "UCS2"]
    assert bodies[1].decode("utf-16-be").startswith("😀")
    assert b"".join(bodies).decode("utf-16-be") == text
    assert parse(files[0].content).get("From") is None


def test_national_tables_travel_in_the_udh() -> None:
    text = "Çağrı ğüş İ"
    seg = segment(text, languages=(1,))
    assert seg.name == "GSM/turkish"
    [part] = part_files(
        "smsgate.", UUID, "905321234567", "1000", segmentation(text, seg.name, UUID), Flags()
    )
    spool = parse(part.content)
    assert spool.get("UDH-DATA") == "03 25 01 01"
    assert spool.get("Alphabet") == "GSM"


def test_flags_become_headers() -> None:
    seg = segmentation("hi", "GSM", UUID)
    [plain] = part_files("p.", UUID, "1", "", seg, Flags(report=False))
    assert parse(plain.content).get("Report") == "no"
    assert parse(plain.content).get("Flash") is None
    flags = Flags(report=True, flash=True, validity="2 day", priority=True, queue="OTHER")
    [part] = part_files("p.", UUID, "447700900001", "MyShop", seg, flags)
    spool = parse(part.content)
    assert spool.headers[:3] == (("To", "447700900001"), ("From", "MyShop"), ("Alphabet", "GSM"))
    assert [spool.get(h) for h in ("Report", "Flash", "Validity", "Priority", "Queue")] == [
        "yes",
        "yes",
        "2 day",
        "high",
        "OTHER",
    ]


def test_a_sent_file_names_its_modem_and_reference() -> None:
    sent = results.read_sent(parse(SENT))
    assert (sent.modem, sent.to, sent.message_id) == ("GSM1", "447700900012", 128)
    assert results.read_sent(parse(b"To: +44 7700\n\n")).message_id is None


def test_fail_reasons_map_to_error_codes() -> None:
    refused = results.read_failed(parse(FAILED))
    assert refused.error_code == errors.PROHIBITED_BY_CARRIER and not refused.temporary
    assert "CMS ERROR: 21" in refused.reason
    cases = {
        "No destination": (errors.INVALID_DESTINATION, False),
        "Destination is blacklisted": (errors.PROHIBITED_BY_CARRIER, False),
        "Wrong provider queue": (errors.NO_ROUTE, False),
        "Too long text": (errors.MESSAGE_TOO_LONG, False),
        "Invalid alphabet": (errors.INVALID_MESSAGE, False),
        "+CMS ERROR: 42 (Congestion)": (errors.NETWORK_ERROR, True),
        "Modem initialization failed": (errors.DISPATCH_FAILED, True),
        "Unknown": (errors.DISPATCH_FAILED, True),
        "": (errors.DISPATCH_FAILED, True),
    }
    for reason, expected in cases.items():
        found = results.failure(reason)
        assert (found.error_code, found.temporary) == expected, reason


def test_a_status_report_file() -> None:
    spool = parse(REPORT)
    assert results.is_report(spool.body)
    report = results.read_report(spool)
    assert (report.modem, report.recipient, report.message_id, report.status) == (
        "GSM1",
        "447700900001",
        122,
        0,
    )
    assert report.explanation.startswith("Ok")
    with pytest.raises(SpoolFileError):
        results.read_report(parse(b"From: 1\n\nSMS STATUS REPORT\nMessage_id: x\n"))


def test_received_bodies_in_every_alphabet() -> None:
    received = results.read_received(parse(INCOMING_ISO))
    assert received.text == "Hi there [x] €5 Δ"
    assert (received.originator, received.modem) == ("447700900777", "GSM1")
    utf16 = "Привет 😀".encode("utf-16-be")
    assert results.decode_body("UCS2", utf16) == "Привет 😀"
    assert results.decode_body("UCS2", utf16[:-1]).endswith("\ufffd")
    assert results.decode_body("UTF-8", "Grüße".encode()) == "Grüße"
    assert results.decode_body("binary", b"\x01\xff") == "01ff"
    assert results.decode_body("ISO", bytes(range(0x81, 0x8B))) == "ΔΦΓΛΩΠΨΣΘΞ"
    with pytest.raises(SpoolFileError, match="unknown alphabet"):
        results.decode_body("EBCDIC", b"x")
    with pytest.raises(SpoolFileError, match="From"):
        results.read_received(parse(b"Alphabet: ISO\n\nhello"))

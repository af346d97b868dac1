"""SMPP delivery receipts: the Appendix B text as real SMSCs write it, the receipt TLVs, what
a stat means, and the text smsgate writes."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.core import errors
from smsgate.smpp.receipts import (
    MESSAGE_STATE,
    NETWORK_ERROR_CODE,
    RECEIPTED_MESSAGE_ID,
    Outcome,
    Receipt,
    format_receipt,
    id_forms,
    outcome_of,
    parse_receipt,
    plivo_error,
    receipt_from,
)

SPEC = (
    "id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191018 "
    "stat:DELIVRD err:000 Text:Hello World"
)


def test_the_specification_example() -> None:
    assert parse_receipt(SPEC) == Receipt(
        message_id="0123456789",
        stat="DELIVRD",
        err="000",
        submitted=1,
        delivered=1,
        submit_date="0610191018",
        done_date="0610191018",
        text="Hello World",
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Kannel's fake SMSC and most SMSCs: the spec's order, lower-case keys.
        (
            "id:1234567890 sub:001 dlvrd:000 submit date:2401151230 done date:2401151231 "
            "stat:UNDELIV err:027 text:Your code is 1234",
            ("1234567890", "UNDELIV", "027", 1, 0, "2401151230", "2401151231", "Your code is 1234"),
        ),
        # Jasmin: UUID ids, an empty text.
        (
            "id:b3c3d5a2-4f1e-4c7e-9d2a-0c9e6f8a1b2c sub:001 dlvrd:001 submit date:2301011200 "
            "done date:2301011201 stat:DELIVRD err:000 text:",
            (
                "b3c3d5a2-4f1e-4c7e-9d2a-0c9e6f8a1b2c",
                "DELIVRD",
                "000",
                1,
                1,
                "2301011200",
                "2301011201",
                "",
            ),
        ),
        # Underscored dates with seconds, as smpp-style simulators write them.
        (
            "id:7 sub:1 dlvrd:1 submit_date:230101120059 done_date:230101120102 stat:DELIVRD "
            "err:0 text:x",
            ("7", "DELIVRD", "0", 1, 1, "230101120059", "230101120102", "x"),
        ),
        # Upper-case keys, hex id, no sub/dlvrd, no text.
        (
            "ID:1A2B3C4D SUBMIT DATE:2401010000 DONE DATE:2401010001 STAT:EXPIRED ERR:000",
            ("1A2B3C4D", "EXPIRED", "000", None, None, "2401010000", "2401010001", ""),
        ),
        # Any order, extra keys, a lower-case stat, a text with colons and spaces.
        (
            "stat:delivrd mcc:234 err:000 id:0000439868 mnc:15 done date:2401010001 "
            "text:Meet at 10:30: room B",
            ("0000439868", "DELIVRD", "000", None, None, "", "2401010001", "Meet at 10:30: room B"),
        ),
        # Keys after the text: it ends where they start.
        (
            "id:99 text:hi there stat:REJECTD err:001",
            ("99", "REJECTD", "001", None, None, "", "", "hi there"),
        ),
        # A text that looks like keys, after id and stat: part of the text.
        (
            "id:5 stat:DELIVRD text:stat:FAILED id:6",
            ("5", "DELIVRD", "", None, None, "", "", "stat:FAILED id:6"),
        ),
        # A C-string's NUL, extra spaces, the stray space before a colon.
        (
            "id: 42  sub :001 dlvrd:001 stat:ACCEPTD  err:000 text:ok\0",
            ("42", "ACCEPTD", "000", 1, 1, "", "", "ok"),
        ),
        # A multi-line text.
        (
            "id:1 stat:DELIVRD text:line one\nline two",
            ("1", "DELIVRD", "", None, None, "", "", "line one\nline two"),
        ),
    ],
)
def test_real_world_variants(line: str, expected: tuple[object, ...]) -> None:
    assert parse_receipt(line) == Receipt(*expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "line",
    [
        "",
        "Hello, see you at 10:30",
        "stat:DELIVRD err:000",
        "id:123 sub:001",
        "id: stat:",
        "text:id:1 stat:x",
    ],
)
def test_what_is_not_a_receipt(line: str) -> None:
    assert parse_receipt(line) is None


def test_counts_that_are_not_numbers_are_none() -> None:
    got = parse_receipt("id:1 sub:one dlvrd:²³ stat:DELIVRD")
    assert got is not None and (got.submitted, got.delivered) == (None, None)


# --- TLVs ---------------------------------------------------------------------------------


def test_tlvs_win_over_the_text() -> None:
    tlvs = {RECEIPTED_MESSAGE_ID: b"6B63C\0", MESSAGE_STATE: b"\x05"}
    got = receipt_from("id:0000439868 stat:DELIVRD err:000 text:hi", tlvs)
    assert got is not None
    assert (got.message_id, got.stat, got.err, got.text) == ("6B63C", "UNDELIV", "000", "hi")


@pytest.mark.parametrize(
    ("state", "stat"),
    [
        (1, "ENROUTE"),
        (2, "DELIVRD"),
        (3, "EXPIRED"),
        (4, "DELETED"),
        (5, "UNDELIV"),
        (6, "ACCEPTD"),
        (7, "UNKNOWN"),
        (8, "REJECTD"),
    ],
)
def test_message_states(state: int, stat: str) -> None:
    got = receipt_from("", {RECEIPTED_MESSAGE_ID: b"abc\0", MESSAGE_STATE: bytes((state,))})
    assert got == Receipt("abc", stat, "", None, None, "", "", "")


def test_an_unknown_message_state_leaves_the_stat_to_the_text() -> None:
    got = receipt_from("id:1 stat:DELIVRD", {MESSAGE_STATE: b"\x09"})
    assert got is not None and got.stat == "DELIVRD"
    assert receipt_from("id:1", {MESSAGE_STATE: b"\x02\x00"}) is None


def test_network_error_code_gives_err_when_the_text_has_none() -> None:
    network = {NETWORK_ERROR_CODE: b"\x03\x00\x1b"}  # GSM, MAP error 27: absent subscriber
    got = receipt_from("id:1 stat:UNDELIV", network)
    assert got is not None and got.err == "027"
    got = receipt_from("id:1 stat:UNDELIV err:011", network)
    assert got is not None and got.err == "011"
    got = receipt_from("id:1 stat:UNDELIV", {NETWORK_ERROR_CODE: b"\x03\x01\x00"})
    assert got is not None and got.err == "256"
    got = receipt_from("id:1 stat:UNDELIV", {NETWORK_ERROR_CODE: b"\x03"})
    assert got is not None and got.err == ""


def test_id_and_state_may_come_half_from_each() -> None:
    got = receipt_from("stat:EXPIRED err:000", {RECEIPTED_MESSAGE_ID: b"77\0"})
    assert got is not None and (got.message_id, got.stat) == ("77", "EXPIRED")
    got = receipt_from("id:77 text:no state", {MESSAGE_STATE: b"\x02"})
    assert got is not None and (got.message_id, got.stat, got.text) == ("77", "DELIVRD", "no state")


def test_no_receipt_without_id_and_state() -> None:
    assert receipt_from("Hello", {}) is None
    assert receipt_from("Hello", {RECEIPTED_MESSAGE_ID: b"\0", MESSAGE_STATE: b"\x02"}) is None
    assert receipt_from("Hello", {RECEIPTED_MESSAGE_ID: b"1\0"}) is None


def test_id_forms_match_hex_decimal_and_leading_zeros() -> None:
    assert id_forms("0000439868") == ("0000439868", "439868", "6b63c", "6B63C")
    assert id_forms("6B63C") == ("6B63C", "6b63c", "439868")
    assert id_forms("abc-def") == ("abc-def", "ABC-DEF")
    assert id_forms("000") == ("000", "0")


# --- meaning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stat", "outcome", "code"),
    [
        ("DELIVRD", Outcome.DELIVERED, errors.SUCCESS),
        ("DELIVERED", Outcome.DELIVERED, errors.SUCCESS),
        ("delivrd", Outcome.DELIVERED, errors.SUCCESS),
        ("ENROUTE", Outcome.PENDING, ""),
        ("ACCEPTD", Outcome.PENDING, ""),
        ("ACCEPTED", Outcome.PENDING, ""),
        ("UNKNOWN", Outcome.PENDING, ""),
        ("SCHEDULED", Outcome.PENDING, ""),
        ("EXPIRED", Outcome.UNDELIVERED, errors.EXPIRED),
        ("REJECTD", Outcome.UNDELIVERED, errors.PROHIBITED_BY_CARRIER),
        ("REJECTED", Outcome.UNDELIVERED, errors.PROHIBITED_BY_CARRIER),
        ("UNDELIV", Outcome.UNDELIVERED, errors.DESTINATION_TEMPORARILY_UNAVAILABLE),
        ("UNDELIVERABLE", Outcome.UNDELIVERED, errors.DESTINATION_TEMPORARILY_UNAVAILABLE),
        ("UNDELIVERED", Outcome.UNDELIVERED, errors.DESTINATION_TEMPORARILY_UNAVAILABLE),
        ("DELETED", Outcome.UNDELIVERED, errors.UNKNOWN),
        ("FAILED", Outcome.UNDELIVERED, errors.UNKNOWN),
        ("", Outcome.UNDELIVERED, errors.UNKNOWN),
    ],
)
def test_stat_outcomes_and_error_codes(stat: str, outcome: Outcome, code: str) -> None:
    assert outcome_of(stat) is outcome
    assert plivo_error(stat, "000") == code


@pytest.mark.parametrize(
    ("err", "code"),
    [
        ("001", errors.INVALID_DESTINATION),
        ("5", errors.INVALID_DESTINATION),
        ("009", errors.DESTINATION_PERMANENTLY_UNAVAILABLE),
        ("011", errors.DESTINATION_PERMANENTLY_UNAVAILABLE),
        ("012", errors.DESTINATION_PERMANENTLY_UNAVAILABLE),
        ("013", errors.PROHIBITED_BY_CARRIER),
        ("034", errors.NETWORK_ERROR),
        ("027", errors.DESTINATION_TEMPORARILY_UNAVAILABLE),
        ("000", errors.DESTINATION_TEMPORARILY_UNAVAILABLE),
        ("", errors.DESTINATION_TEMPORARILY_UNAVAILABLE),
        ("x1", errors.DESTINATION_TEMPORARILY_UNAVAILABLE),
    ],
)
def test_an_undelivered_receipts_err_refines_the_code(err: str, code: str) -> None:
    assert plivo_error("UNDELIV", err) == code


def test_err_does_not_change_other_stats() -> None:
    assert plivo_error("EXPIRED", "001") == errors.EXPIRED
    assert plivo_error("REJECTD", "034") == errors.PROHIBITED_BY_CARRIER
    assert plivo_error("DELIVRD", "001") == errors.SUCCESS


# --- writing ------------------------------------------------------------------------------

SUBMITTED = datetime(2024, 1, 15, 12, 30, 45)
DONE = datetime(2024, 1, 15, 12, 31, 2)


def test_format_writes_the_standard_text() -> None:
    line = format_receipt(
        "abc123",
        stat="DELIVRD",
        submit_date=SUBMITTED,
        done_date=DONE,
        text="Your verification code is 123456",
    )
    assert line == (
        "id:abc123 sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 "
        "stat:DELIVRD err:000 text:Your verification co"
    )


def test_format_counts_nothing_delivered_for_a_failure() -> None:
    line = format_receipt(
        "9", stat="UNDELIV", err="027", submit_date=SUBMITTED, done_date=DONE, text=""
    )
    assert " sub:001 dlvrd:000 " in line and line.endswith("stat:UNDELIV err:027 text:")
    assert "dlvrd:002" in format_receipt(
        "9", stat="DELIVRD", submitted=2, submit_date=SUBMITTED, done_date=DONE, text=""
    )


ids = st.text(st.characters(codec="ascii", categories=["L", "N", "Pd"]), min_size=1, max_size=64)
stats = st.sampled_from(
    ["DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE"]
)


@settings(max_examples=300, deadline=None)
@given(
    message_id=ids,
    stat=stats,
    err=st.from_regex(r"[0-9]{3}", fullmatch=True),
    submitted=st.integers(0, 999),
    delivered=st.integers(0, 999),
    submit_date=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)),
    done_date=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)),
    text=st.text(st.characters(exclude_characters="\0"), max_size=40),
)
def test_format_then_parse_round_trips(
    message_id: str,
    stat: str,
    err: str,
    submitted: int,
    delivered: int,
    submit_date: datetime,
    done_date: datetime,
    text: str,
) -> None:
    line = format_receipt(
        message_id,
        stat=stat,
        err=err,
        submitted=submitted,
        delivered=delivered,
        submit_date=submit_date,
        done_date=done_date,
        text=text,
    )
    assert parse_receipt(line) == Receipt(
        message_id,
        stat,
        err,
        submitted,
        delivered,
        f"{submit_date:%y%m%d%H%M}",
        f"{done_date:%y%m%d%H%M}",
        text[:20],
    )


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(
            st.one_of(
                st.sampled_from(
                    ["id:", "stat:", "text:", "err:", "sub:", "dlvrd:", "submit date:", " ", "\0"]
                ),
                st.text(max_size=8),
            ),
            max_size=20,
        ).map("".join),
    ),
    st.dictionaries(
        st.sampled_from([RECEIPTED_MESSAGE_ID, MESSAGE_STATE, NETWORK_ERROR_CODE]),
        st.binary(max_size=5),
    ),
)
def test_parsing_never_raises(text: str, tlvs: dict[int, bytes]) -> None:
    got = parse_receipt(text)
    assert got is None or (got.message_id and got.stat)
    from_tlvs = receipt_from(text, tlvs)
    assert from_tlvs is None or (from_tlvs.message_id and from_tlvs.stat)

"""Reading modem answers: health, storage, message references, USSD, and +CMS errors."""

from __future__ import annotations

import gsmmodem.pdu as gsmmodem
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate.core import errors
from smsgate.modem.commands import (
    AtParseError,
    Stored,
    cms_failure,
    decode_ussd_text,
    encode_ussd_request,
    parse_cmgl,
    parse_cmgr,
    parse_cmgs,
    parse_cops,
    parse_cpms,
    parse_creg,
    parse_creg_unsolicited,
    parse_csq,
    parse_cusd,
    parse_identity,
    parse_new_message,
)
from smsgate.text.gsm7 import DEFAULT


def test_signal() -> None:
    signal = parse_csq(("+CSQ: 17,99",))
    assert (signal.rssi, signal.dbm, signal.bars) == (17, -79, 3)
    assert parse_csq(("+CSQ: 99,99",)).rssi is None
    with pytest.raises(AtParseError):
        parse_csq(("+CSQ: x,99",))
    with pytest.raises(AtParseError):
        parse_csq(())


def test_registration_and_operator() -> None:
    assert parse_creg(('+CREG: 2,1,"1A2B","01C3D4E5"',)) == 1
    assert parse_creg(("+CREG: 0,5",)) == 5
    assert parse_creg_unsolicited('3,"1A2B","01C3"') == 3
    assert parse_cops(('+COPS: 0,0,"Vodafone UK",2',)) == "Vodafone UK"
    assert parse_cops(("+COPS: 0",)) is None
    with pytest.raises(AtParseError):
        parse_creg(("+CREG: 2",))


def test_identity_and_storage() -> None:
    assert parse_identity(("867530012345678",)) == "867530012345678"
    assert parse_identity(('+CGSN: "867530012345678"',)) == "867530012345678"
    assert parse_cpms(('+CPMS: "SM",3,30,"SM",3,30,"SM",3,30',)) == (3, 30)
    with pytest.raises(AtParseError):
        parse_identity(("ERROR?",))


def test_message_reference_and_listing() -> None:
    assert parse_cmgs(("+CMGS: 42",)) == 42
    assert parse_cmgs(("+CMGS: 300",)) == 300 & 0xFF
    listed = parse_cmgl(("+CMGL: 1,0,,23", "07AB", "+CMGL: 4,1,,5", "07CD"))
    assert listed == [Stored(1, 0, "07AB"), Stored(4, 1, "07CD")]
    assert parse_cmgl(()) == []
    with pytest.raises(AtParseError):
        parse_cmgl(("07AB",))
    assert parse_cmgr(("+CMGR: 0,,23", "07AB"), 3) == Stored(3, 0, "07AB")
    assert parse_cmgr((), 3) is None
    assert parse_new_message('"SM",12') == ("SM", 12)
    assert parse_new_message('"SR", 3') == ("SR", 3)


def test_ussd_request_is_packed_like_huawei_wants() -> None:
    assert encode_ussd_request("*100#", packed=True) == "AA180C3602"
    assert encode_ussd_request("*100#", packed=False) == "*100#"
    with pytest.raises(ValueError):
        encode_ussd_request('*100#",1', packed=True)


@given(st.text(st.sampled_from("0123456789*#"), min_size=1, max_size=30))
def test_ussd_packing_matches_an_independent_implementation(code: str) -> None:
    theirs = bytes(gsmmodem.packSeptets(bytearray(DEFAULT.encode(code)))).hex().upper()
    assert encode_ussd_request(code, packed=True) == theirs
    assert decode_ussd_text(theirs, 15) == code


def test_ussd_answers_in_every_form() -> None:
    packed = encode_ussd_request("*100#", packed=True)
    assert parse_cusd(f'0,"{packed}",15').text == "*100#"
    ucs2 = "Баланс 5 руб".encode("utf-16-be").hex().upper()
    assert parse_cusd(f'0,"{ucs2}",72').text == "Баланс 5 руб"
    plain = parse_cusd('1,"Your balance is 5.00 EUR",15')
    assert (plain.status, plain.ok, plain.text) == (1, True, "Your balance is 5.00 EUR")
    assert parse_cusd("4").ok is False
    with pytest.raises(AtParseError):
        parse_cusd('"x",15')


def test_seven_spare_bits_hold_a_carriage_return() -> None:
    # 8 septets in 7 octets would read "...@" without the padding rule.
    text = "1234567"
    septets = DEFAULT.encode(text) + b"\r"
    hexed = bytes(gsmmodem.packSeptets(bytearray(septets))).hex()
    assert decode_ussd_text(hexed, 15) == text


@pytest.mark.parametrize(
    ("code", "error", "temporary", "down"),
    [
        (1, errors.INVALID_DESTINATION, False, False),
        (21, errors.PROHIBITED_BY_CARRIER, False, False),
        (42, errors.NETWORK_ERROR, True, False),
        (304, errors.INVALID_MESSAGE, False, False),
        (310, errors.DISPATCH_FAILED, True, True),
        (322, errors.DISPATCH_FAILED, True, True),
        (331, errors.NETWORK_ERROR, True, False),
        (500, errors.DISPATCH_FAILED, True, False),
        (200, errors.INVALID_MESSAGE, False, False),
        (None, errors.DISPATCH_FAILED, True, False),
        (999, errors.DISPATCH_FAILED, True, False),
    ],
)
def test_cms_errors(code: int | None, error: str, temporary: bool, down: bool) -> None:
    failure = cms_failure(code)
    assert (failure.error_code, failure.temporary, failure.modem_down) == (error, temporary, down)
    assert (str(code) in failure.reason) if code is not None else failure.reason

"""The SMPP 3.4 PDU codec: known answers from the specification's layouts, bad input, framing,
sequence numbers, and properties (round trips of every command, fuzzed frames and streams)."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsgate.smpp.pdu import (
    HEADER_SIZE,
    LAYOUTS,
    MAX_LENGTH,
    RESPONSE_BIT,
    Command,
    Framer,
    FramingError,
    Oversized,
    Pdu,
    PduError,
    Sequencer,
    SmeAddress,
    Status,
    Tag,
    Unsuccessful,
    decode,
    encode,
    generic_nack,
    make,
    response_to,
    status_name,
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def h(*parts: str) -> bytes:
    """Hex written in groups, one group per field."""
    return bytes.fromhex("".join(parts))


def full(command: int, sequence: int, status: int = 0, tlvs: Any = None, **fields: Any) -> Pdu:
    """A PDU with every mandatory parameter, as decode returns it (defaults where not given)."""
    values: dict[str, Any] = {}
    for name, kind, _ in LAYOUTS[command]:
        values[name] = fields.pop(name, {"i": 0, "c": "", "sm": b""}.get(kind, ()))
    assert not fields, fields
    if "short_message" in values:
        values["sm_length"] = len(values["short_message"])
    return Pdu(command, sequence, status, values, dict(tlvs or {}))


# --- known answers, written out from the layouts of SMPP 3.4 section 4 ---------------------

ADDR_A = "343437373030393030313233 00"  # "447700900123"
ADDR_B = "343437373030393030343536 00"  # "447700900456"
MSG_1 = "6D73672D30303031 00"  # "msg-0001"
ABSOLUTE = "3236313132323039333030303030302B 00"  # "261122093000000+"
RELATIVE = "30303030303130303030303030303052 00"  # "000001000000000R"

VECTORS: list[tuple[str, Pdu, bytes]] = [
    (
        "bind_transmitter",
        full(
            Command.BIND_TRANSMITTER,
            1,
            system_id="SMPP3TEST",
            password="secret08",
            system_type="SUBMIT1",
            interface_version=0x34,
            addr_ton=1,
            addr_npi=1,
            address_range="",
        ),
        h(
            "0000002F 00000002 00000000 00000001",
            "534D5050335445535400",  # system_id
            "7365637265743038 00",  # password
            "5355424D49543100",  # system_type
            "34",  # interface_version
            "01 01",  # addr_ton, addr_npi
            "00",  # address_range
        ),
    ),
    (
        "bind_transmitter_resp",
        full(
            Command.BIND_TRANSMITTER_RESP,
            1,
            system_id="SMSC",
            tlvs={Tag.SC_INTERFACE_VERSION: b"\x34"},
        ),
        h("0000001A 80000002 00000000 00000001", "534D534300", "0210 0001 34"),
    ),
    (
        "bind_receiver",
        full(Command.BIND_RECEIVER, 2, system_id="rx", password="pw", interface_version=0x34),
        h("0000001B 00000001 00000000 00000002", "727800", "707700", "00", "34 00 00", "00"),
    ),
    (
        "bind_receiver_resp refused",
        Pdu(Command.BIND_RECEIVER_RESP, 2, Status.ESME_RBINDFAIL),
        h("00000010 80000001 0000000D 00000002"),
    ),
    (
        "bind_transceiver",
        full(
            Command.BIND_TRANSCEIVER,
            3,
            system_id="trx",
            password="",
            interface_version=0x34,
            address_range="^44",
        ),
        h("0000001D 00000009 00000000 00000003", "74727800", "00", "00", "34 00 00", "5E343400"),
    ),
    (
        "bind_transceiver_resp",
        full(Command.BIND_TRANSCEIVER_RESP, 3, system_id="SMSC"),
        h("00000015 80000009 00000000 00000003", "534D534300"),
    ),
    (
        "submit_sm",
        full(
            Command.SUBMIT_SM,
            2,
            service_type="CMT",
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="447700900456",
            esm_class=0x03,
            protocol_id=0x7F,
            priority_flag=1,
            schedule_delivery_time="261122093000000+",
            validity_period="000001000000000R",
            registered_delivery=1,
            replace_if_present_flag=1,
            data_coding=0x08,
            sm_default_msg_id=2,
            short_message="Hi".encode("utf-16-be"),
            tlvs={Tag.USER_MESSAGE_REFERENCE: b"\x00\x2a"},
        ),
        h(
            "00000066 00000004 00000000 00000002",
            "434D5400",  # service_type
            "01 01",
            ADDR_A,
            "01 01",
            ADDR_B,
            "03",  # esm_class
            "7F",  # protocol_id
            "01",  # priority_flag
            ABSOLUTE,
            RELATIVE,
            "01",  # registered_delivery
            "01",  # replace_if_present_flag
            "08",  # data_coding
            "02",  # sm_default_msg_id
            "04",  # sm_length
            "0048 0069",  # short_message
            "0204 0002 002A",  # user_message_reference
        ),
    ),
    (
        "submit_sm_resp",
        full(Command.SUBMIT_SM_RESP, 2, message_id="msg-0001"),
        h("00000019 80000004 00000000 00000002", MSG_1),
    ),
    (
        "submit_sm_resp refused without a body",
        Pdu(Command.SUBMIT_SM_RESP, 2, Status.ESME_RTHROTTLED),
        h("00000010 80000004 00000058 00000002"),
    ),
    (
        "deliver_sm receipt",
        full(
            Command.DELIVER_SM,
            0x10,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900456",
            dest_addr_npi=1,
            destination_addr="12345",
            esm_class=0x04,
            short_message=b"id:7 stat:DELIVRD",
            tlvs={Tag.RECEIPTED_MESSAGE_ID: b"7\x00", Tag.MESSAGE_STATE: b"\x02"},
        ),
        h(
            "0000004E 00000005 00000000 00000010",
            "00",  # service_type
            "01 01",
            ADDR_B,
            "00 01",
            "313233343500",  # destination_addr "12345"
            "04 00 00",  # esm_class, protocol_id, priority_flag
            "00 00",  # schedule_delivery_time, validity_period
            "00 00 00 00",  # registered_delivery .. sm_default_msg_id
            "11",  # sm_length
            "69643A3720737461743A44454C49565244",  # "id:7 stat:DELIVRD"
            "001E 0002 3700",  # receipted_message_id
            "0427 0001 02",  # message_state
        ),
    ),
    (
        "deliver_sm_resp",
        full(Command.DELIVER_SM_RESP, 0x10),
        h("00000011 80000005 00000000 00000010", "00"),
    ),
    ("enquire_link", make(Command.ENQUIRE_LINK, 3), h("00000010 00000015 00000000 00000003")),
    (
        "enquire_link_resp",
        make(Command.ENQUIRE_LINK_RESP, 3),
        h("00000010 80000015 00000000 00000003"),
    ),
    (
        "generic_nack",
        generic_nack(9, Status.ESME_RINVCMDID),
        h("00000010 80000000 00000003 00000009"),
    ),
    ("unbind", make(Command.UNBIND, 4), h("00000010 00000006 00000000 00000004")),
    ("unbind_resp", make(Command.UNBIND_RESP, 4), h("00000010 80000006 00000000 00000004")),
    (
        "query_sm",
        full(
            Command.QUERY_SM,
            5,
            message_id="msg-0001",
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
        ),
        h("00000028 00000003 00000000 00000005", MSG_1, "01 01", ADDR_A),
    ),
    (
        "query_sm_resp",
        full(
            Command.QUERY_SM_RESP,
            5,
            message_id="msg-0001",
            final_date="261122093500000+",
            message_state=2,
            error_code=0,
        ),
        h(
            "0000002C 80000003 00000000 00000005",
            MSG_1,
            "3236313132323039333530303030302B00",
            "02",  # message_state DELIVERED
            "00",  # error_code
        ),
    ),
    (
        "cancel_sm",
        full(
            Command.CANCEL_SM,
            11,
            message_id="msg-0001",
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="447700900456",
        ),
        h("00000038 00000008 00000000 0000000B", "00", MSG_1, "01 01", ADDR_A, "01 01", ADDR_B),
    ),
    ("cancel_sm_resp", make(Command.CANCEL_SM_RESP, 11), h("00000010 80000008 00000000 0000000B")),
    (
        "replace_sm",
        full(
            Command.REPLACE_SM,
            12,
            message_id="msg-0001",
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
            validity_period="000001000000000R",
            registered_delivery=1,
            short_message=b"new",
        ),
        h(
            "00000040 00000007 00000000 0000000C",
            MSG_1,
            "01 01",
            ADDR_A,
            "00",  # schedule_delivery_time
            RELATIVE,
            "01",  # registered_delivery
            "00",  # sm_default_msg_id
            "03",  # sm_length
            "6E6577",
        ),
    ),
    (
        "replace_sm_resp",
        make(Command.REPLACE_SM_RESP, 12),
        h("00000010 80000007 00000000 0000000C"),
    ),
    (
        "data_sm",
        full(
            Command.DATA_SM,
            6,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="447700900456",
            registered_delivery=1,
            tlvs={Tag.MESSAGE_PAYLOAD: b"Hello"},
        ),
        h(
            "0000003B 00000103 00000000 00000006",
            "00",
            "01 01",
            ADDR_A,
            "01 01",
            ADDR_B,
            "00 01 00",  # esm_class, registered_delivery, data_coding
            "0424 0005 48656C6C6F",  # message_payload
        ),
    ),
    (
        "data_sm_resp",
        full(Command.DATA_SM_RESP, 6, message_id="msg-0001"),
        h("00000019 80000103 00000000 00000006", MSG_1),
    ),
    (
        "submit_multi",
        full(
            Command.SUBMIT_MULTI,
            7,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
            dest_addresses=(SmeAddress("447700900456", 1, 1), SmeAddress("", list_name="friends")),
            registered_delivery=1,
            short_message=b"Hi",
        ),
        h(
            "00000046 00000021 00000000 00000007",
            "00",
            "01 01",
            ADDR_A,
            "02",  # number_of_dests
            "01 01 01",  # dest_flag SME address, ton, npi
            ADDR_B,
            "02",  # dest_flag distribution list
            "667269656E647300",  # dl_name "friends"
            "00 00 00",
            "00 00",
            "01 00 00 00",
            "02",
            "4869",
        ),
    ),
    (
        "submit_multi_resp",
        full(
            Command.SUBMIT_MULTI_RESP,
            7,
            message_id="msg-0002",
            unsuccess_smes=(Unsuccessful("447700900789", 1, 1, Status.ESME_RINVDSTADR),),
        ),
        h(
            "0000002D 80000021 00000000 00000007",
            "6D73672D3030303200",
            "01",  # no_unsuccess
            "01 01",
            "343437373030393030373839 00",
            "0000000B",  # error_status_code
        ),
    ),
    (
        "alert_notification",
        full(
            Command.ALERT_NOTIFICATION,
            8,
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr="447700900123",
            esme_addr="12345",
            tlvs={Tag.MS_AVAILABILITY_STATUS: b"\x00"},
        ),
        h(
            "0000002C 00000102 00000000 00000008",
            "01 01",
            ADDR_A,
            "00 00",
            "313233343500",
            "0422 0001 00",
        ),
    ),
    (
        "outbind",
        full(Command.OUTBIND, 1, system_id="SMSC", password="pw"),
        h("00000018 0000000B 00000000 00000001", "534D534300", "707700"),
    ),
]


@pytest.mark.parametrize(("pdu", "frame"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_known_answers(pdu: Pdu, frame: bytes) -> None:
    assert len(frame) == int.from_bytes(frame[:4], "big")
    assert encode(pdu).hex() == frame.hex()
    assert decode(frame) == pdu


def test_every_command_has_a_vector() -> None:
    assert {v[1].command for v in VECTORS} == set(LAYOUTS) == set(Command)


def test_make_and_response_to() -> None:
    request = make(Command.SUBMIT_SM, 42, short_message=b"x", tlvs={Tag.SAR_MSG_REF_NUM: b"\0\1"})
    assert request.fields == {"short_message": b"x"}
    assert request.tlvs == {Tag.SAR_MSG_REF_NUM: b"\0\1"}
    assert request["destination_addr"] == "" and request["esm_class"] == 0
    with pytest.raises(KeyError):
        request["message_id"]
    answer = response_to(request, message_id="abc")
    assert (answer.command, answer.sequence, answer.status) == (Command.SUBMIT_SM_RESP, 42, 0)
    assert answer.is_response and not request.is_response
    assert answer.name == "submit_sm_resp" and Pdu(0x1234, 1).name == "0x00001234"
    refused = response_to(request, Status.ESME_RMSGQFUL)
    assert encode(refused) == h("00000010 80000004 00000014 0000002A")


def test_tlv_accessors() -> None:
    pdu = make(
        Command.DELIVER_SM,
        1,
        tlvs={Tag.RECEIPTED_MESSAGE_ID: b"ab12\x00", Tag.SAR_MSG_REF_NUM: b"\x01\x02", 0x1401: b""},
    )
    assert pdu.tlv_str(Tag.RECEIPTED_MESSAGE_ID) == "ab12"
    assert pdu.tlv_int(Tag.SAR_MSG_REF_NUM) == 0x0102
    assert pdu.tlv_int(0x1401) is None and pdu.tlv_str(0x1401) == ""
    assert pdu.tlv_int(Tag.MESSAGE_STATE) is None and pdu.tlv_str(Tag.MESSAGE_STATE) is None


def test_status_names() -> None:
    assert status_name(0x45) == "ESME_RSUBMITFAIL"
    assert status_name(0x400) == "0x00000400"


def test_repeated_tlv_keeps_the_first() -> None:
    frame = encode(make(Command.ENQUIRE_LINK, 1)) + h("1401 0001 41", "1401 0001 42")
    frame = struct.pack(">I", len(frame)) + frame[4:]
    assert decode(frame).tlvs == {0x1401: b"A"}


# --- bad input ------------------------------------------------------------------------------

NAMED = {name: frame for name, _, frame in VECTORS}
SUBMIT = NAMED["submit_sm"]
SUBMIT_MULTI = NAMED["submit_multi"]


def patched(frame: bytes | bytearray) -> bytes:
    """``frame`` with its command_length set to its length."""
    return struct.pack(">I", len(frame)) + bytes(frame[4:])


def refused(frame: bytes) -> PduError:
    with pytest.raises(PduError) as caught:
        decode(frame)
    return caught.value


@pytest.mark.parametrize("size", [0, 1, 15])
def test_shorter_than_a_header(size: int) -> None:
    error = refused(SUBMIT[:size])
    assert (error.status, error.command, error.sequence) == (Status.ESME_RINVCMDLEN, None, None)


@pytest.mark.parametrize("delta", [-1, 1, 1000])
def test_command_length_not_matching_the_frame(delta: int) -> None:
    frame = struct.pack(">I", len(SUBMIT) + delta) + SUBMIT[4:]
    error = refused(frame)
    assert (error.status, error.command, error.sequence) == (Status.ESME_RINVCMDLEN, 4, 2)


@pytest.mark.parametrize("command", [0x00000099, 0x8000000B, 0x00000100, 0xFFFFFFFF])
def test_unknown_command_id(command: int) -> None:
    error = refused(h("00000010") + struct.pack(">III", command, 0, 77))
    assert (error.status, error.command, error.sequence) == (Status.ESME_RINVCMDID, command, 77)
    with pytest.raises(PduError) as caught:
        encode(Pdu(command, 1))
    assert caught.value.status == Status.ESME_RINVCMDID


@pytest.mark.parametrize(
    "cut",
    [
        16,  # nothing of the body
        18,  # inside service_type (no NUL before the end)
        20,  # before source_addr_ton
        28,  # inside source_addr
        36,  # before dest_addr_npi
        40,  # inside destination_addr
        75,  # inside validity_period
        91,  # before sm_length
        94,  # inside short_message
    ],
)
def test_truncated_mandatory_field(cut: int) -> None:
    error = refused(patched(SUBMIT[:cut]))
    assert (error.status, error.command, error.sequence) == (Status.ESME_RINVCMDLEN, 4, 2)


def test_sm_length_past_the_end() -> None:
    frame = bytearray(SUBMIT[: 16 + 80])  # everything up to the TLV
    frame[16 + 75] = 200  # sm_length
    assert refused(patched(frame)).status == Status.ESME_RINVCMDLEN


def test_cstring_without_nul_within_its_maximum() -> None:
    # service_type holds at most 5 octets and its NUL; six octets without one are refused.
    frame = patched(SUBMIT[:16] + b"CMTXYZ" + SUBMIT[20:])
    error = refused(frame)
    assert (error.status, error.command, error.sequence) == (Status.ESME_RINVPARLEN, 4, 2)
    # A 16-octet system_id (15 and the NUL) is the longest a bind takes.
    bind = encode(full(Command.BIND_TRANSMITTER, 1, system_id="A" * 15))
    assert decode(bind)["system_id"] == "A" * 15
    assert refused(patched(bind[:16] + b"A" + bind[16:])).status == Status.ESME_RINVPARLEN


@pytest.mark.parametrize(
    "tail", ["00", "0204", "0204 00", "0204 0002", "0204 0002 00", "1401 FFFF"]
)
def test_tlv_cut_or_past_the_end(tail: str) -> None:
    error = refused(patched(SUBMIT + h(tail)))
    assert (error.status, error.command, error.sequence) == (Status.ESME_RINVOPTPARSTREAM, 4, 2)


@pytest.mark.parametrize("flag", [0, 3, 255])
def test_bad_dest_flag(flag: int) -> None:
    frame = bytearray(SUBMIT_MULTI)
    assert frame[16 + 16] == 2 and frame[16 + 17] == 1  # number_of_dests, first dest_flag
    frame[16 + 17] = flag
    error = refused(bytes(frame))
    assert (error.status, error.command, error.sequence) == (Status.ESME_RINVDESTFLAG, 0x21, 7)


def test_error_responses_may_leave_the_body_out() -> None:
    for command in LAYOUTS:
        if command & RESPONSE_BIT:
            frame = struct.pack(">IIII", 16, command, Status.ESME_RSYSERR, 5)
            assert decode(frame) == Pdu(command, 5, Status.ESME_RSYSERR)
            assert encode(Pdu(command, 5, Status.ESME_RSYSERR)) == frame
    # A successful response needs its body; so does a request, whatever its status.
    assert refused(h("00000010 80000004 00000000 00000005")).status == Status.ESME_RINVCMDLEN
    assert refused(h("00000010 00000004 00000008 00000005")).status == Status.ESME_RINVCMDLEN
    # An error response that has a body is read whole.
    with_body = h("00000012 80000004 00000045 00000005", "4100")
    assert decode(with_body).fields == {"message_id": "A"}


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        (Command.BIND_TRANSMITTER, {"system_id": "A" * 16}),
        (Command.BIND_TRANSMITTER, {"password": "123456789"}),
        (Command.BIND_TRANSMITTER, {"address_range": "1" * 41}),
        (Command.SUBMIT_SM, {"service_type": "CMTXYZ"}),
        (Command.SUBMIT_SM, {"source_addr": "1" * 21}),
        (Command.SUBMIT_SM, {"destination_addr": "a\x00b"}),
        (Command.SUBMIT_SM, {"schedule_delivery_time": "2611220930000000+"}),
        (Command.DATA_SM, {"destination_addr": "1" * 65}),
        (Command.SUBMIT_SM_RESP, {"message_id": "m" * 65}),
        (Command.SUBMIT_MULTI, {"dest_addresses": (SmeAddress("1" * 21),)}),
        (Command.SUBMIT_MULTI, {"dest_addresses": (SmeAddress("", list_name="L" * 21),)}),
        (Command.SUBMIT_MULTI_RESP, {"unsuccess_smes": (Unsuccessful("1" * 21, 0, 0, 8),)}),
    ],
)
def test_encode_refuses_long_strings(command: int, fields: dict[str, Any]) -> None:
    with pytest.raises(PduError) as caught:
        encode(make(command, 1, **fields))
    assert caught.value.status == Status.ESME_RINVPARLEN


def test_encode_takes_the_longest_strings() -> None:
    pdu = full(
        Command.SUBMIT_SM,
        1,
        service_type="A" * 5,
        source_addr="1" * 20,
        destination_addr="2" * 20,
        schedule_delivery_time="3" * 16,
        validity_period="4" * 16,
        short_message=bytes(range(254)),
    )
    assert decode(encode(pdu)) == pdu


def test_encode_refuses_a_short_message_over_254_octets() -> None:
    for command in (Command.SUBMIT_SM, Command.DELIVER_SM, Command.REPLACE_SM):
        with pytest.raises(PduError) as caught:
            encode(make(command, 1, short_message=b"x" * 255))
        assert caught.value.status == Status.ESME_RINVMSGLEN
    # sm_length comes from the message, whatever the caller says.
    frame = encode(make(Command.SUBMIT_SM, 1, sm_length=9, short_message=b"abc"))
    assert decode(frame)["sm_length"] == 3


@pytest.mark.parametrize(
    "pdu",
    [
        make(Command.SUBMIT_SM, 1, esm_class=256),
        make(Command.SUBMIT_SM, 1, data_coding=-1),
        make(Command.BIND_TRANSMITTER, 1, interface_version=0x100),
        make(Command.QUERY_SM_RESP, 1, error_code=300),
        make(Command.SUBMIT_MULTI, 1, dest_addresses=(SmeAddress("1", 256, 0),)),
        make(Command.SUBMIT_MULTI, 1, dest_addresses=(SmeAddress("1", 0, -1),)),
        make(Command.SUBMIT_MULTI_RESP, 1, unsuccess_smes=(Unsuccessful("1", 0, 0, 1 << 32),)),
        make(Command.SUBMIT_MULTI_RESP, 1, unsuccess_smes=(Unsuccessful("1", 0, 0, -1),)),
        make(Command.SUBMIT_MULTI_RESP, 1, unsuccess_smes=(Unsuccessful("1", 0, 0, 8),) * 256),
        make(Command.ENQUIRE_LINK, 1, tlvs={0x10000: b""}),
        make(Command.ENQUIRE_LINK, 1 << 32),
        make(Command.ENQUIRE_LINK, -1),
        Pdu(Command.ENQUIRE_LINK_RESP, 1, 1 << 32),
    ],
)
def test_encode_refuses_ints_that_do_not_fit(pdu: Pdu) -> None:
    with pytest.raises(PduError) as caught:
        encode(pdu)
    assert caught.value.status == Status.ESME_RINVPARLEN


def test_encode_refuses_too_many_or_no_destinations_and_oversized_frames() -> None:
    for dests in ((), (SmeAddress("1"),) * 256):
        with pytest.raises(PduError) as caught:
            encode(make(Command.SUBMIT_MULTI, 1, dest_addresses=dests))
        assert caught.value.status == Status.ESME_RINVNUMDESTS
    many = make(Command.SUBMIT_MULTI, 1, dest_addresses=(SmeAddress("1" * 20, 1, 1),) * 255)
    assert len(decode(encode(many))["dest_addresses"]) == 255
    with pytest.raises(PduError) as caught:
        encode(make(Command.DATA_SM, 1, tlvs={Tag.MESSAGE_PAYLOAD: b"x" * 0x10000}))
    assert caught.value.status == Status.ESME_RINVPARLEN
    payload = {Tag.MESSAGE_PAYLOAD: b"x" * 0xFFFF, 0x1400: b"y" * 10_000}
    with pytest.raises(PduError) as caught:
        encode(make(Command.DATA_SM, 1, tlvs=payload))
    assert caught.value.status == Status.ESME_RINVCMDLEN
    biggest = make(Command.DATA_SM, 1, tlvs={Tag.MESSAGE_PAYLOAD: b"x" * 0xFFFF})
    assert len(encode(biggest)) <= MAX_LENGTH


# --- framing --------------------------------------------------------------------------------

FRAMES = [v[2] for v in VECTORS]
STREAM = b"".join(FRAMES)


def feed_all(framer: Framer, chunks: list[bytes]) -> list[bytes | Oversized]:
    out: list[bytes | Oversized] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


def test_frames_split_at_every_byte_boundary_reassemble() -> None:
    first, second = NAMED["submit_sm"], NAMED["submit_sm_resp"]
    data = first + second
    for cut in range(len(data) + 1):
        framer = Framer()
        assert feed_all(framer, [data[:cut], data[cut:]]) == [first, second], cut
        assert framer.buffered == 0
    framer = Framer()
    assert feed_all(framer, [bytes([b]) for b in STREAM]) == FRAMES


def test_several_frames_in_one_chunk_and_a_partial_one_kept() -> None:
    framer = Framer()
    assert framer.feed(STREAM + FRAMES[0][:20]) == FRAMES
    assert framer.buffered == 20
    assert framer.feed(FRAMES[0][20:]) == [FRAMES[0]]
    assert framer.buffered == 0


def oversized(length: int, command: int = Command.SUBMIT_SM, sequence: int = 9) -> bytes:
    return struct.pack(">IIII", length, command, 0, sequence) + b"\xaa" * (length - 16)


def test_oversized_frames_are_skipped() -> None:
    big = oversized(200)
    framer = Framer(max_length=100)
    after = FRAMES[0]
    # in one chunk
    assert framer.feed(big + after) == [Oversized(Command.SUBMIT_SM, 9, 200), after]
    # the body over several feeds, the next frame in the last
    framer = Framer(max_length=100)
    assert framer.feed(big[:10]) == []
    assert framer.feed(big[10:20]) == [Oversized(Command.SUBMIT_SM, 9, 200)]
    assert framer.feed(big[20:100]) == []
    assert framer.feed(big[100:199]) == []
    assert framer.feed(big[199:] + after[:5]) == []
    assert framer.feed(after[5:]) == [after]
    # at every split point
    for cut in range(len(big) + len(after) + 1):
        framer = Framer(max_length=100)
        data = big + after
        result = feed_all(framer, [data[:cut], data[cut:]])
        assert result == [Oversized(Command.SUBMIT_SM, 9, 200), after], cut


def test_the_default_limit_takes_the_longest_message_payload() -> None:
    biggest = encode(make(Command.SUBMIT_SM, 1, tlvs={Tag.MESSAGE_PAYLOAD: b"x" * 0xFFFF}))
    framer = Framer()
    assert framer.feed(biggest) == [biggest]
    assert framer.feed(oversized(MAX_LENGTH + 1, Command.DATA_SM, 3)) == [
        Oversized(Command.DATA_SM, 3, MAX_LENGTH + 1)
    ]
    assert framer.feed(oversized(MAX_LENGTH)) == [oversized(MAX_LENGTH)]


@pytest.mark.parametrize("length", [0, 1, 15])
def test_command_length_under_16_loses_the_stream(length: int) -> None:
    framer = Framer()
    # The whole frame before the bad length is still taken; the stream is lost after it.
    assert framer.feed(FRAMES[0] + struct.pack(">IIII", length, 0x15, 0, 1)) == [FRAMES[0]]
    assert framer.lost
    with pytest.raises(FramingError):
        framer.feed(FRAMES[1])
    framer = Framer()
    assert framer.feed(struct.pack(">I", length)) == []
    with pytest.raises(FramingError):
        framer.feed(b"\x00" * 12)


def test_sequencer_wraps_after_the_largest_to_one() -> None:
    sequencer = Sequencer()
    assert [next(sequencer) for _ in range(3)] == [1, 2, 3]
    sequencer = Sequencer(0x7FFFFFFE)
    assert [next(sequencer) for _ in range(4)] == [0x7FFFFFFE, 0x7FFFFFFF, 1, 2]
    assert iter(sequencer) is sequencer


# --- properties -----------------------------------------------------------------------------

ascii_text = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def cstring(size: int) -> st.SearchStrategy[str]:
    return st.text(ascii_text, max_size=size - 1)


octet = st.integers(0, 255)
sme_address = st.builds(SmeAddress, cstring(21), octet, octet)
dl_name = st.builds(lambda name: SmeAddress("", list_name=name), cstring(21))
unsuccessful = st.builds(Unsuccessful, cstring(21), octet, octet, st.integers(0, 0xFFFFFFFF))
tlvs = st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=40), max_size=4)


def field_value(kind: str, size: int) -> st.SearchStrategy[Any]:
    if kind == "i":
        return st.integers(0, (1 << (8 * size)) - 1)
    if kind == "c":
        return cstring(size)
    if kind == "sm":
        return st.binary(max_size=size)
    if kind == "dests":
        return st.lists(st.one_of(sme_address, dl_name), min_size=1, max_size=6).map(tuple)
    return st.lists(unsuccessful, max_size=6).map(tuple)


@st.composite
def pdus(draw: st.DrawFn) -> Pdu:
    command = draw(st.sampled_from(sorted(LAYOUTS)))
    fields: dict[str, Any] = {}
    for name, kind, size in LAYOUTS[command]:
        # sm_length is derived; submit_multi always needs its destinations
        if name != "sm_length" and (kind == "dests" or draw(st.booleans())):
            fields[name] = draw(field_value(kind, size))
    status = draw(st.sampled_from([0, 0, Status.ESME_RSYSERR, 0x400]))
    return make(
        command,
        draw(st.integers(0, 0xFFFFFFFF)),
        status,
        tlvs=draw(tlvs),
        **fields,
    )


def expected(pdu: Pdu) -> Pdu:
    if pdu.is_response and pdu.status and not pdu.fields and not pdu.tlvs:
        return Pdu(pdu.command, pdu.sequence, pdu.status)
    return full(pdu.command, pdu.sequence, pdu.status, pdu.tlvs, **pdu.fields)


@PROPERTY
@given(pdus())
def test_round_trip(pdu: Pdu) -> None:
    frame = encode(pdu)
    assert int.from_bytes(frame[:4], "big") == len(frame)
    assert decode(frame) == expected(pdu)
    assert encode(decode(frame)) == frame


def expect_pdu_or_error(frame: bytes) -> None:
    with contextlib.suppress(PduError):
        decode(frame)


@PROPERTY
@given(st.binary(max_size=300))
def test_decode_random_bytes(data: bytes) -> None:
    expect_pdu_or_error(data)
    expect_pdu_or_error(patched(data) if len(data) >= 4 else data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    frame = bytearray(
        draw(st.sampled_from(FRAMES)) if draw(st.booleans()) else encode(draw(pdus()))
    )
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "set", "cut", "add"]))
        if action in ("flip", "set") and len(frame) > 4:
            index = draw(st.integers(4, len(frame) - 1))
            frame[index] = (
                frame[index] ^ (1 << draw(st.integers(0, 7)))
                if action == "flip"
                else draw(st.integers(0, 255))
            )
        elif action == "cut" and len(frame) > 4:
            del frame[draw(st.integers(4, len(frame) - 1)) :]
        else:
            frame.extend(draw(st.binary(min_size=1, max_size=6)))
    return patched(frame)


@PROPERTY
@given(mutated())
def test_decode_mutated_frames(frame: bytes) -> None:
    expect_pdu_or_error(frame)


@PROPERTY
@given(st.lists(st.binary(max_size=64), max_size=12), st.integers(16, 200))
def test_framer_random_chunks(chunks: list[bytes], max_length: int) -> None:
    framer = Framer(max_length=max_length)
    try:
        for chunk in chunks:
            for frame in framer.feed(chunk):
                if isinstance(frame, Oversized):
                    assert frame.length > max_length
                else:
                    assert HEADER_SIZE <= len(frame) == int.from_bytes(frame[:4], "big")
                    assert len(frame) <= max_length
    except FramingError:
        pass


@PROPERTY
@given(
    st.lists(st.one_of(st.sampled_from(FRAMES), st.integers(81, 400).map(oversized)), max_size=8),
    st.lists(st.integers(0, 2000), max_size=10),
)
def test_framer_does_not_depend_on_how_the_stream_is_cut(
    frames: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(frames)
    points = sorted({min(cut, len(stream)) for cut in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    want: list[bytes | Oversized] = []
    for f in frames:
        length, command, _, sequence = struct.unpack_from(">IIII", f)
        want.append(Oversized(command, sequence, length) if length > 80 else f)
    framer = Framer(max_length=80)
    assert feed_all(framer, chunks) == want
    assert framer.buffered == 0

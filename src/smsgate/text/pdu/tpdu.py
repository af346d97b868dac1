"""SMS TPDUs (3GPP TS 23.040 9.2.2): SMS-SUBMIT, SMS-DELIVER and SMS-STATUS-REPORT, each
encoded and decoded, with the service centre address in front as AT commands carry them.

Decoding is strict: a PDU that is truncated, longer than its fields, or whose lengths do not
add up raises PduError, the one error the decoders raise.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from smsgate.text import udh as udh_module
from smsgate.text.errors import EncodeError, PduError
from smsgate.text.gsm7 import DEFAULT, Alphabet, decode_septets, pack, unpack
from smsgate.text.pdu import address as addr
from smsgate.text.pdu.address import Address
from smsgate.text.pdu.dcs import Alphabet as Coding
from smsgate.text.pdu.dcs import DataCoding, decode_dcs, encode_dcs
from smsgate.text.pdu.timestamps import (
    decode_relative,
    decode_timestamp,
    encode_relative,
    encode_timestamp,
)
from smsgate.text.segments import Segmentation

MAX_USER_DATA = 140
# Enum members as plain names: looking one up on its class is slow in Python 3.11.
_GSM7, _UCS2 = Coding.GSM7, Coding.UCS2


class Outcome(StrEnum):
    """What a status report says became of a message (TP-ST, 9.2.3.15)."""

    DELIVERED = "delivered"
    PENDING = "pending"  # the service centre is still trying
    UNDELIVERED = "undelivered"


def outcome_of(status: int) -> Outcome:
    if status <= 0x1F:
        return Outcome.DELIVERED  # completed (received, forwarded, replaced; SC-specific)
    if status <= 0x3F:
        return Outcome.PENDING  # temporary error, still trying
    return Outcome.UNDELIVERED  # permanent error, or temporary and no longer trying


@dataclass(frozen=True, slots=True)
class UserData:
    """A TPDU's user data: the header, and the text (GSM/UCS-2) or the bytes (8-bit)."""

    header: udh_module.Header | None
    text: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class Submit:
    destination: Address
    text: str | None
    data: bytes
    reference: int
    coding: DataCoding
    header: udh_module.Header | None = None
    validity: timedelta | datetime | bytes | None = None
    status_report: bool = False
    reject_duplicates: bool = False
    reply_path: bool = False
    pid: int = 0
    sca: Address | None = None


@dataclass(frozen=True, slots=True)
class Deliver:
    originator: Address
    text: str | None
    data: bytes
    timestamp: datetime
    coding: DataCoding
    header: udh_module.Header | None = None
    more_messages: bool = False
    status_report_indication: bool = False
    reply_path: bool = False
    loop_prevention: bool = False
    pid: int = 0
    sca: Address | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    reference: int
    recipient: Address
    timestamp: datetime  # when the service centre took the message
    discharge: datetime  # when the status below was reached
    status: int
    more_messages: bool = False
    qualifier: bool = False  # True: the report answers an SMS-COMMAND
    user_data: UserData | None = None
    sca: Address | None = None

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.status)


@dataclass(frozen=True, slots=True)
class Pdu:
    """Encoded octets, and the TPDU's length (without the SCA) that AT+CMGS wants."""

    octets: bytes
    tpdu_length: int = field(default=0)

    def hex(self) -> str:
        return self.octets.hex().upper()


# --- user data --------------------------------------------------------------------------


def _fill_bits(header_octets: int) -> int:
    return (7 - (header_octets * 8) % 7) % 7


def encode_user_data(
    text: str | None, data: bytes, coding: Coding, header: bytes, alphabet: Alphabet | None
) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD): length in septets for GSM 7-bit, else in octets."""
    if coding is _GSM7:
        septets = (alphabet or DEFAULT).encode(text or "")
        fill = _fill_bits(len(header))
        udl = (len(header) * 8 + fill) // 7 + len(septets)
        if udl > 160:
            raise EncodeError(f"{udl} septets do not fit one SMS (160 at most)")
        return udl, header + pack(septets, fill) if header else pack(septets)
    if coding is _UCS2:
        try:
            payload = codecs.utf_16_be_encode(text or "")[0]  # str.encode, without the lookup
        except UnicodeEncodeError:
            raise EncodeError("text has a lone surrogate: not UCS-2") from None
    else:
        payload = data
    body = header + payload
    if len(body) > MAX_USER_DATA:
        raise EncodeError(f"{len(body)} octets of user data do not fit one SMS (140 at most)")
    return len(body), body


def decode_user_data(udl: int, body: bytes, coding: DataCoding, has_header: bool) -> UserData:
    return UserData(*_user_data(udl, body, coding, has_header))


def _user_data(
    udl: int, body: bytes, coding: DataCoding, has_header: bool
) -> tuple[udh_module.Header | None, str | None, bytes]:
    """decode_user_data's header, text and data."""
    gsm = coding.alphabet is _GSM7
    if gsm:
        if udl > 160:
            raise PduError(f"user data length {udl} septets is over 160")
        expected = (udl * 7 + 7) // 8
    else:
        if udl > MAX_USER_DATA:
            raise PduError(f"user data length {udl} octets is over 140")
        expected = udl
    if len(body) != expected:
        if len(body) < expected:
            raise PduError(f"user data is truncated: {len(body)} of {expected} octets")
        raise PduError(f"{len(body) - expected} octets follow the user data")
    header = None
    header_octets = 0
    if has_header:
        header = udh_module.parse(body)
        header_octets = body[0] + 1
        if header_octets > len(body):
            raise PduError("user data header is longer than the user data")
    if gsm:
        fill = _fill_bits(header_octets) if header_octets else 0
        used = (header_octets * 8 + fill) // 7 if header_octets else 0
        if used > udl:
            raise PduError("user data header is longer than the user data")
        septets = unpack(body[header_octets:], udl - used, fill) if udl > used else b""
        locking, single = header.known_shifts() if header is not None else (0, 0)
        return header, decode_septets(septets, locking, single), septets
    payload = body[header_octets:]
    if coding.alphabet is _UCS2:
        if len(payload) % 2:
            raise PduError("UCS-2 user data has an odd number of octets")
        # A part may end inside a surrogate pair; reassembly joins them.
        return header, codecs.utf_16_be_decode(payload, "surrogatepass", True)[0], payload
    return header, None, payload


# --- SMS-SUBMIT -------------------------------------------------------------------------


def encode_submit(
    destination: Address | str,
    text: str | None = None,
    *,
    data: bytes = b"",
    coding: Coding = Coding.GSM7,
    alphabet: Alphabet | None = None,
    header: bytes = b"",
    reference: int = 0,
    sca: Address | None = None,
    validity: timedelta | datetime | None = None,
    status_report: bool = False,
    reject_duplicates: bool = False,
    reply_path: bool = False,
    message_class: int | None = None,
    pid: int = 0,
) -> Pdu:
    """One SMS-SUBMIT. ``header`` is a complete user data header (see text.udh), for the
    parts of a segmented text; ``message_class=0`` makes it a flash message."""
    if isinstance(destination, str):
        destination = Address.parse(destination)
    if not 0 <= reference <= 0xFF:
        raise EncodeError(f"message reference {reference} is not 0 to 255")
    first = 0x01
    vp = b""
    if isinstance(validity, timedelta):
        first |= 0x10
        vp = bytes((encode_relative(validity),))
    elif isinstance(validity, datetime):
        first |= 0x18
        vp = encode_timestamp(validity)
    if reject_duplicates:
        first |= 0x04
    if status_report:
        first |= 0x20
    if header:
        first |= 0x40
    if reply_path:
        first |= 0x80
    udl, ud = encode_user_data(text, data, coding, header, alphabet)
    tpdu = (
        bytes((first, reference))
        + addr.encode(destination)
        + bytes((pid & 0xFF, encode_dcs(coding, message_class)))
        + vp
        + bytes((udl,))
        + ud
    )
    return Pdu(addr.encode_sca(sca) + tpdu, len(tpdu))


def _decode_submit(data: bytes, pos: int, sca: Address | None) -> Submit:
    first = data[pos]
    pos += 1
    if pos >= len(data):
        raise PduError("PDU ends before the message reference")
    reference = data[pos]
    destination, pos = addr.decode(data, pos + 1)
    if pos + 2 > len(data):
        raise PduError("PDU ends before the data coding scheme")
    pid, coding = data[pos], decode_dcs(data[pos + 1])
    pos += 2
    vpf = (first >> 3) & 0x03
    validity: timedelta | datetime | bytes | None = None
    if vpf == 2:
        if pos >= len(data):
            raise PduError("PDU ends inside the validity period")
        validity = decode_relative(data[pos])
        pos += 1
    elif vpf in (1, 3):
        if pos + 7 > len(data):
            raise PduError("PDU ends inside the validity period")
        raw = data[pos : pos + 7]
        validity = decode_timestamp(raw) if vpf == 3 else bytes(raw)  # 1: enhanced format
        pos += 7
    if pos >= len(data):
        raise PduError("PDU ends before the user data length")
    header, text, user_data = _user_data(data[pos], data[pos + 1 :], coding, first & 0x40 != 0)
    return Submit(  # positionally, in the order of the fields: a little faster
        destination,
        text,
        user_data,
        reference,
        coding,
        header,
        validity,
        first & 0x20 != 0,  # status_report
        first & 0x04 != 0,  # reject_duplicates
        first & 0x80 != 0,  # reply_path
        pid,
        sca,
    )


# --- SMS-DELIVER ------------------------------------------------------------------------


def encode_deliver(
    originator: Address | str,
    text: str | None = None,
    *,
    timestamp: datetime,
    data: bytes = b"",
    coding: Coding = Coding.GSM7,
    alphabet: Alphabet | None = None,
    header: bytes = b"",
    sca: Address | None = None,
    more_messages: bool = False,
    status_report_indication: bool = False,
    message_class: int | None = None,
    pid: int = 0,
) -> Pdu:
    """One SMS-DELIVER, as a service centre sends it to a handset (simulators use it)."""
    if isinstance(originator, str):
        originator = Address.parse(originator)
    first = 0x00 | (0 if more_messages else 0x04)
    if status_report_indication:
        first |= 0x20
    if header:
        first |= 0x40
    udl, ud = encode_user_data(text, data, coding, header, alphabet)
    tpdu = (
        bytes((first,))
        + addr.encode(originator)
        + bytes((pid & 0xFF, encode_dcs(coding, message_class)))
        + encode_timestamp(timestamp)
        + bytes((udl,))
        + ud
    )
    return Pdu(addr.encode_sca(sca) + tpdu, len(tpdu))


def _decode_deliver(data: bytes, pos: int, sca: Address | None) -> Deliver:
    first = data[pos]
    originator, pos = addr.decode(data, pos + 1)
    if pos + 9 > len(data):
        raise PduError("PDU ends before the time stamp")
    pid, coding = data[pos], decode_dcs(data[pos + 1])
    timestamp = decode_timestamp(data[pos + 2 : pos + 9])
    pos += 9
    if pos >= len(data):
        raise PduError("PDU ends before the user data length")
    header, text, user_data = _user_data(data[pos], data[pos + 1 :], coding, first & 0x40 != 0)
    return Deliver(  # positionally, in the order of the fields: a little faster
        originator,
        text,
        user_data,
        timestamp,
        coding,
        header,
        not first & 0x04,  # more_messages
        first & 0x20 != 0,  # status_report_indication
        first & 0x80 != 0,  # reply_path
        first & 0x08 != 0,  # loop_prevention
        pid,
        sca,
    )


# --- SMS-STATUS-REPORT ------------------------------------------------------------------


def encode_status_report(
    recipient: Address | str,
    *,
    reference: int,
    status: int,
    timestamp: datetime,
    discharge: datetime,
    sca: Address | None = None,
    more_messages: bool = False,
) -> Pdu:
    """One SMS-STATUS-REPORT, as a service centre sends it (simulators use it)."""
    if isinstance(recipient, str):
        recipient = Address.parse(recipient)
    if not 0 <= reference <= 0xFF or not 0 <= status <= 0xFF:
        raise EncodeError("reference and status are octets")
    first = 0x02 | (0 if more_messages else 0x04)
    tpdu = (
        bytes((first, reference))
        + addr.encode(recipient)
        + encode_timestamp(timestamp)
        + encode_timestamp(discharge)
        + bytes((status,))
    )
    return Pdu(addr.encode_sca(sca) + tpdu, len(tpdu))


def _decode_status_report(data: bytes, pos: int, sca: Address | None) -> StatusReport:
    first = data[pos]
    if pos + 1 >= len(data):
        raise PduError("PDU ends before the message reference")
    reference = data[pos + 1]
    recipient, pos = addr.decode(data, pos + 2)
    if pos + 15 > len(data):
        raise PduError("PDU ends inside the status report's times and status")
    timestamp = decode_timestamp(data[pos : pos + 7])
    discharge = decode_timestamp(data[pos + 7 : pos + 14])
    status = data[pos + 14]
    pos += 15
    user_data = None
    if pos < len(data):  # TP-PI and the optional fields it announces
        indicator = data[pos]
        pos += 1
        pid = coding = None
        if indicator & 0x01:
            if pos >= len(data):
                raise PduError("PDU ends before the announced protocol identifier")
            pid = data[pos]
            pos += 1
        if indicator & 0x02:
            if pos >= len(data):
                raise PduError("PDU ends before the announced data coding scheme")
            coding = decode_dcs(data[pos])
            pos += 1
        if indicator & 0x04:
            if pos >= len(data):
                raise PduError("PDU ends before the announced user data length")
            user_data = decode_user_data(
                data[pos], data[pos + 1 :], coding or decode_dcs(0), bool(first & 0x40)
            )
            pos = len(data)
        del pid
        if pos != len(data):
            raise PduError(f"{len(data) - pos} octets follow the status report")
    return StatusReport(
        reference=reference,
        recipient=recipient,
        timestamp=timestamp,
        discharge=discharge,
        status=status,
        more_messages=not first & 0x04,
        qualifier=bool(first & 0x20),
        user_data=user_data,
        sca=sca,
    )


# --- decoding ---------------------------------------------------------------------------


def decode(
    pdu: bytes | str, *, with_sca: bool = True, direction: str = "mt"
) -> Submit | Deliver | StatusReport:
    """Decode a PDU (octets or hex). ``direction`` says who sent it, as the message type
    indicator means different things each way: ``mt`` (service centre to handset: DELIVER,
    STATUS-REPORT) or ``mo`` (handset to service centre: SUBMIT). Raises PduError."""
    if isinstance(pdu, str):
        try:
            pdu = bytes.fromhex(pdu.strip())
        except ValueError:
            raise PduError("PDU is not hexadecimal") from None
    data = pdu if type(pdu) is bytes else bytes(pdu)
    sca, pos = addr.decode_sca(data) if with_sca else (None, 0)
    if pos >= len(data):
        raise PduError("PDU has no TPDU after the service centre address")
    mti = data[pos] & 0x03
    if direction == "mt":
        if mti == 0:
            return _decode_deliver(data, pos, sca)
        if mti == 2:
            return _decode_status_report(data, pos, sca)
        raise PduError(f"message type {mti} from a service centre is not DELIVER or STATUS-REPORT")
    if direction == "mo":
        if mti == 1:
            return _decode_submit(data, pos, sca)
        raise PduError(f"message type {mti} from a handset is not SUBMIT")
    raise ValueError(f"direction is 'mt' or 'mo', not {direction!r}")


def _per_part(
    encode: Callable[..., Pdu],
    address: Address | str,
    segmentation: Segmentation,
    options: dict[str, Any],
) -> list[Pdu]:
    coding = _GSM7 if segmentation.alphabet is not None else _UCS2
    if isinstance(address, str):
        address = Address.parse(address)
    return [
        encode(
            address,
            part.text,
            coding=coding,
            alphabet=segmentation.alphabet,
            header=part.udh,
            **options,
        )
        for part in segmentation.parts
    ]


def submit_parts(
    destination: Address | str, segmentation: Segmentation, **options: Any
) -> list[Pdu]:
    """One SMS-SUBMIT per part of a segmented text (headers included); ``options`` are
    encode_submit's (reference, sca, validity, status_report, message_class …)."""
    return _per_part(encode_submit, destination, segmentation, options)


def deliver_parts(
    originator: Address | str, segmentation: Segmentation, **options: Any
) -> list[Pdu]:
    """One SMS-DELIVER per part of a segmented text (headers included); ``options`` are
    encode_deliver's (timestamp, sca, message_class …). Simulators use it."""
    return _per_part(encode_deliver, originator, segmentation, options)

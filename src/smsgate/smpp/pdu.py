"""SMPP 3.4 PDUs: framing, encoding and decoding, without I/O.

A PDU is a 16-octet header (command_length, command_id, command_status, sequence_number,
each a big-endian 32-bit integer), the command's mandatory parameters in the order the
specification lists them (integers of 1, 2 or 4 octets, NUL-terminated C-octet strings with a
maximum length, and ``short_message`` after its ``sm_length``), then optional parameters
(TLVs: a 2-octet tag, a 2-octet length and the value).

``Pdu`` holds the mandatory parameters by their specification names in ``fields`` and the
TLVs raw by tag in ``tlvs``. ``decode`` reads one whole frame (``Framer`` cuts a byte stream
into frames) and raises ``PduError`` carrying the ``command_status`` a peer should be answered
with; ``encode`` checks what it writes against the same limits.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

HEADER = struct.Struct(">IIII")
HEADER_SIZE: Final = 16
#: A frame longer than this is not read (a submit_sm with a 64 KiB message_payload fits).
MAX_LENGTH: Final = 70_000
RESPONSE_BIT: Final = 0x80000000
MAX_SEQUENCE: Final = 0x7FFFFFFF
INTERFACE_VERSION: Final = 0x34


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


class Status(IntEnum):
    """command_status values (SMPP 3.4 5.1.3)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


def status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:08X}"


class Tag(IntEnum):
    """Optional parameter tags (SMPP 3.4 5.3.2)."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


class PduError(ValueError):
    """A frame that cannot be read: answer ``status`` (in the command's response when the
    command and sequence are known, else in a generic_nack)."""

    def __init__(
        self, status: Status, reason: str, command: int | None = None, sequence: int | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.command = command
        self.sequence = sequence


# --- parameter layouts -------------------------------------------------------------------

# A layout is a tuple of (name, kind, size): kind "i" is an integer of ``size`` octets, "c" a
# C-octet string of at most ``size`` octets with its NUL, "sm" the short message (its length
# is the preceding sm_length), and "dests"/"unsuccess" submit_multi's lists.
Layout = tuple[tuple[str, str, int], ...]

_BIND: Layout = (
    ("system_id", "c", 16),
    ("password", "c", 9),
    ("system_type", "c", 13),
    ("interface_version", "i", 1),
    ("addr_ton", "i", 1),
    ("addr_npi", "i", 1),
    ("address_range", "c", 41),
)
_BIND_RESP: Layout = (("system_id", "c", 16),)
_SM_TAIL: Layout = (
    ("esm_class", "i", 1),
    ("protocol_id", "i", 1),
    ("priority_flag", "i", 1),
    ("schedule_delivery_time", "c", 17),
    ("validity_period", "c", 17),
    ("registered_delivery", "i", 1),
    ("replace_if_present_flag", "i", 1),
    ("data_coding", "i", 1),
    ("sm_default_msg_id", "i", 1),
    ("sm_length", "i", 1),
    ("short_message", "sm", 254),
)
_SOURCE_21: Layout = (
    ("source_addr_ton", "i", 1),
    ("source_addr_npi", "i", 1),
    ("source_addr", "c", 21),
)
_DEST_21: Layout = (
    ("dest_addr_ton", "i", 1),
    ("dest_addr_npi", "i", 1),
    ("destination_addr", "c", 21),
)
_SUBMIT: Layout = (("service_type", "c", 6), *_SOURCE_21, *_DEST_21, *_SM_TAIL)
_MESSAGE_ID: Layout = (("message_id", "c", 65),)

LAYOUTS: dict[int, Layout] = {
    Command.GENERIC_NACK: (),
    Command.BIND_RECEIVER: _BIND,
    Command.BIND_RECEIVER_RESP: _BIND_RESP,
    Command.BIND_TRANSMITTER: _BIND,
    Command.BIND_TRANSMITTER_RESP: _BIND_RESP,
    Command.BIND_TRANSCEIVER: _BIND,
    Command.BIND_TRANSCEIVER_RESP: _BIND_RESP,
    Command.OUTBIND: (("system_id", "c", 16), ("password", "c", 9)),
    Command.UNBIND: (),
    Command.UNBIND_RESP: (),
    Command.ENQUIRE_LINK: (),
    Command.ENQUIRE_LINK_RESP: (),
    Command.SUBMIT_SM: _SUBMIT,
    Command.SUBMIT_SM_RESP: _MESSAGE_ID,
    Command.DELIVER_SM: _SUBMIT,
    Command.DELIVER_SM_RESP: _MESSAGE_ID,
    Command.DATA_SM: (
        ("service_type", "c", 6),
        ("source_addr_ton", "i", 1),
        ("source_addr_npi", "i", 1),
        ("source_addr", "c", 65),
        ("dest_addr_ton", "i", 1),
        ("dest_addr_npi", "i", 1),
        ("destination_addr", "c", 65),
        ("esm_class", "i", 1),
        ("registered_delivery", "i", 1),
        ("data_coding", "i", 1),
    ),
    Command.DATA_SM_RESP: _MESSAGE_ID,
    Command.QUERY_SM: (*_MESSAGE_ID, *_SOURCE_21),
    Command.QUERY_SM_RESP: (
        *_MESSAGE_ID,
        ("final_date", "c", 17),
        ("message_state", "i", 1),
        ("error_code", "i", 1),
    ),
    Command.CANCEL_SM: (("service_type", "c", 6), *_MESSAGE_ID, *_SOURCE_21, *_DEST_21),
    Command.CANCEL_SM_RESP: (),
    Command.REPLACE_SM: (
        *_MESSAGE_ID,
        *_SOURCE_21,
        ("schedule_delivery_time", "c", 17),
        ("validity_period", "c", 17),
        ("registered_delivery", "i", 1),
        ("sm_default_msg_id", "i", 1),
        ("sm_length", "i", 1),
        ("short_message", "sm", 254),
    ),
    Command.REPLACE_SM_RESP: (),
    Command.SUBMIT_MULTI: (
        ("service_type", "c", 6),
        *_SOURCE_21,
        ("dest_addresses", "dests", 255),
        *_SM_TAIL,
    ),
    Command.SUBMIT_MULTI_RESP: (*_MESSAGE_ID, ("unsuccess_smes", "unsuccess", 255)),
    Command.ALERT_NOTIFICATION: (
        ("source_addr_ton", "i", 1),
        ("source_addr_npi", "i", 1),
        ("source_addr", "c", 65),
        ("esme_addr_ton", "i", 1),
        ("esme_addr_npi", "i", 1),
        ("esme_addr", "c", 65),
    ),
}

_DEFAULTS = {"i": 0, "c": "", "sm": b"", "dests": (), "unsuccess": ()}


@dataclass(frozen=True, slots=True)
class SmeAddress:
    """A submit_multi destination: an SME address, or a distribution list by name."""

    destination_addr: str
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    list_name: str | None = None


@dataclass(frozen=True, slots=True)
class Unsuccessful:
    """A submit_multi_resp entry: a destination the SMSC did not take, and why."""

    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    error_status_code: int


@dataclass(slots=True)
class Pdu:
    command: int
    sequence: int
    status: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        """A mandatory parameter, or its default when it was not set."""
        value = self.fields.get(name)
        if value is None:
            for fname, kind, _ in LAYOUTS.get(self.command, ()):
                if fname == name:
                    return _DEFAULTS[kind]
            raise KeyError(name)
        return value

    @property
    def name(self) -> str:
        try:
            return Command(self.command).name.lower()
        except ValueError:
            return f"0x{self.command:08X}"

    @property
    def is_response(self) -> bool:
        return bool(self.command & RESPONSE_BIT)

    def tlv_int(self, tag: int) -> int | None:
        value = self.tlvs.get(tag)
        return int.from_bytes(value, "big") if value else None

    def tlv_str(self, tag: int) -> str | None:
        value = self.tlvs.get(tag)
        if value is None:
            return None
        return value.split(b"\x00", 1)[0].decode("latin-1")


def make(command: int, sequence: int, status: int = 0, **fields: Any) -> Pdu:
    """A PDU with the given mandatory parameters (``tlvs=`` for optional ones)."""
    tlvs = fields.pop("tlvs", None) or {}
    return Pdu(command, sequence, status, fields, dict(tlvs))


def response_to(request: Pdu, status: int = 0, **fields: Any) -> Pdu:
    """The response to ``request`` (same sequence), with ``status``."""
    return make(request.command | RESPONSE_BIT, request.sequence, status, **fields)


def generic_nack(sequence: int, status: int) -> Pdu:
    return Pdu(Command.GENERIC_NACK, sequence, status)


# --- encoding ----------------------------------------------------------------------------


def _cstring(name: str, value: Any, size: int) -> bytes:
    raw = value.encode("latin-1") if isinstance(value, str) else bytes(value)
    if len(raw) >= size or b"\x00" in raw:
        raise PduError(
            Status.ESME_RINVPARLEN, f"{name} is longer than {size - 1} octets or holds a NUL"
        )
    return raw + b"\x00"


def _integer(name: str, value: Any, size: int) -> bytes:
    number = int(value or 0)
    if not 0 <= number < 1 << (8 * size):
        raise PduError(Status.ESME_RINVPARLEN, f"{name} {number} does not fit")
    return number.to_bytes(size, "big")


def encode(pdu: Pdu) -> bytes:
    """The PDU as one frame; PduError when a parameter does not fit."""
    layout = LAYOUTS.get(pdu.command)
    if layout is None:
        raise PduError(Status.ESME_RINVCMDID, f"unknown command_id 0x{pdu.command:08X}")
    body = bytearray()
    # A response that reports an error may leave its body out (SMPP 3.4 section 4).
    if not (pdu.is_response and pdu.status and not pdu.fields and not pdu.tlvs):
        fields = pdu.fields
        for name, kind, size in layout:
            value = fields.get(name)
            if kind == "i":
                if name == "sm_length":
                    value = len(fields.get("short_message") or b"")
                body += _integer(name, value, size)
            elif kind == "c":
                body += _cstring(name, value or "", size)
            elif kind == "sm":
                message = bytes(value or b"")
                if len(message) > size:
                    raise PduError(
                        Status.ESME_RINVMSGLEN,
                        f"short_message is {len(message)} octets; at most {size} fit "
                        "(use message_payload)",
                    )
                body += message
            elif kind == "dests":
                body += _encode_dests(value or ())
            else:
                body += _encode_unsuccess(value or ())
        for tag, raw in pdu.tlvs.items():
            if len(raw) > 0xFFFF:
                raise PduError(Status.ESME_RINVPARLEN, f"TLV 0x{tag:04X} is too long")
            body += _integer("TLV tag", tag, 2) + struct.pack(">H", len(raw)) + raw
    length = HEADER_SIZE + len(body)
    if length > MAX_LENGTH:
        raise PduError(Status.ESME_RINVCMDLEN, f"PDU of {length} octets is too long")
    status = _integer("command_status", pdu.status, 4)
    sequence = _integer("sequence_number", pdu.sequence, 4)
    return struct.pack(">II", length, pdu.command) + status + sequence + body


def _encode_dests(dests: Any) -> bytes:
    if not 1 <= len(dests) <= 255:
        raise PduError(Status.ESME_RINVNUMDESTS, f"{len(dests)} destinations: 1 to 255 allowed")
    out = bytearray([len(dests)])
    for dest in dests:
        if dest.list_name is not None:
            out += b"\x02" + _cstring("dl_name", dest.list_name, 21)
        else:
            out += b"\x01" + _integer("dest_addr_ton", dest.dest_addr_ton, 1)
            out += _integer("dest_addr_npi", dest.dest_addr_npi, 1)
            out += _cstring("destination_addr", dest.destination_addr, 21)
    return bytes(out)


def _encode_unsuccess(entries: Any) -> bytes:
    out = bytearray(_integer("no_unsuccess", len(entries), 1))
    for entry in entries:
        out += _integer("dest_addr_ton", entry.dest_addr_ton, 1)
        out += _integer("dest_addr_npi", entry.dest_addr_npi, 1)
        out += _cstring("destination_addr", entry.destination_addr, 21)
        out += _integer("error_status_code", entry.error_status_code, 4)
    return bytes(out)


# --- decoding ----------------------------------------------------------------------------


class _Reader:
    __slots__ = ("command", "data", "end", "pos", "sequence")

    def __init__(self, data: bytes, command: int, sequence: int) -> None:
        self.data = data
        self.pos = HEADER_SIZE
        self.end = len(data)
        self.command = command
        self.sequence = sequence

    def fail(self, status: Status, reason: str) -> PduError:
        return PduError(status, reason, self.command, self.sequence)

    def integer(self, name: str, size: int) -> int:
        end = self.pos + size
        if end > self.end:
            raise self.fail(Status.ESME_RINVCMDLEN, f"the PDU ends inside {name}")
        value = int.from_bytes(self.data[self.pos : end], "big")
        self.pos = end
        return value

    def cstring(self, name: str, size: int) -> str:
        nul = self.data.find(b"\x00", self.pos, min(self.end, self.pos + size))
        if nul < 0:
            if self.pos + size <= self.end:
                raise self.fail(Status.ESME_RINVPARLEN, f"{name} is longer than {size - 1} octets")
            raise self.fail(Status.ESME_RINVCMDLEN, f"the PDU ends inside {name}")
        value = self.data[self.pos : nul].decode("latin-1")
        self.pos = nul + 1
        return value

    def octets(self, name: str, count: int) -> bytes:
        end = self.pos + count
        if end > self.end:
            raise self.fail(Status.ESME_RINVCMDLEN, f"the PDU ends inside {name}")
        value = self.data[self.pos : end]
        self.pos = end
        return value


def decode(frame: bytes) -> Pdu:
    """One whole frame (as ``Framer`` cuts them) as a PDU; PduError when it cannot be read."""
    if len(frame) < HEADER_SIZE:
        raise PduError(Status.ESME_RINVCMDLEN, f"a PDU is at least 16 octets, not {len(frame)}")
    length, command, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise PduError(
            Status.ESME_RINVCMDLEN,
            f"command_length says {length} octets, the frame has {len(frame)}",
            command,
            sequence,
        )
    layout = LAYOUTS.get(command)
    if layout is None:
        raise PduError(
            Status.ESME_RINVCMDID, f"unknown command_id 0x{command:08X}", command, sequence
        )
    reader = _Reader(frame, command, sequence)
    fields: dict[str, Any] = {}
    tlvs: dict[int, bytes] = {}
    if command & RESPONSE_BIT and status and length == HEADER_SIZE:
        return Pdu(command, sequence, status, fields, tlvs)
    sm_length = 0
    for name, kind, size in layout:
        if kind == "i":
            value = reader.integer(name, size)
            if name == "sm_length":
                sm_length = value
            fields[name] = value
        elif kind == "c":
            fields[name] = reader.cstring(name, size)
        elif kind == "sm":
            fields[name] = reader.octets(name, sm_length)
        elif kind == "dests":
            fields[name] = _decode_dests(reader)
        else:
            fields[name] = _decode_unsuccess(reader)
    while reader.pos < reader.end:
        if reader.end - reader.pos < 4:
            raise reader.fail(Status.ESME_RINVOPTPARSTREAM, "a TLV header is cut short")
        tag, size = struct.unpack_from(">HH", frame, reader.pos)
        reader.pos += 4
        if reader.pos + size > reader.end:
            raise reader.fail(
                Status.ESME_RINVOPTPARSTREAM, f"TLV 0x{tag:04X} runs past the end of the PDU"
            )
        tlvs.setdefault(tag, frame[reader.pos : reader.pos + size])
        reader.pos += size
    return Pdu(command, sequence, status, fields, tlvs)


def _decode_dests(reader: _Reader) -> tuple[SmeAddress, ...]:
    count = reader.integer("number_of_dests", 1)
    dests = []
    for _ in range(count):
        flag = reader.integer("dest_flag", 1)
        if flag == 1:
            ton = reader.integer("dest_addr_ton", 1)
            npi = reader.integer("dest_addr_npi", 1)
            dests.append(SmeAddress(reader.cstring("destination_addr", 21), ton, npi))
        elif flag == 2:
            dests.append(SmeAddress("", list_name=reader.cstring("dl_name", 21)))
        else:
            raise reader.fail(Status.ESME_RINVDESTFLAG, f"dest_flag {flag} is not 1 or 2")
    return tuple(dests)


def _decode_unsuccess(reader: _Reader) -> tuple[Unsuccessful, ...]:
    count = reader.integer("no_unsuccess", 1)
    entries = []
    for _ in range(count):
        ton = reader.integer("dest_addr_ton", 1)
        npi = reader.integer("dest_addr_npi", 1)
        addr = reader.cstring("destination_addr", 21)
        entries.append(Unsuccessful(addr, ton, npi, reader.integer("error_status_code", 4)))
    return tuple(entries)


# --- framing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Oversized:
    """A frame longer than the framer takes; its body was skipped. Answer with a
    generic_nack (or the command's response) carrying ESME_RINVCMDLEN."""

    command: int
    sequence: int
    length: int


class FramingError(ValueError):
    """The stream cannot be cut into frames any more (a command_length under 16): close the
    connection."""


class Framer:
    """Cuts a byte stream into frames: feed it what the socket gave, take whole frames."""

    def __init__(self, max_length: int = MAX_LENGTH) -> None:
        self._buffer = bytearray()
        self._skip = 0
        self.max_length = max_length
        #: Why the stream was lost, once it was (then ``feed`` raises FramingError).
        self.lost: str | None = None

    def feed(self, data: bytes) -> list[bytes | Oversized]:
        """Every whole frame ``data`` completes; FramingError when the stream is lost."""
        if self.lost:
            raise FramingError(self.lost)
        buffer = self._buffer
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        buffer += data
        out: list[bytes | Oversized] = []
        while len(buffer) >= HEADER_SIZE:
            length, command, _, sequence = HEADER.unpack_from(buffer)
            if length < HEADER_SIZE:
                self.lost = f"command_length {length} is under 16: the stream is lost"
                if out:
                    break  # the frames before it are whole: take them first
                raise FramingError(self.lost)
            if length > self.max_length:
                out.append(Oversized(command, sequence, length))
                skip = length - HEADER_SIZE
                taken = min(skip, len(buffer) - HEADER_SIZE)
                del buffer[: HEADER_SIZE + taken]
                self._skip = skip - taken
                if self._skip:
                    break
                continue
            if len(buffer) < length:
                break
            out.append(bytes(buffer[:length]))
            del buffer[:length]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buffer)


class Sequencer:
    """Sequence numbers for the PDUs one side originates: 1 to 0x7FFFFFFF, then around."""

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def __next__(self) -> int:
        value = self._next
        self._next = value + 1 if value < MAX_SEQUENCE else 1
        return value

    def __iter__(self) -> Iterator[int]:
        return self

"""Reading what a modem answers, and what its errors mean (3GPP TS 27.005 / 27.007). No I/O.

Each ``parse_*`` takes a :class:`~smsgate.modem.at.Response`'s lines (or an unsolicited
code's value) and returns plain values; a line that is not what the command answers raises
:class:`AtParseError`.
"""

from __future__ import annotations

import binascii
import csv
from dataclasses import dataclass

from smsgate.core import errors
from smsgate.text.errors import EncodeError
from smsgate.text.gsm7 import DEFAULT, pack, unpack


class AtParseError(ValueError):
    """An answer that does not read as the command's answer."""


def _fields(value: str) -> list[str]:
    """Comma-separated fields, quotes removed (``"SM",3`` -> ``["SM", "3"]``)."""
    try:
        return next(csv.reader([value], skipinitialspace=True))
    except (csv.Error, StopIteration):
        raise AtParseError(f"unreadable fields: {value!r}") from None


def _value(lines: tuple[str, ...] | list[str], prefix: str) -> str:
    for line in lines:
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    raise AtParseError(f"no {prefix} line in {list(lines)!r}")


def _int(text: str, what: str) -> int:
    text = text.strip()
    if not text.isdigit() or len(text) > 9:
        raise AtParseError(f"{what}: {text!r} is not a number")
    return int(text)


# --- health -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signal:
    rssi: int | None  # 0..31, None when unknown (99)
    dbm: int | None

    @property
    def bars(self) -> int:
        return 0 if self.rssi is None else min(5, (self.rssi + 5) // 6)


def parse_csq(lines: tuple[str, ...]) -> Signal:
    rssi = _int(_fields(_value(lines, "+CSQ:"))[0], "+CSQ rssi")
    if rssi == 99 or rssi > 31:
        return Signal(None, None)
    return Signal(rssi, -113 + 2 * rssi)


#: +CREG <stat> (TS 27.007 7.2).
REGISTRATION = {
    0: "not registered",
    1: "registered, home network",
    2: "searching",
    3: "registration denied",
    4: "unknown",
    5: "registered, roaming",
}


def registered(stat: int) -> bool:
    return stat in (1, 5)


def parse_creg(lines: tuple[str, ...]) -> int:
    """<stat> from the answer to ``AT+CREG?`` (``+CREG: <n>,<stat>[,<lac>,<ci>]``)."""
    fields = _fields(_value(lines, "+CREG:"))
    if len(fields) < 2:
        raise AtParseError(f"+CREG answer without <stat>: {fields!r}")
    return _int(fields[1], "+CREG stat")


def parse_creg_unsolicited(value: str) -> int:
    """<stat> from an unsolicited ``+CREG: <stat>[,<lac>,<ci>]``."""
    return _int(_fields(value)[0], "+CREG stat")


def parse_cops(lines: tuple[str, ...]) -> str | None:
    fields = _fields(_value(lines, "+COPS:"))
    return fields[2] if len(fields) >= 3 and fields[2] else None


def parse_identity(lines: tuple[str, ...]) -> str:
    """The IMEI (``AT+CGSN``) or IMSI (``AT+CIMI``): the first line of digits."""
    for line in lines:
        digits = line.removeprefix("+CGSN:").strip().strip('"')
        if digits.isdigit():
            return digits
    raise AtParseError(f"no identity in {list(lines)!r}")


def parse_cpms(lines: tuple[str, ...]) -> tuple[int, int]:
    """(used, total) of the first storage, from ``AT+CPMS?`` (``+CPMS: "SM",3,30,…``)."""
    fields = _fields(_value(lines, "+CPMS:"))
    if len(fields) < 3:
        raise AtParseError(f"short +CPMS answer: {fields!r}")
    return _int(fields[1], "+CPMS used"), _int(fields[2], "+CPMS total")


# --- messages -----------------------------------------------------------------------------


def parse_cmgs(lines: tuple[str, ...]) -> int:
    """The message reference (TP-MR) ``AT+CMGS`` answered."""
    return _int(_fields(_value(lines, "+CMGS:"))[0], "+CMGS reference") & 0xFF


@dataclass(frozen=True, slots=True)
class Stored:
    """A message in the modem's storage, from ``AT+CMGL`` or ``AT+CMGR``."""

    index: int
    status: int  # 0 received unread, 1 received read, 2 stored unsent, 3 stored sent
    pdu: str


def parse_cmgl(lines: tuple[str, ...]) -> list[Stored]:
    """``+CMGL: <index>,<stat>,[<alpha>],<length>`` lines, each followed by its PDU."""
    found: list[Stored] = []
    pending: tuple[int, int] | None = None
    for line in lines:
        if line.startswith("+CMGL:"):
            fields = _fields(line[6:])
            if len(fields) < 2:
                raise AtParseError(f"short +CMGL line: {line!r}")
            pending = (_int(fields[0], "+CMGL index"), _int(fields[1], "+CMGL stat"))
        elif pending is not None:
            found.append(Stored(pending[0], pending[1], line.strip()))
            pending = None
        else:
            raise AtParseError(f"a PDU line without its +CMGL header: {line!r}")
    return found


def parse_cmgr(lines: tuple[str, ...], index: int) -> Stored | None:
    """``+CMGR: <stat>,[<alpha>],<length>`` and the PDU; None for an empty slot."""
    if not lines:
        return None
    fields = _fields(_value(lines, "+CMGR:"))
    position = next(i for i, line in enumerate(lines) if line.startswith("+CMGR:"))
    if position + 1 >= len(lines):
        return None
    return Stored(index, _int(fields[0], "+CMGR stat"), lines[position + 1].strip())


def parse_new_message(value: str) -> tuple[str, int]:
    """``+CMTI``/``+CDSI``: (storage, index)."""
    fields = _fields(value)
    if len(fields) < 2:
        raise AtParseError(f"short indication: {value!r}")
    return fields[0], _int(fields[1], "index")


# --- USSD ---------------------------------------------------------------------------------

#: +CUSD <m> (TS 27.007 7.15).
USSD_STATUS = {
    0: "done",
    1: "further action required",
    2: "terminated by network",
    3: "answered by another client",
    4: "not supported",
    5: "network timeout",
}


@dataclass(frozen=True, slots=True)
class Ussd:
    status: int
    text: str
    dcs: int | None

    @property
    def ok(self) -> bool:
        return self.status in (0, 1)


def _cbs_alphabet(dcs: int) -> str:
    """The alphabet of a cell-broadcast data coding scheme (TS 23.038 5), as USSD uses."""
    group = dcs >> 4
    if dcs == 0x11:
        return "ucs2"
    if group in (0x4, 0x5, 0x6, 0x7, 0x9):
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


def _hex(text: str) -> bytes | None:
    if len(text) < 2 or len(text) % 2:
        return None
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        return None


def decode_ussd_text(raw: str, dcs: int | None) -> str:
    """The text of a USSD answer: hex of packed GSM 7-bit (Huawei's default), hex of
    UCS-2, or plain text, whichever the modem sent."""
    alphabet = _cbs_alphabet(dcs if dcs is not None else 0x0F)
    octets = _hex(raw)
    if octets is None:
        return raw
    if alphabet == "ucs2" and len(octets) % 2 == 0:
        return octets.decode("utf-16-be", "replace")
    if alphabet == "gsm7":
        septets = unpack(octets, len(octets) * 8 // 7)
        try:
            text = DEFAULT.decode(septets)
        except EncodeError:
            return raw
        # 7 spare bits at the end hold a CR (TS 23.038 6.1.2.3.1), not an "@".
        if len(octets) * 8 % 7 == 0 and text.endswith(("\r", "@")):
            text = text[:-1]
        return text
    return raw


def parse_cusd(value: str) -> Ussd:
    """``+CUSD: <m>[,<str>,<dcs>]``."""
    fields = _fields(value)
    if not fields or not fields[0].strip().isdigit():
        raise AtParseError(f"unreadable +CUSD: {value!r}")
    status = int(fields[0])
    dcs = _int(fields[2], "+CUSD dcs") if len(fields) >= 3 and fields[2].strip() else None
    text = decode_ussd_text(fields[1], dcs) if len(fields) >= 2 else ""
    return Ussd(status, text, dcs)


def encode_ussd_request(code: str, packed: bool) -> str:
    """The <str> of ``AT+CUSD=1,<str>,15``: hex of packed GSM 7-bit when ``packed``
    (Huawei modems in their default mode want that), else the code itself."""
    if not code or any(ch not in "0123456789*#+" for ch in code):
        raise ValueError(f"not a USSD code: {code!r}")
    return pack(DEFAULT.encode(code)).hex().upper() if packed else code


# --- errors -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """What a +CMS/+CME ERROR means for the message being sent."""

    error_code: str  # one of smsgate.core.errors
    temporary: bool  # retry later (back to the queue) rather than fail
    reason: str
    modem_down: bool = False  # the modem cannot send anything until it is fixed


_PERMANENT_RP = {
    1: (errors.INVALID_DESTINATION, "unassigned number"),
    8: (errors.PROHIBITED_BY_CARRIER, "operator determined barring"),
    10: (errors.PROHIBITED_BY_CARRIER, "call barred"),
    21: (errors.PROHIBITED_BY_CARRIER, "short message transfer rejected"),
    28: (errors.INVALID_DESTINATION, "unidentified subscriber"),
    29: (errors.PROHIBITED_BY_CARRIER, "facility rejected"),
    30: (errors.INVALID_DESTINATION, "unknown subscriber"),
    50: (errors.PROHIBITED_BY_CARRIER, "requested facility not subscribed"),
    69: (errors.PROHIBITED_BY_CARRIER, "requested facility not implemented"),
    95: (errors.INVALID_MESSAGE, "semantically incorrect message"),
    96: (errors.INVALID_MESSAGE, "invalid mandatory information"),
    97: (errors.INVALID_MESSAGE, "message type non-existent"),
    99: (errors.INVALID_MESSAGE, "information element non-existent"),
    304: (errors.INVALID_MESSAGE, "invalid PDU mode parameter"),
    305: (errors.INVALID_MESSAGE, "invalid text mode parameter"),
}
_TEMPORARY_RP = {
    27: (errors.DESTINATION_TEMPORARILY_UNAVAILABLE, "destination out of service"),
    38: (errors.NETWORK_ERROR, "network out of order"),
    41: (errors.NETWORK_ERROR, "temporary failure"),
    42: (errors.NETWORK_ERROR, "congestion"),
    47: (errors.NETWORK_ERROR, "resources unavailable"),
    300: (errors.DISPATCH_FAILED, "ME failure"),
    314: (errors.DISPATCH_FAILED, "SIM busy"),
    331: (errors.NETWORK_ERROR, "no network service"),
    332: (errors.NETWORK_ERROR, "network timeout"),
    500: (errors.DISPATCH_FAILED, "unknown error"),
}
_MODEM_DOWN = {
    310: "SIM not inserted",
    311: "SIM PIN required",
    312: "PH-SIM PIN required",
    313: "SIM failure",
    315: "SIM wrong",
    316: "SIM PUK required",
    317: "SIM PIN2 required",
    318: "SIM PUK2 required",
    322: "SIM memory full",
    330: "SMSC address unknown",
}


def cms_failure(code: int | None) -> Failure:
    """The meaning of ``+CMS ERROR: <code>`` (TS 27.005 3.2.5) for the message sent."""
    if code is None:
        return Failure(errors.DISPATCH_FAILED, True, "modem error without a code")
    if code in _PERMANENT_RP:
        error, reason = _PERMANENT_RP[code]
        return Failure(error, False, f"CMS {code}: {reason}")
    if code in _TEMPORARY_RP:
        error, reason = _TEMPORARY_RP[code]
        return Failure(error, True, f"CMS {code}: {reason}")
    if code in _MODEM_DOWN:
        return Failure(errors.DISPATCH_FAILED, True, f"CMS {code}: {_MODEM_DOWN[code]}", True)
    if 128 <= code <= 255:  # TP-Failure-Cause (TS 23.040 9.2.3.22): the SC refused the TPDU
        return Failure(errors.INVALID_MESSAGE, False, f"CMS {code}: refused by the SMSC")
    return Failure(errors.DISPATCH_FAILED, True, f"CMS {code}")


def report_error(status: int) -> str:
    """A Plivo error code for a failed status report's TP-ST (TS 23.040 9.2.3.15)."""
    if status in (0x41, 0x43, 0x44, 0x45, 0x61, 0x63, 0x64, 0x65):
        return errors.DESTINATION_PERMANENTLY_UNAVAILABLE
    if status in (0x42, 0x62):
        return errors.PROHIBITED_BY_CARRIER
    if status in (0x46, 0x66):
        return errors.EXPIRED
    return errors.DESTINATION_TEMPORARILY_UNAVAILABLE

"""What the files smsd writes mean: a part sent or failed, a status report, a received message.

smsd moves a sent file to ``sent`` with ``Modem``, ``Sent`` and (when a report was asked for)
``Message_id``, the TP-MR the modem answered; a failed one to ``failed`` with
``Fail_reason``. Status reports are files whose body starts ``SMS STATUS REPORT``, in the
``report`` directory or among the received messages in ``incoming``; their ``From`` is the
recipient of the message they report on. Received messages are joined by smsd before they are
written; their body is ISO-8859-15 (``Alphabet: ISO``, smsd's own bytes 0x81-0x8A for the
Greek capitals of the GSM alphabet), UTF-8, UTF-16BE (``UCS2``) or bytes (``binary``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smsgate.core import errors
from smsgate.modem.commands import cms_failure
from smsgate.smstools.spoolfile import SpoolFile, SpoolFileError

REPORT_MARK = b"SMS STATUS REPORT"
_CMS = re.compile(r"\+CMS ERROR:\s*([0-9]{1,5})")
_STATUS = re.compile(r"([0-9]{1,3})\s*(?:,(.*))?")
_NUMBER = re.compile(r"[0-9]{1,9}")

#: The Greek capitals smsd writes as 0x81-0x8A in an ISO-8859-15 body (its charset.c).
_SMSD_GREEK = str.maketrans({0x81 + i: char for i, char in enumerate("ΔΦΓΛΩΠΨΣΘΞ")})


@dataclass(frozen=True, slots=True)
class Sent:
    modem: str
    to: str
    message_id: int | None  # None when no report was asked for


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    error_code: str
    temporary: bool


@dataclass(frozen=True, slots=True)
class Report:
    modem: str
    recipient: str
    message_id: int
    status: int  # TP-ST
    explanation: str


@dataclass(frozen=True, slots=True)
class Received:
    originator: str
    modem: str
    text: str
    alphabet: str
    incomplete: bool


def _number(raw: str | None) -> int | None:
    """A decimal number as smsd writes one (ASCII digits only: ``"²".isdigit()`` is true)."""
    return int(raw) if raw is not None and _NUMBER.fullmatch(raw) else None


def digits(number: str) -> str:
    return "".join(char for char in number if "0" <= char <= "9")


def read_sent(spool: SpoolFile) -> Sent:
    message_id = _number(spool.get("Message_id"))
    return Sent(spool.get("Modem") or "", digits(spool.get("To") or ""), message_id)


# Fail_reason texts smsd writes itself (not a modem's answer), and what they mean.
_REFUSALS: tuple[tuple[str, str, bool], ...] = (
    ("no destination", errors.INVALID_DESTINATION, False),
    ("invalid number type", errors.INVALID_DESTINATION, False),
    ("invalid key (to)", errors.INVALID_DESTINATION, False),
    ("destination is blacklisted", errors.PROHIBITED_BY_CARRIER, False),
    ("destination is not whitelisted", errors.PROHIBITED_BY_CARRIER, False),
    ("rejected by checkhandler", errors.PROHIBITED_BY_CARRIER, False),
    ("destination number does not match any provider", errors.NO_ROUTE, False),
    ("wrong provider queue", errors.NO_ROUTE, False),
    ("too long", errors.MESSAGE_TOO_LONG, False),
    ("invalid alphabet", errors.INVALID_MESSAGE, False),
    ("no text", errors.INVALID_MESSAGE, False),
    ("no data", errors.INVALID_MESSAGE, False),
    ("udh", errors.INVALID_MESSAGE, False),
    ("language", errors.INVALID_MESSAGE, False),
    ("invalid message reference", errors.INVALID_MESSAGE, False),
)


def failure(reason: str) -> Failed:
    """The meaning of a ``Fail_reason``: an error code, and whether sending again may work."""
    reason = reason.strip()
    cms = _CMS.search(reason)
    if cms is not None:
        found = cms_failure(int(cms.group(1)))
        return Failed(reason, found.error_code, found.temporary)
    lowered = reason.lower()
    for start, code, temporary in _REFUSALS:
        if start in lowered:
            return Failed(reason, code, temporary)
    # The modem's trouble (initialisation, no answer, a +CME ERROR) or a reason smsd did not
    # give: worth another try later.
    return Failed(reason or "smsd gave no reason", errors.DISPATCH_FAILED, True)


def read_failed(spool: SpoolFile) -> Failed:
    return failure(spool.get("Fail_reason") or "")


def is_report(body: bytes) -> bool:
    return body.lstrip().startswith(REPORT_MARK)


def read_report(spool: SpoolFile) -> Report:
    """A status report file; SpoolFileError when it lacks what a report needs."""
    fields: dict[str, str] = {}
    for line in spool.body.decode("latin-1").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    message_id = _number(fields.get("message_id"))
    status = _STATUS.fullmatch(fields.get("status", ""))
    recipient = digits(spool.get("From") or "")
    if message_id is None or status is None or not recipient:
        raise SpoolFileError("a status report needs From, Message_id and Status")
    return Report(
        modem=spool.get("Modem") or "",
        recipient=recipient,
        message_id=message_id,
        status=int(status.group(1)),
        explanation=(status.group(2) or "").strip(),
    )


def decode_body(alphabet: str, body: bytes) -> str:
    """The text of a received message's body; SpoolFileError for an alphabet smsd does not
    write."""
    kind = alphabet.strip().lower()
    if kind.startswith(("iso", "lat", "ans")) or kind == "":
        return body.decode("iso-8859-15").translate(_SMSD_GREEK)
    if kind.startswith("utf"):
        return body.decode("utf-8", "replace")
    if kind.startswith(("ucs", "uni", "chi")):
        # A lone surrogate or a truncated last unit becomes U+FFFD.
        return body.decode("utf-16-be", "replace")
    if kind.startswith("bin"):
        return body.hex()
    raise SpoolFileError(f"unknown alphabet {alphabet!r}")


def read_received(spool: SpoolFile) -> Received:
    """A received message file; SpoolFileError when it names no sender or its alphabet is
    unknown."""
    originator = (spool.get("From") or "").strip()
    if not originator:
        raise SpoolFileError("a received message needs a From header")
    alphabet = spool.get("Alphabet") or "ISO"
    return Received(
        originator=originator,
        modem=spool.get("Modem") or "",
        text=decode_body(alphabet, spool.body),
        alphabet=alphabet,
        incomplete=(spool.get("Incomplete") or "").lower().startswith("y"),
    )

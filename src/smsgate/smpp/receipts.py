"""SMPP delivery receipts: the de-facto text of SMPP 3.4 Appendix B, read liberally and
written in its standard form, the receipt TLVs, and what a receipt means for the message.

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E text:...

Reading takes keys in any order and any case, ``submit_date``/``done_date`` too, dates of 10
or 12 digits (kept as given), missing fields and unknown keys; ``text:`` runs to the end. Ids
are kept as written: an SMSC may write in decimal, with leading zeros, the id it gave in hex
(``id_forms``).

A stat's outcome and Plivo error code (``smsgate.core.errors``):

    stat                                    outcome      error
    DELIVRD, DELIVERED                      delivered    000
    ENROUTE, ACCEPTD, ACCEPTED, UNKNOWN,    pending      (none: a final receipt follows)
      SCHEDULED
    EXPIRED                                 undelivered  420 expired
    REJECTD, REJECTED                       undelivered  100 prohibited by carrier
    UNDELIV, UNDELIVERABLE, UNDELIVERED     undelivered  80 destination temporarily
                                                         unavailable, or by err (below)
    DELETED                                 undelivered  1000 unknown error
    anything else                           undelivered  1000 unknown error

For UNDELIV, a non-zero ``err`` read as the GSM MAP error (what network_error_code carries
for GSM networks, and what most SMSCs copy into the text) refines the code: 1 unknown and
5 unidentified subscriber give 50 (invalid destination), 9 illegal subscriber, 11
teleservice not provisioned and 12 illegal equipment 70 (permanently unavailable), 13 call
barred 100, 34 system failure 20 (network error); other values keep 80.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from smsgate.core import errors

RECEIPTED_MESSAGE_ID = 0x001E
MESSAGE_STATE = 0x0427
NETWORK_ERROR_CODE = 0x0423

#: message_state TLV values (SMPP 3.4 5.3.2.35) as the receipt text writes them.
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


class Outcome(StrEnum):
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    PENDING = "pending"  # the SMSC is still trying: a later receipt settles it


_OUTCOMES = {
    "DELIVRD": Outcome.DELIVERED,
    "DELIVERED": Outcome.DELIVERED,
    "ENROUTE": Outcome.PENDING,
    "ACCEPTD": Outcome.PENDING,
    "ACCEPTED": Outcome.PENDING,
    "UNKNOWN": Outcome.PENDING,
    "SCHEDULED": Outcome.PENDING,
}
_ERRORS = {
    "EXPIRED": errors.EXPIRED,
    "REJECTD": errors.PROHIBITED_BY_CARRIER,
    "REJECTED": errors.PROHIBITED_BY_CARRIER,
    "UNDELIV": errors.DESTINATION_TEMPORARILY_UNAVAILABLE,
    "UNDELIVERABLE": errors.DESTINATION_TEMPORARILY_UNAVAILABLE,
    "UNDELIVERED": errors.DESTINATION_TEMPORARILY_UNAVAILABLE,
    "DELETED": errors.UNKNOWN,
}
_MAP_ERRORS = {
    1: errors.INVALID_DESTINATION,
    5: errors.INVALID_DESTINATION,
    9: errors.DESTINATION_PERMANENTLY_UNAVAILABLE,
    11: errors.DESTINATION_PERMANENTLY_UNAVAILABLE,
    12: errors.DESTINATION_PERMANENTLY_UNAVAILABLE,
    13: errors.PROHIBITED_BY_CARRIER,
    34: errors.NETWORK_ERROR,
}


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt's fields; absent ones empty (counts: None)."""

    message_id: str
    stat: str  # upper case, as written (DELIVRD, UNDELIV …)
    err: str  # as written; "" when absent
    submitted: int | None  # sub:
    delivered: int | None  # dlvrd:
    submit_date: str  # YYMMDDhhmm[ss] as written; "" when absent
    done_date: str
    text: str


#: A key: at the start or after white space, a word (``submit date`` with its space), a colon.
_KEY = re.compile(r"(?<!\S)(submit[ _]*date|done[ _]*date|[a-z][a-z0-9_]*)[ \t]*:", re.IGNORECASE)
_HEX = re.compile("[0-9A-Fa-f]+")
_FIELDS = frozenset(("id", "sub", "dlvrd", "submitdate", "donedate", "stat", "err"))


def _name(match: re.Match[str]) -> str:
    return match.group(1).lower().replace(" ", "").replace("_", "")


def _fields(text: str) -> tuple[dict[str, str], str]:
    """The known fields of a receipt text (each its first word) and its ``text:``. The text
    runs to the end, unless ``id`` or ``stat`` has not been seen before it: then it ends
    where the next known key starts."""
    line = text.rstrip("\0")
    keys = [(_name(match), match) for match in _KEY.finditer(line)]
    found: dict[str, str] = {}
    body: str | None = None
    index = 0
    while index < len(keys):
        name, match = keys[index]
        if name == "text" and body is None:
            stop = len(keys)
            if "id" not in found or "stat" not in found:
                stop = next(
                    (at for at in range(index + 1, len(keys)) if keys[at][0] in _FIELDS), stop
                )
            if stop == len(keys):
                body = line[match.end() :]
                break
            body = line[match.end() : keys[stop][1].start()].rstrip()
            index = stop
            continue
        if name in _FIELDS and name not in found:
            end = keys[index + 1][1].start() if index + 1 < len(keys) else len(line)
            words = line[match.end() : end].split()
            found[name] = words[0] if words else ""
        index += 1
    return found, body or ""


def _count(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 9:
        return None
    return int(value)


def _receipt(found: Mapping[str, str], text: str) -> Receipt:
    return Receipt(
        message_id=found.get("id", ""),
        stat=found.get("stat", "").upper(),
        err=found.get("err", ""),
        submitted=_count(found.get("sub")),
        delivered=_count(found.get("dlvrd")),
        submit_date=found.get("submitdate", ""),
        done_date=found.get("donedate", ""),
        text=text,
    )


def parse_receipt(text: str) -> Receipt | None:
    """The receipt ``text`` writes, or None when it has no ``id`` and ``stat``."""
    found, body = _fields(text)
    if not found.get("id") or not found.get("stat"):
        return None
    return _receipt(found, body)


def receipt_from(short_text: str, tlvs: Mapping[int, bytes]) -> Receipt | None:
    """The receipt a deliver_sm carries: its text, with the ``receipted_message_id`` and
    ``message_state`` TLVs (values 1 to 8) winning over what the text says, and
    ``network_error_code`` (its code, in decimal, at least three digits) giving ``err`` when
    the text has none. None without an id and a state."""
    found, body = _fields(short_text)
    fields = dict(found)
    receipted = tlvs.get(RECEIPTED_MESSAGE_ID)
    if receipted is not None:
        message_id = receipted.decode("latin-1").strip("\0 \t\r\n")
        if message_id:
            fields["id"] = message_id
    state = tlvs.get(MESSAGE_STATE)
    if state is not None and len(state) == 1 and state[0] in MESSAGE_STATES:
        fields["stat"] = MESSAGE_STATES[state[0]]
    network = tlvs.get(NETWORK_ERROR_CODE)
    if not fields.get("err") and network is not None and len(network) == 3:
        fields["err"] = f"{int.from_bytes(network[1:], 'big'):03d}"
    if not fields.get("id") or not fields.get("stat"):
        return None
    return _receipt(fields, body)


def id_forms(message_id: str) -> tuple[str, ...]:
    """The forms in which an SMSC may write, in a receipt, the id it gave in submit_sm_resp:
    as written, in lower and upper case, without leading zeros, and the same number in hex
    (when it is decimal) or decimal (when it is hex). Look a receipt up under each, in
    order."""
    forms = [message_id, message_id.lower(), message_id.upper()]
    if message_id.isascii() and message_id.isalnum() and len(message_id) <= 32:
        forms.append(message_id.lstrip("0") or "0")
        if message_id.isdigit():
            number = int(message_id)
            forms += [f"{number:x}", f"{number:X}"]
        elif _HEX.fullmatch(message_id):
            forms.append(str(int(message_id, 16)))
    return tuple(dict.fromkeys(forms))


def outcome_of(stat: str) -> Outcome:
    """What a receipt's stat means for the message (see the table above): an unknown stat
    is final, and undelivered."""
    return _OUTCOMES.get(stat.strip().upper(), Outcome.UNDELIVERED)


def plivo_error(stat: str, err: str = "") -> str:
    """The Plivo error code for a receipt (see the table above): ``000`` when delivered,
    ``""`` while pending."""
    key = stat.strip().upper()
    outcome = _OUTCOMES.get(key, Outcome.UNDELIVERED)
    if outcome is Outcome.DELIVERED:
        return errors.SUCCESS
    if outcome is Outcome.PENDING:
        return ""
    code = _ERRORS.get(key, errors.UNKNOWN)
    if code == errors.DESTINATION_TEMPORARILY_UNAVAILABLE:
        number = _count(err.strip())
        if number:
            return _MAP_ERRORS.get(number, code)
    return code


def format_receipt(
    message_id: str,
    *,
    stat: str,
    err: str = "000",
    submitted: int = 1,
    delivered: int | None = None,
    submit_date: datetime,
    done_date: datetime,
    text: str,
) -> str:
    """A receipt's text in the standard form, dates as YYMMDDhhmm and the first 20
    characters of the message. ``delivered`` defaults to ``submitted`` for a delivered stat,
    else 0."""
    if delivered is None:
        delivered = submitted if outcome_of(stat) is Outcome.DELIVERED else 0
    return (
        f"id:{message_id} sub:{submitted:03d} dlvrd:{delivered:03d} "
        f"submit date:{submit_date:%y%m%d%H%M} done date:{done_date:%y%m%d%H%M} "
        f"stat:{stat} err:{err} text:{text[:20]}"
    )

"""The spool files smsgate writes for one outbound message: one file per part.

smsd is handed exactly what the text engine decided, so that it converts and splits nothing
itself: GSM texts go as raw septets (``Alphabet: GSM``, one byte per septet, escapes
included), UCS-2 texts as UTF-16BE (``Alphabet: UCS2``); a part's user data header (the
concatenation and national language shift elements) goes in ``UDH-DATA`` and ``Autosplit: 0``
keeps smsd from splitting. Left to itself smsd would split surrogate pairs and escapes, send
``¤`` as ``€``, know no national language table, and name only the last part of a message in
its ``Message_id``: with one file per part, every part has its own message reference and
status report.

A file is named ``<prefix><message uuid>.<part>-<parts>``: the name alone tells which message
and part it is, wherever smsd has moved it, so a message is followed (and never written twice)
across restarts of smsgate and of smsd.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from smsgate.smstools.spoolfile import render
from smsgate.text.gsm7 import Alphabet
from smsgate.text.segments import Encoding, Segmentation, encoding_named, segment

_NAME = re.compile(
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"\.(?P<sequence>[0-9]{1,3})-(?P<total>[0-9]{1,3})"
)


@dataclass(frozen=True, slots=True)
class PartName:
    uuid: str
    sequence: int
    total: int


@dataclass(frozen=True, slots=True)
class Flags:
    """What every file of a channel asks smsd for (the channel's options)."""

    report: bool = True
    flash: bool = False
    validity: str | None = None
    priority: bool = False
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class PartFile:
    name: str
    content: bytes


def part_name(prefix: str, uuid: str, sequence: int, total: int) -> str:
    return f"{prefix}{uuid}.{sequence}-{total}"


def parse_part_name(prefix: str, name: str) -> PartName | None:
    """The message and part a file name names, or None when it is not one of ours."""
    if not name.startswith(prefix):
        return None
    found = _NAME.fullmatch(name, len(prefix))
    if found is None:
        return None
    sequence, total = int(found["sequence"]), int(found["total"])
    if not 1 <= sequence <= total:
        return None
    return PartName(found["uuid"], sequence, total)


def concat_reference(uuid: str) -> int:
    """The concatenation reference of a message's parts: the same whenever they are written."""
    return hashlib.sha256(uuid.encode()).digest()[0]


def segmentation(text: str, encoding: str, uuid: str) -> Segmentation:
    """How the message travels, as the text engine decided when it was accepted; EncodeError
    when the text does not fit that decision."""
    return segment(text, encoding=encoding_named(encoding), reference=concat_reference(uuid))


def _hex(data: bytes) -> str:
    return " ".join(f"{byte:02X}" for byte in data)


def part_files(
    prefix: str, uuid: str, dst: str, src: str, seg: Segmentation, flags: Flags
) -> list[PartFile]:
    """The files of every part of a message, in order."""
    total = seg.units
    files = []
    for sequence, part in enumerate(seg.parts, 1):
        headers = [("To", dst)]
        if src:
            headers.append(("From", src))
        if seg.encoding is Encoding.GSM7:
            alphabet = seg.alphabet
            assert isinstance(alphabet, Alphabet)
            headers.append(("Alphabet", "GSM"))
            body = alphabet.encode(part.text)
        else:
            headers.append(("Alphabet", "UCS2"))
            body = part.text.encode("utf-16-be")
        headers.append(("Autosplit", "0"))
        if part.udh:
            headers.append(("UDH-DATA", _hex(part.udh)))
        headers.append(("Report", "yes" if flags.report else "no"))
        if flags.flash:
            headers.append(("Flash", "yes"))
        if flags.validity:
            headers.append(("Validity", flags.validity))
        if flags.priority:
            headers.append(("Priority", "high"))
        if flags.queue:
            headers.append(("Queue", flags.queue))
        name = part_name(prefix, uuid, sequence, total)
        files.append(PartFile(name, render(headers, body)))
    return files

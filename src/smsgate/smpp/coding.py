"""SMPP 3.4 message text: a segmented text as ``short_message`` parts to send, and a received
``short_message`` (or ``message_payload``) back to text.

``data_coding`` (SMPP 3.4 5.2.19) as smsgate reads it:

    value        alphabet
    0            the SMSC default alphabet: GSM 03.38, one septet per octet (escapes as
                 0x1B + code), or Latin-1 or ASCII where the link says so
    1            IA5 / ASCII
    3            Latin-1
    6, 7         ISO-8859-5 (Cyrillic), ISO-8859-8 (Hebrew)
    8            UCS-2, read as UTF-16BE (a surrogate pair is one character)
    0x0A         ISO-2022-JP
    2, 4         8-bit binary: the text is the data in hex, as the modem channel gives it
    0x10-0xFF    a GSM 03.38 data coding scheme (``decode_dcs``): 7-bit as the default
                 alphabet, UCS-2 as UTF-16BE, 8-bit and compressed text as binary

Any other value (5, 9, 0x0B-0x0F) is read as the default alphabet. Concatenated parts carry
their reference, total and sequence either in a user data header (esm_class UDHI, 0x40) or in
the SAR TLVs; a text may also travel whole in ``message_payload``. National language shift
elements in the header select the GSM tables. Decoding raises ``CodingError`` only.
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from smsgate.text import udh
from smsgate.text.errors import EncodeError, PduError
from smsgate.text.gsm7 import Alphabet, decode_septets
from smsgate.text.pdu.dcs import Alphabet as DcsAlphabet
from smsgate.text.pdu.dcs import decode_dcs
from smsgate.text.segments import Encoding, Segmentation, encoding_named, segment

DefaultAlphabet = Literal["gsm7", "latin1", "ascii"]
ConcatMode = Literal["udh", "sar", "payload"]

MESSAGE_PAYLOAD = 0x0424
SAR_MSG_REF_NUM = 0x020C
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F

ESM_UDHI = 0x40
_ESM_TYPE = 0x3C
#: esm_class message types that carry a receipt: SMSC delivery receipt, SME delivery and
#: manual/user acknowledgements, intermediate delivery notification.
_RECEIPT_TYPES = frozenset((0x04, 0x08, 0x10, 0x20))

DC_DEFAULT = 0
DC_ASCII = 1
DC_LATIN1 = 3
DC_UCS2 = 8
_BINARY = frozenset((2, 4))
_CODECS = {1: "ascii", 3: "latin-1", 6: "iso8859_5", 7: "iso8859_8", 0x0A: "iso2022_jp"}
_DEFAULT_CODEC = {"latin1": "latin-1", "ascii": "ascii"}
#: A GSM 03.38 scheme's alphabet as the SMPP value read the same way (4: binary).
_DCS_KIND = {DcsAlphabet.GSM7: DC_DEFAULT, DcsAlphabet.UCS2: DC_UCS2, DcsAlphabet.DATA8: 4}
_MODES = frozenset(("udh", "sar", "payload"))


class CodingError(ValueError):
    """A short_message (or its TLVs) that cannot be read as it says it is coded."""


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """One submit_sm's worth of message: ``short_message``, with its UDH when
    ``esm_class_udhi``, and the TLVs to send with it (SAR, or ``message_payload``, in which
    case ``short_message`` is empty)."""

    data_coding: int
    esm_class_udhi: bool
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A received short_message read: its text (binary data as hex), the part of a
    concatenated message it is, and whether it is a delivery receipt."""

    text: str
    concat: udh.Concat | None
    is_receipt: bool
    binary: bool


@functools.lru_cache(maxsize=64)
def _shift_header(locking: int, single: int) -> bytes:
    """The header carrying only the national language elements (empty for the default
    tables)."""
    return udh.build(udh.elements(None, locking, single))


def _sar(reference: int, total: int, sequence: int) -> dict[int, bytes]:
    return {
        SAR_MSG_REF_NUM: reference.to_bytes(2, "big"),
        SAR_TOTAL_SEGMENTS: bytes((total,)),
        SAR_SEGMENT_SEQNUM: bytes((sequence,)),
    }


def _encoder(alphabet: Alphabet | None, default_alphabet: DefaultAlphabet) -> tuple[int, str]:
    """(data_coding, codec) for the parts: codec ``gsm`` means the alphabet's septets."""
    if alphabet is None:
        return DC_UCS2, "utf-16-be"
    if default_alphabet == "gsm7":
        return DC_DEFAULT, "gsm"
    if alphabet.locking or alphabet.single:
        raise EncodeError(
            f"{alphabet.name} needs data_coding 0 as GSM 03.38; this link reads it as "
            f"{default_alphabet}"
        )
    return (DC_LATIN1, "latin-1") if default_alphabet == "latin1" else (DC_ASCII, "ascii")


@functools.lru_cache(maxsize=64)
def _plan(
    encoding: str, default_alphabet: DefaultAlphabet, national: bool
) -> tuple[Encoding | Alphabet, Alphabet | None, int, str, bytes]:
    """For an encoding label on a link: the decision, its GSM tables (None for UCS-2), the
    data_coding and codec of the parts, and the national language header."""
    decided = encoding_named(encoding)
    alphabet = decided if isinstance(decided, Alphabet) else None
    if alphabet is not None and (alphabet.locking or alphabet.single) and not national:
        raise EncodeError(f"{alphabet.name} needs national language shift elements")
    data_coding, codec = _encoder(alphabet, default_alphabet)
    shift = _shift_header(alphabet.locking, alphabet.single) if alphabet else b""
    return decided, alphabet, data_coding, codec, shift


def _encode(text: str, codec: str, alphabet: Alphabet | None) -> bytes:
    if codec == "gsm":
        assert alphabet is not None
        return alphabet.encode(text)
    if codec == "utf-16-be":
        return codecs.utf_16_be_encode(text)[0]
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        raise EncodeError(
            f"character {char!r} (U+{ord(char):04X}) at position {exc.start} is not in "
            f"{codec}, which this link's data_coding 0 means"
        ) from None


def submit_parts(
    text: str,
    encoding: str,
    *,
    reference: int,
    concat: ConcatMode = "udh",
    default_alphabet: DefaultAlphabet = "gsm7",
    national: bool = True,
) -> list[ShortMessage]:
    """The short_messages that send ``text`` as the gateway segmented it: ``encoding`` is
    the ``Segmentation.name`` stored with the message (``GSM``, ``GSM+turkish`` …,
    ``UCS-2``), so the parts are exactly those counted.

    GSM parts go as unpacked septets with data_coding 0, UCS-2 parts as UTF-16BE with
    data_coding 8. ``concat``: ``udh`` puts each part's header (8-bit reference: the low
    octet of ``reference``) before its text; ``sar`` sends the SAR TLVs (16-bit
    ``reference``) and no header but the national language elements; ``payload`` sends the
    whole text in one ``message_payload``. ``default_alphabet``: what the SMSC takes
    data_coding 0 to be. Where it is Latin-1 (or ASCII), GSM text goes as data_coding 3 (or
    1), and a character outside that charset raises EncodeError rather than switching to
    UCS-2: the encoding, and so the price, was decided when the message was accepted.
    ``national``: whether the link carries national language shift elements; a text in a
    national alphabet raises EncodeError when it does not. EncodeError, too, when the text
    does not fit ``encoding``.
    """
    if concat not in _MODES:
        raise EncodeError(f"concatenation {concat!r} is not udh, sar or payload")
    if not 0 <= reference <= 0xFFFF:
        raise EncodeError(f"concatenation reference {reference} is not 0 to 65535")
    decided, alphabet, data_coding, codec, shift = _plan(encoding, default_alphabet, national)
    seg = segment(text, encoding=decided, reference=reference & 0xFF)
    if concat == "payload":
        payload = shift + _encode(seg.text, codec, alphabet)
        return [ShortMessage(data_coding, bool(shift), b"", {MESSAGE_PAYLOAD: payload})]
    parts = seg.parts
    bodies = _bodies(seg, codec, alphabet)
    if concat == "udh" or len(parts) == 1:
        return [
            ShortMessage(data_coding, bool(part.udh), part.udh + body)
            for part, body in zip(parts, bodies, strict=True)
        ]
    total = len(parts)
    return [
        ShortMessage(data_coding, bool(shift), shift + body, _sar(reference, total, sequence))
        for sequence, body in enumerate(bodies, 1)
    ]


def _bodies(seg: Segmentation, codec: str, alphabet: Alphabet | None) -> list[bytes]:
    """Each part's text encoded: septets and UTF-16 units encoded once and cut at the parts'
    lengths, which count them."""
    if len(seg.parts) == 1:
        return [_encode(seg.parts[0].text, codec, alphabet)]
    if codec == "gsm" or codec == "utf-16-be":
        whole = _encode(seg.text, codec, alphabet)
        width = 1 if codec == "gsm" else 2
        bodies, at = [], 0
        for part in seg.parts:
            end = at + width * part.length
            bodies.append(whole[at:end])
            at = end
        return bodies
    return [_encode(part.text, codec, alphabet) for part in seg.parts]


def _sar_concat(tlvs: Mapping[int, bytes]) -> udh.Concat | None:
    reference = tlvs.get(SAR_MSG_REF_NUM)
    total = tlvs.get(SAR_TOTAL_SEGMENTS)
    sequence = tlvs.get(SAR_SEGMENT_SEQNUM)
    if reference is None and total is None and sequence is None:
        return None
    if reference is None or total is None or sequence is None:
        raise CodingError("SAR TLVs incomplete: reference, total and sequence go together")
    if not 1 <= len(reference) <= 2 or len(total) != 1 or len(sequence) != 1:
        raise CodingError(
            f"SAR TLVs of {len(reference)}, {len(total)} and {len(sequence)} octets, "
            "not 2 (or 1), 1 and 1"
        )
    if not 1 <= sequence[0] <= total[0]:
        raise CodingError(f"SAR TLVs say part {sequence[0]} of {total[0]}")
    return udh.Concat(int.from_bytes(reference, "big"), total[0], sequence[0], 16)


def _gsm(body: bytes, locking: int, single: int) -> str:
    if not body.isascii():
        at = next(index for index, octet in enumerate(body) if octet > 0x7F)
        raise CodingError(f"octet 0x{body[at]:02X} at {at} is not a GSM septet")
    return decode_septets(body, locking, single)


def _decode(body: bytes, codec: str) -> str:
    try:
        return body.decode(codec)
    except UnicodeDecodeError as exc:
        raise CodingError(f"octet 0x{body[exc.start]:02X} at {exc.start} is not {codec}") from None


def decode_short_message(
    data_coding: int,
    esm_class: int,
    short_message: bytes,
    tlvs: Mapping[int, bytes],
    *,
    default_alphabet: DefaultAlphabet = "gsm7",
) -> Incoming:
    """Read a deliver_sm's (or submit_sm's) message; ``message_payload``, when present and
    not empty, is read instead of ``short_message``. The concatenation comes from the UDH
    when esm_class has UDHI, else from the SAR TLVs. Raises CodingError for anything
    malformed: a header running past the data, an odd UCS-2 length, an octet outside the
    alphabet, unknown national tables, inconsistent SAR TLVs."""
    data = tlvs.get(MESSAGE_PAYLOAD) or short_message
    is_receipt = (esm_class & _ESM_TYPE) in _RECEIPT_TYPES
    header: udh.Header | None = None
    body = bytes(data)
    if esm_class & ESM_UDHI:
        if not body:
            raise CodingError("esm_class says a user data header follows, but the message is empty")
        try:
            header = udh.parse(body)
        except PduError as exc:
            raise CodingError(str(exc)) from None
        body = body[body[0] + 1 :]
    concat = header.concat if header is not None else None
    if concat is None:
        concat = _sar_concat(tlvs)

    if data_coding >= 0x10:
        scheme = decode_dcs(data_coding)
        kind = 4 if scheme.compressed else _DCS_KIND[scheme.alphabet]
    else:
        kind = data_coding
    if kind in _BINARY:
        return Incoming(body.hex(), concat, is_receipt, True)
    if kind == DC_UCS2:
        if len(body) % 2:
            raise CodingError(f"UCS-2 message of {len(body)} octets: not a whole number of units")
        # A part may end inside a surrogate pair; reassembly joins them.
        text = codecs.utf_16_be_decode(body, "surrogatepass", True)[0]
        return Incoming(text, concat, is_receipt, False)
    codec = _CODECS.get(kind)
    if codec is not None:
        return Incoming(_decode(body, codec), concat, is_receipt, False)
    if default_alphabet != "gsm7":
        return Incoming(_decode(body, _DEFAULT_CODEC[default_alphabet]), concat, is_receipt, False)
    locking = single = 0
    if header is not None:
        try:
            locking, single = header.known_shifts()
        except PduError as exc:
            raise CodingError(str(exc)) from None
    return Incoming(_gsm(body, locking, single), concat, is_receipt, False)

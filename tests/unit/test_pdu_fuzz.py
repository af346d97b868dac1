"""The decoders take arbitrary bytes and either return a value or raise PduError, nothing else.

Two generators: raw bytes, and valid PDUs with bytes changed, cut or added (mutations reach
far deeper into the decoder than random bytes do).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsgate.text import udh
from smsgate.text.errors import PduError
from smsgate.text.pdu import Coding, decode, encode_deliver, encode_status_report
from smsgate.text.pdu.address import decode as decode_address
from smsgate.text.pdu.timestamps import decode_timestamp
from smsgate.text.pdu.tpdu import submit_parts
from smsgate.text.segments import segment

FUZZ = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
WHEN = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)

SEEDS = [
    bytes.fromhex("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"),
    encode_deliver("+447700900123", "Ünïcödé", timestamp=WHEN, coding=Coding.UCS2).octets,
    encode_deliver("InfoSMS", "hi", timestamp=WHEN).octets,
    encode_status_report("+1415", reference=3, status=0x41, timestamp=WHEN, discharge=WHEN).octets
    + bytes.fromhex("07000004e8329bfd"),
    *(
        p.octets
        for p in submit_parts("+905321234567", segment("ğ" * 170, languages=[1]), validity=WHEN)
    ),
    *(p.octets for p in submit_parts("+79680000000", segment("Привет мир " * 14, concat_bits=16))),
]


def expect_value_or_pdu_error(data: bytes) -> None:
    for direction in ("mt", "mo"):
        for with_sca in (True, False):
            with contextlib.suppress(PduError):
                decode(data, with_sca=with_sca, direction=direction)


@FUZZ
@given(st.binary(max_size=180))
def test_random_bytes(data: bytes) -> None:
    expect_value_or_pdu_error(data)
    for parse in (udh.parse, decode_timestamp, lambda d: decode_address(d, 0)):
        with contextlib.suppress(PduError):
            parse(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "set", "cut", "add"]))
        if action in ("flip", "set") and data:
            index = draw(st.integers(0, len(data) - 1))
            data[index] = (
                (data[index] ^ (1 << draw(st.integers(0, 7))))
                if action == "flip"
                else draw(st.integers(0, 255))
            )
        elif action == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        else:
            data.extend(draw(st.binary(min_size=1, max_size=4)))
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_pdus(data: bytes) -> None:
    expect_value_or_pdu_error(data)

"""The AT dialogue parser: final results, prompts, unsolicited codes anywhere, echo, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.modem.at import (
    AtBusy,
    AtSession,
    Noise,
    Prompt,
    Response,
    Result,
    Unsolicited,
    final_result,
)


def run(session: AtSession, *chunks: bytes) -> list[object]:
    events: list[object] = []
    for chunk in chunks:
        events.extend(session.feed(chunk))
    return events


def test_ok_with_intermediate_lines() -> None:
    at = AtSession()
    assert at.command("AT+CSQ") == b"AT+CSQ\r"
    assert at.busy
    [response] = run(at, b"\r\n+CSQ: 17,99\r\n", b"\r\nOK\r\n")
    assert response == Response("AT+CSQ", ("+CSQ: 17,99",), Result(True, "OK", None, "OK"))
    assert not at.busy


@pytest.mark.parametrize(
    ("line", "kind", "code"),
    [
        ("ERROR", "ERROR", None),
        ("+CMS ERROR: 500", "+CMS ERROR", 500),
        ("+CME ERROR: 10", "+CME ERROR", 10),
        ("+CME ERROR: SIM not inserted", "+CME ERROR", None),
        ("COMMAND NOT SUPPORT", "COMMAND NOT SUPPORT", None),
        ("NO CARRIER", "NO CARRIER", None),
    ],
)
def test_error_results(line: str, kind: str, code: int | None) -> None:
    at = AtSession()
    at.command("AT+CMGF=0")
    [response] = at.feed(f"\r\n{line}\r\n".encode())
    assert isinstance(response, Response)
    assert (response.ok, response.result.kind, response.result.code) == (False, kind, code)


def test_echo_is_dropped() -> None:
    at = AtSession()
    at.command("AT+CGSN")
    [response] = at.feed(b"AT+CGSN\r\r\n867530012345678\r\n\r\nOK\r\n")
    assert isinstance(response, Response) and response.lines == ("867530012345678",)


def test_cmgs_prompt_then_pdu_then_reference() -> None:
    at = AtSession()
    assert at.command("AT+CMGS=18", body="0011000B91") == b"AT+CMGS=18\r"
    assert at.outgoing() == b""
    [prompt] = at.feed(b"\r\n> ")
    assert prompt == Prompt("AT+CMGS=18")
    assert at.outgoing() == b"0011000B91\x1a"
    [response] = at.feed(b"\r\n+CMGS: 42\r\n\r\nOK\r\n")
    assert isinstance(response, Response) and response.lines == ("+CMGS: 42",)


def test_prompt_with_echo_on_and_pdu_echo() -> None:
    at = AtSession()
    at.command("AT+CMGS=18", body="0011")
    events = run(at, b"AT+CMGS=18\r\r\n>", b" ")
    assert events == [Prompt("AT+CMGS=18")]
    at.outgoing()
    [response] = at.feed(b"0011\x1a\r\n+CMGS: 7\r\n\r\nOK\r\n")
    assert isinstance(response, Response) and response.lines == ("+CMGS: 7",)


def test_error_instead_of_prompt() -> None:
    at = AtSession()
    at.command("AT+CMGS=18", body="0011")
    [response] = at.feed(b"\r\n+CMS ERROR: 330\r\n")
    assert isinstance(response, Response) and response.result.code == 330
    assert at.outgoing() == b""


def test_unsolicited_codes_in_the_middle_of_an_answer() -> None:
    at = AtSession()
    at.command("AT+CPMS?")
    events = run(
        at,
        b'\r\n+CPMS: "SM",1,30,"SM",1,30,"SM",1,30\r\n',
        b'\r\n+CMTI: "SM",2\r\n\r\n^RSSI: 14\r\n',
        b"\r\n+CMT: ,23\r\n0791447758100650040C91\r\n",
        b"\r\nOK\r\n",
    )
    assert events == [
        Unsolicited("+CMTI", '"SM",2'),
        Unsolicited("^RSSI", "14"),
        Unsolicited("+CMT", ",23", "0791447758100650040C91"),
        Response(
            "AT+CPMS?",
            ('+CPMS: "SM",1,30,"SM",1,30,"SM",1,30',),
            Result(True, "OK", None, "OK"),
        ),
    ]


def test_a_response_prefix_is_not_taken_for_an_unsolicited_code() -> None:
    at = AtSession()
    at.command("AT+CREG?")
    [response] = at.feed(b'\r\n+CREG: 2,1,"1A2B","01C3"\r\n\r\nOK\r\n')
    assert isinstance(response, Response) and response.lines == ('+CREG: 2,1,"1A2B","01C3"',)
    assert at.feed(b"\r\n+CREG: 5\r\n") == [Unsolicited("+CREG", "5")]


def test_cusd_is_unsolicited_even_during_at_cusd() -> None:
    at = AtSession()
    at.command('AT+CUSD=1,"AA180C3602",15')
    events = at.feed(b'\r\nOK\r\n\r\n+CUSD: 0,"Balance 5.00",15\r\n')
    assert [type(e) for e in events] == [Response, Unsolicited]
    at.command('AT+CUSD=1,"*100#",15')
    events = at.feed(b'\r\n+CUSD: 0,"x",15\r\n\r\nOK\r\n')
    assert [type(e) for e in events] == [Unsolicited, Response]


def test_status_report_with_pdu_and_ring_when_idle() -> None:
    at = AtSession()
    events = at.feed(b"\r\nRING\r\n\r\n+CDS: 25\r\n0006D60B911326880736F4\r\n")
    assert events == [Unsolicited("RING", ""), Unsolicited("+CDS", "25", "0006D60B911326880736F4")]


def test_garbage_when_idle_is_noise() -> None:
    at = AtSession()
    assert at.feed(b"\xff\xfe garbage\r\nOK\r\n") == [Noise("\xff\xfe garbage"), Noise("OK")]


def test_bare_lf_and_bare_cr_line_endings() -> None:
    at = AtSession()
    at.command("AT")
    assert [type(e) for e in at.feed(b"\nOK\n")] == [Response]
    at.command("AT")
    assert [type(e) for e in at.feed(b"\rOK\r")] == [Response]


def test_one_command_at_a_time() -> None:
    at = AtSession()
    at.command("AT")
    with pytest.raises(AtBusy):
        at.command("AT+CSQ")
    at.abandon()
    at.command("AT+CSQ")


def test_abandoning_a_prompted_send_cancels_with_escape() -> None:
    at = AtSession()
    at.command("AT+CMGS=18", body="0011")
    at.abandon()
    assert at.outgoing() == b"\x1b"


def test_commands_are_one_line() -> None:
    with pytest.raises(ValueError):
        AtSession().command("AT\rATD123;")


def test_endless_line_is_bounded() -> None:
    at = AtSession()
    events = at.feed(b"x" * 5000)
    assert len(events) == 1 and isinstance(events[0], Noise)


def test_final_result_helper() -> None:
    assert final_result("OK") == Result(True, "OK", None, "OK")
    assert final_result("+CMS ERROR: 99999999") == Result(
        False, "+CMS ERROR", None, "+CMS ERROR: 99999999"
    )
    assert final_result("+CSQ: 1,2") is None


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [b"\r\nOK\r\n", b"> ", b"\r\n+CMT: ,5\r\n", b"+CMS ERROR: 5", b"\r", b"\n", b"^"]
            ),
        ),
        max_size=30,
    ),
    st.sampled_from([None, ("AT+CSQ", None), ("AT+CMGS=5", "00AA")]),
)
def test_any_bytes_are_accepted(
    chunks: list[bytes], command: tuple[str, str | None] | None
) -> None:
    at = AtSession()
    if command is not None:
        at.command(command[0], body=command[1])
    for chunk in chunks:
        for event in at.feed(chunk):
            assert isinstance(event, Response | Unsolicited | Prompt | Noise)
        at.outgoing()

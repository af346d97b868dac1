"""The AT dialogue of 3GPP TS 27.007 / 27.005, without I/O.

An :class:`AtSession` is fed the bytes a modem sends and told which command goes next; it
returns what happened: the final answer to the command in flight (``OK``, ``ERROR``,
``+CME ERROR``, ``+CMS ERROR`` …) with its intermediate lines, the ``> `` prompt of
``AT+CMGS``, and unsolicited result codes (``+CMTI``, ``+CMT`` with its PDU line, ``+CDS``,
``+CUSD``, ``RING``, ``^RSSI`` and other vendor lines) whenever they arrive, in the middle
of an answer included. Echo on or off both work. Any bytes at all are accepted: what cannot
be understood comes back as :class:`Noise`, never as an exception.

The caller owns the transport: it writes what :meth:`AtSession.command` and
:meth:`AtSession.outgoing` return, feeds what it reads to :meth:`AtSession.feed`, and keeps
its own timers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CTRL_Z = "\x1a"
ESC = "\x1b"
MAX_LINE = 4096  # longest line kept; a modem that never ends a line cannot grow memory

#: Final result codes (TS 27.007 5.7 and V.250), and what vendors send instead of ERROR.
_FINAL_PLAIN = {
    "OK": True,
    "ERROR": False,
    "NO CARRIER": False,
    "BUSY": False,
    "NO ANSWER": False,
    "NO DIALTONE": False,
    "COMMAND NOT SUPPORT": False,  # Huawei
    "TOO MANY PARAMETERS": False,  # Huawei
}

#: Lines that are always unsolicited, even while a command with the same prefix is running:
#: the +CUSD answer to AT+CUSD may come before or after its OK.
_ALWAYS_UNSOLICITED = ("+CMTI:", "+CMT:", "+CDSI:", "+CDS:", "+CUSD:", "+CBM:", "+CBMI:")
_UNSOLICITED = (
    *_ALWAYS_UNSOLICITED,
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CIEV:",
    "+PBREADY",
    "+CPIN:",  # some modems announce SIM state by themselves
    "^",  # Huawei: ^RSSI, ^BOOT, ^MODE, ^SRVST, ^SIMST, ^DSFLOWRPT, ^HCSQ …
)
#: Unsolicited codes followed by one more line: the PDU (TS 27.005 3.4.1).
_WITH_PDU = ("+CMT:", "+CDS:", "+CBM:")


@dataclass(frozen=True, slots=True)
class Result:
    """A final result code."""

    ok: bool
    kind: str  # "OK", "ERROR", "+CME ERROR", "+CMS ERROR", "NO CARRIER" …
    code: int | None = None  # the number of +CME/+CMS ERROR
    text: str = ""  # the line as received

    @property
    def cms(self) -> int | None:
        return self.code if self.kind == "+CMS ERROR" else None


@dataclass(frozen=True, slots=True)
class Response:
    """A command's intermediate lines and its final result."""

    command: str
    lines: tuple[str, ...]
    result: Result

    @property
    def ok(self) -> bool:
        return self.result.ok


@dataclass(frozen=True, slots=True)
class Unsolicited:
    """An unsolicited result code: ``name`` (``+CMTI``, ``RING``, ``^RSSI``), the text after
    the colon, and for ``+CMT``/``+CDS`` the PDU line that followed."""

    name: str
    value: str
    pdu: str | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    """The modem asked for the PDU (``> ``); :meth:`AtSession.outgoing` now holds it."""

    command: str


@dataclass(frozen=True, slots=True)
class Noise:
    """A line nobody asked for and nobody can read (garbage, a half-line after a reset)."""

    line: str


Event = Response | Unsolicited | Prompt | Noise


class AtBusy(Exception):
    """A command was issued while another was still waiting for its answer."""


def final_result(line: str) -> Result | None:
    """The final result code ``line`` is, or None."""
    plain = _FINAL_PLAIN.get(line)
    if plain is not None:
        return Result(plain, line, None, line)
    for kind in ("+CME ERROR", "+CMS ERROR"):
        if line.startswith(kind + ":"):
            detail = line[len(kind) + 1 :].strip()
            code = int(detail) if detail.isdigit() and len(detail) < 6 else None
            return Result(False, kind, code, line)
    return None


def _name(line: str) -> str:
    head = line.split(":", 1)[0] if ":" in line else line
    return head.strip()


def _expected_prefix(command: str) -> str | None:
    """``AT+CSQ`` answers ``+CSQ: …``; ``AT^SYSINFO`` answers ``^SYSINFO: …``."""
    body = command[2:] if command[:2].upper() == "AT" else command
    if not body or body[0] not in "+^":
        return None
    end = 1
    while end < len(body) and (body[end].isalnum() or body[end] in "_"):
        end += 1
    return body[:end].upper() + ":"


@dataclass(slots=True)
class _InFlight:
    command: str
    body: str | None  # the PDU to write after the prompt
    prefix: str | None
    lines: list[str] = field(default_factory=list)
    prompted: bool = False


class AtSession:
    """One modem's dialogue: at most one command in flight, unsolicited codes at any time."""

    def __init__(self) -> None:
        self._buffer = ""
        self._flight: _InFlight | None = None
        self._out: list[str] = []
        self._pdu_for: str | None = None  # an unsolicited code waiting for its PDU line

    @property
    def busy(self) -> bool:
        return self._flight is not None

    @property
    def in_flight(self) -> str | None:
        return self._flight.command if self._flight else None

    def command(self, command: str, body: str | None = None) -> bytes:
        """The bytes to write for ``command``; ``body`` (a PDU in hex) goes after the
        ``> `` prompt, terminated by Ctrl-Z."""
        if self._flight is not None:
            raise AtBusy(f"{command!r} while {self._flight.command!r} awaits its answer")
        if any(ch in command for ch in "\r\n" + CTRL_Z) or (body and CTRL_Z in body):
            raise ValueError("an AT command is one line")
        self._flight = _InFlight(command, body, _expected_prefix(command))
        return (command + "\r").encode("latin-1", "replace")

    def abandon(self) -> None:
        """Forget the command in flight (it timed out); an ESC cancels a pending prompt."""
        if self._flight is not None and self._flight.body is not None:
            self._out.append(ESC)
        self._flight = None
        self._pdu_for = None

    def reset(self) -> None:
        """Start afresh on a new connection."""
        self._buffer = ""
        self._flight = None
        self._out.clear()
        self._pdu_for = None

    def outgoing(self) -> bytes:
        """Bytes the session itself wants written (the PDU after a prompt, an ESC)."""
        data = "".join(self._out)
        self._out.clear()
        return data.encode("latin-1", "replace")

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        self._buffer += data.decode("latin-1")
        while True:
            self._buffer = self._buffer.lstrip("\r\n")
            if self._awaiting_prompt() and self._buffer.startswith(">"):
                self._buffer = self._buffer[2:] if self._buffer[1:2] == " " else self._buffer[1:]
                events.append(self._prompt())
                continue
            end = _line_end(self._buffer)
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    events.append(Noise(self._buffer[:MAX_LINE]))
                    self._buffer = ""
                break
            line, self._buffer = self._buffer[:end].strip(), self._buffer[end + 1 :]
            if line:
                events.extend(self._line(line))
        return events

    # --- inside ---------------------------------------------------------------------------

    def _awaiting_prompt(self) -> bool:
        flight = self._flight
        return flight is not None and flight.body is not None and not flight.prompted

    def _prompt(self) -> Prompt:
        assert self._flight is not None and self._flight.body is not None
        self._flight.prompted = True
        self._out.append(self._flight.body + CTRL_Z)
        return Prompt(self._flight.command)

    def _line(self, line: str) -> list[Event]:
        if self._pdu_for is not None:
            name, value = self._pdu_for.split("\0", 1)
            self._pdu_for = None
            return [Unsolicited(name, value, line)]
        flight = self._flight
        if flight is not None:
            if line == flight.command or (flight.body is not None and _is_body_echo(line, flight)):
                return []  # echo of the command or of the PDU
            result = final_result(line)
            if result is not None:
                self._flight = None
                return [Response(flight.command, tuple(flight.lines), result)]
        if self._unsolicited(line, flight):
            name = _name(line)
            value = line.split(":", 1)[1].strip() if ":" in line else ""
            if line.startswith(_WITH_PDU):
                self._pdu_for = f"{name}\0{value}"
                return []
            return [Unsolicited(name, value)]
        if flight is not None:
            flight.lines.append(line)
            return []
        return [Noise(line)]  # garbage, or an answer to a command given up on

    @staticmethod
    def _unsolicited(line: str, flight: _InFlight | None) -> bool:
        if line.startswith(_ALWAYS_UNSOLICITED):
            return True
        if not line.startswith(_UNSOLICITED):
            return False
        return flight is None or flight.prefix is None or not line.startswith(flight.prefix)


def _line_end(buffer: str) -> int:
    cr, lf = buffer.find("\r"), buffer.find("\n")
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)


def _is_body_echo(line: str, flight: _InFlight) -> bool:
    assert flight.body is not None
    return line.rstrip(CTRL_Z).lstrip("> ").strip() == flight.body or line.endswith(CTRL_Z)

"""A GSM modem on a TCP port that speaks the AT dialect of a Huawei USB stick in PDU mode.

It decodes and records what it is sent (``AT+CMGS``), answers with a message reference and,
when asked for one, a status report (``+CDS`` or ``+CDSI`` as ``AT+CNMI`` chose); it keeps
received messages in its storage (``AT+CMGL``, ``AT+CMGR``, ``AT+CMGD``) and announces them
(``+CMTI`` or ``+CMT``); it answers USSD (``AT+CUSD``) as packed GSM 7-bit hex, the way the
stick does. Faults are injected on request: ``+CMS ERROR``s, silence, garbage, a dropped
connection, a reboot, a full SIM, a PIN.

The test suite drives it in-process; ``smsgate modem-sim`` runs it for users without
hardware, with a small HTTP control API (see :mod:`smsgate.modem.sim_control`).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from smsgate.modem.commands import decode_ussd_text
from smsgate.text.errors import EncodeError, PduError
from smsgate.text.gsm7 import DEFAULT, pack
from smsgate.text.pdu import Submit, decode, encode_status_report
from smsgate.text.pdu.address import Address, encode_sca
from smsgate.text.pdu.tpdu import deliver_parts
from smsgate.text.segments import segment

log = structlog.get_logger(__name__)

CTRL_Z, ESC = b"\x1a", b"\x1b"
FAULTS = ("cms", "silent", "garbage", "drop", "drop_mid_pdu", "reboot", "report")


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One SMS-SUBMIT the simulator took."""

    reference: int
    pdu: str
    submit: Submit
    at: datetime


@dataclass(slots=True)
class Fault:
    kind: str  # one of FAULTS
    count: int = 1  # how many commands (or sends, or reports) it affects
    code: int = 500  # the +CMS ERROR code, or the status-report status
    after: int = 0  # how many of them go through untouched first


@dataclass(slots=True)
class SimulatorConfig:
    imei: str = "867530012345678"
    imsi: str = "234150123456789"
    operator: str = "SIMTEL"
    rssi: int = 21
    smsc: str = "+447785016005"
    pin: str | None = None  # the SIM asks for this PIN before it does anything
    storage_size: int = 30
    balance: str = "Your balance is 12.34 EUR. Valid until 31/12/2027."
    report_delay: float = 0.0  # seconds between the send and its status report
    report_status: int = 0x00  # TP-ST of status reports: 0 delivered
    report_storage: str = "SM"  # where stored status reports go: "SM", or "SR" as many sticks


class _SmsStore:
    """The SIM's message storage: index -> (stat, PDU hex)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.slots: dict[int, tuple[int, str]] = {}

    def put(self, stat: int, pdu: str) -> int | None:
        for index in range(1, self.size + 1):
            if index not in self.slots:
                self.slots[index] = (stat, pdu)
                return index
        return None


class ModemSimulator:
    """One simulated modem (SIM, storage, radio), reachable by any number of connections."""

    def __init__(self, config: SimulatorConfig | None = None, *, seed: int | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.stores = {name: _SmsStore(self.config.storage_size) for name in ("SM", "SR", "ME")}
        self.store = self.stores["SM"]
        self.sent: list[SentMessage] = []
        self.ussd_requests: list[str] = []
        self.faults: deque[Fault] = deque()
        self.pin_ok = self.config.pin is None
        start = random.Random(seed).randrange(256)  # noqa: S311 - references, not secrets
        self._references = itertools.count(start)
        self._concat = itertools.count(start)
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_sent: Callable[[SentMessage], None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        for task in list(self._tasks):
            task.cancel()
        # Let each connection's handler see its closed stream and end by itself: a handler
        # cancelled under asyncio's stream callback makes it log a spurious error.
        handlers = [c.task for c in self._connections if c.task is not None]
        if handlers:
            await asyncio.wait(handlers, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(self, reader, writer)
        connection.task = asyncio.current_task()
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)

    # --- what a test or a user asks for ---------------------------------------------------

    def fault(self, kind: str, count: int = 1, code: int = 500, after: int = 0) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(FAULTS)}")
        self.faults.append(Fault(kind, count, code, after))

    def clear_faults(self) -> None:
        self.faults.clear()

    def deliver(
        self,
        originator: str,
        text: str,
        *,
        order: list[int] | None = None,
        duplicate: bool = False,
        when: datetime | None = None,
    ) -> int:
        """A message from ``originator`` arrives, in as many parts as it needs (sent in
        ``order``, part numbers from 0, and once more each with ``duplicate``). Returns the
        number of parts."""
        seg = segment(text, reference=next(self._concat) & 0xFF)
        stamp = when or datetime.now(UTC).replace(microsecond=0)
        pdus = deliver_parts(originator, seg, timestamp=stamp)
        sequence = order if order is not None else list(range(len(pdus)))
        if duplicate:
            sequence = sequence + sequence
        for number in sequence:
            self._arrive(pdus[number].hex(), pdus[number].tpdu_length, report=False)
        return len(pdus)

    def _arrive(self, pdu_hex: str, length: int, *, report: bool) -> None:
        pdu_with_sca = _sca_hex(self.config.smsc) + pdu_hex[2:]  # replace the empty SCA
        listening = [c for c in self._connections if c.wants(report)]
        direct = [c for c in listening if c.direct(report)]
        if direct:
            for connection in direct:
                connection.unsolicited(
                    f"+CDS: {length}" if report else f"+CMT: ,{length}", pdu_with_sca
                )
            return
        storage = self.config.report_storage if report else "SM"
        index = self.stores[storage].put(0, pdu_with_sca)
        if index is None:
            log.warning("simulated SIM is full; message dropped")
            return
        for connection in listening:
            kind = "+CDSI" if report else "+CMTI"
            connection.unsolicited(f'{kind}: "{storage}",{index}')

    def _take_fault(self, *kinds: str) -> Fault | None:
        for fault in self.faults:
            if fault.kind in kinds:
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _record(self, pdu_hex: str) -> int:
        submit = decode(pdu_hex, direction="mo")
        assert isinstance(submit, Submit)
        reference = next(self._references) & 0xFF
        sent = SentMessage(reference, pdu_hex, submit, datetime.now(UTC))
        self.sent.append(sent)
        if self.on_sent is not None:
            self.on_sent(sent)
        if submit.status_report:
            status = self.config.report_status
            fault = self._take_fault("report")
            if fault is not None:
                status = fault.code
            task = asyncio.get_running_loop().create_task(self._report(sent, status))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return reference

    async def _report(self, sent: SentMessage, status: int) -> None:
        if self.config.report_delay:
            await asyncio.sleep(self.config.report_delay)
        now = datetime.now(UTC).replace(microsecond=0)
        pdu = encode_status_report(
            sent.submit.destination,
            reference=sent.reference,
            status=status,
            timestamp=sent.at.replace(microsecond=0),
            discharge=now,
        )
        self._arrive(pdu.hex(), pdu.tpdu_length, report=True)

    def ussd_answer(self, request: str) -> str:
        self.ussd_requests.append(request)
        return self.config.balance


def _sca_hex(number: str) -> str:
    return encode_sca(Address.parse(number)).hex().upper()


def _split_commands(line: str) -> list[str]:
    """``AT+CMEE=1;+CREG=2`` -> ``["+CMEE=1", "+CREG=2"]``, ``;`` inside quotes kept."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in line[2:]:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part] or [""]


def _first(buffer: bytes, *marks: bytes) -> int:
    found = [index for index in (buffer.find(mark) for mark in marks) if index >= 0]
    return min(found, default=-1)


class _Connection:
    """One client's session: echo, error mode, indications, the command parser."""

    def __init__(
        self, modem: ModemSimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.modem = modem
        self.reader = reader
        self.writer = writer
        self.echo = True
        self.cmee = 0
        self.cnmi = (0, 0, 0, 0, 0)  # mode, mt, bm, ds, bfr
        self.pdu_length: int | None = None
        self.closed = False
        self.memories = ["SM", "SM", "SM"]  # read/delete, write/send, receive
        self.task: asyncio.Task[Any] | None = None

    # indications
    def wants(self, report: bool) -> bool:
        return (self.cnmi[3] if report else self.cnmi[1]) in (1, 2)

    def direct(self, report: bool) -> bool:
        return self.cnmi[3] == 1 if report else self.cnmi[1] == 2

    def unsolicited(self, line: str, pdu: str | None = None) -> None:
        text = f"\r\n{line}\r\n" + (f"{pdu}\r\n" if pdu is not None else "")
        self._write(text)

    def _write(self, text: str) -> None:
        if not self.closed:
            self.writer.write(text.encode("latin-1", "replace"))

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()

    async def run(self) -> None:
        buffer = b""
        try:
            while not self.closed:
                chunk = await self.reader.read(4096)
                if not chunk:
                    break
                buffer += chunk
                buffer = await self._consume(buffer)
                await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()

    async def _consume(self, buffer: bytes) -> bytes:
        while buffer and not self.closed:
            if self.pdu_length is not None:
                end = _first(buffer, CTRL_Z, ESC)
                if end < 0:
                    if len(buffer) > 1024:
                        buffer = b""
                        self.pdu_length = None
                        self._final("+CMS ERROR: 304")
                    return buffer
                body, cancelled = buffer[:end], buffer[end : end + 1] == ESC
                buffer = buffer[end + 1 :]
                length, self.pdu_length = self.pdu_length, None
                if self.echo:
                    self._write(body.decode("latin-1") + CTRL_Z.decode())
                if cancelled:
                    self._final("OK")
                else:
                    self._cmgs(body.decode("latin-1").strip(), length)
                continue
            end = _first(buffer, b"\r", b"\n")
            if end < 0:
                return buffer[-4096:]
            line, buffer = buffer[:end].decode("latin-1").strip(), buffer[end + 1 :]
            if not line:
                continue
            if self.echo:
                self._write(line + "\r")
            await self._command(line)
        return buffer

    # --- commands -------------------------------------------------------------------------

    def _final(self, result: str) -> None:
        self._write(f"\r\n{result}\r\n")

    def _lines(self, *lines: str) -> None:
        for line in lines:
            self._write(f"\r\n{line}\r\n")

    def _error(self, cme: int | None = None, cms: int | None = None) -> None:
        if cms is not None:
            self._final(f"+CMS ERROR: {cms}")
        elif cme is not None and self.cmee:
            self._final(f"+CME ERROR: {cme}")
        else:
            self._final("ERROR")

    async def _command(self, line: str) -> None:
        modem = self.modem
        fault = modem._take_fault("silent", "garbage", "drop", "reboot")
        if fault is not None:
            if fault.kind == "silent":
                return
            if fault.kind == "garbage":
                self._write("\r\n\x00\xffZ#%garbage\x7f\r\n")
            elif fault.kind in ("drop", "reboot"):
                if fault.kind == "reboot":
                    self._write("\r\n^BOOT:0,0,0,0,0\r\n")
                    modem.pin_ok = modem.config.pin is None
                self.close()
                return
        if not line.upper().startswith("AT"):
            self._final("ERROR")
            return
        answers: list[str] = []
        for command in _split_commands(line):
            outcome = await self._one(command, answers)
            if outcome is None:
                return  # it answered by itself (a prompt)
            if outcome != "OK":
                self._lines(*answers)
                self._final(outcome)
                return
        self._lines(*answers)
        self._final("OK")

    async def _one(self, command: str, out: list[str]) -> str | None:
        modem, config = self.modem, self.modem.config
        upper = command.upper()
        name, _, argument = upper.partition("=")
        raw_argument = command.partition("=")[2]
        if upper in ("", "Z", "&F", "I", "E0", "E1", "Q0", "V1", "+CRC=1", "&W"):
            if upper == "E0":
                self.echo = False
            if upper in ("E1", "Z", "&F"):
                self.echo = True
            if upper == "I":
                out.append("Manufacturer: huawei\r\nModel: E3131\r\nRevision: 21.158.47.00.00")
            return "OK"
        if name in ("+CPIN?", "+CPIN"):
            if name == "+CPIN?":
                out.append("+CPIN: READY" if modem.pin_ok else "+CPIN: SIM PIN")
                return "OK"
            given = raw_argument.strip('"')
            if modem.config.pin is None or modem.pin_ok:
                return self._cme(3)
            if given == modem.config.pin:
                modem.pin_ok = True
                return "OK"
            return self._cme(16)  # incorrect password
        if not modem.pin_ok and name not in ("+CMEE", "+CGSN", "+CGMI", "+CGMM", "+CGMR"):
            return self._cme(11)  # SIM PIN required
        if name == "+CMEE":
            self.cmee = int(argument) if argument.isdigit() else 1
            return "OK"
        if name in ("+CGMI", "+GMI"):
            out.append("huawei")
        elif name in ("+CGMM", "+GMM"):
            out.append("E3131")
        elif name in ("+CGMR", "+GMR"):
            out.append("21.158.47.00.00")
        elif name in ("+CGSN", "+GSN"):
            out.append(config.imei)
        elif name == "+CIMI":
            out.append(config.imsi)
        elif name == "+CSQ":
            out.append(f"+CSQ: {config.rssi},99")
        elif name == "+CREG?":
            out.append('+CREG: 2,1,"1A2B","01C3D4E5"')
        elif name in ("+CREG", "+CGREG", "+CLIP", "+CSCS", "+CSMS", "+CNMA", "^CURC", "^USSDMODE"):
            pass
        elif name == "+COPS?":
            out.append(f'+COPS: 0,0,"{config.operator}",2')
        elif name == "+CSCA?":
            out.append(f'+CSCA: "{config.smsc}",145')
        elif name == "+CMGF":
            return "OK" if argument in ("0", "") else self._cme(4)
        elif name == "+CMGF?":
            out.append("+CMGF: 0")
        elif name == "+CNMI":
            values = [int(v) if v.strip().isdigit() else 0 for v in argument.split(",")]
            self.cnmi = tuple((values + [0] * 5)[:5])  # type: ignore[assignment]
        elif name == "+CPMS?" or name == "+CPMS":
            if name == "+CPMS":
                memories = [m.strip().strip('"') for m in raw_argument.split(",")]
                if any(m not in modem.stores for m in memories):
                    return self._cms(302)
                self.memories = (memories + [memories[-1]] * 3)[:3]
            shown = []
            for memory in self.memories:
                store = modem.stores[memory]
                shown.append(f'"{memory}",{len(store.slots)},{store.size}')
            out.append("+CPMS: " + ",".join(shown))
        elif name == "+CMGS":
            if not argument.isdigit() or not 7 <= int(argument) <= 164:
                return self._cms(304)
            fault = modem._take_fault("cms", "drop_mid_pdu")
            if fault is not None and fault.kind == "cms":
                return self._cms(fault.code)
            if fault is not None:
                self._write("\r\n> ")
                await asyncio.sleep(0)
                self.close()
                return None
            self.pdu_length = int(argument)
            self._write("\r\n> ")
            return None
        elif name == "+CMGL":
            store = modem.stores[self.memories[0]]
            status = argument.strip('"')
            for index, (stat, pdu) in sorted(store.slots.items()):
                if status in ("4", "ALL", "") or status == str(stat):
                    out.append(f"+CMGL: {index},{stat},,{(len(pdu) // 2) - 1 - int(pdu[:2], 16)}")
                    out.append(pdu)
                    if stat == 0:
                        store.slots[index] = (1, pdu)
        elif name == "+CMGR":
            store = modem.stores[self.memories[0]]
            if not argument.isdigit():
                return self._cms(321)
            slot = store.slots.get(int(argument))
            if slot is not None:
                stat, pdu = slot
                out.append(f"+CMGR: {stat},,{(len(pdu) // 2) - 1 - int(pdu[:2], 16)}")
                out.append(pdu)
                if stat == 0:
                    store.slots[int(argument)] = (1, pdu)
        elif name == "+CMGD":
            store = modem.stores[self.memories[0]]
            position, _, flag = argument.partition(",")
            if flag.strip() == "4":
                store.slots.clear()
            elif not position.isdigit():
                return self._cms(321)
            else:
                store.slots.pop(int(position), None)
        elif name == "+CUSD":
            fields = next(csv.reader([raw_argument], skipinitialspace=True), [])
            if len(fields) >= 2:
                request = decode_ussd_text(fields[1], 15)
                answer = modem.ussd_answer(request)
                packed = request != fields[1]
                dcs = 15
                if DEFAULT.septets(answer) is None:  # not GSM: UCS-2, as hex
                    reply, dcs = answer.encode("utf-16-be").hex().upper(), 72
                elif packed:
                    reply = pack(DEFAULT.encode(answer)).hex().upper()
                else:
                    reply = answer
                loop = asyncio.get_running_loop()
                loop.call_soon(self.unsolicited, f'+CUSD: 0,"{reply}",{dcs}')
        else:
            return self._cme(4)  # operation not supported
        return "OK"

    def _cme(self, code: int) -> str:
        return f"+CME ERROR: {code}" if self.cmee else "ERROR"

    def _cms(self, code: int) -> str:
        return f"+CMS ERROR: {code}"

    def _cmgs(self, body: str, length: int | None) -> None:
        try:
            octets = bytes.fromhex(body)
            sca_length = octets[0] if octets else 0
            if length is not None and len(octets) - 1 - sca_length != length:
                raise PduError(f"{len(octets) - 1 - sca_length} octets, not {length}")
            reference = self.modem._record(body)
        except (ValueError, PduError, EncodeError, IndexError) as exc:
            log.info("simulated modem refused a PDU", error=str(exc))
            self._final("+CMS ERROR: 304")
            return
        self._lines(f"+CMGS: {reference}")
        self._final("OK")


def describe(modem: ModemSimulator) -> dict[str, Any]:
    """What the control API shows."""
    return {
        "sent": [
            {
                "reference": sent.reference,
                "to": str(sent.submit.destination),
                "text": sent.submit.text,
                "concat": None
                if sent.submit.header is None or sent.submit.header.concat is None
                else {
                    "reference": sent.submit.header.concat.reference,
                    "sequence": sent.submit.header.concat.sequence,
                    "total": sent.submit.header.concat.total,
                },
                "status_report": sent.submit.status_report,
                "pdu": sent.pdu,
            }
            for sent in modem.sent
        ],
        "stored": {name: len(store.slots) for name, store in modem.stores.items()},
        "faults": [
            {"kind": f.kind, "count": f.count, "code": f.code, "after": f.after}
            for f in modem.faults
        ],
        "ussd_requests": modem.ussd_requests,
    }

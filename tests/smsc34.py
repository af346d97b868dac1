"""An SMSC on PyPI ``smpp34``'s server, driven like ``tests/peers/smsc.cjs``.

    python tests/smsc34.py [--system-id ID] [--password PW] [--receipt-delay MS]
                           [--quiet-submits]

It prints ``{"ready": true, "port": N, ...}`` once listening on 127.0.0.1, then one JSON event
per line (bind, submit, receipt, deliver_sm_resp, closed, ...), and reads one JSON command per
line on stdin, answering each with ``{"ok": true, "cmd": ..., "id": ...}``: ``mo``,
``receipt_mode``, ``receipt_delay``, ``receipt_before_resp``, ``reject``, ``silent``, ``hold``,
``release``, ``close`` and ``stats``, as the npm peer does (``mo`` text is Latin-1, or UCS-2
for data_coding 8; ``hex`` gives the bytes). It exits when stdin closes.

What smpp34 1.5.0's ``Server`` cannot do, and so this peer does not:

- check a password, or refuse a bind: every bind is answered ESME_ROK by the library before
  the application hears of it, and the password is not exposed. A bind with another
  system_id is unbound by the server right after (the ``bind`` event has ``"unbound": true``).
- tell a receiver from a transceiver (only ``can_receive``), or give a submit's
  sequence_number (``null`` in the events);
- stay silent to enquire_link (the library answers it), so ``silent`` only stops answering
  submit_sm; ``close`` unbinds every session (the library has no way to drop a socket), and
  after an unbind_resp the library leaves the connection open for the ESME to close;
- keep a submit_sm_resp ahead of its receipt: the library sends them from separate tasks, so
  a receipt waits at least 5 ms; answers to held submits may go out in any order;
- send enquire_link or unbind on its own (no ``enquire_link`` or ``unbind`` commands), or
  redeliver a receipt whose deliver_sm went unanswered;
- listen on port 0 and tell the port: a free port is chosen first, and another tried if it
  was taken meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import smpp34

STATES = {
    "ENROUTE": 1,
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}
RECEIPTED_MESSAGE_ID = 0x001E
MESSAGE_PAYLOAD = 0x0424
MESSAGE_STATE = 0x0427
INT_TLVS = {
    0x0019: "payload_type",
    0x0030: "ms_msg_wait_facilities",
    0x0204: "user_message_reference",
    0x020A: "source_port",
    0x020B: "dest_port",
    0x020C: "sar_msg_ref_num",
    0x020E: "sar_total_segments",
    0x020F: "sar_segment_seqnum",
    0x0426: "more_messages_to_send",
    0x0427: "message_state",
}
TLV_NAMES = {
    getattr(smpp34, name): name[4:].lower() for name in dir(smpp34) if name.startswith("TLV_")
}


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def stamp(at: float) -> str:
    return time.strftime("%y%m%d%H%M", time.gmtime(at))


def accept(submit: smpp34.SubmitSmEvent, message_id: str) -> bool:
    """Answer ``submit`` with ``message_id``; False when its session is gone."""
    try:
        submit.accept(message_id)
    except Exception as exc:
        print(f"submit_sm_resp {message_id}: {exc!r}", file=sys.stderr, flush=True)
        return False
    return True


def tlv_fields(tlvs: list[smpp34.Tlv]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for tlv in tlvs:
        if tlv.tag in INT_TLVS:
            fields[INT_TLVS[tlv.tag]] = int.from_bytes(tlv.value, "big")
        elif tlv.tag == RECEIPTED_MESSAGE_ID:
            fields["receipted_message_id"] = tlv.value.rstrip(b"\0").decode("latin-1")
        else:
            fields[TLV_NAMES.get(tlv.tag, f"tlv_0x{tlv.tag:04x}")] = tlv.value.hex()
    return fields


def receipt_text(submit: smpp34.SubmitSmEvent) -> str:
    body = submit.short_message
    if not body:
        payload = [t.value for t in submit.tlvs if t.tag == MESSAGE_PAYLOAD]
        body = payload[0] if payload else b""
    if submit.esm_class & 0x40 and body:
        body = body[body[0] + 1 :]
    codec = "utf-16-be" if submit.data_coding == 8 else "latin-1"
    text = body.decode(codec, errors="replace")
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:20]


@dataclass
class Session:
    n: int
    esme: smpp34.Esme


@dataclass
class Delivery:
    """A deliver_sm to send: a receipt or an MO, with the system_id it is for."""

    kind: str
    system_id: str
    destination_addr: str
    short_message: bytes
    options: dict[str, Any]
    prefer: str | None = None
    message_id: str | None = None
    stat: str | None = None
    ref: Any = None


@dataclass
class Peer:
    server: smpp34.Server
    system_id: str
    quiet: bool
    delay_ms: int
    sessions: dict[str, Session] = field(default_factory=dict)
    pending: list[Delivery] = field(default_factory=list)
    held: list[tuple[smpp34.SubmitSmEvent, str]] = field(default_factory=list)
    dropped: list[smpp34.SubmitSmEvent] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stats: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ["submits", "rejected", "dropped", "receipts", "receipts_acked", "mo", "binds"], 0
        )
    )
    stat: str = "DELIVRD"
    err: str = "000"
    state: int = 2
    before: bool = False
    reject: int = 0
    reject_status: int = 0
    silent: bool = False
    hold: int = 0
    count: int = 0
    message_count: int = 0xA0000000

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def serve(self) -> None:
        while True:
            event = await self.server.next()
            if isinstance(event, smpp34.Esme):
                self.on_bind(event)
            elif isinstance(event, smpp34.SubmitSmEvent):
                self.on_submit(event)
            else:
                session = self.sessions.pop(event.session_id, None)
                if session is not None:
                    emit({"event": "closed", "session": session.n})

    def on_bind(self, esme: smpp34.Esme) -> None:
        self.count += 1
        session = Session(self.count, esme)
        self.sessions[esme.session_id] = session
        unknown = esme.system_id != self.system_id
        emit(
            {
                "event": "bind",
                "command": None,
                "can_receive": esme.can_receive,
                "system_id": esme.system_id,
                "session": session.n,
                "command_status": 0,
                "unbound": unknown,
            }
        )
        if unknown:
            self.spawn(esme.unbind())
            return
        self.stats["binds"] += 1
        if esme.can_receive:
            waiting = [d for d in self.pending if d.system_id == esme.system_id]
            self.pending = [d for d in self.pending if d.system_id != esme.system_id]
            for delivery in waiting:
                self.deliver(delivery)

    def submit_event(self, submit: smpp34.SubmitSmEvent, message_id: str | None) -> dict[str, Any]:
        session = self.sessions.get(submit.session_id)
        return {
            "event": "submit",
            "session": session.n if session else None,
            "message_id": message_id,
            "command_status": 0,
            "sequence_number": None,
            "service_type": submit.service_type,
            "source_addr": submit.source_addr,
            "source_addr_ton": submit.source_addr_ton,
            "source_addr_npi": submit.source_addr_npi,
            "destination_addr": submit.destination_addr,
            "dest_addr_ton": submit.dest_addr_ton,
            "dest_addr_npi": submit.dest_addr_npi,
            "esm_class": submit.esm_class,
            "protocol_id": submit.protocol_id,
            "registered_delivery": submit.registered_delivery,
            "data_coding": submit.data_coding,
            "short_message": submit.short_message.hex(),
            **tlv_fields(submit.tlvs),
        }

    def on_submit(self, submit: smpp34.SubmitSmEvent) -> None:
        self.stats["submits"] += 1
        if self.silent:
            self.stats["dropped"] += 1
            self.dropped.append(submit)
            if not self.quiet:
                emit({**self.submit_event(submit, None), "dropped": True})
            return
        if self.reject > 0:
            self.reject -= 1
            self.stats["rejected"] += 1
            submit.reject(self.reject_status)
            if not self.quiet:
                emit({**self.submit_event(submit, None), "command_status": self.reject_status})
            return
        self.message_count += 1
        message_id = f"{self.message_count:x}"
        if self.hold > 0:
            self.hold -= 1
            self.held.append((submit, message_id))
            if not self.quiet:
                emit({**self.submit_event(submit, message_id), "held": True})
            return
        if not self.quiet:
            emit(self.submit_event(submit, message_id))
        self.answer(submit, message_id)

    def wants_receipt(self, submit: smpp34.SubmitSmEvent) -> bool:
        asked = submit.registered_delivery & 0x03
        return asked == 1 or (asked == 2 and self.stat != "DELIVRD")

    def answer(self, submit: smpp34.SubmitSmEvent, message_id: str) -> None:
        if not self.wants_receipt(submit):
            accept(submit, message_id)
            return
        delivery = self.receipt(submit, message_id)
        if self.before:
            self.deliver(delivery)
            self.spawn(self.accept_later(submit, message_id))
            return
        if accept(submit, message_id):
            self.spawn(self.deliver_later(delivery))

    async def accept_later(self, submit: smpp34.SubmitSmEvent, message_id: str) -> None:
        await asyncio.sleep(0.05)
        accept(submit, message_id)

    async def deliver_later(self, delivery: Delivery) -> None:
        # The library sends the submit_sm_resp from another task: without a pause the receipt
        # would now and then overtake it.
        await asyncio.sleep(max(self.delay_ms, 5) / 1000)
        self.deliver(delivery)

    def receipt(self, submit: smpp34.SubmitSmEvent, message_id: str) -> Delivery:
        now = time.time()
        dlvrd = "001" if self.stat == "DELIVRD" else "000"
        text = (
            f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{stamp(now)} "
            f"done date:{stamp(now)} stat:{self.stat} err:{self.err} text:{receipt_text(submit)}"
        )
        session = self.sessions.get(submit.session_id)
        return Delivery(
            kind="receipt",
            system_id=session.esme.system_id if session else self.system_id,
            destination_addr=submit.source_addr,
            short_message=text.encode("ascii"),
            options={
                "source_addr": submit.destination_addr,
                "source_addr_ton": submit.dest_addr_ton,
                "source_addr_npi": submit.dest_addr_npi,
                "dest_addr_ton": submit.source_addr_ton,
                "dest_addr_npi": submit.source_addr_npi,
                "esm_class": 0x04,
                "data_coding": 0,
                "tlvs": [
                    smpp34.Tlv(RECEIPTED_MESSAGE_ID, message_id.encode() + b"\0"),
                    smpp34.Tlv(MESSAGE_STATE, bytes([self.state])),
                ],
            },
            prefer=submit.session_id,
            message_id=message_id,
            stat=self.stat,
        )

    def receiver_for(self, delivery: Delivery) -> Session | None:
        def fits(session: Session) -> bool:
            return session.esme.can_receive and session.esme.system_id == delivery.system_id

        preferred = self.sessions.get(delivery.prefer or "")
        if preferred is not None and fits(preferred):
            return preferred
        return next((s for s in self.sessions.values() if fits(s)), None)

    def deliver(self, delivery: Delivery) -> dict[str, Any] | None:
        session = self.receiver_for(delivery)
        if session is None:
            self.pending.append(delivery)
            return None
        if delivery.kind == "receipt":
            self.stats["receipts"] += 1
            if not self.quiet:
                emit(
                    {
                        "event": "receipt",
                        "session": session.n,
                        "message_id": delivery.message_id,
                        "stat": delivery.stat,
                    }
                )
        self.spawn(self.send(session, delivery))
        return {"session": session.n}

    async def send(self, session: Session, delivery: Delivery) -> None:
        try:
            resp = await session.esme.deliver_sm(
                delivery.destination_addr, delivery.short_message, **delivery.options
            )
        except Exception as exc:
            print(f"deliver_sm on session {session.n}: {exc!r}", file=sys.stderr, flush=True)
            return
        if delivery.kind == "receipt":
            self.stats["receipts_acked"] += 1
            if self.quiet:
                return
        emit(
            {
                "event": "deliver_sm_resp",
                "kind": delivery.kind,
                "session": session.n,
                "command_status": resp.command_status,
                "message_id": delivery.message_id,
                "ref": delivery.ref,
            }
        )

    def mo(self, cmd: dict[str, Any]) -> dict[str, Any]:
        data_coding = int(cmd.get("data_coding", 0))
        if "hex" in cmd:
            body = bytes.fromhex(cmd["hex"])
        elif data_coding == 8:
            body = cmd["text"].encode("utf-16-be")
        else:
            body = cmd["text"].encode("latin-1")
        esm_class = int(cmd.get("esm_class", 0))
        if cmd.get("udh"):
            body = bytes.fromhex(cmd["udh"]) + body
            esm_class |= 0x40
        tlvs = [smpp34.Tlv(MESSAGE_PAYLOAD, body)] if cmd.get("payload") else []
        prefer = next((k for k, s in self.sessions.items() if s.n == cmd.get("session")), None)
        self.stats["mo"] += 1
        delivery = Delivery(
            kind="mo",
            system_id=cmd.get("system_id", self.system_id),
            destination_addr=cmd["destination"],
            short_message=b"" if tlvs else body,
            options={
                "source_addr": cmd["source"],
                "source_addr_ton": cmd.get("source_ton", 1),
                "source_addr_npi": cmd.get("source_npi", 1),
                "dest_addr_ton": cmd.get("destination_ton", 0),
                "dest_addr_npi": cmd.get("destination_npi", 1),
                "esm_class": esm_class,
                "data_coding": data_coding,
                "tlvs": tlvs,
            },
            prefer=prefer,
            ref=cmd.get("ref"),
        )
        return self.deliver(delivery) or {"queued": True}

    def command(self, cmd: dict[str, Any]) -> dict[str, Any] | None:
        name = cmd.get("cmd")
        if name == "mo":
            return self.mo(cmd)
        if name == "receipt_mode":
            self.stat = cmd.get("stat", "DELIVRD")
            self.err = cmd.get("err", "000")
            self.state = int(cmd.get("message_state", STATES.get(self.stat, 7)))
        elif name == "receipt_delay":
            self.delay_ms = int(cmd["ms"])
        elif name == "receipt_before_resp":
            self.before = bool(cmd.get("on"))
        elif name == "reject":
            self.reject_status = int(cmd["status"])
            self.reject = int(cmd.get("count", 1))
        elif name == "silent":
            self.silent = bool(cmd.get("on"))
        elif name == "hold":
            self.hold = int(cmd.get("count", 1))
        elif name == "release":
            held, self.held, self.hold = self.held, [], 0
            for submit, message_id in held:
                self.answer(submit, message_id)
            return {"released": len(held)}
        elif name == "close":
            for session in self.sessions.values():
                self.spawn(session.esme.unbind())
            return {"closed": len(self.sessions)}
        elif name == "stats":
            return {
                "event": "stats",
                **self.stats,
                "sessions": len(self.sessions),
                "bound": len(self.sessions),
                "held": len(self.held),
                "pending": len(self.pending),
            }
        else:
            raise ValueError(f"unknown command {name}")
        return None

    async def control(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            if not line.strip():
                continue
            cmd: dict[str, Any] = {}
            try:
                cmd = json.loads(line)
                answer = {"ok": True, "cmd": cmd.get("cmd"), "id": cmd.get("id")}
                answer.update(self.command(cmd) or {})
            except Exception as exc:
                error = repr(exc)
                answer = {"ok": False, "cmd": cmd.get("cmd"), "id": cmd.get("id"), "error": error}
            emit(answer)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def listen() -> tuple[smpp34.Server, int]:
    for _ in range(20):
        port = free_port()
        server = smpp34.Server("127.0.0.1", port, system_id="smsc")
        try:
            await server.start()
        except smpp34.SmppError as exc:
            if "in use" not in str(exc):
                raise
            continue
        return server, port
    raise RuntimeError("no free port for the SMSC")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system-id", default="smsgate")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--receipt-delay", type=int, default=0)
    parser.add_argument("--quiet-submits", action="store_true")
    args = parser.parse_args()
    server, port = await listen()
    peer = Peer(server, args.system_id, args.quiet_submits, args.receipt_delay)
    emit({"ready": True, "port": port, "checks_password": False})
    serving = asyncio.ensure_future(peer.serve())
    control = asyncio.ensure_future(peer.control())
    try:
        done, _ = await asyncio.wait([serving, control], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        serving.cancel()
        control.cancel()
        await server.stop()


if __name__ == "__main__":
    asyncio.run(main())

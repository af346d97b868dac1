"""One ESME's session with the SMPP server face: the bind, then its requests.

A connection must bind within ``bind_timeout`` and is closed when it stays silent longer than
``enquire_link_timeout``; a refused bind is answered late, the later the more binds the
connection had refused. A bound session's credentials are read again every
``RECHECK_SECONDS``: a removed, disabled or re-passworded system_id (or a disabled account) is
unbound. Saying goodbye (unbind, close) takes at most ``GOODBYE_SECONDS``: a peer that does
not read is cut off then. Submits (submit_sm, data_sm) go through the same checks as every
face's: the account's ``api_requests`` and the system_id's ``submit_rate``, the text, the
numbers and the permission rules (subject ``smpp/<system_id>``), then ``Gateway.accept``; a
submit is answered ESME_ROK only once its message (or part) is durably stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog

from smsgate.core.accounts import Scope
from smsgate.core.errors import EXPIRED, Forbidden, InvalidParameter
from smsgate.core.limits import Limit
from smsgate.core.models import Account, Message
from smsgate.core.pacing import RateLimited
from smsgate.core.rates import Rate, parse_rate
from smsgate.core.states import Direction, State
from smsgate.core.submission import EXPIRY_DEFAULT, EXPIRY_MAX, EXPIRY_MIN, Prepared, Submission
from smsgate.smpp.coding import CodingError, Incoming, decode_short_message
from smsgate.smpp.connection import Connection
from smsgate.smpp.pdu import (
    INTERFACE_VERSION,
    LAYOUTS,
    RESPONSE_BIT,
    Command,
    Pdu,
    Status,
    Tag,
    generic_nack,
    response_to,
    status_name,
)
from smsgate.smpp_server.assembly import PART_ID, part_id, request_id
from smsgate.smpp_server.times import TimeError, absolute, seconds_until
from smsgate.smpp_server.urls import receipt_url
from smsgate.store import smpp_users as user_store
from smsgate.store.database import store_unavailable
from smsgate.store.smpp_parts import PartKey
from smsgate.store.smpp_users import SmppUser
from smsgate.text.numbers import sanitize_sender
from smsgate.text.pdu.reassembly import join

if TYPE_CHECKING:
    from smsgate.smpp_server.server import SmppServer

log = structlog.get_logger(__name__)

#: The system_id smsgate answers binds with.
SYSTEM_ID = "smsgate"
MODES = {
    Command.BIND_TRANSMITTER: "transmitter",
    Command.BIND_RECEIVER: "receiver",
    Command.BIND_TRANSCEIVER: "transceiver",
}
#: Wrong binds on one connection before it is closed.
MAX_FAILED_BINDS = 3
RECHECK_SECONDS = 30.0
#: How long an unbind waits for the session's requests in progress to finish.
QUIET_SECONDS = 10.0
#: How long unbinding and closing a connection may take before it is cut off.
GOODBYE_SECONDS = 5.0
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: esm_class bits 2-5: the message type; a submit is a plain message (0).
_ESM_TYPE = 0x3C

# query_sm_resp message_state (SMPP 3.4 5.2.28).
ENROUTE, DELIVERED, EXPIRED_STATE, UNDELIVERABLE = 1, 2, 3, 5

_INVALID = {
    "dst": Status.ESME_RINVDSTADR,
    "src": Status.ESME_RINVSRCADR,
    "text": Status.ESME_RINVMSGLEN,
    "message_expiry": Status.ESME_RINVEXPIRY,
}


class Refusal(Exception):
    """A request answered with ``status``; ``reason`` is logged (never a number or a text)."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def answer(pdu: Pdu, status: int) -> Pdu:
    """The response to ``pdu`` with ``status``: its own response PDU, or a generic_nack for a
    command that has none."""
    if pdu.command | RESPONSE_BIT in LAYOUTS:
        return response_to(pdu, status)
    return generic_nack(pdu.sequence, status)


def receipts_asked(values: tuple[int, ...]) -> int:
    """What the parts' registered_delivery ask, together: 1 final receipts (any part asking
    them), 2 receipts on failure only, 0 none."""
    kinds = {value & 0x03 for value in values}
    if kinds & {1, 3}:
        return 1
    return 2 if 2 in kinds else 0


def message_state(msg: Message) -> tuple[int, str]:
    """query_sm_resp's message_state and final_date for ``msg``."""
    state = msg.state
    if state in (State.QUEUED, State.SENT):
        return ENROUTE, ""
    final = absolute(msg.dlr_at or msg.updated_at)
    if state == State.DELIVERED:
        return DELIVERED, final
    if msg.error_code == EXPIRED:
        return EXPIRED_STATE, final
    return UNDELIVERABLE, final


class Session:
    account: Account
    user: SmppUser

    def __init__(
        self,
        server: SmppServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls: bool = False,
    ) -> None:
        settings = server.settings
        self.server = server
        self.gateway = server.gateway
        self.tls = tls
        self._transport = writer.transport
        self.connection = Connection(
            reader, writer, self._request, max_requests=settings.window, name="smpp-server"
        )
        peer = self.connection.peer
        self.peer_ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self.peer = f"{self.peer_ip}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.connection.name = f"smpp-server {self.peer}"
        self.system_id = ""
        self.mode = ""
        self.default_alphabet = settings.default_alphabet
        self.bound = False
        #: Set when the session is going: submits are refused from then on.
        self.closing = False
        self._binding = False
        self._failed_binds = 0
        self._submit_rate: Rate | None = None
        self._working = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._background: set[asyncio.Task[None]] = set()
        self._bound_now = asyncio.Event()
        self._opened = asyncio.get_running_loop().time()

    def __repr__(self) -> str:
        return f"<Session {self.system_id or '(not bound)'} {self.mode} {self.peer}>"

    @property
    def receives(self) -> bool:
        return self.bound and not self.closing and self.mode in ("receiver", "transceiver")

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes."""
        watch = asyncio.create_task(self._watch(), name=f"smpp-watch {self.peer}")
        try:
            await self.connection.run()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            if self.bound:
                log.info(
                    "smpp session closed", system_id=self.system_id, mode=self.mode, peer=self.peer
                )

    async def leave(self) -> None:
        """Let the requests in progress finish, unbind, close (the server is stopping)."""
        self.closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(QUIET_SECONDS):
                await self.connection.idle()
        if self.bound and not self.connection.closed.is_set():
            await self._goodbye(self.connection.unbind())
        await self._goodbye(self.connection.close())

    async def _goodbye(self, ending: Awaitable[None]) -> None:
        """Await ``ending`` (an unbind, a close) for at most GOODBYE_SECONDS; past that the
        connection is cut off (a peer that does not read leaves writes waiting)."""
        try:
            async with asyncio.timeout(GOODBYE_SECONDS):
                await ending
        except TimeoutError:
            log.warning(
                "smpp connection cut off: the peer does not read",
                system_id=self.system_id,
                peer=self.peer,
            )
            self._transport.abort()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.server.settings
        conn = self.connection
        recheck = loop.time() + RECHECK_SECONDS
        while not conn.closed.is_set():
            now = loop.time()
            if not self.bound:
                if now >= self._opened + settings.bind_timeout:
                    log.info("smpp connection did not bind in time", peer=self.peer)
                    await self._goodbye(conn.close())
                    return
                wake = self._opened + settings.bind_timeout
            else:
                idle_until = conn.last_read + settings.enquire_link_timeout
                if now >= idle_until:
                    log.info("smpp session idle", system_id=self.system_id, peer=self.peer)
                    self.closing = True
                    await self._goodbye(conn.unbind())
                    return
                if now >= recheck:
                    recheck = now + RECHECK_SECONDS
                    if not await self._still_allowed():
                        self.closing = True
                        await self._goodbye(conn.unbind())
                        return
                wake = min(idle_until, recheck)
            await self._sleep(wake - loop.time())

    async def _sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds, or less if the connection closes or the session binds."""
        self._bound_now.clear()
        waits = [
            asyncio.ensure_future(self.connection.closed.wait()),
            asyncio.ensure_future(self._bound_now.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=max(0.0, delay), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _still_allowed(self) -> bool:
        """Read the credentials again; False when they no longer allow this session."""
        try:
            user = await self.gateway.db.read(
                lambda conn: user_store.by_system_id(conn, self.system_id)
            )
            account = await self.gateway.accounts.by_id(self.user.account_id)
        except Exception:
            log.exception("smpp credentials could not be read again", system_id=self.system_id)
            return True
        if (
            user is None
            or user.id != self.user.id
            or not user.enabled
            or user.password_hash != self.user.password_hash
            or self.mode not in user.binds
            or account is None
            or not account.enabled
        ):
            log.warning(
                "smpp credentials changed: unbinding", system_id=self.system_id, peer=self.peer
            )
            return False
        self.user, self.account = user, account
        self._submit_rate = parse_rate(user.submit_rate)
        return True

    async def _made_due(self) -> None:
        try:
            await self.gateway.smpp_delivery.bound(self.system_id)
        except Exception:
            log.exception("smpp: waiting receipts not made due", system_id=self.system_id)

    async def _final(self, pdu: Pdu) -> None:
        """Send ``pdu``, then close."""
        await self._goodbye(self._send_and_close(pdu))

    async def _send_and_close(self, pdu: Pdu) -> None:
        with contextlib.suppress(ConnectionError):
            self.connection.send(pdu)
            await self.connection.drain()
        await self.connection.close()

    # --- requests --------------------------------------------------------------------------

    async def _request(self, _: Connection, pdu: Pdu) -> Pdu | None:
        command = pdu.command
        if command in MODES:
            return await self._bind(pdu, MODES[Command(command)])
        if command == Command.ENQUIRE_LINK:
            return response_to(pdu)
        if command == Command.UNBIND:
            await self._unbind(pdu)
            return None
        if not self.bound:
            return answer(pdu, Status.ESME_RINVBNDSTS)
        if command in (Command.SUBMIT_SM, Command.DATA_SM):
            if self.mode == "receiver":
                return answer(pdu, Status.ESME_RINVBNDSTS)
            return await self._working_on(self._submit(pdu))
        if command == Command.QUERY_SM:
            if self.mode == "receiver":
                return answer(pdu, Status.ESME_RINVBNDSTS)
            return await self._working_on(self._query(pdu))
        if command == Command.CANCEL_SM:
            return answer(pdu, Status.ESME_RCANCELFAIL)
        if command == Command.REPLACE_SM:
            return answer(pdu, Status.ESME_RREPLACEFAIL)
        # submit_multi, and what only an SMSC sends (deliver_sm, outbind, alert_notification).
        return answer(pdu, Status.ESME_RINVCMDID)

    async def _working_on(self, work: Any) -> Pdu:
        self._working += 1
        self._quiet.clear()
        try:
            result: Pdu = await work
            return result
        finally:
            self._working -= 1
            if not self._working:
                self._quiet.set()

    async def _unbind(self, pdu: Pdu) -> None:
        self.closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(QUIET_SECONDS):
                await self._quiet.wait()
        if self.bound:
            log.info("smpp unbind", system_id=self.system_id, mode=self.mode, peer=self.peer)
        await self._final(response_to(pdu))

    # --- bind ------------------------------------------------------------------------------

    async def _bind(self, pdu: Pdu, mode: str) -> Pdu | None:
        if self.bound or self._binding:
            return response_to(pdu, Status.ESME_RALYBND)
        self._binding = True
        system_id = str(pdu["system_id"])
        try:
            refusal = await self._authenticate(system_id, str(pdu["password"]), mode)
            if refusal is not None:
                self._failed_binds += 1
                # Guessing is slow: while the answer waits, no other bind is taken.
                await asyncio.sleep(self.server.refused_bind_delay * self._failed_binds)
        finally:
            self._binding = False
        metrics = self.gateway.metrics
        if refusal is not None:
            metrics.smpp_binds.labels("refused").inc()
            log.warning(
                "smpp bind refused",
                system_id=system_id[:15],
                mode=mode,
                peer=self.peer,
                status=status_name(refusal.status),
                reason=refusal.reason,
            )
            refused = response_to(pdu, refusal.status)
            if self._failed_binds >= MAX_FAILED_BINDS:
                await self._final(refused)
                return None
            return refused
        metrics.smpp_binds.labels("bound").inc()
        log.info("smpp bound", system_id=self.system_id, mode=mode, peer=self.peer, tls=self.tls)
        if self.receives:
            # Runs once bind_resp is written: what waits for this system_id may go now.
            task = asyncio.create_task(self._made_due(), name=f"smpp-bound {self.system_id}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return response_to(
            pdu,
            system_id=SYSTEM_ID,
            tlvs={Tag.SC_INTERFACE_VERSION: bytes((INTERFACE_VERSION,))},
        )

    async def _authenticate(self, system_id: str, password: str, mode: str) -> Refusal | None:
        """None once the session is bound as ``system_id``; else why not."""
        gateway = self.gateway
        user = None
        if user_store.SYSTEM_ID.fullmatch(system_id):
            user = await gateway.db.read(lambda conn: user_store.by_system_id(conn, system_id))
        # An unknown system_id costs a check against a dummy hash, as a wrong password does.
        stored = user.password_hash if user is not None else None
        ok = await self.server.passwords.check(password, stored, f"smpp/{system_id}")
        if user is None:
            return Refusal(Status.ESME_RINVSYSID, "unknown system_id")
        if not ok:
            return Refusal(Status.ESME_RINVPASWD, "wrong password")
        account = await gateway.accounts.by_id(user.account_id)
        if not user.enabled:
            return Refusal(Status.ESME_RBINDFAIL, "system_id disabled")
        if account is None or not account.enabled:
            return Refusal(Status.ESME_RBINDFAIL, "account disabled")
        if mode not in user.binds:
            return Refusal(Status.ESME_RBINDFAIL, f"{mode} binds are not allowed")
        if self.closing or self.server.closing:
            return Refusal(Status.ESME_RBINDFAIL, "the server is stopping")
        held = len(self.server.bound(system_id))
        if held >= user.max_binds:
            return Refusal(Status.ESME_RBINDFAIL, f"{held} sessions bound already (max_binds)")
        # No await between the count above and this: a concurrent bind sees this session.
        self.system_id, self.mode, self.user, self.account = system_id, mode, user, account
        self._submit_rate = parse_rate(user.submit_rate)
        self.bound = True
        self._bound_now.set()
        return None

    # --- submit ----------------------------------------------------------------------------

    async def _submit(self, pdu: Pdu) -> Pdu:
        try:
            if self.closing:
                raise Refusal(Status.ESME_RSYSERR, "the session is closing")
            message_id = await self._accept(pdu)
        except Refusal as refusal:
            log.info(
                "smpp submit refused",
                system_id=self.system_id,
                command=pdu.name,
                status=status_name(refusal.status),
                reason=refusal.reason,
            )
            return answer(pdu, refusal.status)
        return response_to(pdu, message_id=message_id)

    async def _accept(self, pdu: Pdu) -> str:
        account = await self.gateway.accounts.by_id(self.account.id)
        if account is None or not account.enabled:
            raise Refusal(Status.ESME_RSUBMITFAIL, "the account is disabled")
        await self._throttle(account)
        incoming = self._read(pdu)
        src = str(pdu["source_addr"])
        dst = destination(pdu)
        submission = Submission(
            src=src,
            dst=dst,
            text=join([incoming.text]),
            message_expiry=self._expiry(pdu),
            submitted_by=f"smpp/{self.system_id}",
        )
        receipts = receipts_asked((int(pdu["registered_delivery"]),))
        concat = incoming.concat
        scope = Scope(account, (account.id,))
        if concat is None or concat.total == 1:
            if receipts:
                url = receipt_url(self.system_id, failure_only=receipts == 2)
                submission = replace(submission, url=url)
            single: Prepared = await self._guarded(
                self.gateway.prepare_send(scope, submission, self.peer_ip)
            )
            await self._guarded(self.gateway.store(single, single.callbacks))
            return single.uuids[0]
        if not 1 <= concat.sequence <= concat.total:
            raise Refusal(Status.ESME_RSUBMITFAIL, "a part outside its message")
        # The numbers and permissions are checked on every part, so that a refused
        # destination is refused at its first part.
        await self._guarded(self.gateway.prepare_send(scope, submission, self.peer_ip))
        key = PartKey(self.system_id, sanitize_sender(src), dst, concat.reference, concat.total)
        assembly = self.server.assembly
        stored = await self._guarded(
            assembly.store(key, concat.sequence, incoming.text, int(pdu["registered_delivery"]))
        )
        part_message_id = part_id(stored.group_id, concat.sequence)
        if not stored.complete:
            return part_message_id
        group = stored.group_id
        receipts = receipts_asked(stored.registered_delivery)
        whole = replace(
            submission,
            text=join([stored.texts[seq] for seq in range(1, key.total + 1)]),
            url=(
                receipt_url(self.system_id, group, key.total, failure_only=receipts == 2)
                if receipts
                else None
            ),
        )
        try:
            prepared: Prepared = await self._guarded(
                self.gateway.prepare_send(scope, whole, self.peer_ip, request_id(group))
            )
        except Refusal as refusal:
            # A temporary failure keeps the parts: the last one, sent again, completes them.
            if refusal.status != Status.ESME_RSYSERR:
                with contextlib.suppress(Refusal):
                    await self._guarded(assembly.drop(group))
            raise
        # False: a duplicate of this part, served at the same time, completed the message
        # (or the parts went).
        finished = await self._guarded(assembly.finish(key, group, prepared))
        if not finished and await self._guarded(assembly.assembled(account.id, group)) is None:
            raise Refusal(Status.ESME_RSYSERR, "the parts went before they were assembled")
        log.debug("smpp message assembled", system_id=self.system_id, group=group)
        return part_message_id

    async def _guarded(self, work: Any) -> Any:
        """``work``'s result; what it raises as a Refusal (nothing was stored)."""
        try:
            return await work
        except Refusal:
            raise
        except Forbidden as exc:
            status = {"dst": Status.ESME_RINVDSTADR, "src": Status.ESME_RINVSRCADR}.get(
                exc.param, Status.ESME_RX_R_APPN
            )
            raise Refusal(status, f"forbidden {exc.param} (permission rules)") from None
        except InvalidParameter as exc:
            raise Refusal(
                _INVALID.get(exc.param, Status.ESME_RSUBMITFAIL), f"invalid {exc.param}"
            ) from None
        except Exception as exc:
            if store_unavailable(exc):
                log.warning("smpp submit: the store is unavailable", system_id=self.system_id)
                raise Refusal(Status.ESME_RSYSERR, "the store is unavailable") from None
            log.exception("smpp submit failed", system_id=self.system_id)
            raise Refusal(Status.ESME_RSYSERR, f"{type(exc).__name__}") from None

    async def _throttle(self, account: Account) -> None:
        pacing = self.gateway.pacing
        try:
            await pacing.admit(f"smpp:{self.system_id}", account)
        except RateLimited:
            raise Refusal(Status.ESME_RTHROTTLED, "api_requests limit") from None
        if self._submit_rate is not None:
            limit = Limit(f"smpp-submit:{self.system_id}", self._submit_rate)
            if await pacing.limiter.take([limit]):
                self.gateway.metrics.rate_limited.inc()
                raise Refusal(Status.ESME_RTHROTTLED, "submit_rate limit")

    def _read(self, pdu: Pdu) -> Incoming:
        if pdu.command == Command.DATA_SM and not pdu.tlvs.get(Tag.MESSAGE_PAYLOAD):
            raise Refusal(Status.ESME_RMISSINGOPTPARAM, "data_sm without message_payload")
        if int(pdu["esm_class"]) & _ESM_TYPE:
            raise Refusal(Status.ESME_RINVESMCLASS, "not a plain message (esm_class type)")
        if pdu.command == Command.SUBMIT_SM and pdu["schedule_delivery_time"]:
            raise Refusal(Status.ESME_RINVSCHED, "scheduled delivery is not supported")
        try:
            incoming = decode_short_message(
                int(pdu["data_coding"]),
                int(pdu["esm_class"]),
                bytes(pdu["short_message"]) if pdu.command == Command.SUBMIT_SM else b"",
                pdu.tlvs,
                default_alphabet=self.default_alphabet,
            )
        except CodingError as exc:
            raise Refusal(Status.ESME_RSUBMITFAIL, f"unreadable message: {exc}") from None
        if incoming.binary:
            raise Refusal(Status.ESME_RSUBMITFAIL, "8-bit binary data is not sent")
        return incoming

    def _expiry(self, pdu: Pdu) -> int:
        """message_expiry from validity_period (data_sm: qos_time_to_live), capped at the
        gateway's longest."""
        if pdu.command == Command.DATA_SM:
            ttl = pdu.tlv_int(Tag.QOS_TIME_TO_LIVE)
            if ttl is None:
                return EXPIRY_DEFAULT
            wanted = float(ttl)
        else:
            raw = str(pdu["validity_period"])
            if not raw:
                return EXPIRY_DEFAULT
            try:
                wanted = seconds_until(raw, self.gateway.clock.now_us())
            except TimeError as exc:
                raise Refusal(Status.ESME_RINVEXPIRY, str(exc)) from None
        if wanted < EXPIRY_MIN:
            raise Refusal(Status.ESME_RINVEXPIRY, f"validity of {wanted:.0f} s")
        return min(int(wanted), EXPIRY_MAX)

    # --- query -----------------------------------------------------------------------------

    async def _query(self, pdu: Pdu) -> Pdu:
        message_id = str(pdu["message_id"])
        account = self.account
        msg: Message | None = None
        try:
            part = PART_ID.fullmatch(message_id)
            if part is not None:
                group = part[1]
                msg = await self.server.assembly.assembled(account.id, group)
                if msg is None and await self.server.assembly.pending(self.system_id, group):
                    return response_to(
                        pdu, message_id=message_id, final_date="", message_state=ENROUTE
                    )
            elif _UUID.fullmatch(message_id):
                msg = await self.gateway.message(Scope(account, (account.id,)), message_id)
        except Exception:
            log.exception("smpp query_sm failed", system_id=self.system_id)
            return answer(pdu, Status.ESME_RSYSERR)
        if msg is None or msg.direction != Direction.OUTBOUND:
            return answer(pdu, Status.ESME_RQUERYFAIL)
        state, final = message_state(msg)
        return response_to(
            pdu, message_id=message_id, final_date=final, message_state=state, error_code=0
        )


def destination(pdu: Pdu) -> str:
    """destination_addr as international digits: TON 1 (international) or 0 (unknown), with
    or without ``+`` or ``00``; national and other TONs are refused."""
    ton = int(pdu["dest_addr_ton"])
    if ton not in (0, 1):
        raise Refusal(Status.ESME_RINVDSTTON, f"dest_addr_ton {ton}: use 1 (international)")
    raw = str(pdu["destination_addr"]).strip()
    digits = raw[1:] if raw.startswith("+") else raw[2:] if raw.startswith("00") else raw
    if not digits.isascii() or not digits.isdigit():
        raise Refusal(Status.ESME_RINVDSTADR, "destination_addr is not digits")
    return digits

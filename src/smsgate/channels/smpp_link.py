"""One SMPP bind of the SMPP channel: a TCP (or TLS) connection to the SMSC, bound as
transceiver, transmitter or receiver, kept up by a supervisor.

The supervisor connects, binds, answers the SMSC's requests (enquire_link, unbind; deliver_sm
and data_sm go to the channel), sends enquire_link whenever nothing was read for the interval
(a link that does not answer it is closed), and after the connection ends connects again
with jittered exponential backoff (also after an unexpected error, which is logged). A bind
refused for its credentials is retried at the longest backoff only. The channel reserves
window slots on a bind (``submits``) and sends submit_sm through ``submit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from smsgate.core.ids import uuid7
from smsgate.smpp.connection import Connection, ConnectionClosed, ResponseTimeout
from smsgate.smpp.pdu import (
    INTERFACE_VERSION,
    Command,
    Pdu,
    Status,
    response_to,
    status_name,
)

log = structlog.get_logger(__name__)

#: Bind refusals that another try with the same settings will not cure.
CREDENTIALS_REFUSED = frozenset((Status.ESME_RINVPASWD, Status.ESME_RINVSYSID))

BIND_COMMANDS = {
    "transceiver": Command.BIND_TRANSCEIVER,
    "transmitter": Command.BIND_TRANSMITTER,
    "receiver": Command.BIND_RECEIVER,
}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from: the bind, its connection then, and that session's name."""

    bind: Bind
    connection: Connection
    session: str


#: What a bind does with a deliver_sm or data_sm: the response to send.
DeliverHandler = Callable[[Origin, Pdu], Awaitable[Pdu]]


class NotSent(ConnectionClosed):
    """The bind was down before the request could be written: the SMSC never saw it."""


@dataclass(frozen=True, slots=True)
class LinkSettings:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    response_timeout: float
    enquire_link_interval: float
    reconnect_min: float
    reconnect_max: float
    ssl: ssl.SSLContext | None = None


class Bind:
    """One bind's session, reconnected for as long as the channel runs."""

    def __init__(
        self,
        label: str,
        mode: str,
        settings: LinkSettings,
        on_deliver: DeliverHandler,
        on_change: Callable[[], None],
    ) -> None:
        self.label = label
        self.mode = mode
        self.command = BIND_COMMANDS[mode]
        self.transmits = mode != "receiver"
        self.settings = settings
        self._on_deliver = on_deliver
        self._on_change = on_change
        self.connection: Connection | None = None
        self.bound = False
        #: Names the current session (a new one at every bind), bound at ``bound_at``
        #: (the event loop's time).
        self.session = ""
        self.bound_at = 0.0
        #: Window slots reserved by the channel (submit_sm sent or about to be).
        self.submits = 0
        self.paused_until = 0.0
        self.last_error = ""
        self.binds = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._supervise(), name=f"smpp-{self.label}")

    async def stop(self) -> None:
        """Unbind (waiting briefly for unbind_resp), close, and stop reconnecting."""
        self._stopping = True
        conn = self.connection
        if conn is not None and self.bound:
            self._down("")
            await conn.unbind(wait=min(2.0, self.settings.response_timeout))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def _down(self, error: str) -> None:
        if error:
            self.last_error = error
        if self.bound:
            self.bound = False
            self._on_change()

    async def _supervise(self) -> None:
        s = self.settings
        delay = s.reconnect_min
        while not self._stopping:
            binds = self.binds
            try:
                refused = await self._session()
            except Exception as exc:  # a setting that cannot be sent, say: try again later
                log.exception("smpp bind failed", bind=self.label)
                self._down(f"{type(exc).__name__}: {exc}")
                refused = False
            if self._stopping:
                return
            if self.binds > binds:
                delay = s.reconnect_min  # it was bound: start again from the shortest wait
            wait = s.reconnect_max if refused else delay
            await asyncio.sleep(wait * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            if not refused:
                delay = min(delay * 2, s.reconnect_max)

    async def _session(self) -> bool:
        """Connect, bind and serve until the connection ends; True when the SMSC refused
        the credentials."""
        s = self.settings
        try:
            async with asyncio.timeout(s.response_timeout):
                reader, writer = await asyncio.open_connection(
                    s.host, s.port, ssl=s.ssl, server_hostname=s.host if s.ssl else None
                )
        except (OSError, TimeoutError) as exc:
            self._down(f"connect to {s.host}:{s.port} failed: {exc or type(exc).__name__}")
            return False
        conn = Connection(
            reader,
            writer,
            self._request,
            response_timeout=s.response_timeout,
            name=f"smpp-{self.label}",
        )
        self.connection = conn
        reading = asyncio.create_task(conn.run(), name=f"smpp-{self.label}-read")
        try:
            return await self._bound(conn)
        except (ConnectionClosed, OSError) as exc:
            self._down(str(exc) or "connection lost")
            return False
        finally:
            self._down("")
            await conn.close()
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
            self.connection = None

    async def _bound(self, conn: Connection) -> bool:
        s = self.settings
        try:
            answer = await conn.request(
                self.command,
                system_id=s.system_id,
                password=s.password,
                system_type=s.system_type,
                interface_version=INTERFACE_VERSION,
            )
        except ResponseTimeout:
            self._down(f"no answer to {self.mode} bind in {s.response_timeout:g} s")
            return False
        if answer.status != Status.ESME_ROK:
            name = status_name(answer.status)
            self._down(f"bind refused: {name}")
            log.warning("smpp bind refused", bind=self.label, status=name)
            return answer.status in CREDENTIALS_REFUSED
        self.session = uuid7()
        self.bound_at = asyncio.get_running_loop().time()
        self.binds += 1
        self.bound = True
        self.last_error = ""
        log.info(
            "smpp bound",
            bind=self.label,
            mode=self.mode,
            smsc=answer.fields.get("system_id", ""),
            peer=str(conn.peer),
        )
        self._on_change()
        await self._keepalive(conn)
        return False

    async def _keepalive(self, conn: Connection) -> None:
        """enquire_link whenever nothing was read for the interval; returns once the
        connection has ended (or was closed for not answering)."""
        loop = asyncio.get_running_loop()
        interval = self.settings.enquire_link_interval
        while not conn.closed.is_set():
            wait = conn.last_read + interval - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await conn.closed.wait()
                continue
            try:
                await conn.request(Command.ENQUIRE_LINK)
            except ResponseTimeout:
                log.warning("smpp link does not answer enquire_link", bind=self.label)
                self._down("no answer to enquire_link: reconnecting")
                return
        if self.bound:
            self._down("connection closed")

    # --- requests from the SMSC -----------------------------------------------------------

    async def _request(self, conn: Connection, pdu: Pdu) -> Pdu | None:
        command = pdu.command
        if command == Command.ENQUIRE_LINK:
            return response_to(pdu)
        if command in (Command.DELIVER_SM, Command.DATA_SM):
            return await self._on_deliver(Origin(self, conn, self.session), pdu)
        if command == Command.UNBIND:
            log.info("smpp SMSC unbinds", bind=self.label)
            self._down("unbound by the SMSC")
            self._close(conn, linger=True)
            return response_to(pdu)
        if command == Command.ALERT_NOTIFICATION:
            log.info(
                "smpp alert_notification",
                bind=self.label,
                source=pdu.fields.get("source_addr", ""),
                esme=pdu.fields.get("esme_addr", ""),
            )
            return None
        if command == Command.OUTBIND:
            log.info("smpp outbind ignored: this bind is already connected", bind=self.label)
            return None
        return response_to(pdu, Status.ESME_RINVCMDID)

    # --- sending --------------------------------------------------------------------------

    def room(self, window: int, now: float) -> int:
        """Window slots free at ``now`` (``time.monotonic()``; 0 when down or paused)."""
        if not (self.bound and self.transmits) or self.paused_until > now:
            return 0
        return max(0, window - self.submits)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def submit(self, **fields: Any) -> Pdu:
        """submit_sm and its response; NotSent when the bind is down, else what
        ``Connection.request`` raises."""
        conn = self.connection
        if conn is None or not self.bound or conn.closed.is_set():
            raise NotSent(f"{self.label}: not bound")
        return await conn.request(Command.SUBMIT_SM, **fields)

    def reset(self, reason: str) -> None:
        """Close the connection (the supervisor binds again)."""
        conn = self.connection
        self._down(reason)
        if conn is not None:
            self._close(conn, linger=False)

    def _close(self, conn: Connection, linger: bool) -> None:
        """Close ``conn`` once the current task yields; with ``linger``, after the requests
        being served are answered (for at most response_timeout)."""

        async def close() -> None:
            if linger:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.response_timeout):
                        await conn.idle()
            await conn.close()

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def detail(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "bound": self.bound,
            "outstanding": self.submits,
            "binds": self.binds,
            "last_error": self.last_error or None,
        }

"""The SMPP 3.4 server face: smsgate as an SMSC that applications (ESMEs) bind to.

``SmppServer`` listens on ``[smpp_server]``'s host and port (and on ``tls_port`` over TLS
1.2 or later), runs one ``Session`` per connection, drops concatenated messages whose parts
stopped coming, and hands the bound sessions to the gateway's ``smpp_delivery`` (receipts
and inbound messages go out through ``receivers``). Connections not bound yet are capped
(``max_unbound`` in all, ``MAX_UNBOUND_PER_PEER`` from one IP address); binds check their
passwords on a ``PasswordChecker`` of the server's own, so a flood of binds does not slow
the other faces' logins.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl

import structlog

from smsgate.config import SmppServerSettings
from smsgate.core.gateway import Gateway
from smsgate.core.passwords import PasswordChecker
from smsgate.smpp_server.assembly import Assembly
from smsgate.smpp_server.session import Session

log = structlog.get_logger(__name__)

#: How long ``stop`` waits for the sessions to finish after unbinding them.
STOP_SECONDS = 15.0
#: Connections from one IP address not bound yet, at once.
MAX_UNBOUND_PER_PEER = 8
#: A refused bind is answered after this many seconds times the refusals on its connection.
REFUSED_BIND_DELAY = 0.5
#: Bind password checks (scrypt) at once, and how long a success is remembered (seconds).
BIND_CHECKS_AT_ONCE = 2
BIND_CACHE_SECONDS = 10.0


def tls_context(settings: SmppServerSettings) -> ssl.SSLContext:
    """The TLS listener's context: TLS 1.2 or later, the configured certificate and key."""
    assert settings.tls_cert_file is not None and settings.tls_key_file is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


class SmppServer:
    def __init__(
        self,
        gateway: Gateway,
        settings: SmppServerSettings | None = None,
        *,
        refused_bind_delay: float = REFUSED_BIND_DELAY,
        max_unbound_per_peer: int = MAX_UNBOUND_PER_PEER,
    ) -> None:
        self.gateway = gateway
        self.settings = settings or gateway.settings.smpp_server
        self.refused_bind_delay = refused_bind_delay
        self.max_unbound_per_peer = max_unbound_per_peer
        #: Checks bind passwords; not the gateway's (admins, smstools-http-api users).
        self.passwords = PasswordChecker(BIND_CHECKS_AT_ONCE, BIND_CACHE_SECONDS)
        #: Every connection's session, bound or not.
        self.sessions: set[Session] = set()
        self.assembly = Assembly(gateway)
        self.closing = False
        self._listeners: list[asyncio.Server] = []
        self._plain: asyncio.Server | None = None
        self._tls: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # --- what delivery uses ----------------------------------------------------------------

    def bound(self, system_id: str) -> list[Session]:
        """Sessions bound as ``system_id``, in any mode."""
        return [s for s in self.sessions if s.bound and s.system_id == system_id]

    def receivers(self, system_id: str) -> list[Session]:
        """Bound sessions of ``system_id`` that may receive (receiver or transceiver), most
        recently active first."""
        found = [
            s
            for s in self.sessions
            if s.system_id == system_id and s.receives and not s.connection.closed.is_set()
        ]
        return sorted(found, key=lambda s: s.connection.last_read, reverse=True)

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._plain is not None, "the SMPP server is not started"
        return int(self._plain.sockets[0].getsockname()[1])

    @property
    def tls_port(self) -> int | None:
        if self._tls is None:
            return None
        return int(self._tls.sockets[0].getsockname()[1])

    async def start(self) -> None:
        settings = self.settings
        self.closing = False
        self._plain = await asyncio.start_server(
            functools.partial(self._connected, tls=False), settings.host, settings.port
        )
        self._listeners.append(self._plain)
        if settings.tls_port is not None:
            self._tls = await asyncio.start_server(
                functools.partial(self._connected, tls=True),
                settings.host,
                settings.tls_port,
                ssl=tls_context(settings),
                ssl_handshake_timeout=settings.bind_timeout,
            )
            self._listeners.append(self._tls)
        self._sweeper = asyncio.create_task(self.assembly.run(), name="smpp-part-sweeper")
        self.gateway.smpp_delivery.attach(self)
        log.info(
            "smpp server listening",
            host=settings.host,
            port=self.port,
            tls_port=self.tls_port,
        )

    async def stop(self) -> None:
        """Stop taking connections, let every session finish what it is doing, unbind it,
        close it."""
        self.closing = True
        for listener in self._listeners:
            listener.close()
        self.gateway.smpp_delivery.detach(self)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        sessions = list(self.sessions)
        await asyncio.gather(*(session.leave() for session in sessions), return_exceptions=True)
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=STOP_SECONDS)
        for listener in self._listeners:
            await listener.wait_closed()
        self._listeners.clear()
        self._plain = self._tls = None
        log.info("smpp server stopped", sessions=len(sessions))

    async def _connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool
    ) -> None:
        if self.closing:
            writer.close()
            return
        if self._too_many_unbound(writer):
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        session = Session(self, reader, writer, tls=tls)
        self.sessions.add(session)
        try:
            await session.run()
        except Exception:
            log.exception("smpp session failed", peer=session.peer)
        finally:
            self.sessions.discard(session)
            self._connections.discard(task)

    def _too_many_unbound(self, writer: asyncio.StreamWriter) -> bool:
        """Whether a new connection would exceed the caps on connections not bound yet."""
        peer = writer.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        unbound = [s for s in self.sessions if not s.bound]
        from_peer = sum(1 for s in unbound if s.peer_ip == ip)
        if len(unbound) < self.settings.max_unbound and from_peer < self.max_unbound_per_peer:
            return False
        log.warning(
            "smpp connection closed: too many connections not bound",
            peer=ip,
            unbound=len(unbound),
            from_peer=from_peer,
        )
        return True

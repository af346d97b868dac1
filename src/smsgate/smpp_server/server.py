"""The SMPP 3.4 server face: smsgate as an SMSC that applications (ESMEs) bind to.

``SmppServer`` listens on ``[smpp_server]``'s host and port (and on ``tls_port`` over TLS
1.2 or later), runs one ``Session`` per connection, drops concatenated messages whose parts
stopped coming, and hands the bound sessions to the gateway's ``smpp_delivery`` (receipts
and inbound messages go out through ``receivers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl

import structlog

from smsgate.config import SmppServerSettings
from smsgate.core.gateway import Gateway
from smsgate.smpp_server.assembly import Assembly
from smsgate.smpp_server.session import Session

log = structlog.get_logger(__name__)

#: How long ``stop`` waits for the sessions to finish after unbinding them.
STOP_SECONDS = 15.0


def tls_context(settings: SmppServerSettings) -> ssl.SSLContext:
    """The TLS listener's context: TLS 1.2 or later, the configured certificate and key."""
    assert settings.tls_cert_file is not None and settings.tls_key_file is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


class SmppServer:
    def __init__(self, gateway: Gateway, settings: SmppServerSettings | None = None) -> None:
        self.gateway = gateway
        self.settings = settings or gateway.settings.smpp_server
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

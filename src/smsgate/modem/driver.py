"""A modem on a serial port (``/dev/ttyUSB0``) or a TCP socket (``tcp://host:port``): the
AT session of :mod:`smsgate.modem.at` over a real stream, one command at a time, with
timeouts, and unsolicited codes handed to a callback as they arrive."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from urllib.parse import urlsplit

import structlog

from smsgate.modem.at import AtSession, Noise, Prompt, Response, Unsolicited

log = structlog.get_logger(__name__)


class ModemError(Exception):
    """The modem cannot be used as it is: reopen it (or fix its settings)."""


class ModemLost(ModemError):
    """The port closed or vanished (unplugged, dropped connection)."""


class ModemTimeout(ModemError):
    """No final answer in time: the modem hangs, or the line is not a modem."""


class CommandFailed(ModemError):
    """A command answered ERROR, +CME ERROR or +CMS ERROR."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"{response.command}: {response.result.text}")
        self.response = response


async def open_stream(
    port: str, baudrate: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``tcp://host:port`` or a serial device path (``/dev/ttyUSB0``, ``COM3``)."""
    if port.startswith("tcp://"):
        parts = urlsplit(port)
        if not parts.hostname or not parts.port:
            raise ModemError(f"{port!r}: use tcp://host:port")
        return await asyncio.open_connection(parts.hostname, parts.port)
    import serial_asyncio_fast  # imported here: only serial modems need it

    try:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=port, baudrate=baudrate
        )
    except Exception as exc:  # serial.SerialException and OSError, by platform
        raise ModemLost(f"{port}: {exc}") from exc
    return reader, writer


class Modem:
    """One open modem. ``command`` sends one AT command and returns its answer; unsolicited
    codes go to ``on_unsolicited`` in the order they arrive."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        timeout: float = 10.0,
        on_unsolicited: Callable[[Unsolicited], None] | None = None,
        on_lost: Callable[[ModemLost], None] | None = None,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.on_unsolicited = on_unsolicited
        self.on_lost = on_lost
        self._closing = False
        self.session = AtSession()
        self.noise = 0  # lines nobody could read
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self._lock = asyncio.Lock()
        self._lost: ModemLost | None = None

    @property
    def lost(self) -> ModemLost | None:
        return self._lost

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            open_stream(self.port, self.baudrate), self.timeout
        )
        self.session.reset()
        self._lost = None
        self._task = asyncio.create_task(self._read(), name=f"modem-{self.port}")

    async def close(self) -> None:
        self._closing = True
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._fail(ModemLost(f"{self.port}: closed"))

    async def command(
        self, command: str, body: str | None = None, *, seconds: float | None = None
    ) -> Response:
        """Send ``command`` (and ``body`` after the ``> `` prompt) and return the answer,
        OK or not. Raises ModemTimeout or ModemLost."""
        async with self._lock:
            if self._lost is not None:
                raise self._lost
            assert self._writer is not None
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            self._writer.write(self.session.command(command, body))
            try:
                async with asyncio.timeout(seconds or self.timeout):
                    await self._writer.drain()
                    return await asyncio.shield(self._waiter)
            except TimeoutError:
                self.session.abandon()
                self._writer.write(self.session.outgoing())
                raise ModemTimeout(
                    f"{command}: no answer in {seconds or self.timeout:g} s"
                ) from None
            except (ConnectionError, OSError) as exc:
                raise ModemLost(f"{self.port}: {exc}") from exc
            finally:
                self._waiter = None

    async def check(self, command: str, *, seconds: float | None = None) -> Response:
        """``command``, raising CommandFailed unless it answered OK."""
        response = await self.command(command, seconds=seconds)
        if not response.ok:
            raise CommandFailed(response)
        return response

    def _fail(self, error: ModemLost) -> None:
        if self._lost is None:
            self._lost = error
            if self.on_lost is not None and not self._closing:
                self.on_lost(error)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    async def _read(self) -> None:
        assert self._reader is not None and self._writer is not None
        try:
            while True:
                data = await self._reader.read(4096)
                if not data:
                    self._fail(ModemLost(f"{self.port}: the modem closed the connection"))
                    return
                for event in self.session.feed(data):
                    self._dispatch(event)
                pending = self.session.outgoing()
                if pending:
                    self._writer.write(pending)
        except (ConnectionError, OSError) as exc:
            self._fail(ModemLost(f"{self.port}: {exc}"))

    def _dispatch(self, event: Response | Unsolicited | Prompt | Noise) -> None:
        if isinstance(event, Response):
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(event)
        elif isinstance(event, Unsolicited):
            if self.on_unsolicited is not None:
                self.on_unsolicited(event)
        elif isinstance(event, Noise):
            self.noise += 1
            log.debug("modem noise", port=self.port, line=event.line[:80])

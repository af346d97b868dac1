"""One SMPP connection over asyncio streams, for either role.

``run`` reads frames until the peer closes: responses complete the ``request`` that waits
for them (matched by sequence_number; one nobody waits for is logged and dropped), requests
go to ``on_request`` in tasks of their own (at most ``max_requests`` at once, so a peer's
window is served concurrently) and what it returns is sent back; ``idle`` waits for them.
Unreadable frames get the answer SMPP prescribes: the command's response with the error
status when the command is known, else a generic_nack; a stream that cannot be cut into
frames any more is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from smsgate.smpp.pdu import (
    LAYOUTS,
    RESPONSE_BIT,
    Command,
    Framer,
    FramingError,
    Oversized,
    Pdu,
    PduError,
    Sequencer,
    Status,
    decode,
    encode,
    generic_nack,
    make,
    response_to,
)

log = structlog.get_logger(__name__)

#: Seconds ``close`` waits for buffered data to leave before it drops the connection.
CLOSE_WAIT = 2.0

#: What a connection does with a request: its response (None to send nothing).
RequestHandler = Callable[["Connection", Pdu], Awaitable[Pdu | None]]


class ConnectionClosed(ConnectionError):
    """The connection closed before the response came."""


class ResponseTimeout(TimeoutError):
    """The peer did not answer a request in time."""


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_request: RequestHandler,
        *,
        response_timeout: float = 10.0,
        max_requests: int = 100,
        name: str = "smpp",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self.response_timeout = response_timeout
        self._requests = asyncio.Semaphore(max_requests)
        # Requests read and not yet served: reading stops while there are this many, so a
        # peer that floods is held back by TCP instead of growing memory.
        self._backlog = asyncio.Semaphore(2 * max_requests)
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sequence = Sequencer()
        self._framer = Framer()
        self.closed = asyncio.Event()
        self.name = name
        self.peer: Any = writer.get_extra_info("peername")
        self.last_read = asyncio.get_running_loop().time()

    # --- sending ---------------------------------------------------------------------------

    def send(self, pdu: Pdu) -> None:
        """Write ``pdu`` (a response, or a request nobody waits on)."""
        if self.closed.is_set():
            raise ConnectionClosed(f"{self.name}: the connection is closed")
        self._writer.write(encode(pdu))

    async def request(self, command: int, wait: float | None = None, **fields: Any) -> Pdu:
        """Send a request and return its response (or the generic_nack naming it); raises
        ResponseTimeout, ConnectionClosed, or PduError when the fields do not fit."""
        sequence = next(self._sequence)
        pdu = make(command, sequence, **fields)
        frame = encode(pdu)
        if self.closed.is_set():
            raise ConnectionClosed(f"{self.name}: the connection is closed")
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = future
        try:
            self._writer.write(frame)
            # A peer that stops reading holds the write up: that counts against the timeout.
            async with asyncio.timeout(wait or self.response_timeout):
                await self.drain()
                return await future
        except TimeoutError:
            raise ResponseTimeout(
                f"{self.name}: no answer to {pdu.name} in {wait or self.response_timeout} s"
            ) from None
        finally:
            self._pending.pop(sequence, None)

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._lost()
            raise ConnectionClosed(f"{self.name}: {exc}") from exc

    # --- reading ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Read until the peer closes or the stream is lost; then close."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                self.last_read = loop.time()
                for frame in self._framer.feed(data):
                    request = self._frame(frame)
                    if request is not None:
                        await self._backlog.acquire()
                        task = loop.create_task(self._serve(request))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                if self._framer.lost:
                    raise FramingError(self._framer.lost)
        except FramingError as exc:
            log.warning("smpp stream lost", connection=self.name, error=str(exc))
            # Requests read before the stream was lost are still answered.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.response_timeout):
                    await self.idle()
        except (ConnectionError, OSError) as exc:
            log.info("smpp connection lost", connection=self.name, error=str(exc))
        finally:
            await self.close()

    def _frame(self, frame: bytes | Oversized) -> Pdu | None:
        """Act on one frame; a request to serve is returned."""
        if isinstance(frame, Oversized):
            self._unreadable(frame.command, frame.sequence, Status.ESME_RINVCMDLEN, "too long")
            return None
        try:
            pdu = decode(frame)
        except PduError as exc:
            command = exc.command if exc.command is not None else 0
            sequence = exc.sequence if exc.sequence is not None else 0
            self._unreadable(command, sequence, exc.status, exc.reason)
            return None
        if pdu.is_response:
            future = self._pending.get(pdu.sequence)
            if future is None and pdu.command == Command.GENERIC_NACK and pdu.sequence == 0:
                log.warning("smpp peer refused a PDU", connection=self.name, status=pdu.status)
            elif future is None:
                log.info(
                    "smpp response nobody waits for",
                    connection=self.name,
                    command=pdu.name,
                    sequence=pdu.sequence,
                )
            elif not future.done():
                future.set_result(pdu)
            return None
        return pdu

    def _unreadable(self, command: int, sequence: int, status: int, reason: str) -> None:
        """A frame that cannot be read: a response still answers its request, as a failure
        (and is not itself answered); a request is refused."""
        if command & RESPONSE_BIT:
            future = self._pending.get(sequence)
            if future is not None and not future.done():
                future.set_result(Pdu(command, sequence, status))
            else:
                log.info(
                    "smpp unreadable response nobody waits for",
                    connection=self.name,
                    command=f"0x{command:08X}",
                    sequence=sequence,
                    reason=reason,
                )
            return
        self._refuse(command, sequence, status, reason)

    def _refuse(self, command: int, sequence: int, status: int, reason: str) -> None:
        log.info(
            "smpp PDU refused",
            connection=self.name,
            command=f"0x{command:08X}",
            sequence=sequence,
            status=status,
            reason=reason,
        )
        # outbind and alert_notification have no response of their own.
        known = not command & RESPONSE_BIT and (command | RESPONSE_BIT) in LAYOUTS
        answer = (
            Pdu(command | RESPONSE_BIT, sequence, status)
            if known
            else generic_nack(sequence, status)
        )
        with contextlib.suppress(ConnectionClosed):
            self.send(answer)

    async def _serve(self, pdu: Pdu) -> None:
        try:
            await self._answer(pdu)
        finally:
            self._backlog.release()

    async def _answer(self, pdu: Pdu) -> None:
        async with self._requests:
            try:
                answer = await self._on_request(self, pdu)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("smpp request failed", connection=self.name, command=pdu.name)
                has_response = (pdu.command | RESPONSE_BIT) in LAYOUTS
                answer = response_to(pdu, Status.ESME_RSYSERR) if has_response else None
            if answer is not None and not self.closed.is_set():
                with contextlib.suppress(ConnectionClosed):
                    try:
                        self.send(answer)
                    except PduError as exc:
                        log.error(
                            "smpp answer does not encode", connection=self.name, error=str(exc)
                        )
                        self.send(response_to(pdu, Status.ESME_RSYSERR))
                    try:
                        async with asyncio.timeout(self.response_timeout):
                            await self.drain()
                    except TimeoutError:
                        log.warning("smpp peer stopped reading", connection=self.name)
                        await self.close()

    # --- closing ---------------------------------------------------------------------------

    def _lost(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionClosed(f"{self.name}: the connection closed"))
        self._pending.clear()

    async def close(self) -> None:
        """Close now: requests waiting get ConnectionClosed. Request handlers already running
        finish (what they store stays stored), but their answers are not sent."""
        self._lost()
        self._writer.close()
        try:
            # Closing flushes what is buffered first: a peer that stops reading would hold
            # it up for ever. (Shielded: a cancelled wait would spoil the stream's own.)
            async with asyncio.timeout(CLOSE_WAIT):
                await asyncio.shield(self._writer.wait_closed())
        except TimeoutError:
            self._writer.transport.abort()
        except (ConnectionError, OSError):
            pass

    async def idle(self) -> None:
        """Wait until every request handler started so far has finished."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def unbind(self, wait: float = 2.0) -> None:
        """Say goodbye (unbind, wait briefly for unbind_resp), then close."""
        with contextlib.suppress(ConnectionError, TimeoutError, PduError):
            await self.request(Command.UNBIND, wait=wait)
        await self.close()

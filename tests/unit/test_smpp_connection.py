"""One SMPP connection over a real loopback socket: requests and their responses, handlers,
timeouts, closing, and the answers to frames that cannot be read."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from smsgate.smpp.connection import Connection, ConnectionClosed, ResponseTimeout
from smsgate.smpp.pdu import (
    Command,
    Pdu,
    PduError,
    Status,
    Tag,
    decode,
    encode,
    generic_nack,
    make,
    response_to,
)

Handler = Callable[[Connection, Pdu], Awaitable[Pdu | None]]
WAIT = 5.0


async def answer(connection: Connection, pdu: Pdu) -> Pdu | None:
    return response_to(pdu)


@contextlib.asynccontextmanager
async def linked(
    on_server: Handler = answer, on_client: Handler = answer, **options: Any
) -> AsyncIterator[tuple[Connection, Connection]]:
    """Two connections, client and server, over a loopback socket, both running."""
    accepted: asyncio.Queue[Connection] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(reader, writer, on_server, name="server", **options)
        accepted.put_nowait(connection)
        await connection.run()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = Connection(reader, writer, on_client, name="client", **options)
    running = asyncio.create_task(client.run())
    remote = await asyncio.wait_for(accepted.get(), WAIT)
    try:
        yield client, remote
    finally:
        await client.close()
        await remote.close()
        await running
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def raw_peer(
    on_request: Handler = answer, **options: Any
) -> AsyncIterator[tuple[Connection, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A running connection, and the raw streams of the socket's other end."""
    ready: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ready.put_nowait((reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connection = Connection(reader, writer, on_request, name="under-test", **options)
    running = asyncio.create_task(connection.run())
    peer_reader, peer_writer = await asyncio.wait_for(ready.get(), WAIT)
    try:
        yield connection, peer_reader, peer_writer
    finally:
        peer_writer.close()
        await connection.close()
        await running
        server.close()
        await server.wait_closed()


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(WAIT):
        header = await reader.readexactly(16)
        return header + await reader.readexactly(int.from_bytes(header[:4], "big") - 16)


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    return decode(await read_frame(reader))


async def write(writer: asyncio.StreamWriter, *frames: bytes) -> None:
    writer.write(b"".join(frames))
    await writer.drain()


def header(length: int, command: int, sequence: int, status: int = 0) -> bytes:
    return struct.pack(">IIII", length, command, status, sequence)


# --- requests and responses ---------------------------------------------------------------


async def test_responses_match_requests_by_sequence_out_of_order() -> None:
    gates: dict[int, asyncio.Future[None]] = {}
    arrived: asyncio.Queue[Pdu] = asyncio.Queue()

    async def slow(connection: Connection, pdu: Pdu) -> Pdu:
        gates[pdu.sequence] = asyncio.get_running_loop().create_future()
        arrived.put_nowait(pdu)
        await gates[pdu.sequence]
        return response_to(pdu, message_id="id-" + pdu["short_message"].decode())

    async with linked(slow) as (client, _server):
        texts = ["one", "two", "three"]
        tasks = {
            text: asyncio.create_task(
                client.request(Command.SUBMIT_SM, short_message=text.encode())
            )
            for text in texts
        }
        requests = [await asyncio.wait_for(arrived.get(), WAIT) for _ in texts]
        assert len({r.sequence for r in requests}) == 3
        assert client.outstanding == 3
        for done, request in enumerate(reversed(requests), 1):
            text = request["short_message"].decode()
            gates[request.sequence].set_result(None)
            response = await asyncio.wait_for(tasks[text], WAIT)
            assert response.command == Command.SUBMIT_SM_RESP
            assert response.sequence == request.sequence
            assert response["message_id"] == f"id-{text}"
            assert sum(not t.done() for t in tasks.values()) == 3 - done
        assert client.outstanding == 0


async def test_both_sides_request_and_answer() -> None:
    async def client_side(connection: Connection, pdu: Pdu) -> Pdu:
        return response_to(pdu)

    async with linked(on_client=client_side) as (client, server):
        to_server = await client.request(Command.ENQUIRE_LINK)
        to_client = await server.request(
            Command.DELIVER_SM, source_addr="447700900123", short_message=b"hi"
        )
        assert (to_server.command, to_server.status) == (Command.ENQUIRE_LINK_RESP, 0)
        assert (to_client.command, to_client.status) == (Command.DELIVER_SM_RESP, 0)


async def test_a_failing_handler_answers_system_error() -> None:
    async def broken(connection: Connection, pdu: Pdu) -> Pdu:
        raise RuntimeError("the store is down")

    async with linked(broken) as (client, server):
        answer = await client.request(Command.SUBMIT_SM, short_message=b"x")
        assert (answer.command, answer.status) == (Command.SUBMIT_SM_RESP, Status.ESME_RSYSERR)
        answer = await client.request(Command.ENQUIRE_LINK)
        assert (answer.command, answer.status) == (Command.ENQUIRE_LINK_RESP, Status.ESME_RSYSERR)
        assert not server.closed.is_set()


async def test_a_failing_handler_for_a_pdu_without_response_answers_nothing() -> None:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))

    async def picky(connection: Connection, pdu: Pdu) -> Pdu:
        if pdu.command == Command.ALERT_NOTIFICATION:
            raise RuntimeError("cannot take alerts")
        return response_to(pdu)

    async with raw_peer(picky) as (connection, reader, writer):
        alert = make(Command.ALERT_NOTIFICATION, 1, source_addr="447700900123", esme_addr="1")
        await write(writer, encode(alert))
        await connection.idle()
        await write(writer, encode(make(Command.ENQUIRE_LINK, 2)))
        assert await read_pdu(reader) == make(Command.ENQUIRE_LINK_RESP, 2)
        gc.collect()
        assert errors == []


async def test_response_timeout() -> None:
    async def silent(connection: Connection, pdu: Pdu) -> None:
        return None

    async with linked(silent, response_timeout=0.05) as (client, _server):
        with pytest.raises(ResponseTimeout):
            await client.request(Command.ENQUIRE_LINK)
        with pytest.raises(ResponseTimeout):
            await client.request(Command.ENQUIRE_LINK, wait=0.02)
        assert client.outstanding == 0
        assert not client.closed.is_set()


async def test_the_peer_closing_fails_pending_requests() -> None:
    arrived = asyncio.Event()
    hold = asyncio.Event()
    served: list[Pdu] = []

    async def hang(connection: Connection, pdu: Pdu) -> Pdu:
        arrived.set()
        await hold.wait()
        served.append(pdu)
        return response_to(pdu)

    async with linked(hang) as (client, server):
        pending = [asyncio.create_task(client.request(Command.ENQUIRE_LINK)) for _ in range(2)]
        await asyncio.wait_for(arrived.wait(), WAIT)
        await server.close()
        for task in pending:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(task, WAIT)
        await asyncio.wait_for(client.closed.wait(), WAIT)
        assert client.outstanding == 0
        with pytest.raises(ConnectionClosed):
            await client.request(Command.ENQUIRE_LINK)
        with pytest.raises(ConnectionClosed):
            client.send(make(Command.ENQUIRE_LINK, 9))
        # Handlers already running finish; their answers are not sent.
        hold.set()
        await server.idle()
        assert len(served) == 2


async def test_request_refuses_fields_that_do_not_fit() -> None:
    async with linked() as (client, _server):
        with pytest.raises(PduError):
            await client.request(Command.SUBMIT_SM, short_message=b"x" * 255)
        assert client.outstanding == 0
        assert (await client.request(Command.ENQUIRE_LINK)).status == 0


async def test_unbind_says_goodbye_and_closes() -> None:
    seen: list[int] = []

    async def record(connection: Connection, pdu: Pdu) -> Pdu:
        seen.append(pdu.command)
        return response_to(pdu)

    async with linked(record) as (client, server):
        await client.unbind()
        assert client.closed.is_set()
        await asyncio.wait_for(server.closed.wait(), WAIT)
        assert seen == [Command.UNBIND]


# --- frames that cannot be read -------------------------------------------------------------


async def test_unknown_command_gets_generic_nack_and_the_connection_survives() -> None:
    async with raw_peer() as (connection, reader, writer):
        await write(writer, header(16, 0x00000099, 5), header(20, 0x00000077, 6) + b"abcd")
        assert await read_pdu(reader) == generic_nack(5, Status.ESME_RINVCMDID)
        assert await read_pdu(reader) == generic_nack(6, Status.ESME_RINVCMDID)
        await write(writer, encode(make(Command.ENQUIRE_LINK, 7)))
        assert await read_pdu(reader) == make(Command.ENQUIRE_LINK_RESP, 7)
        assert not connection.closed.is_set()


async def test_a_malformed_request_gets_its_response_with_the_error() -> None:
    async with raw_peer() as (_connection, reader, writer):
        cut = encode(make(Command.SUBMIT_SM, 8, source_addr="447700900123"))[:24]
        bad_tlv = encode(make(Command.QUERY_SM, 9, message_id="m")) + b"\x00\x05\x00"
        await write(
            writer,
            struct.pack(">I", len(cut)) + cut[4:],
            struct.pack(">I", len(bad_tlv)) + bad_tlv[4:],
        )
        assert await read_pdu(reader) == Pdu(Command.SUBMIT_SM_RESP, 8, Status.ESME_RINVCMDLEN)
        assert await read_pdu(reader) == Pdu(Command.QUERY_SM_RESP, 9, Status.ESME_RINVOPTPARSTREAM)
        await write(writer, encode(make(Command.ENQUIRE_LINK, 10)))
        assert await read_pdu(reader) == make(Command.ENQUIRE_LINK_RESP, 10)


async def test_a_malformed_pdu_without_response_gets_generic_nack() -> None:
    async with raw_peer() as (connection, reader, writer):
        await write(writer, header(17, Command.OUTBIND, 3) + b"x")
        assert await read_pdu(reader) == generic_nack(3, Status.ESME_RINVCMDLEN)
        await write(writer, encode(make(Command.ENQUIRE_LINK, 4)))
        assert await read_pdu(reader) == make(Command.ENQUIRE_LINK_RESP, 4)
        assert not connection.closed.is_set()


async def test_an_unreadable_response_completes_its_request_with_the_error() -> None:
    async with raw_peer() as (connection, reader, writer):
        pending = asyncio.create_task(
            connection.request(Command.SUBMIT_SM, destination_addr="447700900456")
        )
        request = await read_pdu(reader)
        assert request.command == Command.SUBMIT_SM
        # message_id with no NUL before the end of the frame
        await write(writer, header(19, Command.SUBMIT_SM_RESP, request.sequence) + b"abc")
        response = await asyncio.wait_for(pending, WAIT)
        assert response == Pdu(Command.SUBMIT_SM_RESP, request.sequence, Status.ESME_RINVCMDLEN)
        # Nothing was sent back for it: the next frame is the answer to the next request.
        await write(writer, encode(make(Command.ENQUIRE_LINK, 77)))
        assert await read_pdu(reader) == make(Command.ENQUIRE_LINK_RESP, 77)


async def test_generic_nack_naming_a_request_answers_it() -> None:
    async with raw_peer() as (connection, reader, writer):
        pending = asyncio.create_task(connection.request(Command.QUERY_SM, message_id="m1"))
        request = await read_pdu(reader)
        await write(writer, encode(generic_nack(request.sequence, Status.ESME_RINVBNDSTS)))
        nack = await asyncio.wait_for(pending, WAIT)
        assert (nack.command, nack.status) == (Command.GENERIC_NACK, Status.ESME_RINVBNDSTS)


async def test_responses_nobody_waits_for_are_dropped() -> None:
    async with raw_peer() as (connection, reader, writer):
        await write(
            writer,
            encode(make(Command.ENQUIRE_LINK_RESP, 4242)),
            encode(generic_nack(0, Status.ESME_RINVCMDLEN)),
            encode(make(Command.ENQUIRE_LINK, 5)),
        )
        assert await read_pdu(reader) == make(Command.ENQUIRE_LINK_RESP, 5)
        assert not connection.closed.is_set()


async def test_an_oversized_frame_is_refused_and_the_next_one_served() -> None:
    async with raw_peer() as (connection, reader, writer):
        big = header(80_000, Command.SUBMIT_SM, 11) + b"\x55" * (80_000 - 16)
        strange = header(75_000, 0x00000077, 12) + b"\x00" * (75_000 - 16)
        await write(writer, big[:1000])
        await write(writer, big[1000:], strange, encode(make(Command.ENQUIRE_LINK, 13)))
        assert await read_pdu(reader) == Pdu(Command.SUBMIT_SM_RESP, 11, Status.ESME_RINVCMDLEN)
        assert await read_pdu(reader) == generic_nack(12, Status.ESME_RINVCMDLEN)
        assert await read_pdu(reader) == make(Command.ENQUIRE_LINK_RESP, 13)
        assert not connection.closed.is_set()


async def test_a_lost_stream_closes_the_connection() -> None:
    async with raw_peer() as (connection, reader, writer):
        pending = asyncio.create_task(connection.request(Command.ENQUIRE_LINK))
        await read_pdu(reader)
        await write(writer, header(8, Command.ENQUIRE_LINK_RESP, 1))
        await asyncio.wait_for(connection.closed.wait(), WAIT)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(pending, WAIT)
        async with asyncio.timeout(WAIT):
            assert await reader.read() == b""


async def test_whole_frames_before_a_lost_stream_are_still_served() -> None:
    async with raw_peer() as (connection, reader, writer):
        pending = asyncio.create_task(connection.request(Command.ENQUIRE_LINK))
        sent = await read_pdu(reader)
        answer = encode(make(Command.ENQUIRE_LINK_RESP, sent.sequence))
        await write(writer, answer, encode(make(Command.ENQUIRE_LINK, 7)), header(8, 0x15, 8))
        assert (await asyncio.wait_for(pending, WAIT)).status == Status.ESME_ROK
        assert await read_pdu(reader) == make(Command.ENQUIRE_LINK_RESP, 7)
        await asyncio.wait_for(connection.closed.wait(), WAIT)


async def test_an_oversized_response_fails_its_request_and_is_not_answered() -> None:
    async with raw_peer() as (connection, reader, writer):
        pending = asyncio.create_task(connection.request(Command.ENQUIRE_LINK))
        sent = await read_pdu(reader)
        big = header(80_000, Command.ENQUIRE_LINK_RESP, sent.sequence) + b"\x00" * (80_000 - 16)
        await write(writer, big, encode(make(Command.ENQUIRE_LINK, 9)))
        answered = await asyncio.wait_for(pending, WAIT)
        assert answered.status == Status.ESME_RINVCMDLEN
        # The next thing the peer reads answers its own enquire_link: no nack for a response.
        assert await read_pdu(reader) == make(Command.ENQUIRE_LINK_RESP, 9)


async def test_a_flooding_peer_is_held_back_instead_of_queued() -> None:
    entered = 0
    release = asyncio.Event()

    async def slow(connection: Connection, pdu: Pdu) -> Pdu:
        nonlocal entered
        entered += 1
        await release.wait()
        return response_to(pdu)

    async with raw_peer(slow, max_requests=2) as (connection, reader, writer):
        await write(writer, *(encode(make(Command.ENQUIRE_LINK, n)) for n in range(1, 101)))
        async with asyncio.timeout(WAIT):
            while entered < 2:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        # Two served, two more read and waiting; the other 96 stay in the socket.
        assert len(connection._tasks) == 4
        release.set()
        answered = {(await read_pdu(reader)).sequence for _ in range(100)}
        assert answered == set(range(1, 101))


async def test_a_peer_that_stops_reading_times_requests_out_and_close_ends() -> None:
    async with raw_peer(response_timeout=0.3) as (connection, _reader, _writer):
        # Far more than the socket buffers hold, and the peer reads none of it.
        big = {Tag.MESSAGE_PAYLOAD: b"x" * 60_000}
        requests = [
            asyncio.create_task(connection.request(Command.DATA_SM, tlvs=big)) for _ in range(200)
        ]
        done, _ = await asyncio.wait(requests, timeout=WAIT)
        assert len(done) == len(requests)
        assert all(isinstance(task.exception(), ResponseTimeout) for task in requests)
        await asyncio.wait_for(connection.close(), WAIT)


# --- handlers -------------------------------------------------------------------------------


async def test_max_requests_bounds_concurrent_handlers() -> None:
    gate = asyncio.Event()
    two_in = asyncio.Event()
    active = peak = started = 0

    async def busy(connection: Connection, pdu: Pdu) -> Pdu:
        nonlocal active, peak, started
        started += 1
        active += 1
        peak = max(peak, active)
        if active == 2:
            two_in.set()
        await gate.wait()
        active -= 1
        return response_to(pdu)

    async with raw_peer(busy, max_requests=2) as (_connection, reader, writer):
        await write(writer, *(encode(make(Command.ENQUIRE_LINK, n)) for n in range(1, 6)))
        await asyncio.wait_for(two_in.wait(), WAIT)
        for _ in range(20):
            await asyncio.sleep(0)
        assert (started, active) == (2, 2)
        gate.set()
        answers = [await read_pdu(reader) for _ in range(5)]
        assert sorted(a.sequence for a in answers) == [1, 2, 3, 4, 5]
        assert {a.command for a in answers} == {Command.ENQUIRE_LINK_RESP}
        assert (started, peak) == (5, 2)


async def test_idle_waits_for_running_handlers() -> None:
    gate = asyncio.Event()
    all_in = asyncio.Event()
    started: list[int] = []
    finished: list[int] = []

    async def slow(connection: Connection, pdu: Pdu) -> None:
        started.append(pdu.sequence)
        if len(started) == 3:
            all_in.set()
        await gate.wait()
        finished.append(pdu.sequence)

    async with raw_peer(slow) as (connection, _reader, writer):
        await connection.idle()  # nothing running
        await write(writer, *(encode(make(Command.ENQUIRE_LINK, n)) for n in (1, 2, 3)))
        await asyncio.wait_for(all_in.wait(), WAIT)
        idle = asyncio.create_task(connection.idle())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not idle.done() and finished == []
        gate.set()
        await asyncio.wait_for(idle, WAIT)
        assert sorted(finished) == [1, 2, 3]

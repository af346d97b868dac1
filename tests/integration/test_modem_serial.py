"""The modem channel on a serial device: a pseudo-terminal whose other end is wired to the
modem simulator, so the serial path (pyserial-asyncio-fast, termios) is the real one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import tty
from collections.abc import AsyncIterator

import pytest

from smsgate.modem.simulator import ModemSimulator
from tests.conftest import GatewayFactory, new_account
from tests.integration.test_modem_channel import modem_channel, send, settled, up


@pytest.fixture
async def serial_modem() -> AsyncIterator[tuple[str, ModemSimulator]]:
    """A /dev/pts/N device; what is written to it reaches the simulator, and back."""
    sim = ModemSimulator(seed=11)
    host, port = await sim.start()
    master, slave = pty.openpty()
    tty.setraw(slave)
    device = os.ttyname(slave)
    reader, writer = await asyncio.open_connection(host, port)
    loop = asyncio.get_running_loop()

    def from_serial() -> None:
        with contextlib.suppress(OSError):
            writer.write(os.read(master, 4096))

    loop.add_reader(master, from_serial)

    async def to_serial() -> None:
        while data := await reader.read(4096):
            os.write(master, data)

    pump = asyncio.create_task(to_serial())
    try:
        yield device, sim
    finally:
        loop.remove_reader(master)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        writer.close()
        await sim.stop()
        os.close(master)
        os.close(slave)


async def test_a_modem_on_a_serial_device(
    make_gateway: GatewayFactory, serial_modem: tuple[str, ModemSimulator]
) -> None:
    device, sim = serial_modem
    gateway = await make_gateway(
        channels=[modem_channel(None, port=device, baudrate=9600)], background=True
    )
    channel = await up(gateway)
    assert channel.health().detail["port"] == device
    account = await new_account(gateway)
    msg = await settled(gateway, account, await send(gateway, account, "over the wire " * 12))
    assert (msg.state, msg.units) == ("delivered", 2)
    assert "".join(s.submit.text or "" for s in sim.sent) == "over the wire " * 12


async def test_a_missing_serial_device_is_down(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(
        channels=[modem_channel(None, port="/dev/ttyUSB-nothing-here")], background=True
    )
    channel = gateway.channels["stick"]
    async with asyncio.timeout(5):
        while "nothing-here" not in (channel.health().detail["reason"] or ""):
            await asyncio.sleep(0.02)
    assert not channel.health().up

"""Debian's smsd (SMS Server Tools 3) drives our modem simulator over TCP, as it would a
Huawei stick: it sends, gets the status report, receives single and multipart messages, and
fails a message the network refuses. Software nobody here wrote, speaking AT to us."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from smsgate.modem.simulator import ModemSimulator
from tests.smsd import Smsd, need_smsd


def headers(path: Path) -> tuple[dict[str, str], str]:
    raw = path.read_text("latin-1")
    head, _, body = raw.partition("\n\n")
    fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
    return fields, body


async def appears(directory: Path, count: int = 1, timeout: float = 60.0) -> list[Path]:
    """The files in ``directory`` once there are ``count`` (smsd writes them whole)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(p for p in directory.iterdir() if not p.name.startswith("."))
        if len(found) >= count and all(b"\n\n" in p.read_bytes() for p in found):
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{directory.name}: {count} file(s) expected in {timeout:.0f} s")


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


@pytest.fixture
async def smsd(tmp_path: Path) -> AsyncIterator[tuple[Path, ModemSimulator]]:
    need_smsd()
    modem = ModemSimulator(seed=3)
    _, port = await modem.start()
    daemon = Smsd(tmp_path, port, extra="").start()
    try:
        yield tmp_path, modem
    finally:
        daemon.kill()
        await modem.stop()


def queue(spool: Path, name: str, text: str, *head: str) -> None:
    temporary = spool / "outgoing" / f".{name}"
    temporary.write_text("\n".join(head) + "\n\n" + text, "utf-8")
    temporary.rename(spool / "outgoing" / name)


async def test_smsd_sends_and_gets_a_status_report(
    smsd: tuple[Path, ModemSimulator],
) -> None:
    spool, modem = smsd
    queue(spool, "hello", "Hello through smsd", "To: 447700900123", "Report: yes")
    [sent] = await appears(spool / "sent")
    fields, _ = headers(sent)
    [taken] = modem.sent
    assert taken.submit.text == "Hello through smsd"
    assert str(taken.submit.destination) == "+447700900123"
    assert taken.submit.status_report
    assert fields["Message_id"] == str(taken.reference)
    [report] = await appears(spool / "report")
    _, body = headers(report)
    assert f"Message_id: {taken.reference}" in body
    assert "Status: 0,Ok" in body


async def test_smsd_sends_multipart_unicode(smsd: tuple[Path, ModemSimulator]) -> None:
    spool, modem = smsd
    text = "Привет из smsd! " * 8
    queue(spool, "long", text, "To: 447700900124", "Alphabet: UTF-8")
    await appears(spool / "sent")
    assert len(modem.sent) == 2
    parts = sorted(modem.sent, key=lambda s: s.submit.header.concat.sequence)  # type: ignore[union-attr]
    assert "".join(p.submit.text or "" for p in parts) == text


async def test_smsd_receives_single_and_multipart(smsd: tuple[Path, ModemSimulator]) -> None:
    spool, modem = smsd
    modem.deliver("+447700900555", "Short and sweet")
    modem.deliver("+447700900556", "Ж" * 100, order=[1, 0])
    files = await appears(spool / "incoming", 2)
    received = {headers(f)[0]["From"]: f for f in files}
    fields, body = headers(received["447700900555"])
    assert body == "Short and sweet"
    fields, _ = headers(received["447700900556"])
    assert fields["Alphabet"] == "UCS2" and fields["Length"] == "100"
    raw = received["447700900556"].read_bytes().partition(b"\n\n")[2]
    assert raw.decode("utf-16-be") == "Ж" * 100
    await until(lambda: not modem.store.slots)  # smsd deletes what it has written out


async def test_a_refused_message_ends_in_failed(smsd: tuple[Path, ModemSimulator]) -> None:
    spool, modem = smsd
    modem.fault("cms", count=10, code=21)  # short message transfer rejected, every retry
    queue(spool, "refused", "You shall not pass", "To: 447700900125")
    [failed] = await appears(spool / "failed", timeout=120)
    fields, _ = headers(failed)
    assert "Fail_reason" in fields
    assert modem.sent == []

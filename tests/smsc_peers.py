"""Third-party SMSCs for the SMPP client channel's tests, driven from asyncio.

``Smsc.start("npm")`` runs ``tests/peers/smsc.cjs`` (npm ``smpp``), ``Smsc.start("smpp34")``
runs ``tests/smsc34.py`` (PyPI ``smpp34``): both print JSON events on stdout and take JSON
commands on stdin; see those files for the events and commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import need_peer

TESTS = Path(__file__).parent
PEERS = TESTS / "peers"
NPM_SMSC = PEERS / "smsc.cjs"
SMPP34_SMSC = TESTS / "smsc34.py"

Event = dict[str, Any]
Predicate = Callable[[Event], bool]


def npm_smpp_available() -> bool:
    """Node.js is on the PATH and the npm ``smpp`` package is installed under tests/peers."""
    return shutil.which("node") is not None and (PEERS / "node_modules/smpp/package.json").is_file()


def smpp34_server_available() -> bool:
    """PyPI ``smpp34`` is installed, with its ``Server``."""
    if importlib.util.find_spec("smpp34") is None:
        return False
    import smpp34

    return hasattr(smpp34, "Server")


def need_smsc(kind: str) -> None:
    """Skip (or fail under SMSGATE_REQUIRE_PEERS=1) when the ``kind`` SMSC cannot run."""
    if kind == "npm":
        need_peer(
            npm_smpp_available(),
            "node or the npm smpp package is missing: npm install --prefix tests/peers",
        )
    elif kind == "smpp34":
        need_peer(smpp34_server_available(), "PyPI smpp34 (with its Server) is not installed")
    else:
        raise ValueError(f"unknown SMSC kind {kind!r}")


class SmscError(RuntimeError):
    """The SMSC refused a command, exited, or sent no matching event in time."""


class Smsc:
    """A running third-party SMSC: its port, the events it reported, and its controls."""

    host = "127.0.0.1"

    def __init__(self, kind: str, process: asyncio.subprocess.Process) -> None:
        self.kind = kind
        self.process = process
        self.port = 0
        self.ready: Event = {}
        #: Every event received, in order (command answers excluded).
        self.events: list[Event] = []
        self.stderr = bytearray()
        self.exited = False
        self._ids = itertools.count(1)
        self._answers: dict[int, asyncio.Future[Event]] = {}
        self._changed = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def start(
        cls,
        kind: str = "npm",
        system_id: str = "smsgate",
        password: str = "secret",
        quiet: bool = False,
        receipt_delay_ms: int = 0,
        timeout: float = 15.0,
    ) -> Smsc:
        """Spawn the ``kind`` SMSC ("npm" or "smpp34") and wait until it listens."""
        options = ["--system-id", system_id, "--password", password]
        options += ["--receipt-delay", str(receipt_delay_ms)]
        if quiet:
            options.append("--quiet-submits")
        if kind == "npm":
            node = shutil.which("node") or "node"
            argv = [node, str(NPM_SMSC), *options]
        elif kind == "smpp34":
            argv = [sys.executable, str(SMPP34_SMSC), *options]
        else:
            raise ValueError(f"unknown SMSC kind {kind!r}")
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        smsc = cls(kind, process)
        assert process.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                line = await process.stdout.readline()
        except TimeoutError:
            await smsc.stop()
            raise SmscError(f"{kind} SMSC not ready in {timeout}s") from None
        if not line:
            stderr = await process.stderr.read() if process.stderr else b""
            await smsc.stop()
            raise SmscError(f"{kind} SMSC exited: {stderr.decode(errors='replace')[-2000:]}")
        smsc.ready = json.loads(line)
        smsc.port = int(smsc.ready["port"])
        smsc._tasks = [
            asyncio.create_task(smsc._read_events()),
            asyncio.create_task(smsc._read_stderr()),
        ]
        return smsc

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def submits(self) -> list[Event]:
        """Every submit_sm the SMSC received, as ``submit`` events."""
        return [event for event in self.events if event.get("event") == "submit"]

    async def command(self, cmd: dict[str, Any], timeout: float = 10.0) -> Event:
        """Send one control command and return its answer; SmscError if refused."""
        assert self.process.stdin is not None
        ident = next(self._ids)
        answer: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._answers[ident] = answer
        try:
            self.process.stdin.write(json.dumps({**cmd, "id": ident}).encode() + b"\n")
            await self.process.stdin.drain()
            async with asyncio.timeout(timeout):
                result = await answer
        except (TimeoutError, ConnectionError) as exc:
            raise SmscError(f"no answer to {cmd}: {exc!r}{self._tail()}") from None
        finally:
            self._answers.pop(ident, None)
        if not result.get("ok"):
            raise SmscError(f"{cmd} refused: {result.get('error')}")
        return result

    async def wait_for(
        self, predicate: Predicate | str, timeout: float = 10.0, since: int = 0
    ) -> Event:
        """The first event from ``events[since:]`` on that matches, waiting for it if need be.

        ``predicate`` may be an event name. ``since=len(smsc.events)``, taken before an action,
        ignores what came before it.
        """
        match = (lambda e: e.get("event") == predicate) if isinstance(predicate, str) else predicate
        position = since
        found: list[Event] = []

        def seen() -> bool:
            nonlocal position
            for event in self.events[position:]:
                position += 1
                if match(event):
                    found.append(event)
                    return True
            return self.exited

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(seen)
        except TimeoutError:
            raise SmscError(f"no matching event in {timeout}s{self._tail()}") from None
        if not found:
            raise SmscError(f"{self.kind} SMSC exited{self._tail()}")
        return found[0]

    async def stop(self) -> None:
        """End the SMSC (stdin closed, then killed if it lingers) and wait for it."""
        if self.process.returncode is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                async with asyncio.timeout(5):
                    await self.process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _read_events(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            if not line.strip():
                continue
            event = json.loads(line)
            if "ok" in event:
                answer = self._answers.get(event.get("id", -1))
                if answer is not None and not answer.done():
                    answer.set_result(event)
                continue
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        async with self._changed:
            self.exited = True
            self._changed.notify_all()
        for answer in self._answers.values():
            if not answer.done():
                answer.set_exception(ConnectionError("SMSC exited"))

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.stderr += line

    def _tail(self) -> str:
        if not self.stderr:
            return ""
        return "; stderr: " + self.stderr.decode(errors="replace")[-2000:]


@pytest.fixture
async def npm_smsc() -> AsyncIterator[Smsc]:
    """The npm ``smpp`` SMSC, with system_id ``smsgate`` and password ``secret``."""
    need_smsc("npm")
    smsc = await Smsc.start("npm")
    yield smsc
    await smsc.stop()


@pytest.fixture
async def smsc34() -> AsyncIterator[Smsc]:
    """The PyPI ``smpp34`` SMSC, with system_id ``smsgate`` (it checks no password)."""
    need_smsc("smpp34")
    smsc = await Smsc.start("smpp34")
    yield smsc
    await smsc.stop()

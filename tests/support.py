"""Test helpers: the peers policy, a real HTTP callback receiver, a live smsgate process."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

REQUIRE_PEERS = os.environ.get("SMSGATE_REQUIRE_PEERS") == "1"


def need_peer(available: bool, reason: str) -> None:
    """Skip when a third-party peer is missing, or fail when CI said every peer is installed."""
    if available:
        return
    if REQUIRE_PEERS:
        pytest.fail(f"peer required by SMSGATE_REQUIRE_PEERS=1 is missing: {reason}")
    pytest.skip(reason)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    url: str

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def params(self) -> dict[str, str]:
        return self.query if self.method == "GET" else self.form


@dataclass
class CallbackReceiver:
    """A real HTTP server on loopback that records every request it gets."""

    status: int = 200
    #: What it answers with (an application's Message XML, say), and its Content-Type.
    reply: bytes = b""
    reply_type: str = ""
    requests: queue.Queue[Received] = field(default_factory=queue.Queue)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/callback"

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                host = self.headers.get("Host", "")
                receiver.requests.put(
                    Received(
                        method=self.command,
                        path=split.path,
                        query=dict(parse_qsl(split.query, keep_blank_values=True)),
                        headers={k: v for k, v in self.headers.items()},
                        body=body,
                        url=f"http://{host}{self.path}",
                    )
                )
                self.send_response(receiver.status)
                if receiver.reply_type:
                    self.send_header("Content-Type", receiver.reply_type)
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def get(self, timeout: float = 15.0) -> Received:
        return self.requests.get(timeout=timeout)

    def until(self, predicate: Any, timeout: float = 30.0) -> list[Received]:
        """Every request received until one satisfies ``predicate`` (that one included)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching callback in {timeout}s; saw {len(seen)}")
            item = self.requests.get(timeout=left)
            seen.append(item)
            if predicate(item):
                return seen


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def wait_for(check: Any, timeout: float = 20.0) -> Any:
    """``check()`` once it is truthy: for state in another process, which sends no events."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


SMSGATE = [sys.executable, "-m", "smsgate"]
_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class LiveServer:
    """``smsgate serve`` in a child process, as a user would run it."""

    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    base_url: str = ""
    banner: str = ""

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SMSGATE, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
            cwd=self.data_dir,
        )

    def create_account(self, *extra: str) -> dict[str, Any]:
        result = self.cli("accounts", "create", "--json", *extra)
        return dict(json.loads(result.stdout))

    def start(self, *args: str, extra_env: dict[str, str] | None = None) -> LiveServer:
        env = {**self.env, **(extra_env or {})}
        self.process = subprocess.Popen(
            [*SMSGATE, "serve", "--port", "0", *args],
            env=env,
            cwd=self.data_dir,
            stdout=subprocess.PIPE,
            stderr=open(self.data_dir / "server.log", "a"),  # noqa: SIM115
            text=True,
        )
        assert self.process.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"smsgate exited: {self.log_tail()}")
            lines.append(line)
            match = _LISTENING.search(line)
            if match:
                self.base_url = match.group(1)
                break
        # The banner ends with the API reference line.
        while not lines[-1].startswith("API reference"):
            lines.append(self.process.stdout.readline())
        self.banner = "".join(lines)
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def log_tail_full(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_text() if path.exists() else ""

    def log_tail(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def message_url(self, auth_id: str) -> str:
        return f"{self.base_url}/v1/Account/{auth_id}/Message/"


@pytest.fixture
def modem_sim() -> Iterator[tuple[str, str]]:
    """`smsgate modem-sim` in a child process: its AT address and its control API's URL."""
    process = subprocess.Popen(
        [*SMSGATE, "modem-sim", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    at_line = process.stdout.readline()
    control_line = process.stdout.readline()
    at = re.search(r"tcp://\S+", at_line)
    control = re.search(r"http://\S+", control_line)
    assert at and control, (at_line, control_line)
    yield at.group(), control.group()
    process.terminate()
    process.wait(timeout=10)

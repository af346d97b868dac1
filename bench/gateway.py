"""A gateway for the benchmarks: ``smsgate serve`` in a fresh directory, with one account."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

SMSGATE = [sys.executable, "-m", "smsgate"]


def bench_env(work: Path, channels: list[dict[str, Any]], **more: str) -> dict[str, str]:
    """The environment of a benchmark's gateway. One credential sends everything, from one
    number: the API's limit per credential and the carriers' pace per number are off, since
    they would measure the limits, not the gateway."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_")}
    env["SMSGATE_DATA_DIR"] = str(work / "data")
    env["SMSGATE_CHANNELS"] = json.dumps(channels)
    env["SMSGATE_LIMITS__API_REQUESTS"] = ""
    env["SMSGATE_LIMITS__NUMBER_PACE"] = ""
    env.update(more)
    return env


class BenchGateway:
    """``smsgate serve`` in a fresh directory, with one account."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work = work
        self.env = env
        created = subprocess.run(
            [*SMSGATE, "accounts", "create", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=work,
        )
        self.account = json.loads(created.stdout)
        self.log = open(work / "server.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*SMSGATE, "serve", "--port", "0"],
            env=env,
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.base = ""
        self.smpp_port = 0
        assert self.process.stdout is not None
        while not self.base:
            line = self.process.stdout.readline()
            if not line:
                sys.exit(f"smsgate did not start; see {work / 'server.log'}")
            smpp = re.search(r"SMPP server:\s+\S+:(\d+)", line)
            if smpp:
                self.smpp_port = int(smpp.group(1))
            match = re.search(r"listening on (http://\S+)", line)
            self.base = match.group(1) if match else ""
        # The banner's lines after the address (the SMPP server's among them).
        deadline = time.monotonic() + 5
        while self.env.get("SMSGATE_SMPP_SERVER__ENABLED") and not self.smpp_port:
            line = self.process.stdout.readline()
            smpp = re.search(r"SMPP server:\s+\S+:(\d+)", line)
            if smpp:
                self.smpp_port = int(smpp.group(1))
            if not line or time.monotonic() > deadline:
                sys.exit("smsgate did not print its SMPP server's address")

    def cli(self, *args: str) -> Any:
        out = subprocess.run(
            [*SMSGATE, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            cwd=self.work,
        )
        return json.loads(out.stdout)

    def metric(self, pattern: str) -> int:
        text = httpx.get(self.base + "/metrics").text
        return int(sum(float(m) for m in re.findall(pattern, text)))

    def delivered(self) -> int:
        return self.metric(
            r'smsgate_messages_total\{[^}]*direction="outbound"[^}]*'
            r'state="delivered"[^}]*\} (\S+)'
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

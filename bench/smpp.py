"""The SMPP benchmarks of ``make bench``.

Two paths, each timed from the first request to the last delivery receipt:

- Plivo HTTP API → the SMPP client channel → an SMSC built on the npm ``smpp`` package
  (tests/peers/smsc.cjs, answering every submit_sm and sending a receipt for it). Bulk
  requests of 1,000 destinations; figures per window size (outstanding submit_sm per bind).
- An ESME → smsgate's SMPP server face → the simulator channel. The ESME is a load generator
  on smsgate's own SMPP connection code, keeping ``window`` submit_sm outstanding and
  counting the receipts the face sends back.

Client, SMSC and gateway share this machine's cores: compare figures from one run.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from gateway import BenchGateway, bench_env  # bench/gateway.py
from smsgate.smpp.connection import Connection
from smsgate.smpp.pdu import Command, Pdu, Status, response_to

ROOT = Path(__file__).resolve().parent.parent
SMSC = ROOT / "tests" / "peers" / "smsc.cjs"


def _start_smsc() -> tuple[subprocess.Popen[str], int]:
    smsc = subprocess.Popen(
        ["node", str(SMSC), "--quiet-submits"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert smsc.stdout is not None
    ready = json.loads(smsc.stdout.readline())
    return smsc, int(ready["port"])


def client_channel(messages: int, windows: tuple[int, ...]) -> None:
    print("Plivo HTTP API -> SMPP client channel -> npm smpp SMSC (receipts on)")
    print(f"{'window':>8} {'binds':>6} {'messages':>9} {'accepted s':>11} {'delivered/s':>12}")
    for window in windows:
        work = Path(tempfile.mkdtemp(prefix="smsgate-bench-smpp-"))
        smsc, port = _start_smsc()
        channel = {
            "name": "carrier",
            "kind": "smpp",
            "host": "127.0.0.1",
            "port": port,
            "system_id": "smsgate",
            "password": "secret",
            "window": window,
        }
        gateway = BenchGateway(work, bench_env(work, [channel]))
        try:
            auth = (gateway.account["auth_id"], gateway.account["auth_token"])
            url = f"{gateway.base}/v1/Account/{auth[0]}/Message/"
            _wait_bound(gateway)
            with httpx.Client(timeout=60, auth=auth) as client:
                started = time.perf_counter()
                for i in range(messages // 1000):
                    dst = "<".join(f"1{417 + i % 500:03d}555{j:04d}" for j in range(1000))
                    response = client.post(
                        url, json={"src": "14155550100", "dst": dst, "text": "Timed over SMPP"}
                    )
                    response.raise_for_status()
                accepted = time.perf_counter() - started
                total = messages // 1000 * 1000
                while gateway.delivered() < total:
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
            print(f"{window:>8} {1:>6} {total:>9,} {accepted:>11.2f} {total / elapsed:>12,.0f}")
        finally:
            gateway.stop()
            smsc.kill()
            smsc.wait()
            shutil.rmtree(work, ignore_errors=True)


def _wait_bound(gateway: BenchGateway) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        channels = httpx.get(gateway.base + "/health").json().get("channels", {})
        if any(c.get("up") for c in _channel_list(channels)):
            return
        time.sleep(0.1)
    sys.exit("the SMPP channel did not bind")


def _channel_list(channels: Any) -> list[dict[str, Any]]:
    return list(channels.values()) if isinstance(channels, dict) else list(channels)


async def _esme(port: int, system_id: str, password: str, messages: int, window: int) -> tuple:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    receipts = 0
    everything = asyncio.Event()

    async def on_request(_: Connection, pdu: Pdu) -> Pdu | None:
        nonlocal receipts
        if pdu.command == Command.DELIVER_SM:
            receipts += 1
            if receipts >= messages:
                everything.set()
        return response_to(pdu)

    conn = Connection(reader, writer, on_request, name="bench-esme", max_requests=window)
    reading = asyncio.create_task(conn.run())
    bound = await conn.request(
        Command.BIND_TRANSCEIVER, system_id=system_id, password=password, interface_version=0x34
    )
    if bound.status != Status.ESME_ROK:
        sys.exit(f"bind refused: 0x{bound.status:08X}")
    slots = asyncio.Semaphore(window)
    refused = 0

    async def submit(i: int) -> None:
        nonlocal refused
        try:
            resp = await conn.request(
                Command.SUBMIT_SM,
                source_addr="14155550100",
                source_addr_ton=1,
                source_addr_npi=1,
                destination_addr=f"1{417 + i // 1000 % 500:03d}555{i % 1000:04d}",
                dest_addr_ton=1,
                dest_addr_npi=1,
                registered_delivery=1,
                short_message=b"Timed over SMPP",
            )
            if resp.status != Status.ESME_ROK:
                refused += 1
        finally:
            slots.release()

    started = time.perf_counter()
    tasks = []
    for i in range(messages):
        await slots.acquire()
        tasks.append(asyncio.create_task(submit(i)))
    await asyncio.gather(*tasks)
    accepted = time.perf_counter() - started
    if not refused:
        await asyncio.wait_for(everything.wait(), timeout=300)
    elapsed = time.perf_counter() - started
    await conn.unbind()
    reading.cancel()
    return accepted, elapsed, refused


def server_face(messages: int, windows: tuple[int, ...]) -> None:
    print("\nESME -> SMPP server face -> simulator channel (receipts on)")
    print(f"{'window':>8} {'messages':>9} {'submit_sm/s':>12} {'receipted/s':>12} {'refused':>8}")
    for window in windows:
        work = Path(tempfile.mkdtemp(prefix="smsgate-bench-smppd-"))
        env = bench_env(
            work,
            [{"name": "simulator", "kind": "simulator", "delivery_delay": 0}],
            SMSGATE_SMPP_SERVER__ENABLED="true",
            SMSGATE_SMPP_SERVER__PORT="0",
            SMSGATE_SMPP_SERVER__WINDOW=str(max(window, 100)),
        )
        gateway = BenchGateway(work, env)
        try:
            user = gateway.cli(
                "smpp", "users", "add", "--account", gateway.account["auth_id"], "--json"
            )
            accepted, elapsed, refused = asyncio.run(
                _esme(gateway.smpp_port, user["system_id"], user["password"], messages, window)
            )
            print(
                f"{window:>8} {messages:>9,} {messages / accepted:>12,.0f} "
                f"{messages / elapsed:>12,.0f} {refused:>8}"
            )
        finally:
            gateway.stop()
            shutil.rmtree(work, ignore_errors=True)


def run(messages: int = 10_000) -> None:
    if shutil.which("node") is None or not (ROOT / "tests/peers/node_modules/smpp").exists():
        print("SMPP client benchmark skipped: needs node and `npm ci --prefix tests/peers`")
    else:
        client_channel(messages, (10, 100))
    server_face(messages, (10, 100))

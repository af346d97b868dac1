"""``make bench``: measure the text engine, then start a gateway and measure it with a real
load generator (wrk).

The text section (bench/text.py, no gateway, no wrk) times encoding choice and segmentation,
SMS-SUBMIT encoding and PDU decoding against python-gsmmodem-new on the same corpus, in one
process. The HTTP section prints, for the Plivo send route: single-destination requests per
second at 1, 16 and 64 concurrent connections with p50/p99 latency; destinations per second
for bulk requests of 1,000 ``<``-joined numbers; and messages per second from accept to
``delivered`` through the simulator channel. The SMPP section (bench/smpp.py) prints messages
per second from the Plivo API through the SMPP client channel to an SMSC on the npm ``smpp``
package, and from an ESME through the SMPP server face to the simulator, by window size.
Client and server share this machine's cores: compare figures from one run.

    python bench/run.py [--only text|http|smpp] [--database-url URL] [--duration SECONDS]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import smpp as smpp_bench  # bench/smpp.py
import text as text_engine  # bench/text.py
from gateway import BenchGateway, bench_env  # bench/gateway.py

ROOT = Path(__file__).resolve().parent.parent


def wrk_script(path: Path, auth: str, body: dict[str, Any]) -> Path:
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Basic {auth}"\n'
    )
    return path


def unit(value: str) -> float:
    number = float(re.match(r"[\d.]+", value).group())  # type: ignore[union-attr]
    if value.endswith("us"):
        return number / 1000
    if value.endswith("ms"):
        return number
    if value.endswith("s"):
        return number * 1000
    return number


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    threads = min(connections, 2)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": unit(p50.group(1)) if p50 else float("nan"),
        "p99": unit(p99.group(1)) if p99 else float("nan"),
        "non2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def metric(base: str, pattern: str) -> int:
    text = httpx.get(base + "/metrics").text
    return int(sum(float(m) for m in re.findall(pattern, text)))


def delivered(base: str) -> int:
    return metric(
        base,
        r'smsgate_messages_total\{[^}]*direction="outbound"[^}]*'
        r'state="delivered"[^}]*\} (\S+)',
    )


def settle(base: str) -> None:
    """Wait until the queue is empty and nothing more is being delivered."""
    before = -1
    while True:
        depth = metric(base, r"(?m)^smsgate_queue_depth (\S+)")
        now = delivered(base)
        if depth == 0 and now == before:
            return
        before = now
        time.sleep(0.25)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        choices=("text", "http", "smpp"),
        help="run one section: text (the text engine, no gateway), http (wrk) or smpp; default all",
    )
    parser.add_argument("--database-url", help="default: SQLite in a fresh directory")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--messages", type=int, default=20_000, help="messages for the accept-to-delivered run"
    )
    parser.add_argument("--smpp-messages", type=int, default=10_000, help="messages per SMPP run")
    args = parser.parse_args()
    if args.only not in ("http", "smpp"):
        text_engine.run()
        if args.only == "text":
            return
        print()
    if args.only != "smpp":
        if shutil.which("wrk") is None:
            sys.exit("the HTTP benchmarks need wrk: sudo apt-get install wrk")
        run_http(args)
        if args.only == "http":
            return
        print()
    smpp_bench.run(args.smpp_messages)


def run_http(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="smsgate-bench-"))
    more = {"SMSGATE_DATABASE_URL": args.database_url} if args.database_url else {}
    env = bench_env(work, [{"name": "simulator", "kind": "simulator", "delivery_delay": 0}], **more)
    gateway = BenchGateway(work, env)
    account = gateway.account
    base = gateway.base
    auth = base64.b64encode(f"{account['auth_id']}:{account['auth_token']}".encode()).decode()
    try:
        url = f"{base}/v1/Account/{account['auth_id']}/Message/"
        store = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"smsgate bench: store {store}, simulator channel, wrk {args.duration}s per run, "
            f"{os.cpu_count()} CPUs shared by client and server\n"
        )

        single = wrk_script(
            work / "single.lua",
            auth,
            {"src": "14155550100", "dst": "14155550101", "text": "Your code is 123456"},
        )
        print("Single-destination sends (POST .../Message/, one message each)")
        print(f"{'connections':>12} {'requests/s':>12} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
        for connections in (1, 16, 64):
            settle(base)
            r = run_wrk(url, single, connections, args.duration)
            print(
                f"{connections:>12} {r['rps']:>12,.0f} {r['p50']:>9.2f} {r['p99']:>9.2f} "
                f"{int(r['non2xx'] + r['socket_errors']):>7}"
            )

        numbers = "<".join(f"1415556{i:04d}" for i in range(1000))
        bulk = wrk_script(
            work / "bulk.lua", auth, {"src": "14155550100", "dst": numbers, "text": "Bulk notice"}
        )
        print("\nBulk sends (1,000 destinations per request)")
        print(
            f"{'connections':>12} {'requests/s':>12} {'destinations/s':>15} {'p50 ms':>9} "
            f"{'p99 ms':>9}"
        )
        for connections in (1, 4):
            settle(base)
            r = run_wrk(url, bulk, connections, args.duration)
            print(
                f"{connections:>12} {r['rps']:>12,.1f} {r['rps'] * 1000:>15,.0f} "
                f"{r['p50']:>9.1f} {r['p99']:>9.1f}"
            )

        print("\nAccept to delivered (simulator, no delivery delay)")
        with httpx.Client(timeout=60, headers={"Authorization": f"Basic {auth}"}) as client:
            settle(base)
            already = delivered(base)
            requests = args.messages // 1000
            started = time.perf_counter()
            for i in range(requests):
                dst = "<".join(f"1{417 + i % 500:03d}555{j:04d}" for j in range(1000))
                response = client.post(
                    url, json={"src": "14155550100", "dst": dst, "text": "Timed"}
                )
                response.raise_for_status()
            accepted_in = time.perf_counter() - started
            target = already + requests * 1000
            while delivered(base) < target:
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
        total = requests * 1000
        print(
            f"  {total:,} messages accepted in {accepted_in:.2f} s, all delivered in "
            f"{elapsed:.2f} s: {total / elapsed:,.0f} messages/s accept-to-delivered"
        )
    finally:
        gateway.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

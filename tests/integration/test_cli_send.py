"""`smsgate send` and `smsgate messages tail` as an operator runs them: child processes against a
live gateway (and, for the answers a live one does not give yet, a fake one)."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import select

from smsgate.store.database import open_database
from smsgate.store.schema import messages
from tests.support import SMSGATE, LiveServer, wait_for

SRC = "14155550100"
AUTH_ID = "MA" + "T" * 18
TOKEN = "fake-token"


@pytest.fixture(autouse=True)
def _no_proxy(live: LiveServer) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        live.env.pop(name, None)
    live.env["NO_PROXY"] = "127.0.0.1,localhost"


def run(live: LiveServer, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SMSGATE, *args],
        env={**live.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=live.data_dir,
    )


def started(live: LiveServer) -> str:
    """Start the gateway; its default account's auth_id."""
    live.start()
    found = re.search(r"auth_id\s+(\S+)", live.banner)
    assert found, live.banner
    return found.group(1)


def stored(live: LiveServer) -> dict[str, dict[str, Any]]:
    """Every message in the gateway's store, by destination."""
    url = live.env.get("SMSGATE_DATABASE_URL") or (
        f"sqlite:///{Path(live.env['SMSGATE_DATA_DIR']) / 'smsgate.db'}"
    )
    db = open_database(url)
    try:
        with db.reader.connect() as conn:
            rows = conn.execute(
                select(messages.c.uuid, messages.c.to_number, messages.c.text, messages.c.state)
            ).mappings()
            return {row["to_number"]: dict(row) for row in rows}
    finally:
        db.writer.dispose()
        db.reader.dispose()


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


class Lines:
    """A child's output stream, read line by line on a thread, so a test waits for a line
    with a timeout instead of sleeping."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for text in stream:
            self.lines.put(text.rstrip("\n"))
        self.lines.put(None)

    def until(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if text is None:
                raise EOFError(f"the stream ended; saw {self.seen}")
            self.seen.append(text)
            if predicate(text):
                return text

    def rest(self, timeout: float = 30.0) -> list[str]:
        """Every line until the stream ends."""
        found = []
        deadline = time.monotonic() + timeout
        while True:
            text = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if text is None:
                return found
            self.seen.append(text)
            found.append(text)


@dataclass
class Tailing:
    process: subprocess.Popen[str]
    out: Lines
    err: Lines


@pytest.fixture
def tail(live: LiveServer) -> Iterator[Callable[..., Tailing]]:
    """Start `smsgate messages tail …` and wait until it follows the store."""
    made: list[subprocess.Popen[str]] = []

    def start(*args: str) -> Tailing:
        process = subprocess.Popen(
            [*SMSGATE, "messages", "tail", *args],
            env=live.env,
            cwd=live.data_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        made.append(process)
        assert process.stdout is not None and process.stderr is not None
        following = Tailing(process, Lines(process.stdout), Lines(process.stderr))
        following.err.until(lambda text: "following message changes" in text)
        return following

    yield start
    for process in made:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_send_one_message_and_follow_it_to_delivered(
    live: LiveServer, live_database_url: str
) -> None:
    live.env["SMSGATE_DATABASE_URL"] = live_database_url
    auth_id = started(live)
    sent = run(
        live,
        "send",
        "--url",
        live.base_url,
        "--account",
        auth_id,
        "--src",
        SRC,
        "--dst",
        "+44 7700 900123",
        "--text",
        "Hello from the CLI",
        "--json",
    )
    assert sent.returncode == 0, sent.stderr
    answer = json.loads(sent.stdout)
    assert answer["queued"] == 1 and answer["refused"] == answer["failed"] == 0
    [result] = answer["results"]
    assert result["status"] == "queued" and result["number"] == "+44 7700 900123"
    assert (result["units"], result["encoding"]) == (1, "GSM")
    uuid = result["message_uuid"]
    assert stored(live)["447700900123"]["uuid"] == uuid

    followed = run(live, "messages", "tail", "--uuid", uuid, "--until-final", "--json")
    assert followed.returncode == 0, followed.stderr
    records = [json.loads(text) for text in followed.stdout.splitlines()]
    assert [r["state"] for r in records] == ["queued", "sent", "delivered"]
    assert {r["message_uuid"] for r in records} == {uuid}
    assert records[0]["event"] == "created" and records[0]["text"] == "Hello from the CLI"
    assert records[-1]["error_code"] == "000" and records[-1]["channel"] == "simulator"
    assert records[0]["from_number"] == SRC and records[0]["to_number"] == "447700900123"
    assert "Traceback" not in followed.stderr
    token = re.search(r"auth_token\s+(\S+)", live.banner)
    assert token, live.banner
    mdr = httpx.get(f"{live.message_url(auth_id)}{uuid}/", auth=(auth_id, token.group(1)))
    assert mdr.json()["message_state"] == "delivered"

    # Text lines, for the same message, now that it is final: its history, then exit.
    again = run(live, "messages", "tail", "--uuid", uuid, "--until-final")
    assert again.returncode == 0
    lines = again.stdout.splitlines()
    assert len(lines) == 3 and uuid in lines[0]
    assert "delivered" in lines[2] and f"{SRC}→447700900123  000  simulator" in lines[2]
    unknown = run(live, "messages", "tail", "--uuid", "01a2019b-3f7c-7000-976a-da580435fcaf")
    assert unknown.returncode != 0 and "no message" in unknown.stderr


def test_tail_follows_new_messages_live_and_masks_what_log_hides(
    live: LiveServer, live_database_url: str, tail: Callable[..., Tailing], tmp_path: Path
) -> None:
    live.env["SMSGATE_DATABASE_URL"] = live_database_url
    auth_id = started(live)
    everything = tail("--json", "--count", "6")
    one_number = tail("--number", "+44 7700 900124", "--until-final")
    people = write(tmp_path / "people.csv", "number,name\n447700900123,Ann\n447700900124,Bob\n")
    sent = run(
        live,
        "send",
        "--url",
        live.base_url,
        "--account",
        auth_id,
        "--src",
        SRC,
        "--csv",
        people,
        "--text",
        "Hi {name}",
        "--log",
        "false",
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr

    records = [json.loads(text) for text in everything.out.rest()]
    assert everything.process.wait(timeout=30) == 0
    assert len(records) == 6
    by_message: dict[str, list[str]] = {}
    for r in records:
        by_message.setdefault(r["message_uuid"], []).append(r["state"])
        assert r["from_number"] == "141XXXXX100" and r["text"] is None
    assert list(by_message.values()) == [["queued", "sent", "delivered"]] * 2
    assert {r["to_number"] for r in records} == {"447XXXXXX123", "447XXXXXX124"}

    lines = one_number.out.rest()
    assert one_number.process.wait(timeout=30) == 0
    assert [text.split()[4] for text in lines] == ["queued", "sent", "delivered"]
    assert all("141XXXXX100→447XXXXXX124" in text for text in lines)


def test_tail_filters_by_account_and_state_and_replays(
    live: LiveServer, tail: Callable[..., Tailing]
) -> None:
    auth_id = started(live)
    other = live.create_account()
    delivered_other = tail("--account", other["auth_id"], "--state", "delivered", "--count", "1")
    for account, number in ((auth_id, "447700900123"), (other["auth_id"], "447700900124")):
        sent = run(
            live,
            "send",
            "--url",
            live.base_url,
            "--account",
            account,
            "--src",
            SRC,
            "--dst",
            number,
            "--text",
            "x",
        )
        assert sent.returncode == 0, sent.stderr
    [shown] = delivered_other.out.rest()
    assert delivered_other.process.wait(timeout=30) == 0
    assert "delivered" in shown and "→447700900124" in shown
    # Replay: both messages' whole lives, from the store.
    wait_for(lambda: all(m["state"] == "delivered" for m in stored(live).values()))
    replayed = run(live, "messages", "tail", "--since", "all", "--json", "--until-final")
    assert replayed.returncode == 0, replayed.stderr
    states = [json.loads(text)["state"] for text in replayed.stdout.splitlines()]
    assert sorted(states) == sorted(["queued", "sent", "delivered"] * 2)
    assert run(live, "messages", "tail", "--since", "soon").returncode == 2
    assert "no account" in run(live, "messages", "tail", "--account", "MA" + "0" * 18).stderr


def test_send_a_csv_through_a_template(live: LiveServer, tmp_path: Path) -> None:
    auth_id = started(live)
    people = write(
        tmp_path / "people.csv",
        "\ufeffname,number,code\n"  # Excel's byte-order mark
        "Ann,447700900123,1234\n"
        "Bob,12345,9999\n"
        '"Smith, Cy",+44 7700 900125,5678\n'
        "Dee,447700900126,0000\n",
    )
    sent = run(
        live,
        "send",
        "--url",
        live.base_url,
        "--account",
        auth_id,
        "--src",
        SRC,
        "--csv",
        people,
        "--text",
        "Hello {name}, your code is {code}",
        "--progress",
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.splitlines()[-1] == "3 queued, 1 invalid, 0 refused, 0 failed"
    assert re.search(r"invalid\s+line 3\s+12345\s+not a phone number", sent.stdout)
    assert "sending: 4/4" in sent.stderr  # asked for: plain lines, as stderr is no terminal
    found = stored(live)
    assert {number: m["text"] for number, m in found.items()} == {
        "447700900123": "Hello Ann, your code is 1234",
        "447700900125": "Hello Smith, Cy, your code is 5678",
        "447700900126": "Hello Dee, your code is 0000",
    }
    wait_for(lambda: all(m["state"] == "delivered" for m in stored(live).values()))

    # Credentials from the environment, the number column named, another delimiter.
    token = json.loads(run(live, "accounts", "show", auth_id, "--json").stdout)["auth_token"]
    other = write(tmp_path / "other.csv", "who;mobile\nEve;447700900127\n")
    again = run(
        live,
        "send",
        "--url",
        live.base_url,
        "--src",
        SRC,
        "--csv",
        other,
        "--delimiter",
        ";",
        "--number-column",
        "mobile",
        "--text",
        "Hi {who}",
        SMSGATE_AUTH_ID=auth_id,
        SMSGATE_AUTH_TOKEN=token,
    )
    assert again.returncode == 0, again.stderr
    assert "sending" not in again.stderr  # not asked for, and not a terminal
    assert stored(live)["447700900127"]["text"] == "Hi Eve"


BAD_FILES = [
    ("number,name\n447700900123,Ann\n", "Hi {name}, code {code}", [], "{code}, which is not"),
    ("number,name\n447700900123,Ann\n", "Hi {name", [], "invalid text template"),
    ("number,name,code\n447700900123,Ann,1\n447700900124,Bob\n", "{name} {code}", [], "line 3"),
    ("number,name\n447700900123,Ann\n447700900124,Bob,x\n", "Hi {name}", [], "line 3 has 3"),
    ("phone,name\n447700900123,Ann\n", "Hi", ["--number-column", "tel"], "no column 'tel'"),
    ("", "Hi", [], "is empty"),
]


def test_a_bad_template_or_csv_sends_nothing(live: LiveServer, tmp_path: Path) -> None:
    auth_id = started(live)
    for csv_text, template, extra, message in BAD_FILES:
        # Good rows come first: nothing is sent before the whole file is known to be right.
        path = write(tmp_path / "bad.csv", csv_text)
        sent = run(
            live,
            "send",
            "--url",
            live.base_url,
            "--account",
            auth_id,
            "--src",
            SRC,
            "--csv",
            path,
            "--text",
            template,
            *extra,
        )
        assert sent.returncode == 1, (csv_text, sent.stdout + sent.stderr)
        assert message in sent.stderr and "nothing was sent" in sent.stderr, sent.stderr
        assert "Traceback" not in sent.stderr
    assert stored(live) == {}


# --- against a fake gateway: the answers a live one gives only sometimes ----------------------


@dataclass
class Request:
    at: float
    path: str
    authorization: str
    body: dict[str, Any]


@dataclass
class FakeGateway:
    """An HTTP server answering POST …/Message/ with ``answer(dst, attempt)``."""

    answer: Callable[[str, int], tuple[int, dict[str, str], dict[str, Any]]]
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    most_in_flight: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeGateway:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append(
                        Request(
                            time.monotonic(),
                            self.path,
                            self.headers.get("Authorization", ""),
                            body,
                        )
                    )
                    attempt = sum(r.body.get("dst") == body.get("dst") for r in fake.requests)
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    status, headers, answer = fake.answer(str(body.get("dst")), attempt)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1
                raw = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def queued(dst: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    return (
        202,
        {},
        {
            "api_id": "a",
            "message": "message(s) queued",
            "message_uuid": [f"uuid-{dst}"],
            "units": [1],
            "encoding": ["GSM"],
        },
    )


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeGateway]]:
    made: list[FakeGateway] = []

    def start(
        answer: Callable[[str, int], tuple[int, dict[str, str], dict[str, Any]]],
    ) -> FakeGateway:
        server = FakeGateway(answer).start()
        made.append(server)
        return server

    yield start
    for server in made:
        server.stop()


def send_to(live: LiveServer, gateway: FakeGateway, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        live,
        "send",
        "--url",
        gateway.url,
        "--src",
        SRC,
        "--text",
        "Hello",
        *args,
        SMSGATE_AUTH_ID=AUTH_ID,
        SMSGATE_AUTH_TOKEN=TOKEN,
    )


def test_429_waits_and_retries_and_refusals_are_reported(
    live: LiveServer, fake: Callable[..., FakeGateway]
) -> None:
    def answer(dst: str, attempt: int) -> tuple[int, dict[str, str], dict[str, Any]]:
        if dst == "447700900123" and attempt == 1:
            return 429, {"Retry-After": "1"}, {"api_id": "a", "error": "too many requests"}
        if dst == "447700900124":
            return 403, {}, {"api_id": "a", "error": "destination 447700900124 is not allowed"}
        if dst == "447700900125":
            return 400, {}, {"api_id": "a", "error": "text is too long"}
        if dst == "447700900126":
            return 429, {"Retry-After": "0"}, {"api_id": "a", "error": "too many requests"}
        if dst == "447700900127":
            return 500, {}, {"api_id": "a", "error": "internal server error"}
        return queued(dst)

    gateway = fake(answer)
    numbers = ["447700900123", "447700900124", "447700900125", "447700900126", "447700900127"]
    sent = send_to(
        live, gateway, *[f"--dst={n}" for n in numbers], "--log", "number_only", "--json"
    )
    assert sent.returncode == 1, sent.stderr
    answer_json = json.loads(sent.stdout)
    by_number = {r["number"]: r for r in answer_json["results"]}
    assert by_number["447700900123"]["status"] == "queued"
    assert by_number["447700900123"]["message_uuid"] == "uuid-447700900123"
    assert by_number["447700900123"]["attempts"] == 2
    assert by_number["447700900124"]["status"] == "refused"
    assert by_number["447700900124"]["reason"] == "403 destination 447700900124 is not allowed"
    assert by_number["447700900125"]["reason"] == "400 text is too long"
    assert by_number["447700900126"]["status"] == "refused"
    assert by_number["447700900126"]["attempts"] == 10  # bounded
    assert by_number["447700900127"]["status"] == "failed"
    assert (answer_json["queued"], answer_json["refused"], answer_json["failed"]) == (1, 3, 1)

    # The same request again, after the Retry-After the gateway asked for.
    first, second = (r for r in gateway.requests if r.body["dst"] == "447700900123")
    assert second.at - first.at >= 0.9
    assert (
        first.body
        == second.body
        == {
            "src": SRC,
            "dst": "447700900123",
            "text": "Hello",
            "log": "number_only",
        }
    )
    assert first.path == f"/v1/Account/{AUTH_ID}/Message/"
    assert first.authorization.startswith("Basic ")

    # The text summary names the refused numbers and their reasons.
    text = send_to(live, gateway, "--dst", "447700900124", "--dst", "447700900128")
    assert text.returncode == 1
    assert "1 queued, 0 invalid, 1 refused, 0 failed" in text.stdout
    assert "refused: 403 destination 447700900124 is not allowed (1): 447700900124" in text.stdout


def test_requests_in_flight_are_bounded(live: LiveServer, fake: Callable[..., FakeGateway]) -> None:
    # Each request waits until three are in flight together: fewer in flight would time out
    # (and fail), more would show in most_in_flight.
    together = threading.Barrier(3, timeout=10)

    def answer(dst: str, attempt: int) -> tuple[int, dict[str, str], dict[str, Any]]:
        try:
            together.wait()
        except threading.BrokenBarrierError:
            return 500, {}, {"error": "not three at once"}
        return queued(dst)

    gateway = fake(answer)
    numbers = [f"4477009001{i:02}" for i in range(9)]
    sent = send_to(live, gateway, "--concurrency", "3", *[f"--dst={n}" for n in numbers], "--json")
    assert sent.returncode == 0, sent.stdout
    assert json.loads(sent.stdout)["queued"] == 9
    assert gateway.most_in_flight == 3


def test_wrong_credentials_or_no_gateway_stop_the_run(
    live: LiveServer, fake: Callable[..., FakeGateway]
) -> None:
    gateway = fake(
        lambda dst, attempt: (401, {}, {"api_id": "a", "error": "authentication failed"})
    )
    numbers = [f"--dst=4477009001{i:02}" for i in range(20)]
    sent = send_to(live, gateway, "--concurrency", "2", *numbers, "--json")
    assert sent.returncode == 1
    answer = json.loads(sent.stdout)
    assert answer["not_sent"] == 20 and "401" in answer["stopped"]
    assert len(gateway.requests) <= 2  # the requests already in flight, no more

    nobody = run(
        live,
        "send",
        "--url",
        "http://127.0.0.1:9",
        "--src",
        SRC,
        "--dst",
        "447700900123",
        "--text",
        "x",
        SMSGATE_AUTH_ID=AUTH_ID,
        SMSGATE_AUTH_TOKEN=TOKEN,
    )
    assert nobody.returncode == 1 and "no gateway answers" in nobody.stdout
    no_store = run(live, "send", "--src", SRC, "--dst", "447700900123", "--text", "x")
    assert no_store.returncode == 1 and "no smsgate database" in no_store.stderr


def test_dry_run_shows_encodings_and_parts_and_sends_nothing(
    live: LiveServer, fake: Callable[..., FakeGateway], tmp_path: Path
) -> None:
    gateway = fake(lambda dst, attempt: queued(dst))
    people = write(
        tmp_path / "people.csv",
        "number,name\n447700900123,Ann\n905321234567,ğüşiöç\n447700900125,Привет\nnope,x\n",
    )
    shown = run(
        live,
        "send",
        "--url",
        gateway.url,
        "--csv",
        people,
        "--text",
        "Hello {name}" + "." * 150,
        "--dry-run",
        "--json",
    )
    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout)
    rows = {r["number"]: r for r in answer["results"]}
    assert (rows["447700900123"]["encoding"], rows["447700900123"]["units"]) == ("GSM", 1)
    assert rows["447700900123"]["text"] == "Hello Ann" + "." * 150
    assert "turkish" in rows["905321234567"]["encoding"]  # national tables for Turkey
    assert rows["905321234567"]["units"] == 2
    assert (rows["447700900125"]["encoding"], rows["447700900125"]["units"]) == ("UCS-2", 3)
    assert rows["nope"]["status"] == "invalid"
    assert (answer["messages"], answer["units"], answer["invalid"]) == (3, 6, 1)

    text = run(live, "send", "--dst", "447700900123", "--text", "x" * 161, "--dry-run")
    assert text.returncode == 0
    assert "GSM, 2 parts, 161 septets" in text.stdout and "nothing was sent" in text.stdout
    too_long = run(live, "send", "--dst", "447700900123", "--text", "x" * 1601, "--dry-run")
    assert too_long.returncode == 1 and "too long" in too_long.stdout
    assert gateway.requests == []


def test_usage_errors(live: LiveServer, tmp_path: Path) -> None:
    people = write(tmp_path / "p.csv", "number\n447700900123\n")
    cases = [
        (["--dst", "447700900123", "--text", "x"], "--src is missing"),
        (["--src", SRC, "--text", "x"], "give the destinations"),
        (["--src", SRC, "--dst", "447700900123", "--csv", people, "--text", "x"], "not both"),
        (["--src", "ABCDEFGHIJKLMNOP", "--dst", "447700900123", "--text", "x"], "--src"),
        (["--src", SRC, "--dst", "447700900123", "--text", "x", "--auth-id", AUTH_ID], "token"),
        (["--src", SRC, "--csv", people, "--text", "x", "--delimiter", "ab"], "one character"),
    ]
    for args, message in cases:
        result = run(live, "send", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)

"""``smsgate serve`` as a user runs it: a child process, real HTTP, real signals."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import CallbackReceiver, LiveServer

pytestmark = pytest.mark.timeout(180)


def creds(banner: str) -> tuple[str, str]:
    auth_id = re.search(r"auth_id\s+(MA[A-Z0-9]{18})", banner)
    token = re.search(r"auth_token\s+(\S+)", banner)
    assert auth_id and token, banner
    return auth_id.group(1), token.group(1)


def test_help_lists_the_commands() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "smsgate", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("serve", "accounts", "migrate", "simulator", "admin", "modem-sim", "channels"):
        assert command in out
    serve = subprocess.run(
        [sys.executable, "-m", "smsgate", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--host" in serve and "--port" in serve and "SMSGATE_PORT" in serve


def test_first_start_creates_an_account_and_later_starts_reuse_it(live: LiveServer) -> None:
    live.start()
    auth_id, token = creds(live.banner)
    assert "curl -u" in live.banner and "/Message/" in live.banner
    assert re.search(r"admin\s+admin / \S+", live.banner)
    # The curl from the banner, as printed, sends a message.
    command = live.banner[live.banner.index("curl -u") : live.banner.index("Then read")]
    args = command.replace("\\\n", " ").split("'")
    body = json.loads(args[3])
    response = httpx.post(live.message_url(auth_id), json=body, auth=(auth_id, token))
    assert response.status_code == 202, response.text
    assert live.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once it is done
    assert "gateway stopped" in live.log_tail_full()

    live.start()
    assert auth_id in live.banner and token not in live.banner
    assert "admin /" not in live.banner
    listed = httpx.get(live.message_url(auth_id), auth=(auth_id, token)).json()
    assert len(listed["objects"]) == 1
    live.stop()
    live.start("--show-credentials")
    assert creds(live.banner) == (auth_id, token)


def test_settings_from_flags_environment_and_file(live: LiveServer, tmp_path: Path) -> None:
    settings = tmp_path / "gateway.toml"
    settings.write_text(
        f'data_dir = "{tmp_path / "from-file"}"\nport = 1\n'
        '[[channels]]\nname = "sim-a"\nkind = "simulator"\n'
    )
    live.env.pop("SMSGATE_DATA_DIR")
    live.env["SMSGATE_CONFIG"] = str(settings)
    live.env["SMSGATE_HOST"] = "127.0.0.1"
    live.start()  # --port 0 on the command line wins over the file's port
    assert not live.base_url.endswith(":1")
    health = httpx.get(live.base_url + "/health").json()
    assert list(health["channels"]) == ["sim-a"]
    assert (tmp_path / "from-file" / "smsgate.db").exists()
    live.stop()
    live.env["SMSGATE_DATA_DIR"] = str(tmp_path / "from-env")
    live.start()
    assert (tmp_path / "from-env" / "smsgate.db").exists()


def test_bad_settings_are_reported_without_a_traceback(live: LiveServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[channels]]\nname = "x"\nkind = "carrier-pigeon"\n')
    result = live.cli("--config", str(bad), "serve", check=False)
    assert result.returncode != 0
    assert "carrier-pigeon" in result.stderr and "Traceback" not in result.stderr
    result = live.cli("--database-url", "mysql://x/y", "migrate", check=False)
    assert result.returncode != 0 and "unsupported database" in result.stderr


def test_one_server_per_data_directory_and_per_sqlite_file(
    live: LiveServer, tmp_path: Path
) -> None:
    live.env["SMSGATE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'shared.db'}"
    live.start()
    same_dir = live.cli("serve", "--port", "0", check=False)
    assert same_dir.returncode != 0 and "Traceback" not in same_dir.stderr
    assert "already running with data directory" in same_dir.stderr
    other_dir = live.cli("--data-dir", str(tmp_path / "other"), "serve", "--port", "0", check=False)
    assert other_dir.returncode != 0 and "already serving" in other_dir.stderr
    assert httpx.get(live.base_url + "/health").status_code == 200


def test_operations_endpoints(live: LiveServer) -> None:
    live.start()
    auth_id, token = creds(live.banner)
    for _ in range(3):
        httpx.post(
            live.message_url(auth_id),
            auth=(auth_id, token),
            json={"src": "14155550100", "dst": "14155550101", "text": "m"},
        )
    health = httpx.get(live.base_url + "/health")
    assert health.status_code == 200
    assert health.json()["store"] == {"up": True, "backend": "sqlite"}
    assert health.json()["channels"]["simulator"]["up"] is True
    metrics = httpx.get(live.base_url + "/metrics").text
    for name in (
        "smsgate_messages_total",
        "smsgate_queue_depth",
        "smsgate_accept_seconds",
        "smsgate_callbacks_total",
        "smsgate_channel_up",
    ):
        assert name in metrics
    assert 'smsgate_messages_total{channel="",direction="outbound",state="queued"} 3.0' in metrics
    docs = httpx.get(live.base_url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    # The page's assets come from smsgate itself, not from a CDN.
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', docs.text)
    assert assets and all(a.startswith("/") for a in assets)
    for asset in assets:
        assert httpx.get(live.base_url + asset).status_code == 200
    spec = httpx.get(live.base_url + "/openapi.json").json()
    assert "/v1/Account/{auth_id}/Message/" in spec["paths"]
    assert {"get", "post"} <= set(spec["paths"]["/v1/Account/{auth_id}/Message/"])
    for path in ("/health", "/metrics", "/admin/api/channels/{name}/inbound"):
        assert path in spec["paths"]


def test_json_logs_never_carry_tokens(live: LiveServer) -> None:
    live.env["SMSGATE_LOG_FORMAT"] = "json"
    live.start()
    auth_id, token = creds(live.banner)
    httpx.post(
        live.message_url(auth_id),
        auth=(auth_id, token),
        json={"src": "14155550100", "dst": "14155550101", "text": "m"},
    )
    httpx.get(live.message_url(auth_id), auth=(auth_id, "not-" + token))
    httpx.get(live.base_url + f"/health?access-token={token}&auth_token={token}")
    live.stop()
    lines = [line for line in live.log_tail_full().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert any(r.get("event") == "request" and r.get("status") == 202 for r in records)
    assert token not in "\n".join(lines)


def test_admin_injects_inbound_messages(live: LiveServer) -> None:
    live.start()
    auth_id, token = creds(live.banner)
    password = re.search(r"admin / (\S+)", live.banner)
    assert password
    inbound = live.base_url + "/admin/api/channels/simulator/inbound"
    body = {"from": "447700900123", "to": "14155550100", "text": "STOP"}
    assert httpx.post(inbound, json=body).status_code == 401
    assert httpx.post(inbound, json=body, auth=(auth_id, token)).status_code == 401
    assert httpx.post(inbound, json=body, auth=("admin", "wrong")).status_code == 401
    response = httpx.post(inbound, json=body, auth=("admin", password.group(1)))
    assert response.status_code == 202, response.text
    uuid = response.json()["message_uuid"]
    mdr = httpx.get(live.message_url(auth_id) + f"{uuid}/", auth=(auth_id, token)).json()
    assert (mdr["message_direction"], mdr["message_state"]) == ("inbound", "received")
    assert (mdr["from_number"], mdr["to_number"]) == ("447700900123", "14155550100")
    nowhere = httpx.post(
        live.base_url + "/admin/api/channels/nope/inbound",
        json=body,
        auth=("admin", password.group(1)),
    )
    assert nowhere.status_code == 404
    bad = httpx.post(inbound, json={"from": "x", "to": "1"}, auth=("admin", password.group(1)))
    assert bad.status_code == 400 and "text" in bad.json()["error"]


def test_cli_accounts_and_simulated_inbound(live: LiveServer) -> None:
    main = live.create_account("--name", "shop")
    assert main["auth_id"].startswith("MA") and len(main["auth_token"]) == 40
    sub = live.create_account("--parent", main["auth_id"])
    assert sub["auth_id"].startswith("SA") and sub["subaccount"] is True
    listed = json.loads(live.cli("accounts", "list", "--json").stdout)
    assert {a["auth_id"] for a in listed} == {main["auth_id"], sub["auth_id"]}
    assert all("auth_token" not in a for a in listed)
    shown = json.loads(live.cli("accounts", "show", main["auth_id"], "--json").stdout)
    assert shown["auth_token"] == main["auth_token"]
    received = live.cli(
        "simulator",
        "inbound",
        "--from",
        "447700900123",
        "--to",
        "14155550100",
        "--text",
        "hi there",
        "--account",
        sub["auth_id"],
    )
    uuid = received.stdout.split()[-1]
    live.start()
    mdr = httpx.get(
        live.message_url(sub["auth_id"]) + f"{uuid}/", auth=(sub["auth_id"], sub["auth_token"])
    )
    assert mdr.status_code == 200 and mdr.json()["message_state"] == "received"
    rotated = live.cli("accounts", "rotate-token", main["auth_id"]).stdout
    new_token = rotated.split()[-1]
    assert (
        httpx.get(live.message_url(main["auth_id"]), auth=(main["auth_id"], new_token)).status_code
        == 200
    )
    missing = live.cli("accounts", "show", "MA0000000000000000XX", check=False)
    assert missing.returncode != 0 and "no account" in missing.stderr
    bad = live.cli("simulator", "inbound", "--from", "!!!", "--to", "1", "--text", "t", check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


async def _send_all(
    base: str, auth: tuple[str, str], count: int, callback: str, concurrency: int = 16
) -> tuple[list[str], int]:
    """Send ``count`` messages; the uuids answered 202, and how many requests failed."""
    accepted: list[str] = []
    failed = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(auth=auth, limits=limits, timeout=30) as client:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            nonlocal failed
            async with semaphore:
                try:
                    response = await client.post(
                        base,
                        json={
                            "src": "14155550100",
                            "dst": f"1415556{i % 10000:04d}",
                            "text": f"message {i}",
                            "url": callback,
                        },
                    )
                except httpx.HTTPError:
                    failed += 1
                    return
                if response.status_code == 202:
                    accepted.extend(response.json()["message_uuid"])
                else:
                    failed += 1

        await asyncio.gather(*(one(i) for i in range(count)))
    return accepted, failed


def _wait_delivered(receiver: CallbackReceiver, uuids: set[str], timeout: float) -> None:
    pending = set(uuids)

    def done(request: Any) -> bool:
        if request.form.get("Status") == "delivered":
            pending.discard(request.form["MessageUUID"])
        return not pending

    receiver.until(done, timeout=timeout)


def _start_without_dispatcher(live: LiveServer, database_url: str) -> tuple[str, str]:
    """A live server that only accepts: everything it takes is still queued when it dies."""
    live.env["SMSGATE_DATABASE_URL"] = database_url
    # A load from one sender: neither the API's per-credential limit nor the carriers' pace
    # per number is what these tests measure.
    live.env["SMSGATE_LIMITS__API_REQUESTS"] = ""
    live.env["SMSGATE_LIMITS__NUMBER_PACE"] = ""
    account = live.create_account()
    live.start(extra_env={"SMSGATE_DISPATCHER__ENABLED": "false"})
    return account["auth_id"], account["auth_token"]


def test_accepted_messages_survive_kill_9(
    live: LiveServer, live_database_url: str, receiver: CallbackReceiver
) -> None:
    auth = _start_without_dispatcher(live, live_database_url)
    uuids, failed = asyncio.run(_send_all(live.message_url(auth[0]), auth, 200, receiver.url))
    assert failed == 0 and len(uuids) == 200
    live.kill()
    live.start()
    _wait_delivered(receiver, set(uuids), timeout=60)


def test_kill_9_under_load_loses_nothing_answered(
    live: LiveServer, live_database_url: str, receiver: CallbackReceiver
) -> None:
    auth = _start_without_dispatcher(live, live_database_url)

    async def load_then_kill() -> list[str]:
        sender = asyncio.create_task(
            _send_all(live.message_url(auth[0]), auth, 1500, receiver.url, concurrency=32)
        )
        # Kill once 200 "queued" callbacks show the server is well into the load.
        count = iter(range(1, 201))
        await asyncio.to_thread(receiver.until, lambda r: next(count) == 200, 60)
        live.kill()
        accepted, failed = await sender
        assert failed > 0, "the kill came after the load had finished"
        return accepted

    accepted = asyncio.run(load_then_kill())
    assert accepted
    live.start()
    _wait_delivered(receiver, set(accepted), timeout=120)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

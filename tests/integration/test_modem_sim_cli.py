"""As a user would: `smsgate modem-sim` in one terminal, `smsgate serve` with a modem channel
pointed at it in another; send with curl-like requests, and through the SMSSender face;
inject an inbound message and a fault through the simulator's control API."""

from __future__ import annotations

import json
import re

import httpx

from tests.support import LiveServer, wait_for


def test_serve_with_a_modem_channel_and_the_simulator(
    live: LiveServer, modem_sim: tuple[str, str]
) -> None:
    at_url, control = modem_sim
    (live.data_dir / "smsgate.toml").write_text(
        f"""
[[channels]]
name = "stick"
kind = "modem"
port = "{at_url}"
send_interval = 0
number = "447700900999"

[smssender]
keys = [{{key = "500a7317788e421227edf73552a4dd10"}}]
phone_format = "international"
"""
    )
    account = live.create_account()
    live.start()
    auth = (account["auth_id"], account["auth_token"])
    health = wait_for(
        lambda: (r := httpx.get(f"{live.base_url}/health")).status_code == 200 and r.json()
    )
    assert health["channels"]["stick"]["imei"] == "867530012345678"
    shown = live.cli("channels", "--url", live.base_url).stdout
    assert re.search(r"stick\s+modem\s+up\s.*operator=SIMTEL", shown), shown
    body = {"src": "447700900999", "dst": "447700900123", "text": "Hello over AT " * 15}
    sent = httpx.post(live.message_url(account["auth_id"]), json=body, auth=auth)
    assert sent.status_code == 202, sent.text
    [uuid] = sent.json()["message_uuid"]
    mdr = wait_for(
        lambda: (
            (r := httpx.get(live.message_url(account["auth_id"]) + f"{uuid}/", auth=auth).json())[
                "message_state"
            ]
            == "delivered"
            and r
        )
    )
    assert mdr["units"] == 2
    shown = httpx.get(control + "/").json()
    assert [s["to"] for s in shown["sent"]] == ["+447700900123", "+447700900123"]
    # The SMSSender face, through the same modem.
    params = json.dumps({"phone": "+447700900124", "text": "from SMSSender"})
    answer = httpx.get(
        f"{live.base_url}/",
        params={
            "c": "send_sms",
            "access-token": "500a7317788e421227edf73552a4dd10",
            "params": params,
        },
    )
    assert answer.json()["response"] == "success", answer.text
    balance = httpx.get(
        f"{live.base_url}/",
        params={"c": "get_balance", "access-token": "500a7317788e421227edf73552a4dd10"},
    )
    assert balance.json()["balance"] == "12.34"
    # An inbound message through the control API lands in the Plivo API.
    injected = httpx.post(control + "/inbound", json={"from": "+447700900555", "text": "ping"})
    assert injected.status_code == 201 and injected.json() == {"parts": 1}
    listed = wait_for(
        lambda: httpx.get(
            live.message_url(account["auth_id"]),
            params={"message_direction": "inbound"},
            auth=auth,
        ).json()["objects"]
    )
    assert listed[0]["from_number"] == "447700900555"
    # A fault: the network refuses the next message.
    assert httpx.post(control + "/faults", json={"kind": "cms", "code": 21}).status_code == 201
    body["text"] = "refused"
    [refused] = httpx.post(live.message_url(account["auth_id"]), json=body, auth=auth).json()[
        "message_uuid"
    ]
    failed = wait_for(
        lambda: (
            (
                r := httpx.get(
                    live.message_url(account["auth_id"]) + f"{refused}/", auth=auth
                ).json()
            )["message_state"]
            == "failed"
            and r
        )
    )
    assert failed["error_code"] == "100"
    bad = httpx.post(control + "/faults", json={"kind": "meteor"})
    assert bad.status_code == 400 and "kind" in bad.json()["error"]

"""As an operator would run it: `smsgate modem-sim` as the modem, Debian's smsd on it
(`device = @127.0.0.1:PORT`), and `smsgate serve` with the smstools channel on smsd's spool.
Plivo's SDK sends and gets `delivered`; an inbound message comes from the simulator through
smsd; a CMS error ends as `failed` with smsd's reason; the smstools-http-api face sends
through the same path; and a `kill -9` of smsgate while smsd holds files loses and duplicates
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import plivo
import plivo.rest.client
import pytest

from tests.smsd import Smsd, need_smsd
from tests.support import CallbackReceiver, LiveServer, wait_for

pytestmark = pytest.mark.timeout(300)

SETTINGS = """
[[channels]]
name = "smsd"
kind = "smstools"
spool = "{spool}"
report = "{spool}/report"
number = "447700900999"
poll_interval = 1

[[smstools_api.users]]
name = "lvv"
password = "SecretPAss"
mobiles = ["4477009002*"]
"""


@pytest.fixture
def smsd(tmp_path: Path, modem_sim: tuple[str, str]) -> Iterator[Smsd]:
    need_smsd()
    at_url, _ = modem_sim
    daemon = Smsd(tmp_path / "spool", int(at_url.rsplit(":", 1)[1]))
    yield daemon
    daemon.kill()


@pytest.fixture
def gateway(
    live: LiveServer, smsd: Smsd, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    (live.data_dir / "smsgate.toml").write_text(SETTINGS.format(spool=smsd.root))
    account = live.create_account()
    live.start()
    monkeypatch.setattr(plivo.rest.client, "PLIVO_API_BASE_URI", live.base_url + "/v1/Account")
    yield live, account


def modem_sent(control: str) -> list[dict[str, object]]:
    return list(httpx.get(control + "/").json()["sent"])


def test_plivo_sdk_through_smsd_to_the_modem_and_back(
    gateway: tuple[LiveServer, dict[str, str]],
    smsd: Smsd,
    modem_sim: tuple[str, str],
    receiver: CallbackReceiver,
) -> None:
    live, account = gateway
    _, control = modem_sim
    smsd.start()
    client = plivo.RestClient(account["auth_id"], account["auth_token"])
    text = "Hello through smsd, ¤ and € and {braces}. " * 4  # two parts
    [uuid] = client.messages.create(
        src="447700900999", dst="447700900123", text=text, url=receiver.url
    ).message_uuid
    seen = receiver.until(lambda r: r.form.get("Status") in ("delivered", "failed"), timeout=90)
    assert [r.form["Status"] for r in seen] == ["queued", "sent", "delivered"]
    mdr = client.messages.get(uuid)
    assert (mdr.message_state, mdr.units, mdr.error_code) == ("delivered", 2, "000")
    sent = modem_sent(control)
    assert [s["to"] for s in sent] == ["+447700900123", "+447700900123"]
    assert (
        "".join(str(s["text"]) for s in sorted(sent, key=lambda s: s["concat"]["sequence"])) == text
    )  # type: ignore[index]

    # A message from a handset, through the simulator and smsd, into smsgate.
    injected = httpx.post(control + "/inbound", json={"from": "+447700900555", "text": "Ping ΔΦ €"})
    assert injected.status_code == 201
    inbound = wait_for(
        lambda: client.messages.list(message_direction="inbound").objects, timeout=60
    )
    assert (inbound[0].from_number, inbound[0].to_number) == ("447700900555", "447700900999")
    assert client.messages.get(inbound[0].message_uuid).message_state == "received"

    # The network refuses the next message: smsd gives up, smsgate fails it with the reason.
    fault = httpx.post(control + "/faults", json={"kind": "cms", "code": 21, "count": 10})
    assert fault.status_code == 201
    [refused] = client.messages.create(
        src="447700900999", dst="447700900124", text="refused", url=receiver.url
    ).message_uuid
    failed = receiver.until(
        lambda r: r.form.get("MessageUUID") == refused and r.form.get("Status") == "failed",
        timeout=90,
    )[-1]
    assert failed.form["ErrorCode"] == "100"
    assert client.messages.get(refused).error_code == "100"
    httpx.delete(control + "/faults")

    # The smstools-http-api face, through the same channel; its id works in the Plivo API.
    auth = ("lvv", "SecretPAss")
    answer = httpx.post(
        f"{live.base_url}/api/v1.0/sms/outgoing",
        json={"text": "Hi, Jack!", "mobiles": ["447700900201", "447700900300"]},
        auth=auth,
    )
    assert answer.status_code == 201, answer.text
    ids = answer.json()["message_id"]
    assert ids["447700900300"] == "Forbidden"
    shown = wait_for(
        lambda: (
            (
                r := httpx.get(
                    f"{live.base_url}/api/v1.0/sms/sent/{ids['447700900201']}", auth=auth
                )
            ).status_code
            == 200
            and r.json()
        ),
        timeout=60,
    )
    assert (shown["From"], shown["To"]) == ("lvv", "447700900201")
    assert client.messages.get(ids["447700900201"]).to_number == "447700900201"
    missing = httpx.get(f"{live.base_url}/api/v1.0/sms/sent/smsgw.http.TqvEdt", auth=auth)
    assert missing.status_code == 404 and missing.json() == {"error": "Not found"}


def test_kill_9_while_smsd_holds_the_files_loses_and_duplicates_nothing(
    gateway: tuple[LiveServer, dict[str, str]], smsd: Smsd, modem_sim: tuple[str, str]
) -> None:
    live, account = gateway
    _, control = modem_sim
    client = plivo.RestClient(account["auth_id"], account["auth_token"])
    texts = {f"44770090030{n}": f"message {n}. " * (n * 10) for n in range(1, 4)}
    uuids = [
        client.messages.create(src="447700900999", dst=dst, text=text).message_uuid[0]
        for dst, text in texts.items()
    ]
    # smsd is not running: the parts wait in outgoing. smsgate dies without a word.
    wait_for(lambda: len(smsd.files("outgoing")) == 6, timeout=30)
    live.kill()
    live.start()
    plivo.rest.client.PLIVO_API_BASE_URI = live.base_url + "/v1/Account"  # a new port
    smsd.start()
    wait_for(
        lambda: all(client.messages.get(u).message_state == "delivered" for u in uuids),
        timeout=120,
    )
    sent = modem_sent(control)
    assert len(sent) == 6  # 1 + 2 + 3 parts, each once
    for dst, text in texts.items():
        parts = sorted(
            (s for s in sent if s["to"] == "+" + dst),
            key=lambda s: s["concat"]["sequence"] if s["concat"] else 0,  # type: ignore[index]
        )
        assert "".join(str(s["text"]) for s in parts) == text
    wait_for(lambda: smsd.files("outgoing") == smsd.files("checked") == smsd.files("sent") == [])

"""The text engine through the faces: GET /v1/segments, smart encoding on send (per request
and per account), national language tables by destination, and the CLI switch."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from tests.conftest import GatewayFactory, basic
from tests.integration.test_api_messages import get, send, stored
from tests.support import LiveServer

TURKISH = "Çok güzel, teşekkürler! Ğ ı ş"
CURLY = "\u201cHello\u201d \u2014 it\u2019s\u2026"


async def segments(client: httpx.AsyncClient, **query: Any) -> httpx.Response:
    return await client.get("/v1/segments", params=query)


# --- GET /v1/segments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "units", "per_part", "remaining"),
    [
        ("Hello", "GSM", 5, 1, 160, 155),
        ("a" * 160, "GSM", 160, 1, 160, 0),
        ("a" * 161, "GSM", 161, 2, 153, 145),
        ("€" * 80, "GSM", 80, 1, 160, 0),  # two septets each
        ("€" * 81, "GSM", 81, 2, 153, 143),
        ("ж" * 70, "UCS-2", 70, 1, 70, 0),
        ("ж" * 71, "UCS-2", 71, 2, 67, 63),
        ("😀" * 35, "UCS-2", 35, 1, 70, 0),  # a surrogate pair is two UTF-16 units
    ],
)
async def test_segments_counts_like_the_send_route(
    client: httpx.AsyncClient,
    account: Account,
    text: str,
    encoding: str,
    characters: int,
    units: int,
    per_part: int,
    remaining: int,
) -> None:
    response = await segments(client, text=text)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["encoding"], body["characters"], body["units"]) == (encoding, characters, units)
    assert (body["per_part"], body["remaining"]) == (per_part, remaining)
    assert body["too_long"] is False and body["replaced"] == 0
    assert "".join(part["text"] for part in body["parts"]) == text
    assert len(body["parts"]) == units
    # The send route bills exactly what the helper announced.
    sent = (await send(client, account, text=text)).json()
    assert (sent["units"], sent["encoding"]) == ([units], [encoding])


async def test_segments_never_splits_an_escape_or_a_surrogate_pair(
    client: httpx.AsyncClient,
) -> None:
    body = (await segments(client, text="a" * 152 + "€" + "b" * 10)).json()
    assert [part["text"] for part in body["parts"]] == ["a" * 152, "€" + "b" * 10]
    assert [part["length"] for part in body["parts"]] == [152, 12]
    body = (await segments(client, text="a" * 66 + "😀" + "b" * 10)).json()
    assert [part["text"] for part in body["parts"]] == ["a" * 66, "😀" + "b" * 10]
    assert [part["length"] for part in body["parts"]] == [66, 12]


async def test_segments_counts_an_empty_text(client: httpx.AsyncClient) -> None:
    # The send page asks as the user types, starting from an empty box.
    body = (await segments(client, text="")).json()
    assert (body["characters"], body["units"], body["remaining"]) == (0, 1, 160)


async def test_segments_with_smart_encoding(client: httpx.AsyncClient) -> None:
    plain = (await segments(client, text=CURLY)).json()
    assert (plain["encoding"], plain["replaced"], plain["text_sent"]) == ("UCS-2", 0, CURLY)
    smart = (await segments(client, text=CURLY, smart_encoding="true")).json()
    assert smart["encoding"] == "GSM"
    assert smart["text_sent"] == '"Hello" - it\'s...'
    assert smart["replaced"] == 5
    assert smart["remaining"] == 160 - len(smart["text_sent"])


async def test_segments_uses_the_destinations_national_tables(client: httpx.AsyncClient) -> None:
    anywhere = (await segments(client, text=TURKISH)).json()
    assert anywhere["encoding"] == "UCS-2"
    turkey = (await segments(client, text=TURKISH, dst="+90 532 123 45 67")).json()
    assert turkey["encoding"] == "GSM/turkish"
    assert turkey["per_part"] == 155  # the locking shift IE takes its room
    long_turkish = TURKISH * 10
    assert (await segments(client, text=long_turkish)).json()["units"] == 5
    assert (await segments(client, text=long_turkish, dst="905321234567")).json()["units"] == 2


async def test_segments_reports_text_over_the_limit(client: httpx.AsyncClient) -> None:
    assert (await segments(client, text="a" * 1600)).json()["too_long"] is False
    over = (await segments(client, text="a" * 1601)).json()
    assert over["too_long"] is True and over["units"] == 11
    assert (await segments(client, text="ж" * 738)).json()["too_long"] is True


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({}, "text"),
        ({"text": "a\x00b"}, "text"),
        ({"text": "hi", "dst": "not a number"}, "dst"),
        ({"text": "hi", "smart_encoding": "perhaps"}, "smart_encoding"),
        ({"text": "a" * 10_001}, "text"),
    ],
)
async def test_segments_bad_input(
    client: httpx.AsyncClient, query: dict[str, str], names: str
) -> None:
    response = await segments(client, **query)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"api_id", "error"} and names in body["error"]


# --- smart encoding on send -------------------------------------------------------------


async def test_smart_encoding_per_request(client: httpx.AsyncClient, account: Account) -> None:
    plain = (await send(client, account, text=CURLY)).json()
    assert (plain["encoding"], plain["units"]) == (["UCS-2"], [1])
    assert "text_sent" not in plain
    smart = await send(client, account, text=CURLY + " " + "x" * 150, smart_encoding=True)
    assert smart.status_code == 202, smart.text
    body = smart.json()
    assert body["text_sent"] == '"Hello" - it\'s... ' + "x" * 150
    assert (body["encoding"], body["units"]) == (["GSM"], [2])
    [uuid] = body["message_uuid"]
    mdr = (await get(client, account, f"{uuid}/")).json()
    assert (mdr["encoding"], mdr["text_replaced"], mdr["units"]) == ("GSM", True, 2)
    # Without smart encoding the same text costs three UCS-2 parts.
    [plain_uuid] = (await send(client, account, text=CURLY + " " + "x" * 150)).json()[
        "message_uuid"
    ]
    mdr = (await get(client, account, f"{plain_uuid}/")).json()
    assert (mdr["encoding"], mdr["text_replaced"], mdr["units"]) == ("UCS-2", False, 3)


async def test_smart_encoding_reaches_the_channel(
    client: httpx.AsyncClient, account: Account, gateway: Gateway
) -> None:
    [uuid] = (await send(client, account, text=CURLY, smart_encoding="true")).json()["message_uuid"]
    text = await gateway.db.read(
        lambda conn: conn.exec_driver_sql(
            "SELECT text FROM messages WHERE uuid = ?"
            if conn.dialect.name == "sqlite"
            else "SELECT text FROM messages WHERE uuid = %s",
            (uuid,),
        ).scalar()
    )
    assert text == '"Hello" - it\'s...'


async def test_smart_encoding_as_an_account_default(
    make_gateway: GatewayFactory, client: httpx.AsyncClient, gateway: Gateway
) -> None:
    from smsgate.core.bootstrap import create_account

    now = gateway.clock.now_us()
    account = await gateway.writer.run(
        lambda conn: create_account(conn, now=now, smart_encoding=True)
    )
    by_default = (await send(client, account, text=CURLY)).json()
    assert by_default["encoding"] == ["GSM"] and "text_sent" in by_default
    opted_out = (await send(client, account, text=CURLY, smart_encoding="false")).json()
    assert opted_out["encoding"] == ["UCS-2"] and "text_sent" not in opted_out


async def test_smart_encoding_bad_value_stores_nothing(
    client: httpx.AsyncClient, account: Account, gateway: Gateway
) -> None:
    response = await send(client, account, text=CURLY, smart_encoding="sometimes")
    assert response.status_code == 400
    assert "smart_encoding" in response.json()["error"]
    assert await stored(gateway) == 0


# --- national tables on send ------------------------------------------------------------


async def test_each_destination_gets_its_own_encoding(
    client: httpx.AsyncClient, account: Account
) -> None:
    body = (await send(client, account, text=TURKISH * 10, dst="905321234567<447700900123")).json()
    assert body["encoding"] == ["GSM/turkish", "UCS-2"]
    assert body["units"] == [2, 5]
    turkish, british = body["message_uuid"]
    assert (await get(client, account, f"{turkish}/")).json()["encoding"] == "GSM/turkish"
    assert (await get(client, account, f"{british}/")).json()["units"] == 5


async def test_national_tables_can_be_turned_off(make_gateway: GatewayFactory) -> None:
    from smsgate.api.app import create_app
    from tests.conftest import new_account

    gateway = await make_gateway(national_languages="none")
    account = await new_account(gateway)
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        body = (
            await http.post(
                f"/v1/Account/{account.auth_id}/Message/",
                json={"src": "14155550100", "dst": "905321234567", "text": TURKISH},
                headers=basic(account.auth_id, account.auth_token),
            )
        ).json()
    assert body["encoding"] == ["UCS-2"]


# --- the CLI switch ---------------------------------------------------------------------


def test_cli_turns_smart_encoding_on_and_off(live: LiveServer) -> None:
    account = live.create_account()
    assert account["smart_encoding"] is False
    updated = live.cli("accounts", "update", account["auth_id"], "--smart-encoding")
    assert '"smart_encoding": true' in updated.stdout
    live.start()
    auth = (account["auth_id"], account["auth_token"])
    body = {"src": "14155550100", "dst": "14155550101", "text": CURLY}
    sent = httpx.post(live.message_url(account["auth_id"]), json=body, auth=auth).json()
    assert sent["encoding"] == ["GSM"] and sent["text_sent"] == '"Hello" - it\'s...'
    nothing = live.cli("accounts", "update", account["auth_id"], check=False)
    assert nothing.returncode != 0 and "nothing to change" in nothing.stderr
    missing = live.cli(
        "accounts", "update", "MA0000000000000000XX", "--smart-encoding", check=False
    )
    assert missing.returncode != 0 and "no account" in missing.stderr
    assert "Traceback" not in missing.stderr


async def test_length_is_checked_in_the_destinations_encoding(
    client: httpx.AsyncClient, account: Account, gateway: Gateway
) -> None:
    text = "ğ" * 800  # 800 UCS-2 characters is over the limit; 800 septets in Turkish is not
    turkey = await send(client, account, text=text, dst="905321234567")
    assert turkey.status_code == 202, turkey.text
    assert turkey.json()["encoding"] == ["GSM/turkish"] and turkey.json()["units"] == [6]
    both = await send(client, account, text=text, dst="905321234567<447700900123")
    assert both.status_code == 400 and "too long" in both.json()["error"]
    assert await stored(gateway) == 1  # all or nothing
    body = (await segments(client, text=text, dst="905321234567")).json()
    assert (body["too_long"], body["units"]) == (False, 6)


async def test_segments_without_dst_follow_the_setting(make_gateway: GatewayFactory) -> None:
    from smsgate.api.app import create_app

    gateway = await make_gateway(national_languages=["turkish"])
    app = create_app(gateway, manage_gateway=False, access_log=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        body = (await http.get("/v1/segments", params={"text": TURKISH})).json()
    assert body["encoding"] == "GSM/turkish"

"""No input to the send and list routes produces a 500, and a refused request stores nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.store.schema import messages
from tests.conftest import basic

NAMES = [
    "src",
    "dst",
    "text",
    "type",
    "url",
    "method",
    "message_expiry",
    "log",
    "trackable",
    "powerpack_uuid",
    "media_urls",
    "callback_url",
    "callback_method",
    "dlt_template_category",
    "dlt_entity_id",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["14155550101", "14155550100", "sms", "POST", "http://x/y", "\x00", "1<2<3"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
BODIES = st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), VALUES, max_size=8)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def _count(gateway: Gateway) -> int:
    return int(
        await gateway.db.read(
            lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar()
        )
        or 0
    )


@FUZZ
@given(body=BODIES, valid=st.booleans())
async def test_send_never_fails_with_500(
    client: httpx.AsyncClient, account: Account, gateway: Gateway, body: dict[str, Any], valid: bool
) -> None:
    if valid:  # half the time, start from a valid request and spoil some of it
        body = {"src": "14155550100", "dst": "14155550101", "text": "hello", **body}
    before = await _count(gateway)
    response = await client.post(
        f"/v1/Account/{account.auth_id}/Message/",
        content=json.dumps(body).encode(),
        headers={**basic(account.auth_id, account.auth_token), "Content-Type": "application/json"},
    )
    assert response.status_code in (202, 400), response.text
    envelope = response.json()
    if response.status_code == 400:
        assert set(envelope) == {"api_id", "error"} and envelope["error"]
        assert await _count(gateway) == before
    elif envelope["message"] == "async api spawned":  # callback_url: uuids go to the callback
        assert await _count(gateway) > before
    else:
        assert await _count(gateway) == before + len(envelope["message_uuid"])


@FUZZ
@given(
    raw=st.binary(max_size=200),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "", "text/plain"]
    ),
)
async def test_raw_bodies_never_fail_with_500(
    client: httpx.AsyncClient, account: Account, raw: bytes, content_type: str
) -> None:
    headers = basic(account.auth_id, account.auth_token)
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post(
        f"/v1/Account/{account.auth_id}/Message/", content=raw, headers=headers
    )
    assert response.status_code in (202, 400), response.text


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(
            [
                "limit",
                "offset",
                "message_state",
                "message_direction",
                "error_code",
                "message_time__gt",
                "message_time",
                "to_number",
                "subaccount",
                "destination_country_iso2",
                "message_type",
            ]
        ),
        st.text(max_size=20),
        max_size=5,
    )
)
async def test_list_never_fails_with_500(
    client: httpx.AsyncClient, account: Account, query: dict[str, str]
) -> None:
    response = await client.get(
        f"/v1/Account/{account.auth_id}/Message/",
        params=query,
        headers=basic(account.auth_id, account.auth_token),
    )
    assert response.status_code in (200, 400), response.text
    assert isinstance(response.json()["objects"], list)


async def test_nul_characters_are_refused(
    client: httpx.AsyncClient, account: Account, gateway: Gateway
) -> None:
    # PostgreSQL cannot store NUL in text; no SMS needs one.
    for name, value in (
        ("text", "a\x00b"),
        ("url", "http://a\x00b/"),
        ("src", "1415\x00555"),
        ("dlt_entity_id", "\x00"),
    ):
        body = {"src": "14155550100", "dst": "14155550101", "text": "x", name: value}
        response = await client.post(
            f"/v1/Account/{account.auth_id}/Message/",
            json=body,
            headers=basic(account.auth_id, account.auth_token),
        )
        assert response.status_code == 400, (name, response.text)
        assert name in response.json()["error"]
    assert await _count(gateway) == 0


async def test_nul_in_list_filters_is_refused(client: httpx.AsyncClient, account: Account) -> None:
    for name in (
        "to_number",
        "from_number",
        "destination_country_iso2",
        "subaccount",
        "error_code",
        "message_state",
    ):
        response = await client.get(
            f"/v1/Account/{account.auth_id}/Message/",
            params={name: "1\x002"},
            headers=basic(account.auth_id, account.auth_token),
        )
        assert response.status_code == 400, (name, response.text)
    missing = await client.get(
        f"/v1/Account/{account.auth_id}/Message/%00/",
        headers=basic(account.auth_id, account.auth_token),
    )
    assert missing.status_code in (400, 404)


@FUZZ
@given(
    user=st.text(max_size=25),
    password=st.text(max_size=45),
    path_id=st.text(min_size=1, max_size=25),
)
async def test_odd_credentials_and_paths_are_401(
    client: httpx.AsyncClient, account: Account, user: str, password: str, path_id: str
) -> None:
    import base64
    from urllib.parse import quote

    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    for auth_id, header in (
        (account.auth_id, raw),
        (path_id, basic(account.auth_id, account.auth_token)["Authorization"].split()[1]),
    ):
        response = await client.get(
            f"/v1/Account/{quote(auth_id, safe='')}/Message/",
            headers={"Authorization": f"Basic {header}"},
        )
        if auth_id == account.auth_id and header != raw:
            continue
        assert response.status_code in (401, 404), response.text

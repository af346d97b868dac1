"""The official Plivo Python SDK, unchanged, against a live smsgate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import plivo
import plivo.rest.client
import pytest
from plivo import exceptions
from plivo.utils import validate_signature, validate_v3_signature

from tests.support import CallbackReceiver, LiveServer

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def gateway(
    live: LiveServer, live_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    live.env["SMSGATE_DATABASE_URL"] = live_database_url
    account = live.create_account()
    live.start()
    monkeypatch.setattr(plivo.rest.client, "PLIVO_API_BASE_URI", live.base_url + "/v1/Account")
    yield live, account


def sdk(account: dict[str, str]) -> plivo.RestClient:
    return plivo.RestClient(account["auth_id"], account["auth_token"])


def test_create_get_and_callbacks(
    gateway: tuple[LiveServer, dict[str, str]], receiver: CallbackReceiver
) -> None:
    _, account = gateway
    client = sdk(account)
    response = client.messages.create(
        src="14155550100", dst="14155550101", text="Hello from the Plivo SDK", url=receiver.url
    )
    [uuid] = response.message_uuid
    assert response.message == "message(s) queued"

    # Wait for the delivery callback, and check every callback with the SDK's own helpers.
    seen = receiver.until(lambda r: r.form.get("Status") == "delivered", timeout=30)
    assert [r.form["Status"] for r in seen] == ["queued", "sent", "delivered"]
    for request in seen:
        assert validate_v3_signature(
            "POST",
            request.url,
            request.headers["X-Plivo-Signature-V3-Nonce"],
            account["auth_token"],
            request.headers["X-Plivo-Signature-V3"],
            request.form,
        )
        assert validate_signature(
            request.url,
            request.headers["X-Plivo-Signature-V2-Nonce"],
            request.headers["X-Plivo-Signature-V2"],
            account["auth_token"],
        )
        assert request.form["MessageUUID"] == uuid

    message = client.messages.get(uuid)
    assert message.message_uuid == uuid
    assert message.message_state == "delivered"
    assert message.error_code == "000"
    assert (message.from_number, message.to_number) == ("14155550100", "14155550101")
    assert message.units == 1
    assert message.destination_country_iso2 == "US"


def test_bulk_create_and_list_with_filters_and_pages(
    gateway: tuple[LiveServer, dict[str, str]],
) -> None:
    _, account = gateway
    client = sdk(account)
    numbers = [f"1415555{n:04d}" for n in range(201, 208)]
    response = client.messages.create(src="14155550100", dst="<".join(numbers), text="ж" * 71)
    assert len(response.message_uuid) == 7
    single = client.messages.create(src="14155550100", dst="447700900123", text="hi")

    # Page through everything with the SDK, following meta.next.
    seen: list[str] = []
    offset = 0
    while True:
        page = client.messages.list(limit=3, offset=offset, message_direction="outbound")
        seen += [m.message_uuid for m in page.objects]
        if page.meta["next"] is None:
            break
        assert "limit=3" in page.meta["next"]
        offset += 3
    assert seen == single.message_uuid + response.message_uuid[::-1]
    assert page.meta["total_count"] == 8

    by_number = client.messages.list(to_number="447700900123")
    assert [m.message_uuid for m in by_number.objects] == single.message_uuid
    two_parts = client.messages.get(response.message_uuid[0])
    assert two_parts.units == 2
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    recent = client.messages.list(message_time__gte=since, limit=20)
    assert len(recent.objects) == 8
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert len(client.messages.list(message_time__gt=future).objects) == 0


def test_errors_arrive_as_the_sdk_expects(gateway: tuple[LiveServer, dict[str, str]]) -> None:
    _, account = gateway
    client = sdk(account)
    with pytest.raises(exceptions.ValidationError, match="text"):
        client.messages.create(src="14155550100", dst="14155550101", text="a" * 1601)
    with pytest.raises(exceptions.ValidationError, match="dst"):
        client.messages.create(src="14155550100", dst="not-a-number", text="x")
    with pytest.raises(exceptions.ResourceNotFoundError):
        client.messages.get("01a20191-0000-7000-8000-000000000000")
    wrong = plivo.RestClient(account["auth_id"], "wrong-token-wrong-token-wrong-token-00")
    with pytest.raises(exceptions.AuthenticationError):
        wrong.messages.list()


def test_subaccounts_work_with_their_own_credentials(
    gateway: tuple[LiveServer, dict[str, str]],
) -> None:
    live, account = gateway
    sub = live.create_account("--parent", account["auth_id"])
    sub_client = sdk(sub)
    [uuid] = sub_client.messages.create(
        src="14155550100", dst="14155550109", text="from a subaccount"
    ).message_uuid
    assert sub_client.messages.get(uuid).message_uuid == uuid
    parent = sdk(account)
    assert [m.message_uuid for m in parent.messages.list(subaccount=sub["auth_id"]).objects] == [
        uuid
    ]
    assert [m.message_uuid for m in sub_client.messages.list().objects] == [uuid]

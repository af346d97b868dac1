"""The official Plivo Python SDK's applications and numbers, unchanged, against a live smsgate:
what it sends, what it reads, and the errors it raises."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import plivo
import plivo.rest.client
import pytest
from plivo import exceptions
from plivo.utils import validate_v3_signature

from tests.support import CallbackReceiver, LiveServer, wait_for

pytestmark = pytest.mark.timeout(180)

NUMBER = "447700900100"
SHORT = "60123"
PHONE = "447700900123"
ADMIN, PASSWORD = "root", "numbers and letters"

Gateway = tuple[LiveServer, dict[str, str]]


@pytest.fixture
def gateway(
    live: LiveServer, live_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Gateway]:
    live.env["SMSGATE_DATABASE_URL"] = live_database_url
    account = live.create_account()
    live.start()
    base = live.base_url + "/v1/Account"
    # Applications are "voice requests" to the SDK, which has base URLs of their own.
    for name in (
        "PLIVO_API_BASE_URI",
        "API_VOICE_BASE_URI",
        "API_VOICE_BASE_URI_FALLBACK_1",
        "API_VOICE_BASE_URI_FALLBACK_2",
    ):
        monkeypatch.setattr(plivo.rest.client, name, base)
    yield live, account


def sdk(account: dict[str, str]) -> plivo.RestClient:
    return plivo.RestClient(account["auth_id"], account["auth_token"])


def test_applications_are_created_listed_read_updated_and_deleted(gateway: Gateway) -> None:
    _, account = gateway
    client = sdk(account)
    made = client.applications.create(
        app_name="shop",
        answer_url="https://example.com/voice",  # voice: accepted and ignored
        message_url="https://example.com/sms",
        message_method="GET",
        log_incoming_messages=False,
    )
    assert made.message == "created" and made.app_id.isdigit()
    other = client.applications.create(app_name="other")

    listed = client.applications.list(limit=1)
    assert [app.app_id for app in listed.objects] == [other.app_id]  # newest first
    assert listed.meta["total_count"] == 2 and "offset=1" in listed.meta["next"]
    both = client.applications.list()
    assert [app.app_name for app in both] == ["other", "shop"]
    assert [app.app_name for app in client.applications.list(app_name="shop")] == ["shop"]

    app = client.applications.get(made.app_id)
    assert (app.app_id, app.app_name, app.message_url) == (
        made.app_id,
        "shop",
        "https://example.com/sms",
    )
    assert (app.message_method, app.log_incoming_messages, app.default_app) == ("GET", False, False)
    assert app.resource_uri == f"/v1/Account/{account['auth_id']}/Application/{made.app_id}/"

    # The SDK sends message_method and log_incoming_messages on every update (their defaults
    # unless given), as Plivo's API takes them.
    changed = client.applications.update(made.app_id, message_url="https://example.com/new")
    assert changed.message == "changed"
    app = client.applications.get(made.app_id)
    assert (app.message_url, app.message_method, app.log_incoming_messages) == (
        "https://example.com/new",
        "POST",
        True,
    )

    client.applications.delete(made.app_id)
    with pytest.raises(exceptions.ResourceNotFoundError):
        client.applications.get(made.app_id)
    with pytest.raises(exceptions.ResourceNotFoundError):
        client.applications.delete(made.app_id)
    assert [app.app_id for app in client.applications.list()] == [other.app_id]


def test_numbers_are_listed_read_bound_and_released(gateway: Gateway) -> None:
    live, account = gateway
    client = sdk(account)
    app_id = client.applications.create(
        app_name="shop", message_url="https://example.com/sms"
    ).app_id
    live.cli("numbers", "add", NUMBER, "--account", account["auth_id"], "--alias", "Support")
    live.cli("numbers", "add", SHORT, "--account", account["auth_id"])

    listed = client.numbers.list()
    assert [n.number for n in listed] == [NUMBER, SHORT]
    assert listed.meta["total_count"] == 2
    assert [n.number for n in client.numbers.list(type="shortcode")] == [SHORT]
    assert [n.number for n in client.numbers.list(number_startswith="4477")] == [NUMBER]

    number = client.numbers.get(NUMBER)
    assert (number.number, number.alias, number.application) == (NUMBER, "Support", None)
    assert (number.number_type, number.sms_enabled) == ("local", True)

    assert client.numbers.update(NUMBER, app_id=app_id).message == "changed"
    bound = client.numbers.get(NUMBER)
    assert bound.application == f"/v1/Account/{account['auth_id']}/Application/{app_id}/"
    assert client.numbers.update(NUMBER, alias="Sales").message == "changed"
    assert (client.numbers.get(NUMBER).alias, client.numbers.get(NUMBER).application) == (
        "Sales",
        bound.application,
    )
    client.numbers.update(NUMBER, app_id="")
    assert client.numbers.get(NUMBER).application is None

    client.numbers.delete(SHORT)
    with pytest.raises(exceptions.ResourceNotFoundError):
        client.numbers.get(SHORT)
    assert [n.number for n in client.numbers.list()] == [NUMBER]


def test_errors_arrive_as_the_sdk_expects(gateway: Gateway) -> None:
    live, account = gateway
    client = sdk(account)
    other = live.create_account()
    theirs = sdk(other).applications.create(app_name="theirs").app_id
    live.cli("numbers", "add", NUMBER, "--account", account["auth_id"])

    with pytest.raises(exceptions.ValidationError, match="app_id"):
        client.numbers.update(NUMBER, app_id=theirs)
    assert client.numbers.get(NUMBER).application is None
    with pytest.raises(exceptions.ResourceNotFoundError):
        sdk(other).numbers.get(NUMBER)
    with pytest.raises(exceptions.ResourceNotFoundError):
        client.applications.get(theirs)
    with pytest.raises(exceptions.ValidationError, match="message_url"):
        client.applications.create(app_name="bad", message_url="http://example.com:99999/")
    assert [app.app_name for app in sdk(other).applications.list()] == ["theirs"]
    with pytest.raises(exceptions.InvalidRequestError, match="smsgate numbers add"):
        client.numbers.create(numbers=SHORT, carrier="mine", region="here")
    with pytest.raises(exceptions.InvalidRequestError, match="smsgate numbers add"):
        client.numbers.buy(SHORT)
    wrong = plivo.RestClient(account["auth_id"], "wrong-token-wrong-token-wrong-token-00")
    with pytest.raises(exceptions.AuthenticationError):
        wrong.applications.list()
    with pytest.raises(exceptions.AuthenticationError):
        wrong.numbers.list()


def test_a_message_to_a_bound_number_reaches_its_application(
    gateway: Gateway, receiver: CallbackReceiver
) -> None:
    live, account = gateway
    client = sdk(account)
    app_id = client.applications.create(app_name="shop", message_url=receiver.url).app_id
    live.cli("numbers", "add", NUMBER, "--account", account["auth_id"])
    client.numbers.update(NUMBER, app_id=app_id)
    live.cli("admin", "set-password", ADMIN, "--password", PASSWORD)
    injected = httpx.post(
        f"{live.base_url}/admin/api/channels/simulator/inbound",
        json={"from": PHONE, "to": NUMBER, "text": "hi"},
        auth=(ADMIN, PASSWORD),
        timeout=30,
    )
    assert injected.status_code == 202, injected.text
    got = receiver.get(timeout=30)
    params = got.form
    assert (params["From"], params["To"], params["Text"]) == (PHONE, NUMBER, "hi")
    assert params["MessageUUID"] == injected.json()["message_uuid"]
    assert validate_v3_signature(
        "POST",
        got.url,
        got.headers["X-Plivo-Signature-V3-Nonce"],
        account["auth_token"],
        got.headers["X-Plivo-Signature-V3"],
        params,
    )
    message = wait_for(
        lambda: (m := client.messages.get(params["MessageUUID"])).message_state == "delivered" and m
    )
    assert (message.message_direction, message.to_number) == ("inbound", NUMBER)
    shown = json.loads(live.cli("numbers", "list", "--json").stdout)
    assert [(n["number"], n["application"]) for n in shown] == [(NUMBER, app_id)]

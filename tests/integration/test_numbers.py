"""Numbers and applications: the Plivo Application and Number API (scoped like the Message
API), the admin API that gives numbers to accounts and puts opted-out numbers back, the CLI,
and an inbound message that reaches the application of the number it was sent to."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from plivo.utils import validate_v3_signature
from sqlalchemy import Connection, func, select

from smsgate.api.app import create_app
from smsgate.cli import main
from smsgate.core.events import InboundReceived
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.passwords import hash_password
from smsgate.store import accounts as account_store
from smsgate.store import opt_outs as opt_out_store
from smsgate.store.schema import applications, message_events, numbers, opt_outs
from tests.conftest import GatewayFactory, basic, new_account, simulator
from tests.support import CallbackReceiver

ADMIN, PASSWORD = "root", "numbers and letters"
PHONE = "447700900123"
NUMBER = "447700900100"
SHORT = "60123"


class Api:
    """An HTTP client of one gateway, with an account, a second account and admin rights."""

    def __init__(
        self, gateway: Gateway, http: httpx.AsyncClient, account: Account, other: Account
    ) -> None:
        self.gateway, self.http, self.account, self.other = gateway, http, account, other
        self.admin = basic(ADMIN, PASSWORD)

    def auth(self, account: Account | None = None) -> dict[str, str]:
        who = account or self.account
        return basic(who.auth_id, who.auth_token)

    def path(self, resource: str, account: Account | None = None) -> str:
        return f"/v1/Account/{(account or self.account).auth_id}/{resource}"

    async def create_app(self, account: Account | None = None, **body: Any) -> httpx.Response:
        return await self.http.post(
            self.path("Application/", account),
            json={"app_name": "shop", **body},
            headers=self.auth(account),
        )

    async def app_id(self, account: Account | None = None, **body: Any) -> str:
        made = await self.create_app(account, **body)
        assert made.status_code == 201, made.text
        return str(made.json()["app_id"])

    async def add_number(self, **body: Any) -> httpx.Response:
        wanted = {"number": NUMBER, "account": self.account.auth_id, **body}
        return await self.http.post("/admin/api/numbers/", json=wanted, headers=self.admin)

    async def count(self, table: Any) -> int:
        return int(
            await self.gateway.db.read(
                lambda conn: conn.execute(select(func.count()).select_from(table)).scalar()
            )
        )


async def add_admin(gateway: Gateway) -> None:
    hashed = await asyncio.to_thread(hash_password, PASSWORD)
    now = gateway.clock.now_us()
    await gateway.writer.run(lambda conn: account_store.insert_admin(conn, ADMIN, hashed, now))


async def _api(gateway: Gateway) -> AsyncIterator[Api]:
    account = await new_account(gateway)
    other = await new_account(gateway)
    await add_admin(gateway)
    app = create_app(gateway, manage_gateway=False, access_log=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Api(gateway, http, account, other)


@pytest.fixture
async def api(make_gateway: GatewayFactory) -> AsyncIterator[Api]:
    gateway = await make_gateway(channels=[simulator(), simulator(name="second", seed=8)])
    async for made in _api(gateway):
        yield made


# the Application API -------------------------------------------------------------------------


async def test_an_application_is_created_listed_read_changed_and_deleted(api: Api) -> None:
    made = await api.create_app(
        message_url="https://example.com/sms",
        message_method="get",
        log_incoming_messages="False",
        answer_url="https://example.com/voice",  # voice: accepted and ignored
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"api_id", "app_id", "message"} and body["message"] == "created"
    app_id = body["app_id"]
    assert app_id.isdigit() and len(app_id) == 17

    got = await api.http.get(api.path(f"Application/{app_id}/"), headers=api.auth())
    assert got.status_code == 200
    app = got.json()
    assert (app["app_id"], app["app_name"], app["message_url"]) == (
        app_id,
        "shop",
        "https://example.com/sms",
    )
    assert (app["message_method"], app["log_incoming_messages"]) == ("GET", False)
    assert app["resource_uri"] == f"/v1/Account/{api.account.auth_id}/Application/{app_id}/"
    assert (app["default_app"], app["sub_account"], app["answer_url"]) == (False, None, None)

    changed = await api.http.post(
        api.path(f"Application/{app_id}"),  # no trailing slash: the same route
        json={"message_url": "http://example.com/other", "log_incoming_messages": True},
        headers=api.auth(),
    )
    assert changed.status_code == 202 and changed.json()["message"] == "changed"
    app = (await api.http.get(api.path(f"Application/{app_id}/"), headers=api.auth())).json()
    # What was not sent stays as it was.
    assert (app["message_url"], app["message_method"], app["log_incoming_messages"]) == (
        "http://example.com/other",
        "GET",
        True,
    )

    listed = await api.http.get(api.path("Application/"), headers=api.auth())
    assert listed.status_code == 200
    assert listed.json()["meta"]["total_count"] == 1
    assert [a["app_id"] for a in listed.json()["objects"]] == [app_id]

    # A bound number loses the application when it is deleted, and stays the account's.
    assert (await api.add_number(application=app_id)).status_code == 201
    gone = await api.http.delete(api.path(f"Application/{app_id}/"), headers=api.auth())
    assert gone.status_code == 204 and gone.content == b""
    missing = await api.http.get(api.path(f"Application/{app_id}/"), headers=api.auth())
    assert missing.status_code == 404 and set(missing.json()) == {"api_id", "error"}
    number = (await api.http.get(api.path(f"Number/{NUMBER}/"), headers=api.auth())).json()
    assert number["application"] is None and number["number"] == NUMBER
    again = await api.http.delete(api.path(f"Application/{app_id}/"), headers=api.auth())
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"app_name": None}, "app_name"),
        ({"app_name": "  "}, "app_name"),
        ({"app_name": "x" * 201}, "app_name"),
        ({"app_name": "a\x00b"}, "app_name"),
        ({"message_url": "ftp://example.com/sms"}, "message_url"),
        ({"message_url": "example.com/sms"}, "message_url"),
        ({"message_url": "http://example.com:99999/"}, "message_url"),
        ({"message_url": ["http://example.com/"]}, "message_url"),
        ({"message_method": "PUT"}, "message_method"),
        ({"log_incoming_messages": "maybe"}, "log_incoming_messages"),
        ({"subaccount": "SA00000000000000000X"}, "subaccount"),
    ],
)
async def test_a_bad_application_is_refused_and_nothing_is_stored(
    api: Api, body: dict[str, Any], named: str
) -> None:
    wanted = {"app_name": "shop", **body}
    if wanted["app_name"] is None:
        del wanted["app_name"]
    answer = await api.http.post(api.path("Application/"), json=wanted, headers=api.auth())
    assert answer.status_code == 400, answer.text
    assert named in answer.json()["error"] and "api_id" in answer.json()
    assert await api.count(applications) == 0


async def test_a_bad_change_is_refused_and_changes_nothing(api: Api) -> None:
    app_id = await api.app_id(message_url="https://example.com/sms")
    for body in ({"message_url": "gopher://x"}, {"message_method": "PATCH"}, {"app_name": ""}):
        answer = await api.http.post(
            api.path(f"Application/{app_id}/"), json=body, headers=api.auth()
        )
        assert answer.status_code == 400, (body, answer.text)
    app = (await api.http.get(api.path(f"Application/{app_id}/"), headers=api.auth())).json()
    assert (app["message_url"], app["message_method"], app["app_name"]) == (
        "https://example.com/sms",
        "POST",
        "shop",
    )
    # An empty message_url removes it.
    cleared = await api.http.post(
        api.path(f"Application/{app_id}/"), json={"message_url": ""}, headers=api.auth()
    )
    assert cleared.status_code == 202
    app = (await api.http.get(api.path(f"Application/{app_id}/"), headers=api.auth())).json()
    assert app["message_url"] == ""
    unknown = await api.http.post(
        api.path("Application/12345678901234567/"), json={}, headers=api.auth()
    )
    assert unknown.status_code == 404


async def test_the_application_list_pages_and_filters(api: Api) -> None:
    made = [await api.app_id(app_name=f"app {n}") for n in range(3)]
    first = (await api.http.get(api.path("Application/?limit=2"), headers=api.auth())).json()
    assert [a["app_id"] for a in first["objects"]] == made[::-1][:2]  # newest first
    meta = first["meta"]
    assert (meta["limit"], meta["offset"], meta["total_count"], meta["previous"]) == (2, 0, 3, None)
    assert meta["next"] == f"/v1/Account/{api.account.auth_id}/Application/?limit=2&offset=2"
    second = (await api.http.get(meta["next"], headers=api.auth())).json()
    assert [a["app_id"] for a in second["objects"]] == [made[0]]
    assert second["meta"]["next"] is None and second["meta"]["previous"] is not None
    named = await api.http.get(api.path("Application/?app_name=app 1"), headers=api.auth())
    assert [a["app_id"] for a in named.json()["objects"]] == [made[1]]
    for bad in ("limit=0", "limit=21", "offset=-1", "limit=x"):
        answer = await api.http.get(api.path(f"Application/?{bad}"), headers=api.auth())
        assert answer.status_code == 400, bad
        assert answer.json()["objects"] == []  # Plivo's SDKs read it before the status


async def test_applications_are_scoped_like_messages(api: Api) -> None:
    gateway = api.gateway
    sub = await new_account(gateway, parent=api.account)
    main_app = await api.app_id(app_name="main")
    sub_app = await api.app_id(sub, app_name="sub")
    for_sub = await api.app_id(app_name="for sub", subaccount=sub.auth_id)
    other_app = await api.app_id(api.other, app_name="other")

    async def ids(account: Account, path_account: Account | None = None, query: str = "") -> Any:
        answer = await api.http.get(
            api.path(f"Application/{query}", path_account or account), headers=api.auth(account)
        )
        assert answer.status_code == 200, answer.text
        return {a["app_id"] for a in answer.json()["objects"]}

    assert await ids(api.account) == {main_app, sub_app, for_sub}
    assert await ids(sub) == {sub_app, for_sub}
    assert await ids(api.account, sub) == {sub_app, for_sub}  # the main account acting as it
    assert await ids(api.account, query=f"?subaccount={sub.auth_id}") == {sub_app, for_sub}
    assert await ids(api.other) == {other_app}
    shown = (
        await api.http.get(api.path(f"Application/{for_sub}/", sub), headers=api.auth(sub))
    ).json()
    assert shown["resource_uri"] == f"/v1/Account/{sub.auth_id}/Application/{for_sub}/"
    assert shown["sub_account"] == f"/v1/Account/{api.account.auth_id}/Subaccount/{sub.auth_id}/"
    # Another account's application does not exist for a caller, whatever it does.
    for method in ("GET", "POST", "DELETE"):
        for caller, target in ((sub, main_app), (api.other, main_app), (api.account, other_app)):
            answer = await api.http.request(
                method,
                api.path(f"Application/{target}/", caller),
                headers=api.auth(caller),
                json={} if method == "POST" else None,
            )
            assert answer.status_code == 404, (method, caller.auth_id, target)
    assert await api.count(applications) == 4
    # A subaccount names no subaccount; another account's path is refused.
    answer = await api.create_app(sub, subaccount=sub.auth_id)
    assert answer.status_code == 201
    answer = await api.http.get(api.path("Application/", api.other), headers=api.auth())
    assert answer.status_code == 401
    moved = await api.http.post(
        api.path(f"Application/{main_app}/"), json={"subaccount": sub.auth_id}, headers=api.auth()
    )
    assert moved.status_code == 400 and "stays with the account" in moved.json()["error"]


# the Number API ------------------------------------------------------------------------------


async def test_numbers_are_listed_read_bound_named_and_released(api: Api) -> None:
    app_id = await api.app_id(message_url="https://example.com/sms")
    assert (await api.add_number(number="+44 7700 900100", alias="Support")).status_code == 201
    assert (await api.add_number(number=SHORT, channel="second")).status_code == 201
    listed = await api.http.get(api.path("Number/"), headers=api.auth())
    assert listed.status_code == 200
    body = listed.json()
    assert body["meta"]["total_count"] == 2
    by_number = {n["number"]: n for n in body["objects"]}
    assert set(by_number) == {NUMBER, SHORT}
    long, short = by_number[NUMBER], by_number[SHORT]
    assert (long["number_type"], short["number_type"]) == ("local", "shortcode")
    assert (long["alias"], long["application"], long["carrier"]) == ("Support", None, "smsgate")
    assert long["sms_enabled"] is True and len(long["added_on"]) == 10  # YYYY-MM-DD
    assert long["resource_uri"] == f"/v1/Account/{api.account.auth_id}/Number/{NUMBER}/"
    types = await api.http.get(api.path("Number/?type=shortcode"), headers=api.auth())
    assert [n["number"] for n in types.json()["objects"]] == [SHORT]
    starts = await api.http.get(api.path("Number/?number_startswith=4477"), headers=api.auth())
    assert [n["number"] for n in starts.json()["objects"]] == [NUMBER]
    voice = await api.http.get(api.path("Number/?services=voice"), headers=api.auth())
    assert voice.json()["objects"] == []
    page = await api.http.get(api.path("Number/?limit=1"), headers=api.auth())
    assert page.json()["meta"]["next"] == (
        f"/v1/Account/{api.account.auth_id}/Number/?limit=1&offset=1"
    )

    bound = await api.http.post(
        api.path(f"Number/{NUMBER}/"), json={"app_id": app_id}, headers=api.auth()
    )
    assert bound.status_code == 202 and bound.json()["message"] == "changed"
    got = (await api.http.get(api.path(f"Number/+{NUMBER}/"), headers=api.auth())).json()
    app_uri = f"/v1/Account/{api.account.auth_id}/Application/{app_id}/"
    assert (got["application"], got["alias"]) == (app_uri, "Support")  # alias untouched
    named = await api.http.post(
        api.path(f"Number/{NUMBER}/"), data={"alias": "Sales"}, headers=api.auth()
    )
    assert named.status_code == 202
    got = (await api.http.get(api.path(f"Number/{NUMBER}/"), headers=api.auth())).json()
    assert (got["application"], got["alias"]) == (app_uri, "Sales")  # app untouched
    unbound = await api.http.post(
        api.path(f"Number/{NUMBER}/"), json={"app_id": ""}, headers=api.auth()
    )
    assert unbound.status_code == 202
    got = (await api.http.get(api.path(f"Number/{NUMBER}/"), headers=api.auth())).json()
    assert got["application"] is None

    released = await api.http.delete(api.path(f"Number/{NUMBER}/"), headers=api.auth())
    assert released.status_code == 204
    assert (
        await api.http.get(api.path(f"Number/{NUMBER}/"), headers=api.auth())
    ).status_code == 404
    assert await api.count(numbers) == 1
    assert (
        await api.http.delete(api.path(f"Number/{NUMBER}/"), headers=api.auth())
    ).status_code == 404


async def test_a_number_answers_only_its_own_accounts_applications(api: Api) -> None:
    mine = await api.app_id()
    theirs = await api.app_id(api.other)
    assert (await api.add_number(application=mine)).status_code == 201
    sub = await new_account(api.gateway, parent=api.account)
    sub_app = await api.app_id(sub)
    before = (await api.http.get(api.path(f"Number/{NUMBER}/"), headers=api.auth())).json()
    for app_id in (theirs, sub_app, "12345678901234567", "not-a-number", "1" * 40):
        answer = await api.http.post(
            api.path(f"Number/{NUMBER}/"), json={"app_id": app_id, "alias": "x"}, headers=api.auth()
        )
        assert answer.status_code == 400, (app_id, answer.text)
        assert "app_id" in answer.json()["error"]
    after = (await api.http.get(api.path(f"Number/{NUMBER}/"), headers=api.auth())).json()
    assert {k: v for k, v in after.items() if k != "api_id"} == {
        k: v for k, v in before.items() if k != "api_id"
    }
    # Another account's number does not exist for a caller; a subaccount sees its own only.
    for method in ("GET", "POST", "DELETE"):
        for caller in (api.other, sub):
            answer = await api.http.request(
                method,
                api.path(f"Number/{NUMBER}/", caller),
                headers=api.auth(caller),
                json={"alias": "mine"} if method == "POST" else None,
            )
            assert answer.status_code == 404, (method, caller.auth_id)
    assert (await api.http.get(api.path("Number/", api.other), headers=api.auth(api.other))).json()[
        "objects"
    ] == []
    # Long aliases and control characters are refused; a subaccount cannot be named.
    for body in ({"alias": "x" * 201}, {"alias": "a\nb"}, {"subaccount": sub.auth_id}):
        answer = await api.http.post(api.path(f"Number/{NUMBER}/"), json=body, headers=api.auth())
        assert answer.status_code == 400, body


async def test_adding_a_number_through_the_plivo_api_is_the_operators_act(api: Api) -> None:
    for path, allowed in (("Number/", "GET"), (f"PhoneNumber/{NUMBER}/", "")):
        answer = await api.http.post(
            api.path(path),
            json={"numbers": NUMBER, "carrier": "x", "region": "y"},
            headers=api.auth(),
        )
        assert answer.status_code == 405, path
        assert answer.headers["allow"] == allowed
        assert "smsgate numbers add" in answer.json()["error"]
    assert await api.count(numbers) == 0
    unauthenticated = await api.http.post(api.path("Number/"), json={})
    assert unauthenticated.status_code == 401


# the admin API -------------------------------------------------------------------------------


async def test_the_admin_api_gives_lists_and_takes_back_numbers(api: Api) -> None:
    app_id = await api.app_id(message_url="https://example.com/sms")
    made = await api.add_number(application=app_id, channel="second", alias="Support")
    assert made.status_code == 201, made.text
    assert made.json() == {
        "number": NUMBER,
        "number_type": "local",
        "account": api.account.auth_id,
        "application": app_id,
        "application_name": "shop",
        "message_url": "https://example.com/sms",
        "channel": "second",
        "alias": "Support",
        "created_at": made.json()["created_at"],
    }
    short = await api.add_number(number="6012", account=api.other.auth_id)
    assert short.status_code == 201 and short.json()["number_type"] == "shortcode"
    listed = await api.http.get("/admin/api/numbers/", headers=api.admin)
    assert [n["number"] for n in listed.json()["objects"]] == [NUMBER, "6012"]
    theirs = await api.http.get(
        f"/admin/api/numbers/?account={api.other.auth_id}", headers=api.admin
    )
    assert [n["number"] for n in theirs.json()["objects"]] == ["6012"]
    gone = await api.http.delete(f"/admin/api/numbers/%2B{NUMBER}", headers=api.admin)
    assert gone.status_code == 204
    again = await api.http.delete(f"/admin/api/numbers/{NUMBER}", headers=api.admin)
    assert again.status_code == 404
    assert await api.count(numbers) == 1


async def test_the_admin_api_refuses_bad_numbers_and_stores_nothing(api: Api) -> None:
    mine = await api.app_id()
    theirs = await api.app_id(api.other)
    assert (await api.add_number(number=SHORT)).status_code == 201
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"number": "12"}, 400, "invalid number"),
        ({"number": "123456789"}, 400, "invalid number"),
        ({"number": "ShopName"}, 400, "invalid number"),
        ({"number": ""}, 400, "invalid number"),
        ({"number": None}, 400, "number parameter is missing"),
        ({"account": None}, 400, "account parameter is missing"),
        ({"account": "MA00000000000000000X"}, 404, "no account"),
        ({"application": "12345678901234567"}, 404, "no application"),
        ({"application": theirs}, 400, "another account"),
        ({"channel": "nowhere"}, 400, "invalid channel"),
        ({"alias": "x" * 201}, 400, "alias"),
        ({"number": f"+{SHORT}"}, 409, "belongs to an account already"),
        (
            {"number": SHORT, "account": api.other.auth_id, "application": None},
            409,
            "belongs to an account already",
        ),
    ]
    for body, status, said in cases:
        wanted = {"number": NUMBER, "account": api.account.auth_id, "application": mine, **body}
        wanted = {k: v for k, v in wanted.items() if v is not None}
        answer = await api.http.post("/admin/api/numbers/", json=wanted, headers=api.admin)
        assert answer.status_code == status, (body, answer.text)
        assert said in answer.json()["error"], (body, answer.json())
        assert await api.count(numbers) == 1, body
    for headers in ({}, api.auth(), basic(ADMIN, "wrong")):
        answer = await api.http.post(
            "/admin/api/numbers/",
            json={"number": "6014", "account": api.account.auth_id},
            headers=headers,
        )
        assert answer.status_code == 401
        assert (await api.http.get("/admin/api/numbers/", headers=headers)).status_code == 401
    # A browser page of another site cannot make an admin's browser add one.
    cross = await api.http.post(
        "/admin/api/numbers/",
        json={"number": "6015", "account": api.account.auth_id},
        headers={**api.admin, "Origin": "http://evil.example"},
    )
    assert cross.status_code == 403
    listed = (await api.http.get("/admin/api/numbers/", headers=api.admin)).json()["objects"]
    assert [n["number"] for n in listed] == [SHORT]


async def test_the_admin_api_lists_opt_outs_and_puts_a_number_back(api: Api) -> None:
    now = api.gateway.clock.now_us()

    def work(conn: Connection) -> None:
        opt_out_store.add(conn, api.account.id, PHONE, "STOP", None, now)
        opt_out_store.add(conn, api.other.id, PHONE, "ARRET", None, now)

    await api.gateway.writer.run(work)
    listed = (await api.http.get("/admin/api/opt-outs/", headers=api.admin)).json()["objects"]
    assert {(o["account"], o["number"], o["keyword"]) for o in listed} == {
        (api.account.auth_id, PHONE, "STOP"),
        (api.other.auth_id, PHONE, "ARRET"),
    }
    mine = await api.http.get(
        f"/admin/api/opt-outs/?account={api.account.auth_id}", headers=api.admin
    )
    assert [o["keyword"] for o in mine.json()["objects"]] == ["STOP"]
    back = await api.http.delete(
        f"/admin/api/opt-outs/{api.account.auth_id}/%2B{PHONE}", headers=api.admin
    )
    assert back.status_code == 204
    assert await api.count(opt_outs) == 1  # the other account's list is its own
    again = await api.http.delete(
        f"/admin/api/opt-outs/{api.account.auth_id}/{PHONE}", headers=api.admin
    )
    assert again.status_code == 404
    nobody = await api.http.delete(
        f"/admin/api/opt-outs/MA00000000000000000X/{PHONE}", headers=api.admin
    )
    assert nobody.status_code == 404
    refused = await api.http.delete(
        f"/admin/api/opt-outs/{api.other.auth_id}/{PHONE}", headers=api.auth()
    )
    assert refused.status_code == 401 and await api.count(opt_outs) == 1


# inbound messages ----------------------------------------------------------------------------


async def test_an_inbound_message_reaches_the_application_of_its_number(
    make_gateway: GatewayFactory, receiver: CallbackReceiver
) -> None:
    gateway = await make_gateway(background=True)
    async for api in _api(gateway):
        app_id = await api.app_id(message_url=receiver.url)
        assert (await api.add_number(application=app_id)).status_code == 201
        with gateway.watch() as changes:
            await gateway.record([InboundReceived("simulator", PHONE, NUMBER, "hi")])
            got = await asyncio.to_thread(receiver.get, 15)
            params = got.form
            assert (params["From"], params["To"], params["Text"]) == (PHONE, NUMBER, "hi")
            uuid = params["MessageUUID"]
            assert validate_v3_signature(
                "POST",
                got.url,
                got.headers["X-Plivo-Signature-V3-Nonce"],
                api.account.auth_token,
                got.headers["X-Plivo-Signature-V3"],
                params,
            )
            while True:
                change = await asyncio.wait_for(changes.get(), timeout=15)
                if change.uuid == uuid and change.state == "delivered":
                    break
        mdr = await api.http.get(api.path(f"Message/{uuid}/"), headers=api.auth())
        assert mdr.status_code == 200
        body = mdr.json()
        assert (body["message_direction"], body["message_state"]) == ("inbound", "delivered")
        assert (body["from_number"], body["to_number"]) == (PHONE, NUMBER)
        # The other account cannot read it.
        other = await api.http.get(
            api.path(f"Message/{uuid}/", api.other), headers=api.auth(api.other)
        )
        assert other.status_code == 404


async def _kinds(gateway: Gateway, uuid: str) -> list[str]:
    rows = await gateway.db.read(
        lambda conn: conn.execute(
            select(message_events.c.kind).where(message_events.c.message_uuid == uuid)
        ).all()
    )
    return [row.kind for row in rows]


async def test_a_message_for_an_unknown_number_or_channel_is_kept_and_noted(api: Api) -> None:
    # The number belongs to the second account, on the channel "second" only.
    assert (await api.add_number(account=api.other.auth_id, channel="second")).status_code == 201
    outcome = await api.gateway.record(
        [
            InboundReceived("simulator", PHONE, "447700900999", "nobody's"),
            InboundReceived("simulator", PHONE, NUMBER, "wrong channel"),
            InboundReceived("second", PHONE, NUMBER, "its channel"),
        ]
    )
    uuids = [t.uuid for t in outcome.transitions if t.state == "received"]
    assert len(uuids) == 3
    for uuid in uuids[:2]:
        # Kept under the first main account (the simulator names none), noted, readable.
        mdr = await api.http.get(api.path(f"Message/{uuid}/"), headers=api.auth())
        assert mdr.status_code == 200
        assert (mdr.json()["message_direction"], mdr.json()["message_state"]) == (
            "inbound",
            "received",
        )
        assert "unknown_number" in await _kinds(api.gateway, uuid)
    # On its channel, the number's account has it, and no other.
    theirs = await api.http.get(
        api.path(f"Message/{uuids[2]}/", api.other), headers=api.auth(api.other)
    )
    assert theirs.status_code == 200 and theirs.json()["to_number"] == NUMBER
    mine = await api.http.get(api.path(f"Message/{uuids[2]}/"), headers=api.auth())
    assert mine.status_code == 404
    assert "unknown_number" not in await _kinds(api.gateway, uuids[2])


# the CLI -------------------------------------------------------------------------------------


def test_the_cli_manages_numbers_applications_and_opt_outs(live_database_url: str) -> None:
    runner = CliRunner()

    def cli(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(main, ["--database-url", live_database_url, *args])
        if ok:
            assert result.exit_code == 0, (args, result.output)
        else:
            assert result.exit_code != 0, (args, result.output)
        return result

    account = json.loads(cli("accounts", "create", "--json").output)["auth_id"]
    other = json.loads(cli("accounts", "create", "--json").output)["auth_id"]
    app_id = cli(
        "applications", "create", "--account", account, "--name", "shop",
        "--message-url", "https://example.com/sms", "--method", "get", "--no-log",
    ).output.strip()  # fmt: skip
    assert app_id.isdigit()
    theirs = cli(
        "applications", "create", "--account", other, "--name", "theirs",
        "--message-url", "https://example.com/other",
    ).output.strip()  # fmt: skip

    added = cli("numbers", "add", f"+{NUMBER}", "--account", account, "--application", app_id,
                "--channel", "simulator", "--alias", "Support", "--json")  # fmt: skip
    shown = json.loads(added.output)
    assert (shown["number"], shown["account"], shown["application"]) == (NUMBER, account, app_id)
    assert (shown["channel"], shown["alias"], shown["number_type"]) == (
        "simulator",
        "Support",
        "local",
    )
    assert "added to" in cli("numbers", "add", SHORT, "--account", account).output

    add = ("numbers", "add", "6019", "--account", account)
    create = ("applications", "create", "--account", account, "--name", "x")
    nobody = "MA00000000000000000X"
    refusals = [
        (("numbers", "add", "6019", "--account", nobody), "no account"),
        ((*add, "--application", "1" * 17), "no application"),
        ((*add, "--application", theirs), "belongs to"),
        ((*add, "--channel", "nowhere"), "invalid channel"),
        (("numbers", "add", "12", "--account", account), "invalid number"),
        (("numbers", "add", NUMBER, "--account", other), "belongs to an account already"),
        (("numbers", "update", NUMBER, "--application", theirs), "belongs to"),
        (("numbers", "update", NUMBER, "--channel", "nowhere"), "invalid channel"),
        (("numbers", "update", "6019", "--alias", "x"), "no number"),
        (("numbers", "update", NUMBER), "nothing to change"),
        ((*create, "--message-url", "ftp://x"), "http"),
        ((*create[:3], nobody, *create[4:], "--message-url", "https://x.example/"), "no account"),
        (("applications", "update", "1" * 17, "--name", "y"), "no application"),
        (("optouts", "remove", account, PHONE), "not on the opt-out list"),
    ]
    for args, said in refusals:
        result = cli(*args, ok=False)
        assert said in result.output, (args, result.output)
    listed = json.loads(cli("numbers", "list", "--json").output)
    assert [(n["number"], n["application"]) for n in listed] == [(NUMBER, app_id), (SHORT, None)]

    updated = json.loads(
        cli("numbers", "update", NUMBER, "--application", "none", "--channel", "any").output
    )
    assert (updated["application"], updated["channel"], updated["alias"]) == (None, None, "Support")
    cli("numbers", "update", NUMBER, "--application", app_id)
    apps = json.loads(cli("applications", "list", "--account", account, "--json").output)
    assert [
        (a["app_id"], a["message_method"], a["log_incoming_messages"], a["numbers"]) for a in apps
    ] == [(app_id, "GET", False, 1)]
    changed = json.loads(
        cli(
            "applications", "update", app_id, "--message-url", "none", "--log", "--method", "POST"
        ).output
    )
    assert (changed["message_url"], changed["log_incoming_messages"]) == (None, True)
    assert "1 number(s)" in cli("applications", "delete", app_id).output
    assert (
        json.loads(cli("numbers", "list", "--account", account, "--json").output)[0]["application"]
        is None
    )
    assert "removed" in cli("numbers", "remove", SHORT).output
    cli("numbers", "remove", SHORT, ok=False)

    # The opt-out list: what a STOP left is listed, and the operator puts the number back.
    def stop(conn: Connection) -> None:
        found = account_store.by_auth_id(conn, account)
        assert found is not None
        opt_out_store.add(conn, found.id, PHONE, "STOP", None, 1)

    from smsgate.store.database import open_database

    db = open_database(live_database_url)
    try:
        with db.writer.begin() as conn:
            stop(conn)
    finally:
        asyncio.run(db.dispose())
    out = json.loads(cli("optouts", "list", "--account", account, "--json").output)
    assert [(o["number"], o["keyword"]) for o in out] == [(PHONE, "STOP")]
    assert "back" in cli("optouts", "remove", account, f"+{PHONE}").output
    assert json.loads(cli("optouts", "list", "--json").output) == []

"""The operator's console at /admin: admin credentials, CSRF on every form (a refused form
changes nothing), escaping of everything users and messages put in fields, oversized forms,
the dashboard, message search and detail (privacy included), accounts, token rotation,
access tokens, pass codes, permission rules (as the Plivo API then applies them) and rate
limits."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Connection, inspect, select, text

from smsgate.api.app import create_app
from smsgate.api.console import csrf, flash
from smsgate.api.console.auth import Admin, console_key
from smsgate.api.console.forms import FORM_PATHS, MAX_FORM
from smsgate.api.console.rendering import POLICY
from smsgate.core.clock import FakeClock, from_datetime
from smsgate.core.errors import Forbidden
from smsgate.core.gateway import Gateway
from smsgate.core.ids import api_id, uuid7
from smsgate.core.models import Account, Message
from smsgate.core.passcode_sends import PassCodeRefused, find, issue, send_with_passcode
from smsgate.core.passcodes import Status, limits
from smsgate.core.passwords import hash_password
from smsgate.core.permissions import Effect, Kind
from smsgate.core.submission import Submission
from smsgate.store import accounts as account_store
from smsgate.store import numbers as number_store
from smsgate.store import opt_outs as opt_out_store
from smsgate.store import passcodes as passcode_store
from smsgate.store import permissions as permission_store
from smsgate.store import tokens as token_store
from smsgate.store.schema import callbacks, messages
from tests.conftest import GatewayFactory, basic, new_account, scope_of, simulator
from tests.support import CallbackReceiver

ADMIN, PASSWORD = "root", "correct horse battery"
OTHER, OTHER_PASSWORD = "deputy", "staple paper clip"
HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')
_SECRET = re.compile(r'<output class="secret" id="secret">([^<]*)</output>')

PAGES = (
    "/admin",
    "/admin/messages",
    "/admin/accounts",
    "/admin/tokens",
    "/admin/passcodes",
    "/admin/permissions",
    "/admin/limits",
    "/admin/numbers",
)


class Console:
    """A console client signed in as ``ADMIN``, and the gateway behind it."""

    def __init__(
        self, gateway: Gateway, http: httpx.AsyncClient, account: Account, app: FastAPI
    ) -> None:
        self.gateway, self.http, self.account, self.app = gateway, http, account, app
        self.auth = basic(ADMIN, PASSWORD)

    async def get(self, path: str, **params: str) -> httpx.Response:
        # No params keep a query written in the path (httpx drops it for params={}).
        return await self.http.get(path, params=params or None, headers=self.auth)

    async def token(
        self, path: str = "/admin/passcodes", auth: dict[str, str] | None = None
    ) -> str:
        page = await self.http.get(path, headers=auth or self.auth)
        assert page.status_code == 200, page.text
        found = _TOKEN.search(page.text)
        assert found, f"no form on {path}"
        return found.group(1)

    async def post(
        self,
        path: str,
        data: dict[str, str],
        token: str | None = "",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a form; ``token`` "" fetches a fresh one, None sends none."""
        if token == "":
            token = await self.token()
        body = dict(data)
        if token is not None:
            body[csrf.FIELD] = token
        return await self.http.post(path, data=body, headers={**self.auth, **(headers or {})})

    async def follow(self, answer: httpx.Response) -> httpx.Response:
        """The page a form's redirect leads to."""
        assert answer.status_code == 303, answer.text
        return await self.get(answer.headers["location"])

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (but the nodes' heartbeats)."""

        def work(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
            names = [
                n for n in inspect(conn).get_table_names() if n not in ("nodes", "alembic_version")
            ]
            return {
                name: sorted(
                    (tuple(row) for row in conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr
                )
                for name in names
            }

        return await self.gateway.db.read(work)

    async def admin(self, username: str = ADMIN) -> Admin:
        stored = await self.gateway.db.read(
            lambda conn: account_store.admin_password_hash(conn, username)
        )
        assert stored is not None
        return Admin(username, console_key(username, stored))


async def add_admin(gateway: Gateway, username: str, password: str) -> None:
    hashed = await asyncio.to_thread(hash_password, password)
    now = gateway.clock.now_us()
    await gateway.writer.run(lambda conn: account_store.insert_admin(conn, username, hashed, now))


ConsoleFactory = Callable[..., Awaitable[Console]]


@pytest.fixture
async def make_console(make_gateway: GatewayFactory) -> AsyncIterator[ConsoleFactory]:
    clients: list[httpx.AsyncClient] = []

    async def factory(**gateway_options: Any) -> Console:
        gateway = await make_gateway(**gateway_options)
        account = await new_account(gateway)
        await add_admin(gateway, ADMIN, PASSWORD)
        app = create_app(gateway, manage_gateway=False, access_log=False)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        clients.append(http)
        return Console(gateway, http, account, app)

    yield factory
    for http in clients:
        await http.aclose()


@pytest.fixture
async def console(make_console: ConsoleFactory) -> Console:
    return await make_console()


async def secret_of(console: Console, made: httpx.Response) -> str:
    """The secret shown once on the page a form's redirect leads to."""
    found = _SECRET.search((await console.follow(made)).text)
    assert found is not None, "no secret shown"
    return found.group(1)


def page_text(answer: httpx.Response) -> str:
    """What a page says, without its markup."""
    return unescape(re.sub(r"<[^>]+>", " ", answer.text))


async def put_message(
    gateway: Gateway, account: Account, *, created_at: int | None = None, **fields: Any
) -> str:
    """Store a message as it could be at any point of its life."""
    values: dict[str, Any] = {
        "direction": "outbound",
        "state": "delivered",
        "from_number": "14155550100",
        "to_number": "447700900123",
        "text": "Hello",
        "encoding": "GSM",
        "units": 1,
        **fields,
    }
    msg = Message(
        uuid=uuid7(),
        account_id=account.id,
        created_at=created_at if created_at is not None else gateway.clock.now_us(),
        request_id=api_id(),
        **values,
    )
    await gateway.writer.run(lambda conn: conn.execute(messages.insert(), [msg.as_row()]))
    return msg.uuid


# credentials and headers ---------------------------------------------------------------------


async def test_every_page_and_form_asks_for_admin_credentials(console: Console) -> None:
    await add_admin(console.gateway, OTHER, OTHER_PASSWORD)
    a = console.account.auth_id
    paths = [
        *PAGES,
        f"/admin/accounts/{a}",
        f"/admin/limits/{a}",
        f"/admin/permissions/try?account={a}&destination=447700900123",
        "/admin/messages/nope",
    ]
    wrong = [
        {},
        basic(ADMIN, "wrong password"),
        basic("nobody", PASSWORD),
        basic(a, "x" * 40),  # an account's credentials are not an admin's
        {"Authorization": "Bearer something"},
    ]
    for headers in wrong:
        for path in paths:
            answer = await console.http.get(path, headers=headers)
            assert answer.status_code == 401, (path, headers)
            assert answer.headers["www-authenticate"].startswith('Basic realm="smsgate admin"')
            assert answer.headers["content-type"].startswith("text/html")
            assert "smsgate admin set-password" in answer.text
        for path in FORM_PATHS:
            answer = await console.http.post(path, data={"name": "x"}, headers=headers)
            assert answer.status_code == 401, (path, headers)
    for path in paths[:-1]:
        assert (await console.get(path)).status_code == 200, path
        other = await console.http.get(path, headers=basic(OTHER, OTHER_PASSWORD))
        assert other.status_code == 200, path


async def test_pages_are_strictly_confined(console: Console) -> None:
    a = console.account.auth_id
    trial = f"/admin/permissions/try?account={a}&destination=447700900123&sender=Shop"
    for path in [*PAGES, f"/admin/accounts/{a}", f"/admin/limits/{a}", trial]:
        answer = await console.get(path)
        assert answer.status_code == 200, path
        headers = answer.headers
        assert headers["content-security-policy"] == POLICY
        assert POLICY.startswith("default-src 'self'; frame-ancestors 'none'")
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"
        # Nothing inline that the policy would have to allow, nothing from elsewhere.
        assert "<script" not in answer.text and "<style" not in answer.text, path
        assert not re.search(r"\sstyle=|\son\w+=", answer.text), path
        assert not re.search(r'(src|href)="(https?:)?//', answer.text), path
    css = await console.http.get("/admin/assets/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "/admin/assets/console.css" in (await console.get("/admin")).text


async def test_the_trailing_slash_leads_to_the_dashboard(console: Console) -> None:
    answer = await console.http.get("/admin/")
    assert answer.status_code == 308 and answer.headers["location"] == "/admin"


# CSRF ----------------------------------------------------------------------------------------


def _routes(routes: list[Any]) -> list[Any]:
    """Every route, also those of included routers (which FastAPI may keep apart)."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found.extend(_routes(inner.routes) if inner is not None else [route])
    return found


def _post_routes(console: Console) -> set[str]:
    paths = {
        route.path
        for route in _routes(console.app.routes)
        if "POST" in (getattr(route, "methods", None) or set())
    }
    assert "/send/api/messages" in paths  # the walk finds routes of included routers
    return {p for p in paths if p.startswith("/admin") and not p.startswith("/admin/api/")}


async def test_every_form_refuses_missing_or_forged_tokens_and_changes_nothing(
    console: Console,
) -> None:
    gateway, a = console.gateway, console.account.auth_id
    await add_admin(gateway, OTHER, OTHER_PASSWORD)
    now = gateway.clock.now_us()
    _, token_id = await gateway.writer.run(
        lambda conn: token_store.issue(conn, "smssender", console.account.id, "t", now)
    )
    _, code = await gateway.writer.run(
        lambda conn: issue(conn, console.account.id, limits(), "test", now)
    )
    rule = await gateway.writer.run(
        lambda conn: permission_store.insert(
            conn,
            subject=f"account:{a}",
            kind=Kind.SENDER,
            effect=Effect.DENY,
            pattern="Spam*",
            note="",
            created_by="test",
            now=now,
        )
    )
    app, number = await _app_and_number(gateway, console.account)
    await gateway.writer.run(
        lambda conn: opt_out_store.add(conn, console.account.id, "447700900123", "STOP", None, now)
    )
    forms = {
        "/admin/accounts": ("/admin/accounts", {"name": "new"}),
        "/admin/accounts/{auth_id}": (f"/admin/accounts/{a}", {"name": "renamed", "enabled": "1"}),
        "/admin/accounts/{auth_id}/rotate-token": (
            f"/admin/accounts/{a}/rotate-token",
            {"confirm": "1"},
        ),
        "/admin/tokens": ("/admin/tokens", {"account": a, "label": "t2"}),
        "/admin/tokens/{token_id}/revoke": (f"/admin/tokens/{token_id}/revoke", {}),
        "/admin/passcodes": ("/admin/passcodes", {"account": a, "minutes": "20"}),
        "/admin/passcodes/{code_id}/revoke": (f"/admin/passcodes/{code.id}/revoke", {}),
        "/admin/permissions": (
            "/admin/permissions",
            {"account": a, "kind": "destination", "effect": "deny", "pattern": "4477*"},
        ),
        "/admin/permissions/{rule_id}/remove": (f"/admin/permissions/{rule.id}/remove", {}),
        "/admin/limits/{auth_id}": (
            f"/admin/limits/{a}",
            {"api_requests": "5/s", "send_rate": "none", "number_pace": "default"},
        ),
        "/admin/numbers": ("/admin/numbers", {"number": "447700900111", "account": a}),
        "/admin/numbers/{number}": (
            f"/admin/numbers/{number}",
            {"application": "", "channel": "simulator", "alias": "renamed"},
        ),
        "/admin/numbers/{number}/remove": (f"/admin/numbers/{number}/remove", {}),
        "/admin/applications": (
            "/admin/applications",
            {
                "app_account": a,
                "app_name": "new",
                "message_url": "https://example.com/sms",
                "message_method": "POST",
                "log": "1",
            },
        ),
        "/admin/applications/{app_id}": (
            f"/admin/applications/{app.app_id}",
            {"app_name": "renamed", "message_url": "", "message_method": "GET"},
        ),
        "/admin/applications/{app_id}/delete": (f"/admin/applications/{app.app_id}/delete", {}),
        "/admin/opt-outs/{auth_id}/{number}/remove": (
            f"/admin/opt-outs/{a}/447700900123/remove",
            {},
        ),
    }
    # Every form the console serves is here, and every POST route is such a form.
    assert set(forms) == set(FORM_PATHS) == _post_routes(console)

    mine = await console.admin()
    good = await console.token()
    theirs = await console.token(auth=basic(OTHER, OTHER_PASSWORD))
    old = csrf.issue(mine, now // 1_000_000 - csrf.VALID_SECONDS - 1)
    issued, _, mac = good.partition(".")
    forged: list[tuple[str | None, dict[str, str], str]] = [
        (None, {}, "carries no security token"),
        ("", {}, "carries no security token"),
        ("not-a-token", {}, "not one this console made"),
        (f"{issued}.{mac[:-2]}AA", {}, "not one this console made for you"),
        (f"{int(issued) + 1}.{mac}", {}, "not one this console made for you"),
        (theirs, {}, "not one this console made for you"),
        (old, {}, "expired"),
        (good, {"Origin": "http://evil.example"}, "from another site"),
        (good, {"Origin": "null"}, "without an origin"),
        (good, {"Referer": "http://evil.example/page"}, "page of another site"),
        (good, {"Origin": "http://testserver:8080"}, "from another site"),
    ]
    for template, (path, data) in forms.items():
        before = await console.snapshot()
        for token, headers, reason in forged:
            # "" is sent as an empty field here, not replaced by a fresh token.
            body = dict(data) if token is None else {**data, csrf.FIELD: token}
            answer = await console.http.post(path, data=body, headers={**console.auth, **headers})
            assert answer.status_code == 403, (template, token, headers, answer.text)
            assert answer.headers["content-type"].startswith("text/html")
            said = page_text(answer)
            assert reason in said and "Nothing was changed." in said, (template, said)
            assert await console.snapshot() == before, (template, token, headers)
        # The same form with this admin's token, from this site, does change something.
        answer = await console.post(path, data, token=good, headers={"Origin": "http://testserver"})
        assert answer.status_code == 303, (template, answer.text)
        assert await console.snapshot() != before, template


async def test_an_oversized_form_is_refused_and_changes_nothing(console: Console) -> None:
    before = await console.snapshot()
    data = {"account": console.account.auth_id, "label": "x" * MAX_FORM}
    answer = await console.post("/admin/passcodes", data)
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
    assert "at most 64 KiB" in page_text(answer) and "Nothing was changed." in page_text(answer)
    answer = await console.http.post(
        "/admin/passcodes",
        content=b'{"account": "x"}',
        headers={**console.auth, "content-type": "application/json"},
    )
    assert answer.status_code == 415
    assert await console.snapshot() == before
    small = await console.post("/admin/passcodes", {"account": console.account.auth_id})
    assert small.status_code == 303


async def test_a_flash_cannot_be_forged_or_read_by_another_admin(console: Console) -> None:
    await add_admin(console.gateway, OTHER, OTHER_PASSWORD)
    mine, theirs = await console.admin(), await console.admin(OTHER)
    sealed = flash.seal(mine, flash.Flash("hello", secret="S3CRET"))
    assert "S3CRET" not in sealed and "hello" not in sealed
    assert flash.unseal(mine, sealed) == flash.Flash("hello", secret="S3CRET")
    assert flash.unseal(theirs, sealed) is None
    assert flash.unseal(mine, sealed[:-3] + ("AAA" if sealed[-3:] != "AAA" else "BBB")) is None
    assert flash.unseal(mine, "garbage!") is None
    console.http.cookies.set(flash.COOKIE, flash.seal(theirs, flash.Flash("forged")), path="/admin")
    page = await console.get("/admin")
    assert page.status_code == 200 and "forged" not in page.text


# escaping ------------------------------------------------------------------------------------


async def test_what_users_and_messages_typed_is_shown_escaped_everywhere(console: Console) -> None:
    gateway, account = console.gateway, console.account
    now = gateway.clock.now_us()
    await gateway.writer.run(
        lambda conn: conn.execute(
            text("UPDATE accounts SET name = :name WHERE id = :id"),
            {"name": HOSTILE, "id": account.id},
        )
    )
    await gateway.writer.run(
        lambda conn: token_store.issue(conn, "smssender", account.id, HOSTILE, now)
    )
    _, code = await gateway.writer.run(
        lambda conn: issue(conn, account.id, limits(label=HOSTILE), "t", now)
    )
    await gateway.writer.run(
        lambda conn: permission_store.insert(
            conn,
            subject=f"passcode/{code.id}",
            kind=Kind.DESTINATION,
            effect=Effect.DENY,
            pattern="44*",
            note=HOSTILE,
            created_by="t",
            now=now,
        )
    )
    uuid = await put_message(
        gateway,
        account,
        direction="inbound",
        state="received",
        from_number=HOSTILE,
        to_number=HOSTILE,
        text=HOSTILE,
    )
    answer = await console.get("/admin/messages", number=HOSTILE)
    assert answer.status_code == 200
    pages = [
        *PAGES,
        f"/admin/accounts/{account.auth_id}",
        f"/admin/limits/{account.auth_id}",
        f"/admin/messages/{uuid}",
        f"/admin/messages?number={HOSTILE}",
    ]
    for path in pages:
        answer = await console.http.get(path, headers=console.auth)
        assert answer.status_code == 200, path
        assert "<script>" not in answer.text, path
    for path in pages[2:]:
        answer = await console.http.get(path, headers=console.auth)
        assert ESCAPED in answer.text, path
    detail = await console.get(f"/admin/messages/{uuid}")
    assert detail.text.count(ESCAPED) >= 3  # the sender, the destination and the text
    rules = await console.get("/admin/permissions")
    # The rule's note, and its pass code's label naming its subject (group and filter).
    assert rules.text.count(ESCAPED) >= 3
    # What a form sends back into a page it shows again is escaped too.
    again = await console.post("/admin/passcodes", {"account": "nobody", "label": HOSTILE})
    assert again.status_code == 400 and ESCAPED in again.text and "<script>" not in again.text
    # And a flash message naming what was made.
    made = await console.post("/admin/accounts", {"name": HOSTILE})
    shown = await console.follow(made)
    assert ESCAPED in shown.text and "<script>" not in shown.text


# the dashboard -------------------------------------------------------------------------------


async def test_the_dashboard_charts_the_last_day_and_shows_the_queue_and_channels(
    make_console: ConsoleFactory,
) -> None:
    clock = FakeClock(from_datetime(datetime(2026, 3, 1, 12, 30)))
    console = await make_console(clock=clock)
    gateway, account = console.gateway, console.account
    hour = 3_600_000_000
    now = clock.now_us()
    for _ in range(3):
        await put_message(gateway, account, created_at=now - hour)  # 11:30: delivered
    for _ in range(2):
        await put_message(gateway, account, created_at=now - 5 * hour, state="failed")
    await put_message(gateway, account, created_at=now, state="queued")
    inbound = {"direction": "inbound", "state": "received"}
    await put_message(gateway, account, created_at=now - 2 * hour, **inbound)
    await put_message(gateway, account, created_at=now - 30 * hour)  # before the chart
    answer = await console.get("/admin")
    assert answer.status_code == 200
    html = answer.text
    assert re.search(r'id="queue-depth">1<', html)
    assert re.search(r'id="total-delivered">3<', html)
    assert re.search(r'id="total-failed">2<', html)
    assert re.search(r'id="total-received">1<', html)
    row = re.search(r"<tr><td>2026-03-01 11:00</td>(.*?)</tr>", html)
    assert row is not None and re.findall(r'class="num">(\d+)<', row.group(1))[0] == "3"
    assert "<title>11:00 UTC: 3 delivered</title>" in html
    assert "<title>07:00 UTC: 2 failed</title>" in html
    assert html.count('<rect class="bar') == 4  # 11:00, 07:00, 10:00 and 12:00
    hours = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d \d\d:\d\d)</td>", html)
    assert len(hours) == 24 and hours[0] == "2026-02-28 13:00" and hours[-1] == "2026-03-01 12:00"
    channels = page_text(answer).split("Channels")[-1]
    assert "simulator" in channels and " up " in channels


# messages ------------------------------------------------------------------------------------


def _uuids(answer: httpx.Response) -> list[str]:
    return re.findall(r'<tr data-uuid="([^"]+)"', answer.text)


async def test_message_search_filters_and_pages(make_console: ConsoleFactory) -> None:
    clock = FakeClock(from_datetime(datetime(2026, 3, 1, 12, 0)))
    console = await make_console(clock=clock)
    gateway, one = console.gateway, console.account
    two = await new_account(gateway)
    now, minute = clock.now_us(), 60_000_000
    to_a = await put_message(gateway, one, to_number="447700900001", created_at=now - 10 * minute)
    from_a = await put_message(
        gateway,
        two,
        direction="inbound",
        state="received",
        from_number="447700900001",
        to_number="1000",
        created_at=now - 20 * minute,
    )
    failed = await put_message(gateway, one, state="failed", created_at=now - 90 * minute)
    hidden = await put_message(
        gateway, one, to_number="447700900001", log="false", created_at=now - 5 * minute
    )

    async def search(**params: str) -> list[str]:
        answer = await console.get("/admin/messages", **params)
        assert answer.status_code == 200, answer.text
        return _uuids(answer)

    assert await search() == [hidden, to_a, from_a, failed]
    # A number matches senders and destinations, never messages whose numbers are hidden.
    assert await search(number="+44 7700 900001") == [to_a, from_a]
    assert await search(state="failed") == [failed]
    assert await search(direction="inbound") == [from_a]
    assert await search(account=two.auth_id) == [from_a]
    assert await search(account=one.auth_id, number="447700900001") == [to_a]
    assert await search(since="2026-03-01 11:00", until="2026-03-01 11:50") == [to_a, from_a]
    assert await search(until="2026-03-01 11:40") == [from_a, failed]
    assert await search(since="2026-03-01 11:00", state="failed") == []
    # Hidden numbers are masked in the list, as Plivo's API masks them.
    listing = await console.get("/admin/messages")
    assert "447XXXXXX001" in listing.text
    for bad, said in [
        ({"state": "lost"}, "state: one of"),
        ({"direction": "sideways"}, "direction: inbound or outbound"),
        ({"account": "MA" + "X" * 18}, "account: choose one"),
        ({"since": "yesterday"}, "from: a time such as"),
        ({"since": "2026-03-01 12:00", "until": "2026-03-01 11:00"}, "until: a time after"),
    ]:
        answer = await console.get("/admin/messages", **bad)
        assert answer.status_code == 400 and said in page_text(answer), bad
        assert _uuids(answer) == []

    for i in range(60):
        await put_message(gateway, two, to_number="447700900777", created_at=now - i)
    first = await console.get("/admin/messages", number="447700900777")
    assert len(_uuids(first)) == 50 and 'rel="prev"' not in first.text
    nxt = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert nxt is not None
    second = await console.http.get(unescape(nxt.group(1)), headers=console.auth)
    assert len(_uuids(second)) == 10 and 'rel="next"' not in second.text
    assert 'rel="prev"' in second.text
    assert not set(_uuids(first)) & set(_uuids(second))


async def test_a_message_shows_every_state_change_and_callback_attempt(
    make_console: ConsoleFactory, receiver: CallbackReceiver
) -> None:
    console = await make_console()
    gateway, account = console.gateway, console.account
    scope = await scope_of(gateway, account)
    nowhere = "http://127.0.0.1:9/status"  # the discard port: nothing answers
    with gateway.watch() as changes:
        ok = await gateway.accept(
            scope,
            Submission(src="14155550100", dst="14155550101", text="Hi", url=receiver.url),
            requester_ip="192.0.2.7",
        )
        bad = await gateway.accept(
            scope,
            Submission(src="14155550100", dst="14155550102", text="Hi", url=nowhere),
            requester_ip="192.0.2.7",
        )
        await gateway.dispatcher.tick()
        wanted = {ok.uuids[0], bad.uuids[0]}
        async with asyncio.timeout(10):
            while wanted:
                change = await changes.get()
                if change.state == "delivered":
                    wanted.discard(change.uuid)
    for _ in range(4):  # queued, sent, delivered: one at a time
        await gateway.notifier.tick()
        await gateway.notifier.drain()
    assert [receiver.get().form["Status"] for _ in range(3)] == ["queued", "sent", "delivered"]

    answer = await console.get(f"/admin/messages/{ok.uuids[0]}")
    assert answer.status_code == 200
    events = answer.text.split('id="events"')[1].split("</table>")[0]
    assert re.findall(r"<td>(accepted|sent|delivered)</td>", events) == [
        "accepted",
        "sent",
        "delivered",
    ]
    attempts = answer.text.split('id="callbacks"')[1].split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", attempts, re.S)
    assert len(rows) == 3
    for row in rows:
        cells = [unescape(c.strip()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        assert cells[2] == f"POST {receiver.url}" and cells[3:6] == ["delivered", "1", "200"]

    stored = await gateway.db.read(
        lambda conn: conn.execute(
            select(callbacks.c.attempts, callbacks.c.last_error)
            .where(callbacks.c.message_uuid == bad.uuids[0])
            .order_by(callbacks.c.id)
        ).all()
    )
    assert stored[0].attempts == 1 and stored[0].last_error
    answer = await console.get(f"/admin/messages/{bad.uuids[0]}")
    attempts = answer.text.split('id="callbacks"')[1].split("<tbody>")[1].split("</tbody>")[0]
    first = re.findall(r"<tr>(.*?)</tr>", attempts, re.S)[0]
    cells = [unescape(c.strip()) for c in re.findall(r"<td[^>]*>(.*?)</td>", first, re.S)]
    assert cells[2] == f"POST {nowhere}" and cells[3:6] == ["pending", "1", ""]
    assert cells[6] == stored[0].last_error and cells[9]  # and when it is tried next

    missing = await console.get("/admin/messages/00000000-0000-7000-8000-000000000000")
    assert missing.status_code == 404 and "no message" in page_text(missing)


async def test_a_message_shows_what_its_log_setting_allows(console: Console) -> None:
    gateway, account = console.gateway, console.account
    shown_all = await put_message(gateway, account, text="the text", state="queued")
    hidden = await put_message(gateway, account, text="secret words", log="false", state="queued")
    numbers_only = await put_message(gateway, account, text="secret words", log="number_only")
    no_numbers = await put_message(gateway, account, text="visible", log="content_only")
    inbound = await put_message(
        gateway, account, direction="inbound", state="received", log="false", text="inbound"
    )
    page = await console.get(f"/admin/messages/{shown_all}")
    assert "the text" in page.text and "447700900123" in page.text
    page = await console.get(f"/admin/messages/{hidden}")
    assert "secret words" not in page.text and "447700900123" not in page.text
    assert "447XXXXXX123" in page.text and "log=false" in page_text(page)
    page = await console.get(f"/admin/messages/{numbers_only}")
    assert "secret words" not in page.text and "447700900123" in page.text
    page = await console.get(f"/admin/messages/{no_numbers}")
    assert "visible" in page.text and "447700900123" not in page.text
    page = await console.get(f"/admin/messages/{inbound}")  # Plivo masks outbound only
    assert "inbound" in page.text and "447700900123" in page.text


# accounts ------------------------------------------------------------------------------------


async def test_accounts_are_made_renamed_switched_and_disabled(console: Console) -> None:
    gateway = console.gateway
    made = await console.post("/admin/accounts", {"name": "Shop", "smart_encoding": "on"})
    page = await console.follow(made)
    auth_id = made.headers["location"].rsplit("/", 1)[-1]
    token = _SECRET.search(page.text)
    assert token is not None and auth_id in page_text(page)
    account = await gateway.accounts.authenticate(auth_id, token.group(1))
    assert account is not None and account.name == "Shop" and account.smart_encoding
    assert not account.alphanumeric_sender and not account.is_subaccount
    # The token is shown once.
    assert _SECRET.search((await console.get(f"/admin/accounts/{auth_id}")).text) is None

    sub = await console.post("/admin/accounts", {"name": "Branch", "parent": auth_id})
    sub_id = sub.headers["location"].rsplit("/", 1)[-1]
    assert sub_id.startswith("SA")
    child = await gateway.db.read(lambda conn: account_store.by_auth_id(conn, sub_id))
    assert child is not None and child.parent_id == account.id
    refused = await console.post("/admin/accounts", {"name": "Deeper", "parent": sub_id})
    assert refused.status_code == 400 and "parent: choose a main account" in page_text(refused)
    too_long = await console.post("/admin/accounts", {"name": "x" * 201})
    assert too_long.status_code == 400 and "name: at most 200" in page_text(too_long)
    assert 'value="' + "x" * 201 + '"' in too_long.text  # what was typed is kept

    listing = await console.get("/admin/accounts")
    assert f"subaccount of {auth_id} (Shop)" in page_text(listing)

    saved = await console.post(
        f"/admin/accounts/{auth_id}", {"name": "Shop & Co", "alphanumeric_sender": "1"}
    )
    assert "saved (disabled)" in page_text(await console.follow(saved))
    changed = await gateway.db.read(lambda conn: account_store.by_auth_id(conn, auth_id))
    assert changed is not None and changed.name == "Shop & Co"
    assert (changed.enabled, changed.alphanumeric_sender, changed.smart_encoding) == (
        False,
        True,
        False,
    )
    # Disabled at once, in this process too.
    api = f"/v1/Account/{auth_id}/Message/"
    refused_api = await console.http.get(api, headers=basic(auth_id, token.group(1)))
    assert refused_api.status_code == 401
    await console.post(f"/admin/accounts/{auth_id}", {"name": "Shop & Co", "enabled": "1"})
    allowed = await console.http.get(api, headers=basic(auth_id, token.group(1)))
    assert allowed.status_code == 200

    missing = await console.get("/admin/accounts/MA" + "Z" * 18)
    assert missing.status_code == 404


async def test_a_rotated_token_is_shown_once_and_the_old_one_is_refused(console: Console) -> None:
    account = console.account
    api = f"/v1/Account/{account.auth_id}/Message/"
    old = basic(account.auth_id, account.auth_token)
    assert (await console.http.get(api, headers=old)).status_code == 200
    path = f"/admin/accounts/{account.auth_id}/rotate-token"
    unconfirmed = await console.post(path, {})
    assert unconfirmed.status_code == 400 and "tick the box" in page_text(unconfirmed)
    assert (await console.http.get(api, headers=old)).status_code == 200
    rotated = await console.post(path, {"confirm": "1"})
    page = await console.follow(rotated)
    found = _SECRET.search(page.text)
    assert found is not None and found.group(1) != account.auth_token
    new = basic(account.auth_id, found.group(1))
    assert (await console.http.get(api, headers=old)).status_code == 401
    assert (await console.http.get(api, headers=new)).status_code == 200
    assert _SECRET.search((await console.get(page.url.path)).text) is None


# access tokens -------------------------------------------------------------------------------


async def test_access_tokens_are_issued_once_listed_and_revoked(console: Console) -> None:
    gateway, account = console.gateway, console.account
    made = await console.post("/admin/tokens", {"account": account.auth_id, "label": "billing"})
    page = await console.follow(made)
    found = _SECRET.search(page.text)
    assert found is not None
    token = await gateway.db.read(lambda conn: token_store.find(conn, "smssender", found.group(1)))
    assert token is not None and token.account_id == account.id and token.label == "billing"
    assert found.group(1) not in (await console.get("/admin/tokens")).text
    row = re.search(rf'<tr data-token-id="{token.id}">(.*?)</tr>', page.text, re.S)
    assert row is not None and "active" in row.group(1) and "billing" in row.group(1)

    revoked = await console.post(f"/admin/tokens/{token.id}/revoke", {})
    page = await console.follow(revoked)
    assert f"Access token {token.id} revoked." in page_text(page)
    assert await gateway.db.read(lambda c: token_store.find(c, "smssender", found.group(1))) is None
    row = re.search(rf'<tr data-token-id="{token.id}">(.*?)</tr>', page.text, re.S)
    assert row is not None and "revoked" in row.group(1) and "Revoke" not in row.group(1)
    again = await console.post(f"/admin/tokens/{token.id}/revoke", {})
    assert again.status_code == 400 and "no active access token" in page_text(again)
    bad = await console.post("/admin/tokens", {"account": "MA" + "Q" * 18})
    assert bad.status_code == 400 and "account: choose one" in page_text(bad)


# pass codes ----------------------------------------------------------------------------------


def _statuses(answer: httpx.Response) -> dict[int, str]:
    rows = re.findall(r'<tr data-code-id="(\d+)" data-status="([a-z_]+)">', answer.text)
    return {int(code_id): status for code_id, status in rows}


async def test_pass_codes_are_made_listed_by_status_and_revoked(
    make_console: ConsoleFactory,
) -> None:
    clock = FakeClock()
    console = await make_console(clock=clock)
    gateway, account = console.gateway, console.account
    page = await console.get("/admin/passcodes")
    assert 'name="minutes" inputmode="numeric" value="20"' in page.text  # the default

    made = await console.post(
        "/admin/passcodes",
        {
            "account": account.auth_id,
            "minutes": "30",
            "max_messages": "1",
            "destinations": "4477*\nGB, 33612345678",
            "label": "Bob's shop",
        },
    )
    page = await console.follow(made)
    shown = _SECRET.search(page.text)
    assert shown is not None
    code = await find(gateway, shown.group(1))
    assert code.account_id == account.id and code.label == "Bob's shop"
    assert code.max_messages == 1 and code.destinations == ("4477*", "GB", "33612345678")
    assert code.expires_at == clock.now_us() + 30 * 60_000_000
    assert code.created_by == f"console/{ADMIN}"
    assert shown.group(1) not in (await console.get("/admin/passcodes")).text  # once

    plain_text = await secret_of(
        console, await console.post("/admin/passcodes", {"account": account.auth_id, "minutes": ""})
    )
    plain_code = await find(gateway, plain_text)
    assert plain_code.expires_at == clock.now_us() + 20 * 60_000_000
    assert plain_code.max_messages is None and plain_code.destinations is None
    short_code = await find(
        gateway,
        await secret_of(
            console,
            await console.post("/admin/passcodes", {"account": account.auth_id, "minutes": "1"}),
        ),
    )

    await send_with_passcode(
        gateway, code, Submission(src="1000", dst="447700900123", text="Hi"), requester_ip="x"
    )
    clock.advance(120)
    listing = await console.get("/admin/passcodes")
    assert _statuses(listing) == {
        short_code.id: "expired",
        plain_code.id: "active",
        code.id: "used_up",
    }
    revoke = await console.post(f"/admin/passcodes/{plain_code.id}/revoke", {})
    page = await console.follow(revoke)
    assert _statuses(page)[plain_code.id] == "revoked"
    with pytest.raises(PassCodeRefused) as refused:
        await send_with_passcode(
            gateway,
            plain_text,
            Submission(src="1000", dst="447700900123", text="Hi"),
            requester_ip="x",
        )
    assert refused.value.status is Status.REVOKED
    for status, wanted in [
        ("active", set()),
        ("revoked", {plain_code.id}),
        ("used_up", {code.id}),
        ("expired", {short_code.id}),
    ]:
        assert set(_statuses(await console.get("/admin/passcodes", status=status))) == wanted
    again = await console.post(f"/admin/passcodes/{plain_code.id}/revoke", {})
    assert again.status_code == 400 and "not revoked already" in page_text(again)


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"minutes": "0"}, "valid for (minutes): a whole number from 1 to 10,080"),
        ({"minutes": "20160"}, "not 20,160"),
        ({"minutes": "soon"}, "valid for (minutes): a whole number"),
        ({"max_messages": "-1"}, "most messages: a whole number"),
        ({"destinations": "44*7 x"}, "pattern"),
        ({"label": "a\x00b"}, "label: no control characters"),
        ({"account": ""}, "account: choose one"),
    ],
)
async def test_a_bad_pass_code_form_says_what_is_wrong_and_stores_nothing(
    console: Console, fields: dict[str, str], said: str
) -> None:
    before = await console.snapshot()
    answer = await console.post("/admin/passcodes", {"account": console.account.auth_id, **fields})
    assert answer.status_code == 400, answer.text
    assert said in page_text(answer), page_text(answer)
    assert await console.snapshot() == before
    assert _SECRET.search(answer.text) is None


async def test_a_disabled_account_cannot_be_chosen(console: Console) -> None:
    gateway, account = console.gateway, console.account
    now = gateway.clock.now_us()
    await gateway.writer.run(
        lambda conn: account_store.update_account(conn, account.id, now, enabled=False)
    )
    answer = await console.post("/admin/passcodes", {"account": account.auth_id})
    assert answer.status_code == 400 and "is disabled" in page_text(answer)
    codes = await gateway.db.read(passcode_store.listed)
    assert codes == []


# permissions ---------------------------------------------------------------------------------


def words(answer: httpx.Response) -> str:
    """What a page says, its spaces and line breaks each one space."""
    return " ".join(page_text(answer).split())


def _rule_ids(answer: httpx.Response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-rule-id="(\d+)">', answer.text)]


def _verdicts(answer: httpx.Response) -> dict[str, str]:
    found = re.findall(r'data-kind="(\w+)" data-verdict="(\w+)"', answer.text)
    return dict(found)


async def plivo_send(console: Console, dst: str, account: Account | None = None) -> httpx.Response:
    account = account or console.account
    return await console.http.post(
        f"/v1/Account/{account.auth_id}/Message/",
        json={"src": "14155550100", "dst": dst, "text": "Hi"},
        headers=basic(account.auth_id, account.auth_token),
    )


async def test_a_deny_rule_added_here_refuses_that_destination_in_the_api_until_removed(
    console: Console,
) -> None:
    gateway, a = console.gateway, console.account.auth_id
    assert (await plivo_send(console, "447700900123")).status_code == 202
    made = await console.post(
        "/admin/permissions",
        {
            "account": a,
            "kind": "destination",
            "effect": "deny",
            "pattern": "+44 77*",
            "note": "no UK mobiles",
        },
    )
    page = await console.follow(made)
    [rule] = await gateway.db.read(permission_store.listed)
    assert (rule.subject, rule.kind, rule.effect, rule.pattern, rule.note) == (
        f"account:{a}",
        Kind.DESTINATION,
        Effect.DENY,
        "4477*",
        "no UK mobiles",
    )
    assert rule.created_by == f"console/{ADMIN}"
    assert f"Rule {rule.id} added" in words(page) and _rule_ids(page) == [rule.id]
    group = re.search(
        r'<section class="subject" data-subject="([^"]+)">(.*?)</section>', page.text, re.S
    )
    assert group is not None and group.group(1) == f"account:{a}"
    assert f"account {a}" in words(page) and "no UK mobiles" in group.group(2)

    # At once, in this process: refused for that destination, not for another.
    refused = await plivo_send(console, "447700900123")
    assert refused.status_code == 403, refused.text
    assert "447700900123" in refused.json()["error"]
    assert (await plivo_send(console, "14155550101")).status_code == 202
    # Try it says the same, and whose rule refuses it.
    trial = await console.get(
        "/admin/permissions/try", account=a, destination="+44 7700 900123", sender="14155550100"
    )
    assert trial.status_code == 200 and _verdicts(trial) == {
        "destination": "refused",
        "sender": "allowed",
    }
    assert f"refused by the rules of account:{a}" in words(trial)
    other = await console.get("/admin/permissions/try", account=a, destination="14155550101")
    assert _verdicts(other) == {"destination": "allowed"}

    removed = await console.post(f"/admin/permissions/{rule.id}/remove", {})
    page = await console.follow(removed)
    assert f"Rule {rule.id} removed" in words(page) and _rule_ids(page) == []
    assert await gateway.db.read(permission_store.listed) == []
    assert (await plivo_send(console, "447700900123")).status_code == 202
    again = await console.post(f"/admin/permissions/{rule.id}/remove", {})
    assert again.status_code == 400 and f"there is no rule {rule.id}" in words(again)


async def test_rules_of_a_subaccount_and_a_pass_code_narrow_their_account(
    console: Console,
) -> None:
    gateway, main = console.gateway, console.account
    sub = await new_account(gateway, parent=main)
    now = gateway.clock.now_us()
    _, code = await gateway.writer.run(
        lambda conn: issue(conn, sub.id, limits(label="front desk"), "t", now)
    )
    # The main account may send to GB only; its subaccount not from "Spam…"; the pass code
    # not to one number.
    for data in [
        {"account": main.auth_id, "kind": "destination", "effect": "allow", "pattern": "GB"},
        # A bare auth_id typed names that account.
        {"subject": sub.auth_id, "kind": "sender", "effect": "deny", "pattern": "spam*"},
        {
            "account": main.auth_id,  # the typed subject is used instead
            "subject": f"passcode/{code.id}",
            "kind": "destination",
            "effect": "deny",
            "pattern": "447700900999",
        },
    ]:
        assert (await console.post("/admin/permissions", data)).status_code == 303
    listing = await console.get("/admin/permissions")
    said = words(listing)
    assert f"pass code {code.id} “front desk” of {sub.auth_id}, active" in said
    assert f"subaccount {sub.auth_id}" in said
    subjects = re.findall(r'<section class="subject" data-subject="([^"]+)">', listing.text)
    assert sorted(subjects) == sorted(
        [f"account:{main.auth_id}", f"account:{sub.auth_id}", f"passcode/{code.id}"]
    )
    only = await console.get("/admin/permissions", subject=f"passcode/{code.id}")
    assert re.findall(r'data-subject="([^"]+)">', only.text) == [f"passcode/{code.id}"]
    none = await console.get("/admin/permissions", subject="passcode/" + "9" * 25)
    assert none.status_code == 200 and "No rules for passcode/" in words(none)
    assert "no such pass code" in words(none)
    bad = await console.get("/admin/permissions", subject="no such thing")
    assert bad.status_code == 400 and "not a subject" in words(bad) and _rule_ids(bad) == []
    user = await console.post(
        "/admin/permissions",
        {
            "subject": "smstools-api/alice",
            "kind": "sender",
            "effect": "allow",
            "pattern": "+1000",
            "note": HOSTILE,
        },
    )
    page = await console.follow(user)
    assert ESCAPED in page.text and "<script>" not in page.text  # the note, as typed here
    assert "smstools-http-api user alice (not configured)" in words(page)
    stored = await console.gateway.db.read(
        lambda conn: permission_store.listed(conn, "smstools-api/alice")
    )
    assert [(r.kind, r.effect, r.pattern) for r in stored] == [(Kind.SENDER, Effect.ALLOW, "1000")]

    async def trial(**params: str) -> tuple[dict[str, str], str]:
        answer = await console.get("/admin/permissions/try", account=sub.auth_id, **params)
        assert answer.status_code == 200, words(answer)
        return _verdicts(answer), words(answer)

    verdicts, said = await trial(destination="14155550101")
    assert verdicts == {"destination": "refused"}
    assert f"refused by the rules of account:{main.auth_id}" in said
    verdicts, said = await trial(destination="447700900123", sender="SPAMMER")
    assert verdicts == {"destination": "allowed", "sender": "refused"}
    assert f"refused by the rules of account:{sub.auth_id}" in said
    verdicts, _ = await trial(destination="447700900999")
    assert verdicts == {"destination": "allowed"}  # the pass code's rule is not its account's
    verdicts, said = await trial(destination="447700900999", submitter=f"passcode/{code.id}")
    assert verdicts == {"destination": "refused"}
    assert f"refused by the rules of passcode/{code.id}" in said
    # As the gateway applies them: the subaccount through the API, the pass code's send.
    assert (await plivo_send(console, "14155550101", sub)).status_code == 403
    assert (await plivo_send(console, "447700900999", sub)).status_code == 202
    with pytest.raises(Forbidden):
        await send_with_passcode(
            gateway, code, Submission(src="1000", dst="447700900999", text="Hi"), requester_ip="x"
        )

    for params, wanted in [
        ({}, "write a destination number, a sender ID, or both"),
        ({"destination": "12"}, "is not a possible number"),
        ({"destination": "447700900123", "submitter": "nobody"}, "submitter 'nobody'"),
        ({"destination": "447700900123", "account": "MA" + "Q" * 18}, "choose one of the"),
    ]:
        answer = await console.get("/admin/permissions/try", **{"account": sub.auth_id, **params})
        assert answer.status_code == 400 and wanted in words(answer), params
        assert _verdicts(answer) == {}


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"pattern": "44*7 x"}, "destination pattern '44*7 x': use digits with * and ?"),
        ({"pattern": "gb"}, "destination pattern 'gb'"),
        ({"kind": "sender", "pattern": "<b>Shop</b>"}, "sender pattern '<b>Shop</b>'"),
        ({"pattern": ""}, "pattern: write the destination pattern"),
        ({"pattern": "4" * 65}, "pattern: at most 64 characters"),
        ({"kind": "number"}, "kind: choose destination or sender"),
        ({"effect": "maybe"}, "effect: choose allow or deny"),
        ({"subject": "nobody"}, "subject 'nobody': choose an account, or type"),
        ({"subject": "passcode/999"}, "there is no pass code 999"),
        ({"subject": "account:MA" + "Q" * 18}, "there is no account MA"),
        ({"account": "", "subject": ""}, "subject: choose an account"),
        ({"note": "a\x00b"}, "note: no control characters"),
        ({"note": HOSTILE, "pattern": "x!"}, "destination pattern 'x!'"),
    ],
)
async def test_a_bad_rule_says_what_is_wrong_and_stores_nothing(
    console: Console, fields: dict[str, str], said: str
) -> None:
    before = await console.snapshot()
    good = {
        "account": console.account.auth_id,
        "kind": "destination",
        "effect": "deny",
        "pattern": "4477*",
    }
    answer = await console.post("/admin/permissions", {**good, **fields})
    assert answer.status_code == 400, answer.text
    assert said in words(answer), words(answer)
    assert "<script>" not in answer.text and "<b>Shop" not in answer.text
    assert await console.snapshot() == before
    assert await console.gateway.db.read(permission_store.listed) == []
    # The same form, put right, is stored.
    assert (await console.post("/admin/permissions", good)).status_code == 303


# limits --------------------------------------------------------------------------------------


def _cells(answer: httpx.Response, table: str) -> dict[str, list[str]]:
    """A table's rows by their data- key: the text of each cell."""
    body = answer.text.split(f'id="{table}"')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-[a-z-]+="([^"]+)"[^>]*>(.*?)</tr>', body, re.S)
    return {
        key: [
            unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for key, row in rows
    }


async def test_the_limits_page_shows_the_defaults_channels_and_pacing_but_no_password(
    make_console: ConsoleFactory,
) -> None:
    console = await make_console(
        limits={
            "number_pace": "1/min",
            "api_requests": "50/s",
            "redis_url": "redis://:hunter2@cache.example:6380/0",
        },
        channels=[simulator(send_rate="30/s")],
    )
    gateway, account = console.gateway, console.account
    scope = await scope_of(gateway, account)
    for _ in range(2):  # the second waits for the pace of its numbers
        await gateway.accept(
            scope,
            Submission(src="14155550100", dst="14155550101", text="Hi"),
            requester_ip="192.0.2.7",
        )
    await gateway.dispatcher.tick()
    assert gateway.dispatcher.paced >= 1
    page = await console.get("/admin/limits")
    assert page.status_code == 200
    assert re.search(rf'id="paced">{gateway.dispatcher.paced}<', page.text)
    defaults = _cells(page, "defaults")
    assert {k: v[1] for k, v in defaults.items()} == {
        "api_requests": "50/s",
        "send_rate": "none",
        "number_pace": "1/min",
    }
    assert _cells(page, "channel-limits") == {"simulator": ["simulator", "30/s"]}
    assert "cache.example" in words(page) and "hunter2" not in page.text
    assert _cells(page, "account-limits")[account.auth_id][1:4] == ["default"] * 3
    assert f'href="/admin/limits/{account.auth_id}"' in page.text


async def test_an_account_limit_set_here_applies_to_the_api_at_once(
    make_console: ConsoleFactory,
) -> None:
    clock = FakeClock()
    console = await make_console(clock=clock)
    gateway, account = console.gateway, console.account
    api = f"/v1/Account/{account.auth_id}/Message/"
    credentials = basic(account.auth_id, account.auth_token)
    for _ in range(3):  # the default: 100 a second
        assert (await console.http.get(api, headers=credentials)).status_code == 200
    clock.advance(61)  # those three are out of the window of the limit set next
    path = f"/admin/limits/{account.auth_id}"
    form = await console.get(path)
    assert re.search(r'name="api_requests" maxlength="40" value="default"', form.text)
    saved = await console.post(
        path, {"api_requests": " 1 / minute ", "send_rate": "none", "number_pace": ""}
    )
    page = await console.follow(saved)
    assert (
        f"Limits of {account.auth_id} saved: api_requests 1/min, send_rate none, "
        "number_pace default." in words(page)
    )
    stored = await gateway.db.read(lambda conn: account_store.by_id(conn, account.id))
    assert stored is not None
    assert (stored.api_requests, stored.send_rate, stored.number_pace) == ("1/min", "", None)
    assert {k: v[1] for k, v in _cells(page, "applied").items()} == {
        "api_requests": "1/min",
        "send_rate": "none",
        "number_pace": "none",  # the tests' default: no pace
    }
    assert re.search(r'name="api_requests" maxlength="40" value="1/min"', page.text)
    listing = await console.get("/admin/limits")
    assert _cells(listing, "account-limits")[account.auth_id][1:4] == ["1/min", "none", "default"]

    assert (await console.http.get(api, headers=credentials)).status_code == 200
    second = await plivo_send(console, "14155550101")
    assert second.status_code == 429, second.text
    assert 1 <= int(second.headers["retry-after"]) <= 60

    back = await console.post(path, {"api_requests": "Default", "send_rate": "", "number_pace": ""})
    assert back.status_code == 303
    stored = await gateway.db.read(lambda conn: account_store.by_id(conn, account.id))
    assert stored is not None
    assert (stored.api_requests, stored.send_rate, stored.number_pace) == (None, None, None)
    assert (await plivo_send(console, "14155550101")).status_code == 202  # 100/s again


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"api_requests": "fast"}, "API requests: rate 'fast': write a count per time"),
        ({"send_rate": "0/s"}, "Send rate: rate '0/s': the count must be 1 to"),
        ({"number_pace": "10/2d"}, "Number pace: rate '10/2d': write a count per time"),
        ({"number_pace": "1/100000s"}, "the window must be 1 second to 24 hours"),
        ({"api_requests": "1" * 41}, "API requests: at most 40 characters"),
    ],
)
async def test_a_bad_rate_says_what_is_wrong_and_stores_nothing(
    console: Console, fields: dict[str, str], said: str
) -> None:
    path = f"/admin/limits/{console.account.auth_id}"
    before = await console.snapshot()
    data = {"api_requests": "10/s", "send_rate": "5/s", "number_pace": "none", **fields}
    answer = await console.post(path, data)
    assert answer.status_code == 400, answer.text
    assert said in words(answer), words(answer)
    assert await console.snapshot() == before
    missing = await console.post("/admin/limits/MA" + "Q" * 18, {"api_requests": "1/s"})
    assert missing.status_code == 404 and await console.snapshot() == before


# numbers, applications and opt-outs ----------------------------------------------------------


async def _app_and_number(gateway: Gateway, account: Account) -> tuple[Any, str]:
    """An application of ``account``, and a number of it bound to nothing."""
    now = gateway.clock.now_us()

    def work(conn: Connection) -> tuple[Any, str]:
        app = number_store.insert_application(
            conn,
            account_id=account.id,
            name="shop",
            message_url="https://example.com/sms",
            message_method="POST",
            log_incoming_messages=True,
            now=now,
        )
        number_store.insert_number(
            conn,
            number="14155550199",
            account_id=account.id,
            application_id=None,
            channel=None,
            alias="",
            now=now,
        )
        return app, "14155550199"

    return await gateway.writer.run(work)


def _number_rows(answer: httpx.Response) -> dict[str, str]:
    """Each listed number and what its row says."""
    found = re.findall(r'<tr data-number="([^"]+)">(.*?)</tr>', answer.text, re.S)
    return {
        number: " ".join(unescape(re.sub(r"<[^>]+>", " ", row)).split()) for number, row in found
    }


async def test_numbers_and_applications_are_managed_from_the_numbers_page(
    console: Console,
) -> None:
    gateway, a = console.gateway, console.account.auth_id
    other = await new_account(gateway)
    made = await console.post(
        "/admin/applications",
        {
            "app_account": a,
            "app_name": "Shop",
            "message_url": "https://example.com/sms",
            "message_method": "GET",
        },
    )
    shown = await console.follow(made)
    [app] = await gateway.db.read(lambda conn: number_store.applications(conn))
    assert f"Application {app.app_id} (Shop) created for {a}." in page_text(shown)
    assert (app.message_method, app.log_incoming_messages) == ("GET", False)  # box not ticked
    theirs = await gateway.writer.run(
        lambda conn: number_store.insert_application(
            conn,
            account_id=other.id,
            name="Theirs",
            message_url=None,
            message_method="POST",
            log_incoming_messages=True,
            now=1,
        )
    )
    added = await console.post(
        "/admin/numbers",
        {"number": "+44 7700 900100", "account": a, "application": app.app_id, "alias": "Support"},
    )
    listing = await console.follow(added)
    assert "Number 447700900100 added to" in page_text(listing)
    row = _number_rows(listing)["447700900100"]
    assert f"Shop {app.app_id}" in row and "any" in row and "Support" in row and "local" in row

    before = await console.snapshot()
    refusals = [
        ({"number": "6012", "application": theirs.app_id}, "is another account's"),
        ({"number": "447700900100"}, "belongs to an account already"),
        ({"number": "12"}, "invalid number"),
        ({"number": ""}, "write the number"),
        ({"number": "6012", "channel": "nowhere"}, "invalid channel"),
        ({"number": "6012", "application": "99999999999999999"}, "no application"),
        ({"number": "6012", "account": "MA" + "Q" * 18}, "choose one of the accounts"),
        ({"number": "6012", "alias": "x" * 201}, "alias: at most 200"),
    ]
    for fields, said in refusals:
        answer = await console.post("/admin/numbers", {"account": a, **fields})
        assert answer.status_code == 400, (fields, answer.text)
        assert said in words(answer), (fields, words(answer))
        assert await console.snapshot() == before, fields
    for fields, said in [
        ({"message_url": "ftp://example.com/"}, "a full http:// or https:// URL"),
        ({"app_name": ""}, "give the application a name"),
        ({"message_method": "PUT"}, "choose GET or POST"),
    ]:
        data = {"app_account": a, "app_name": "x", "message_url": "", "message_method": "POST"}
        answer = await console.post("/admin/applications", {**data, **fields})
        assert answer.status_code == 400 and said in words(answer), fields
        assert await console.snapshot() == before, fields
    wrong = await console.post(
        "/admin/numbers/447700900100",
        {"application": theirs.app_id, "channel": "", "alias": ""},
    )
    assert wrong.status_code == 400 and "is another account's" in words(wrong)
    assert await console.snapshot() == before

    changed = await console.post(
        "/admin/numbers/447700900100",
        {"application": app.app_id, "channel": "simulator", "alias": "Sales"},
    )
    row = _number_rows(await console.follow(changed))["447700900100"]
    assert "simulator" in row and "Sales" in row
    renamed = await console.post(
        f"/admin/applications/{app.app_id}",
        {"app_name": "Store", "message_url": "http://example.com/in", "log": "1",
         "message_method": "POST"},
    )  # fmt: skip
    assert renamed.status_code == 303
    stored = await gateway.db.read(lambda conn: number_store.application(conn, app.app_id))
    assert stored is not None
    assert (stored.name, stored.message_url, stored.log_incoming_messages) == (
        "Store",
        "http://example.com/in",
        True,
    )
    deleted = await console.follow(
        await console.post(f"/admin/applications/{app.app_id}/delete", {})
    )
    assert "its numbers now have no application" in page_text(deleted)
    assert "none" in _number_rows(deleted)["447700900100"]
    again = await console.post(f"/admin/applications/{app.app_id}/delete", {})
    assert again.status_code == 400 and "there is no application" in words(again)
    removed = await console.follow(await console.post("/admin/numbers/447700900100/remove", {}))
    assert "447700900100" not in _number_rows(removed)
    gone = await console.post("/admin/numbers/447700900100/remove", {})
    assert gone.status_code == 400 and "there is no number" in words(gone)


async def test_an_opted_out_number_is_put_back_from_the_numbers_page(console: Console) -> None:
    gateway, account = console.gateway, console.account
    await gateway.writer.run(
        lambda conn: opt_out_store.add(conn, account.id, "447700900123", "STOP", None, 1)
    )
    listing = await console.get("/admin/numbers")
    assert f'data-opt-out="{account.auth_id}/447700900123"' in listing.text
    path = f"/admin/opt-outs/{account.auth_id}/447700900123/remove"
    back = await console.follow(await console.post(path, {}))
    assert "447700900123 may get" in page_text(back)
    assert "No number has opted out." in page_text(back)
    assert not await gateway.db.read(
        lambda conn: opt_out_store.is_out(conn, account.id, "447700900123")
    )
    again = await console.post(path, {})
    assert again.status_code == 400 and "is not on the opt-out list" in words(again)


async def test_what_numbers_and_applications_are_called_is_shown_escaped(console: Console) -> None:
    gateway, account = console.gateway, console.account
    app, number = await _app_and_number(gateway, account)
    await gateway.writer.run(
        lambda conn: number_store.update_application(conn, app.app_id, 1, name=HOSTILE)
    )
    await gateway.writer.run(lambda conn: number_store.update_number(conn, number, alias=HOSTILE))
    await gateway.writer.run(
        lambda conn: opt_out_store.add(conn, account.id, "447700900123", HOSTILE, None, 1)
    )
    answer = await console.get("/admin/numbers")
    assert answer.status_code == 200 and "<script>" not in answer.text
    # The application's name in its row, its form and two menus; the alias in its row and form.
    assert answer.text.count(ESCAPED) >= 6
    again = await console.post(
        "/admin/numbers", {"number": "6012", "account": "x", "alias": HOSTILE}
    )
    assert again.status_code == 400 and ESCAPED in again.text and "<script>" not in again.text


async def test_a_reply_links_to_the_message_it_answers(console: Console) -> None:
    from smsgate.core.events import InboundReceived
    from smsgate.store.schema import messages as messages_table

    gateway = console.gateway
    outcome = await gateway.record([InboundReceived("simulator", "447700900123", "1000", "STOP")])
    inbound = outcome.transitions[0].uuid
    replies = await gateway.db.read(
        lambda conn: conn.execute(
            select(messages_table.c.uuid).where(messages_table.c.reply_to == inbound)
        ).all()
    )
    [reply] = [row.uuid for row in replies]
    page = (await console.get(f"/admin/messages/{reply}")).text
    assert f'<a href="/admin/messages/{inbound}">' in page.split('id="reply-to"')[1]
    asked = (await console.get(f"/admin/messages/{inbound}")).text
    assert 'id="intent">optout<' in asked

"""Keyword rules and their handlers, end to end: an inbound message that matches a rule goes
to a webhook (a real HTTP server) or to a Python handler installed through an entry point
(the example package), is retried, delivered once, answered, and may hand out a one-time link
that opens once."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from plivo.utils import validate_v3_signature
from sqlalchemy import select

from smsgate.api.app import create_app
from smsgate.core import handlers as handler_core
from smsgate.core.clock import FakeClock
from smsgate.core.events import InboundReceived
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account, Message
from smsgate.core.record import Transition
from smsgate.handlers_api import Handled, HandlerContext, InboundMessage, LinkOpened
from smsgate.store import keyword_rules as rule_store
from smsgate.store import links as link_store
from smsgate.store import messages as message_store
from smsgate.store.keyword_rules import KeywordRule
from smsgate.store.links import Link
from smsgate.store.schema import callbacks, message_events, messages
from tests.conftest import GatewayFactory, new_account
from tests.support import CallbackReceiver, LiveServer, Received

try:
    import smsgate_example_handler as example
except ImportError:  # pragma: no cover - `make test` installs it
    pytest.fail(
        "the example handler package is not installed: "
        "pip install -e examples/smsgate-example-handler",
        pytrace=False,
    )

#: The short code of django-sms-broker's example, and handsets (replies need real numbers).
SHORT_CODE, PHONE, UK_PHONE = "567", "14155550101", "447700900123"
LINK = re.compile(r"https?://[^/\s]+(/l/[A-Za-z0-9_-]+)")
JSON = "application/json"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
PHONE_IP = "203.0.113.9"


# --- helpers ---------------------------------------------------------------------------------


async def add_rule(
    gateway: Gateway,
    account: Account,
    handler: str,
    *,
    keyword: str = "ABC.",
    destination: str = SHORT_CODE,
    senders: list[str] | None = None,
    max_attempts: int = 3,
    priority: int = 100,
    method: str = "POST",
) -> KeywordRule:
    now = gateway.clock.now_us()
    return await gateway.writer.run(
        lambda conn: rule_store.insert(
            conn,
            account_id=account.id,
            destination=destination,
            keyword=keyword,
            senders=senders,
            handler=handler,
            method=method,
            max_attempts=max_attempts,
            priority=priority,
            now=now,
        )
    )


async def arrive(
    gateway: Gateway,
    account: Account,
    text: str = "ABC.HELLO",
    sender: str = PHONE,
    to: str = SHORT_CODE,
) -> str:
    """A message from a handset, as the simulator channel reports one: its uuid."""
    event = InboundReceived("simulator", sender, to, text, account_auth_id=account.auth_id)
    outcome = await gateway.record([event])
    [uuid] = [t.uuid for t in outcome.transitions if t.state == "received"]
    return uuid


async def message(gateway: Gateway, uuid: str) -> Message:
    found = await gateway.db.read(lambda conn: message_store.by_uuid(conn, uuid))
    assert found is not None
    return found


async def rows(gateway: Gateway, uuid: str, kind: str | None = None) -> list[dict[str, Any]]:
    query = select(callbacks).where(callbacks.c.message_uuid == uuid).order_by(callbacks.c.id)
    if kind is not None:
        query = query.where(callbacks.c.kind == kind)
    found = await gateway.db.read(lambda conn: conn.execute(query).all())
    return [dict(row._mapping) for row in found]


async def events(gateway: Gateway, uuid: str) -> list[dict[str, Any]]:
    query = select(message_events).where(message_events.c.message_uuid == uuid)
    found = await gateway.db.read(lambda conn: conn.execute(query.order_by("id")).all())
    return [dict(row._mapping) for row in found]


async def replies(gateway: Gateway, uuid: str) -> list[Message]:
    query = select(messages).where(messages.c.reply_to == uuid)
    found = await gateway.db.read(lambda conn: conn.execute(query).all())
    return [Message.from_row(row._mapping) for row in found]


async def links_of(gateway: Gateway, uuid: str) -> list[Link]:
    return await gateway.db.read(lambda conn: link_store.for_message(conn, uuid))


async def attempt(gateway: Gateway) -> None:
    """One round of the notifier, recorded (a gateway started without background loops)."""
    await gateway.notifier.tick()
    await gateway.notifier.drain()
    await gateway.sink.drain()


async def until_state(
    changes: asyncio.Queue[Transition], uuid: str, state: str, timeout: float = 15.0
) -> None:
    async with asyncio.timeout(timeout):
        while True:
            change = await changes.get()
            if change.uuid == uuid and change.state == state:
                return


async def received(receiver: CallbackReceiver, timeout: float = 15.0) -> Received:
    """The next request the receiver got, waited for off the event loop (where the gateway's
    notifier runs)."""
    return await asyncio.to_thread(receiver.get, timeout)


def answer_with(receiver: CallbackReceiver, body: Any, status: int = 200) -> None:
    receiver.status = status
    if isinstance(body, bytes):
        receiver.reply, receiver.reply_type = body, "text/plain"
    else:
        receiver.reply, receiver.reply_type = orjson.dumps(body), JSON


def assert_signed(request: Any, auth_token: str) -> dict[str, str]:
    params = dict(request.params)
    nonce = request.headers["X-Plivo-Signature-V3-Nonce"]
    signature = request.headers["X-Plivo-Signature-V3"]
    assert validate_v3_signature("POST", request.url, nonce, auth_token, signature, params)
    assert not validate_v3_signature("POST", request.url, nonce, "wrong", signature, params)
    return params


Handset = Callable[[Gateway], httpx.AsyncClient]


@pytest.fixture
async def handset() -> AsyncIterator[Handset]:
    """Makes a handset's browser, opening links on a gateway (from PHONE_IP, as an iPhone)."""
    made: list[httpx.AsyncClient] = []

    def browser(gateway: Gateway) -> httpx.AsyncClient:
        app = create_app(gateway, manage_gateway=False, access_log=False)
        transport = httpx.ASGITransport(app=app, client=(PHONE_IP, 40000))
        client = httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"User-Agent": IPHONE}
        )
        made.append(client)
        return client

    yield browser
    for client in made:
        await client.aclose()


@pytest.fixture
def wallpaper() -> Iterator[example.Wallpaper]:
    """The example package's handler object, as its entry point loads it, reset."""
    handler = example.wallpaper
    handler.purchases.clear()
    handler.paused = False
    yield handler
    handler.purchases.clear()
    handler.paused = False


# --- webhooks --------------------------------------------------------------------------------


async def test_a_matching_message_reaches_the_webhook_signed_and_is_delivered(
    make_gateway: GatewayFactory, receiver: CallbackReceiver
) -> None:
    gateway = await make_gateway(background=True)
    account = await new_account(gateway)
    rule = await add_rule(gateway, account, receiver.url)
    with gateway.watch() as changes:
        uuid = await arrive(gateway, account, "ABC.HELLO")
        request = await received(receiver)
        await until_state(changes, uuid, "delivered")
    params = assert_signed(request, account.auth_token)
    assert request.method == "POST"
    assert (params["From"], params["To"], params["Text"]) == (PHONE, SHORT_CODE, "ABC.HELLO")
    assert (params["Keyword"], params["RuleID"], params["MessageUUID"]) == (
        "ABC.",
        str(rule.id),
        uuid,
    )
    assert params["Type"] == "sms"
    [row] = await rows(gateway, uuid)
    assert (row["kind"], row["state"], row["attempts"]) == ("handler", "delivered", 1)
    assert (await message(gateway, uuid)).state == "delivered"
    assert any(
        e["kind"] == "routed" and f"rule {rule.id}" in e["detail"]
        for e in await events(gateway, uuid)
    )


@pytest.mark.parametrize(
    "answer",
    [b"", b"handled", b"OK\n", {"result": "handled"}, {"result": "handled", "reply": None}],
)
async def test_handled_answers_deliver_the_message(
    make_gateway: GatewayFactory, receiver: CallbackReceiver, answer: Any
) -> None:
    gateway = await make_gateway(background=True)
    account = await new_account(gateway)
    await add_rule(gateway, account, receiver.url)
    answer_with(receiver, answer)
    with gateway.watch() as changes:
        uuid = await arrive(gateway, account)
        await until_state(changes, uuid, "delivered")
    assert receiver.requests.qsize() == 1
    assert await replies(gateway, uuid) == []


@pytest.mark.parametrize(
    ("text", "sender", "to", "matched"),
    [
        ("ABC.HELLO", PHONE, SHORT_CODE, True),
        ("abc.unicorn", PHONE, SHORT_CODE, True),
        ("  Abc.Unicorn please", PHONE, SHORT_CODE, True),
        ("ABCHELLO", PHONE, SHORT_CODE, False),
        ("XYZ.HELLO", PHONE, SHORT_CODE, False),
        ("ABC.HELLO", PHONE, "568", False),
    ],
)
async def test_prefix_keywords_and_destinations(
    make_gateway: GatewayFactory,
    receiver: CallbackReceiver,
    text: str,
    sender: str,
    to: str,
    matched: bool,
) -> None:
    gateway = await make_gateway()
    account = await new_account(gateway)
    await add_rule(gateway, account, receiver.url)
    uuid = await arrive(gateway, account, text, sender, to)
    await attempt(gateway)
    if matched:
        assert (await received(receiver)).params["Text"] == text
        assert (await message(gateway, uuid)).state == "delivered"
    else:
        assert await rows(gateway, uuid) == []
        assert receiver.requests.empty()
        assert (await message(gateway, uuid)).state == "received"


async def test_sender_patterns_and_priorities_choose_the_rule(
    make_gateway: GatewayFactory, receiver: CallbackReceiver
) -> None:
    gateway = await make_gateway()
    account = await new_account(gateway)
    uk = await add_rule(gateway, account, receiver.url + "?uk", senders=["44*"], priority=10)
    anyone = await add_rule(gateway, account, receiver.url + "?anyone", priority=20)
    later = await add_rule(gateway, account, receiver.url + "?later", priority=5, keyword="OTHER")
    assert later.id > anyone.id
    for sender, rule in ((UK_PHONE, uk), (PHONE, anyone)):
        uuid = await arrive(gateway, account, "abc.hello", sender)
        await attempt(gateway)
        params = (await received(receiver)).params
        assert (params["RuleID"], params["From"], params["MessageUUID"]) == (
            str(rule.id),
            sender,
            uuid,
        )
    # A disabled rule matches nothing.
    await gateway.writer.run(lambda conn: rule_store.set_enabled(conn, uk.id, False))
    await arrive(gateway, account, "abc.hello", UK_PHONE)
    await attempt(gateway)
    assert (await received(receiver)).params["RuleID"] == str(anyone.id)


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        ({"result": "retry"}, 200, "retry requested"),
        ({"result": "retry", "reason": "out of stock"}, 200, "retry requested: out of stock"),
        (b"send it again", 200, "retry requested"),
        (b"retry", 200, "retry requested"),
        (b"", 503, "retry requested: HTTP 503"),
        (b"", 429, "retry requested: HTTP 429"),
        (b"handled", 500, "HTTP 500"),
        (b"", 404, "HTTP 404"),
        (
            b"<html>Welcome</html>",
            200,
            "the answer says neither handled nor retry: '<html>Welcome</html>'",
        ),
        (b'{"result": handled', 200, """the answer is not valid JSON: '{"result": handled'"""),
        ({"result": "done"}, 200, """the JSON answer's "result" is 'done', not handled or retry"""),
    ],
)
async def test_unhandled_answers_are_retried_with_backoff_then_undelivered(
    make_gateway: GatewayFactory,
    receiver: CallbackReceiver,
    answer: Any,
    status: int,
    error: str,
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, callbacks={"backoff_base": 10})
    account = await new_account(gateway)
    await add_rule(gateway, account, receiver.url, max_attempts=3)
    answer_with(receiver, answer, status)
    if isinstance(answer, bytes) and answer.startswith(b"{"):
        receiver.reply_type = JSON
    uuid = await arrive(gateway, account)

    await attempt(gateway)
    await received(receiver)
    [row] = await rows(gateway, uuid)
    assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 1, error)
    assert 9_000_000 <= row["next_attempt_at"] - clock.now_us() <= 11_000_000
    assert (await message(gateway, uuid)).state == "received"
    await attempt(gateway)  # not due yet
    assert receiver.requests.empty()

    clock.advance(11)
    await attempt(gateway)
    await received(receiver)
    [row] = await rows(gateway, uuid)
    assert (row["state"], row["attempts"]) == ("pending", 2)
    assert 18_000_000 <= row["next_attempt_at"] - clock.now_us() <= 22_000_000

    clock.advance(23)
    await attempt(gateway)
    await received(receiver)
    [row] = await rows(gateway, uuid)
    assert (row["state"], row["attempts"], row["last_error"]) == ("failed", 3, error)
    msg = await message(gateway, uuid)
    assert (msg.state, msg.error_code) == ("undelivered", "300")
    gave_up = [e for e in await events(gateway, uuid) if e["state"] == "undelivered"]
    assert gave_up and error in gave_up[0]["detail"]
    clock.advance(3600)
    await attempt(gateway)
    assert receiver.requests.empty()
    assert await replies(gateway, uuid) == []


async def test_handled_after_a_retry_is_delivered_once_and_never_again(
    make_gateway: GatewayFactory, receiver: CallbackReceiver
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, callbacks={"backoff_base": 10})
    account = await new_account(gateway)
    await add_rule(gateway, account, receiver.url, max_attempts=5)
    uuid = await arrive(gateway, account)
    answer_with(receiver, b"send it again")
    await attempt(gateway)
    first = await received(receiver)
    answer_with(receiver, {"result": "handled", "reply": "Thanks!"})
    clock.advance(11)
    await attempt(gateway)
    second = await received(receiver)
    assert first.params == second.params
    assert (await message(gateway, uuid)).state == "delivered"
    [row] = await rows(gateway, uuid)
    assert (row["state"], row["attempts"]) == ("delivered", 2)
    # However long the gateway goes on, the handler is never handed the message again, nor
    # does the reply go twice.
    for _ in range(3):
        clock.advance(3600)
        await attempt(gateway)
    assert receiver.requests.empty()
    [reply] = await replies(gateway, uuid)
    assert reply.text == "Thanks!"


async def test_a_webhook_that_does_not_answer_times_out_and_is_retried(
    make_gateway: GatewayFactory,
) -> None:
    clock = FakeClock()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections are accepted by the kernel; nothing ever answers
    try:
        gateway = await make_gateway(clock=clock, callbacks={"timeout": 0.3, "backoff_base": 10})
        account = await new_account(gateway)
        port = silent.getsockname()[1]
        await add_rule(gateway, account, f"http://127.0.0.1:{port}/hook", max_attempts=2)
        uuid = await arrive(gateway, account)
        await attempt(gateway)
        [row] = await rows(gateway, uuid)
        assert (row["state"], row["attempts"]) == ("pending", 1)
        assert "Timeout" in row["last_error"]
        clock.advance(11)
        await attempt(gateway)
        [row] = await rows(gateway, uuid)
        assert (row["state"], row["attempts"]) == ("failed", 2)
        assert (await message(gateway, uuid)).state == "undelivered"
    finally:
        silent.close()


async def test_a_reply_goes_out_linked_to_the_inbound_message(
    make_gateway: GatewayFactory, receiver: CallbackReceiver
) -> None:
    gateway = await make_gateway(background=True)
    account = await new_account(gateway)
    rule = await add_rule(gateway, account, receiver.url)
    answer_with(receiver, {"result": "handled", "reply": "Hello to you too"})
    with gateway.watch() as changes:
        uuid = await arrive(gateway, account, "ABC.HELLO")
        await until_state(changes, uuid, "delivered")
    [reply] = await replies(gateway, uuid)
    assert (reply.direction, reply.text, reply.reply_to) == ("outbound", "Hello to you too", uuid)
    assert (reply.from_number, reply.to_number) == (SHORT_CODE, PHONE)
    assert reply.submitted_by == f"handler/{rule.id}"
    assert reply.account_id == account.id
    assert any(
        e["kind"] == "replied" and reply.uuid in e["detail"] for e in await events(gateway, uuid)
    )


# --- one-time links --------------------------------------------------------------------------


async def test_a_webhook_link_opens_once_and_the_webhook_hears_of_it(
    make_gateway: GatewayFactory,
    receiver: CallbackReceiver,
    handset: Handset,
) -> None:
    gateway = await make_gateway(background=True)
    phone = handset(gateway)
    account = await new_account(gateway)
    rule = await add_rule(gateway, account, receiver.url)
    answer_with(
        receiver,
        {
            "result": "handled",
            "reply": "Your wallpaper: {link}",
            "link": {"content": "<b>unicorn</b>", "content_type": "text/html"},
            "link_expires_in": 600,
        },
    )
    with gateway.watch() as changes:
        uuid = await arrive(gateway, account, "ABC.UNICORN")
        await received(receiver)
        await until_state(changes, uuid, "delivered")
    [reply] = await replies(gateway, uuid)
    assert reply.text is not None and reply.text.startswith(
        "Your wallpaper: http://127.0.0.1:8080/l/"
    )
    found = LINK.search(reply.text)
    assert found is not None
    path = found.group(1)
    [link] = await links_of(gateway, uuid)
    assert (link.kind, link.rule_id, link.opened_at, link.account_id) == (
        "content",
        rule.id,
        None,
        account.id,
    )
    assert link.expires_at - link.created_at == 600_000_000
    assert path.removeprefix("/l/") not in link.token_hash  # only the digest is stored

    head = await phone.head(path)  # a HEAD, and a preview bot's GET, use nothing up
    assert (head.status_code, head.content) == (200, b"")
    bot = await phone.get(path, headers={"User-Agent": "WhatsApp/2.23.20.0 A"})
    assert bot.status_code == 200 and "One-time link" in bot.text and "unicorn" not in bot.text
    assert (await links_of(gateway, uuid))[0].opened_at is None

    opened = await phone.get(path)
    assert opened.status_code == 200
    assert opened.text == "<b>unicorn</b>"
    assert opened.headers["content-type"] == "text/plain; charset=utf-8"  # never a page
    assert opened.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in opened.headers["content-security-policy"]
    assert "default-src 'none'" in opened.headers["content-security-policy"]
    assert opened.headers["cache-control"] == "no-store"
    assert opened.headers["referrer-policy"] == "no-referrer"

    told = await received(receiver)
    params = assert_signed(told, account.auth_token)
    [link] = await links_of(gateway, uuid)
    assert link.opened_at is not None
    assert (link.opened_ip, link.opened_agent) == (PHONE_IP, IPHONE)
    assert params["Event"] == "link_opened"
    assert (params["LinkID"], params["MessageUUID"], params["RuleID"]) == (
        str(link.id),
        uuid,
        str(rule.id),
    )
    assert (params["OpenedIP"], params["UserAgent"]) == (PHONE_IP, IPHONE)
    assert params["OpenedAt"]
    noted = [e for e in await events(gateway, uuid) if e["kind"] == "link_opened"]
    assert len(noted) == 1 and f"link {link.id} opened" in noted[0]["detail"]

    again = await phone.get(path)
    assert again.status_code == 410
    assert "This link has already been used" in again.text
    assert again.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in again.headers["content-security-policy"]
    assert (await phone.head(path)).status_code == 410
    # Opening it again tells the handler nothing more.
    [opened_row] = await rows(gateway, uuid, "link_opened")
    assert opened_row["url"] == receiver.url
    assert len([e for e in await events(gateway, uuid) if e["kind"] == "link_opened"]) == 1


async def test_redirect_links_forged_and_expired_tokens(
    make_gateway: GatewayFactory,
    receiver: CallbackReceiver,
    handset: Handset,
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(
        clock=clock, inbound={"public_url": "https://sms.example/", "link_expiry_minutes": 10}
    )
    phone = handset(gateway)
    account = await new_account(gateway)
    await add_rule(gateway, account, receiver.url)
    target = "https://shop.example/unicorn.jpg?size=large"
    answer_with(receiver, {"result": "handled", "reply": "{link}", "link": {"redirect": target}})
    first, second = await arrive(gateway, account), await arrive(gateway, account)
    await attempt(gateway)
    await attempt(gateway)
    [one], [two] = await replies(gateway, first), await replies(gateway, second)
    assert one.text is not None and one.text.startswith("https://sms.example/l/")
    assert two.text is not None and two.text != one.text
    path_one, path_two = (LINK.search(r.text or "").group(1) for r in (one, two))  # type: ignore[union-attr]
    [link] = await links_of(gateway, first)
    assert link.expires_at - link.created_at == 600_000_000  # [inbound] link_expiry_minutes

    # Five opens at once: one is redirected, the others are told it was used.
    opens = await asyncio.gather(*(phone.get(path_one) for _ in range(5)))
    assert sorted(r.status_code for r in opens) == [302, 410, 410, 410, 410]
    [redirected] = [r for r in opens if r.status_code == 302]
    assert redirected.headers["location"] == target
    assert redirected.headers["referrer-policy"] == "no-referrer"
    assert len(await rows(gateway, first, "link_opened")) == 1
    assert (await phone.get(path_one)).status_code == 410

    forged = path_two[:-4] + ("AAAA" if not path_two.endswith("AAAA") else "BBBB")
    for bad in (forged, "/l/short", "/l/" + "x" * 200, "/l/%3Cscript%3E"):
        missing = await phone.get(bad)
        assert missing.status_code == 404, bad
        assert "Link not found" in missing.text
        assert (await phone.head(bad)).status_code == 404

    clock.advance(10 * 60 + 1)
    assert (await phone.head(path_two)).status_code == 410
    expired = await phone.get(path_two)
    assert expired.status_code == 410
    assert "This link has expired" in expired.text
    [link] = await links_of(gateway, second)
    assert link.opened_at is None
    assert await rows(gateway, second, "link_opened") == []


# --- Python handlers -------------------------------------------------------------------------


async def test_the_example_package_handles_through_its_entry_point(
    make_gateway: GatewayFactory,
    handset: Handset,
    wallpaper: example.Wallpaper,
) -> None:
    assert "wallpaper" in handler_core.installed_handlers()
    gateway = await make_gateway()
    phone = handset(gateway)
    account = await new_account(gateway)
    rule = await add_rule(gateway, account, "python:wallpaper")
    uuid = await arrive(gateway, account, "abc.unicorn")
    await attempt(gateway)
    assert (await message(gateway, uuid)).state == "delivered"
    [reply] = await replies(gateway, uuid)
    assert reply.submitted_by == f"handler/{rule.id}"
    assert reply.text is not None and reply.text.startswith("Your unicorn wallpaper: http")
    purchase = wallpaper.purchases[uuid]
    assert (purchase.phone, purchase.finished) == (PHONE, False)
    assert purchase.link in reply.text
    [link] = await links_of(gateway, uuid)
    assert (link.kind, link.content_type, link.rule_id) == ("content", "text/plain", rule.id)
    assert link.expires_at - link.created_at == 3600 * 1_000_000

    path = LINK.search(reply.text).group(1)  # type: ignore[union-attr]
    opened = await phone.get(path)
    assert opened.status_code == 200
    assert opened.text == example.UNICORN
    assert not purchase.finished  # the handler hears of it through the outbox
    await attempt(gateway)
    assert purchase.finished
    assert purchase.opened_from == PHONE_IP
    [told] = await rows(gateway, uuid, "link_opened")
    assert (told["state"], told["url"]) == ("delivered", "python:wallpaper")
    assert (await phone.get(path)).status_code == 410

    # Another ABC. message is answered with help; the handler is never handed one twice.
    other = await arrive(gateway, account, "ABC.HELLO")
    await attempt(gateway)
    await attempt(gateway)
    [help_reply] = await replies(gateway, other)
    assert help_reply.text == "Send ABC.UNICORN to get a unicorn wallpaper."
    assert len(await replies(gateway, uuid)) == 1
    assert list(wallpaper.purchases) == [uuid]


async def test_a_python_handler_that_asks_for_a_retry(
    make_gateway: GatewayFactory, wallpaper: example.Wallpaper
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, callbacks={"backoff_base": 10})
    account = await new_account(gateway)
    await add_rule(gateway, account, "python:wallpaper", max_attempts=3)
    wallpaper.paused = True
    uuid = await arrive(gateway, account, "ABC.UNICORN")
    await attempt(gateway)
    [row] = await rows(gateway, uuid)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "retry requested: the shop is closed for a moment"
    wallpaper.paused = False
    clock.advance(11)
    await attempt(gateway)
    [row] = await rows(gateway, uuid)
    assert (row["state"], row["attempts"]) == ("delivered", 2)
    assert (await message(gateway, uuid)).state == "delivered"
    assert len(await replies(gateway, uuid)) == 1


class Recording:
    """A Python handler made in the test (loaded in place of an entry point)."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.calls: list[InboundMessage] = []
        self.opened: list[LinkOpened] = []
        self.release = asyncio.Event()

    async def __call__(self, message: InboundMessage, context: HandlerContext) -> Any:
        self.calls.append(message)
        if self.behaviour == "raise":
            raise RuntimeError("the shop's database is down")
        if self.behaviour == "hang":
            await self.release.wait()
        if self.behaviour == "wrong":
            return "handled"
        if self.behaviour == "bad link":
            await context.link(redirect="javascript:alert(1)")
        url = await context.link(redirect="https://shop.example/x", expires_in=60)
        return Handled(reply=f"Here: {url}")

    async def link_opened(self, event: LinkOpened) -> None:
        self.opened.append(event)
        if len(self.opened) == 1:
            raise RuntimeError("not now")


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Handlers by name, as if packages had registered them."""
    made: dict[str, Any] = {}
    real = handler_core.load_handler

    def load(name: str) -> Any:
        return made[name] if name in made else real(name)

    monkeypatch.setattr(handler_core, "load_handler", load)
    return made


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("raise", "handler broken raised RuntimeError: the shop's database is down"),
        ("hang", "handler broken did not answer within 0.2s"),
        ("wrong", "the handler returned str, not Handled or RetryLater"),
        ("bad link", "handler broken raised ValueError: a link redirects to an http or https"),
    ],
)
async def test_python_handlers_that_fail_are_retried_then_undelivered(
    make_gateway: GatewayFactory, installed: dict[str, Any], behaviour: str, error: str
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, callbacks={"backoff_base": 10, "timeout": 0.2})
    account = await new_account(gateway)
    installed["broken"] = handler = Recording(behaviour)
    await add_rule(gateway, account, "python:broken", max_attempts=2)
    uuid = await arrive(gateway, account)
    await attempt(gateway)
    [row] = await rows(gateway, uuid)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].startswith(error)
    clock.advance(11)
    await attempt(gateway)
    [row] = await rows(gateway, uuid)
    assert (row["state"], row["attempts"]) == ("failed", 2)
    assert (await message(gateway, uuid)).state == "undelivered"
    assert len(handler.calls) == 2
    assert handler.calls[0].uuid == uuid and handler.calls[0].keyword == "ABC."
    assert await replies(gateway, uuid) == []


async def test_an_unknown_entry_point_fails_clearly_then_undelivered(
    make_gateway: GatewayFactory,
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, callbacks={"backoff_base": 10})
    account = await new_account(gateway)
    await add_rule(gateway, account, "python:no-such-handler", max_attempts=2)
    uuid = await arrive(gateway, account)
    await attempt(gateway)
    clock.advance(11)
    await attempt(gateway)
    [row] = await rows(gateway, uuid)
    assert (row["state"], row["attempts"]) == ("failed", 2)
    assert row["last_error"] == (
        "no handler 'no-such-handler' is installed (entry point group smsgate.handlers)"
    )
    msg = await message(gateway, uuid)
    assert msg.state == "undelivered"
    assert any("no-such-handler" in e["detail"] for e in await events(gateway, uuid))


async def test_a_python_handler_hears_of_its_link_and_is_retried_when_that_fails(
    make_gateway: GatewayFactory,
    installed: dict[str, Any],
    handset: Handset,
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, callbacks={"backoff_base": 10})
    phone = handset(gateway)
    account = await new_account(gateway)
    installed["shop"] = handler = Recording("ok")
    rule = await add_rule(gateway, account, "python:shop")
    uuid = await arrive(gateway, account, "ABC.SHOP now", UK_PHONE)
    await attempt(gateway)
    [call] = handler.calls
    assert (call.uuid, call.from_number, call.to_number, call.text) == (
        uuid,
        UK_PHONE,
        SHORT_CODE,
        "ABC.SHOP now",
    )
    assert (call.keyword, call.rule_id) == ("ABC.", rule.id)
    assert call.received_at.tzinfo is not None
    [reply] = await replies(gateway, uuid)
    path = LINK.search(reply.text or "").group(1)  # type: ignore[union-attr]
    assert (await phone.get(path)).status_code == 302
    await attempt(gateway)  # link_opened raises the first time: retried
    [row] = await rows(gateway, uuid, "link_opened")
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "not now" in row["last_error"]
    clock.advance(11)
    await attempt(gateway)
    [row] = await rows(gateway, uuid, "link_opened")
    assert row["state"] == "delivered"
    first, second = handler.opened
    assert first == second
    [link] = await links_of(gateway, uuid)
    assert (first.link_id, first.message_uuid, first.rule_id) == (link.id, uuid, rule.id)
    assert (first.opened_ip, first.user_agent) == (PHONE_IP, IPHONE)
    assert first.opened_at.tzinfo is not None
    assert len(handler.calls) == 1  # the message itself was handled once
    assert (await message(gateway, uuid)).state == "delivered"


# --- the CLI ---------------------------------------------------------------------------------


def _messages_stored(live: LiveServer) -> int:
    with sqlite3.connect(live.data_dir / "data" / "smsgate.db") as db:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])


def test_rules_cli_adds_lists_tests_and_delivers(
    live: LiveServer, receiver: CallbackReceiver
) -> None:
    account = live.create_account()
    auth_id = account["auth_id"]
    added = json.loads(
        live.cli(
            "rules",
            "add",
            "--account",
            auth_id,
            "--keyword",
            "ABC.",
            "--destination",
            "567",
            "--sender",
            "12*",
            "--handler",
            receiver.url,
            "--max-attempts",
            "4",
            "--note",
            "shop",
        ).stdout
    )
    assert (added["keyword"], added["destination"], added["senders"]) == ("ABC.", "567", ["12*"])
    assert (added["handler"], added["max_attempts"], added["enabled"]) == (receiver.url, 4, True)
    python_rule = json.loads(
        live.cli(
            "rules",
            "add",
            "--account",
            auth_id,
            "--keyword",
            "WALL",
            "--handler",
            "python:wallpaper",
        ).stdout
    )
    listed = json.loads(live.cli("rules", "list", "--json").stdout)
    assert [rule["id"] for rule in listed] == [added["id"], python_rule["id"]]
    assert listed[0]["account"] == auth_id
    assert "-> python:wallpaper" in live.cli("rules", "list").stdout

    tested = json.loads(
        live.cli(
            "rules", "test", "--to", "567", "--from", "1234", "--text", "abc.hello", "--json"
        ).stdout
    )
    assert (tested["rule"]["id"], tested["account"]) == (added["id"], auth_id)
    assert receiver.requests.empty()  # without --deliver nothing is sent
    stop = live.cli("rules", "test", "--to", "567", "--from", "1234", "--text", "STOP").stdout
    assert "standard keyword: optout" in stop and "none matches" in stop
    other = live.cli("rules", "test", "--to", "567", "--from", "999", "--text", "ABC.HELLO").stdout
    assert "none matches" in other  # the sender pattern says no
    # Numbers as people type them are read as an arrival's are.
    spaced = live.cli("rules", "test", "--to", " 567", "--from", "+1234", "--text", "ABC.X").stdout
    assert f"{added['id']} matches" in spaced
    huge = live.cli(
        "rules", "test", "--to", "567", "--from", "1", "--text", "€" * 20_000, check=False
    )
    assert huge.returncode != 0 and "255 parts" in huge.stderr and "Traceback" not in huge.stderr

    answer_with(
        receiver,
        {
            "result": "handled",
            "reply": "Yours: {link}",
            "link": {"redirect": "https://a.example/x"},
        },
    )
    delivered = live.cli(
        "rules", "test", "--to", "567", "--from", "1234", "--text", "ABC.HELLO", "--deliver"
    ).stdout
    request = receiver.get()
    params = assert_signed(request, account["auth_token"])
    assert (params["Text"], params["Keyword"], params["RuleID"]) == (
        "ABC.HELLO",
        "ABC.",
        str(added["id"]),
    )
    assert "outcome   handled" in delivered
    assert "reply     Yours: {link}" in delivered
    assert "redirect to https://a.example/x" in delivered

    answer_with(receiver, b"", 500)
    failed = live.cli(
        "rules",
        "test",
        "--to",
        "567",
        "--from",
        "1234",
        "--text",
        "ABC.HELLO",
        "--deliver",
        check=False,
    )
    receiver.get()
    assert failed.returncode == 1 and "outcome   failed: HTTP 500" in failed.stdout

    wall = live.cli(
        "rules", "test", "--to", "42", "--from", "1234", "--text", "wall abc.unicorn", "--deliver"
    ).stdout
    assert f"rule      {python_rule['id']} matches" in wall
    assert "outcome   handled" in wall
    assert "reply     Send ABC.UNICORN to get a unicorn wallpaper." in wall
    assert _messages_stored(live) == 0  # a test stores nothing

    assert (
        live.cli("rules", "disable", str(added["id"])).stdout.strip()
        == f"rule {added['id']} disabled"
    )
    assert not json.loads(live.cli("rules", "list", "--json").stdout)[0]["enabled"]
    live.cli("rules", "enable", str(added["id"]))
    assert (
        live.cli("rules", "remove", str(added["id"])).stdout.strip()
        == f"rule {added['id']} removed"
    )
    missing = live.cli("rules", "remove", str(added["id"]), check=False)
    assert missing.returncode == 1 and f"no rule {added['id']}" in missing.stderr
    assert [rule["id"] for rule in json.loads(live.cli("rules", "list", "--json").stdout)] == [
        python_rule["id"]
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--handler", "ftp://x"], "an http(s) URL (a webhook) or python:<entry point name>"),
        (["--handler", "python:"], "python:<entry point name>"),
        (["--handler", "https://a.example", "--destination", "5a"], "destination pattern"),
        (["--handler", "https://a.example", "--sender", "x"], "destination pattern"),
        (["--handler", "https://a.example", "--max-attempts", "0"], "--max-attempts"),
    ],
)
def test_rules_cli_refuses_bad_rules(live: LiveServer, args: list[str], error: str) -> None:
    auth_id = live.create_account()["auth_id"]
    refused = live.cli(
        "rules", "add", "--account", auth_id, "--keyword", "ABC.", *args, check=False
    )
    assert refused.returncode == 2
    assert error in refused.stderr
    assert json.loads(live.cli("rules", "list", "--json").stdout) == []


def test_rules_cli_warns_of_a_handler_not_installed(live: LiveServer) -> None:
    auth_id = live.create_account()["auth_id"]
    added = live.cli(
        "rules", "add", "--account", auth_id, "--keyword", "X", "--handler", "python:not-here"
    )
    assert "no handler 'not-here' is installed here" in added.stderr
    assert json.loads(added.stdout)["handler"] == "python:not-here"
    quiet = live.cli(
        "rules", "add", "--account", auth_id, "--keyword", "Y", "--handler", "python:wallpaper"
    )
    assert quiet.stderr == ""
    unknown = live.cli(
        "rules",
        "add",
        "--account",
        "MA00000000000000000X",
        "--keyword",
        "X",
        "--handler",
        "https://a.example",
        check=False,
    )
    assert unknown.returncode == 1 and "no account" in unknown.stderr

"""Inbound messages: stored as received before anything else, then forwarded to the
number's application (Plivo's parameters, signed), delivered on 2xx, retried for a day
otherwise and then undelivered; Message XML replies; standard keywords and the opt-out list
that sending respects; unknown numbers stored and noted."""

from __future__ import annotations

from typing import Any

import pytest
from plivo.utils import validate_v3_signature
from sqlalchemy import select

from smsgate.channels.registry import ChannelConfigError
from smsgate.config import AccountKeywordSettings
from smsgate.core.clock import FakeClock
from smsgate.core.events import InboundReceived
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account, Message
from smsgate.core.submission import Submission
from smsgate.store import numbers as number_store
from smsgate.store import opt_outs as opt_out_store
from smsgate.store.schema import message_events, messages
from tests.conftest import GatewayFactory, new_account, scope_of
from tests.support import CallbackReceiver

NUMBER = "14155550100"
PHONE = "447700900123"


async def bind(
    gateway: Gateway, account: Account, url: str | None, method: str = "POST", log: bool = True
) -> str:
    now = gateway.clock.now_us()

    def work(conn: Any) -> str:
        app = number_store.insert_application(
            conn,
            account_id=account.id,
            name="shop",
            message_url=url,
            message_method=method,
            log_incoming_messages=log,
            now=now,
        )
        number_store.insert_number(
            conn,
            number=NUMBER,
            account_id=account.id,
            application_id=app.id,
            channel=None,
            alias="",
            now=now,
        )
        return app.app_id

    return await gateway.writer.run(work)


async def arrive(gateway: Gateway, text: str, to: str = NUMBER, sender: str = PHONE) -> str:
    outcome = await gateway.record([InboundReceived("simulator", sender, to, text)])
    [change] = [t for t in outcome.transitions if t.state == "received"]
    return change.uuid


async def message(gateway: Gateway, uuid: str) -> Message:
    row = await gateway.db.read(
        lambda conn: conn.execute(select(messages).where(messages.c.uuid == uuid)).one()
    )
    return Message.from_row(row._mapping)


async def events_of(gateway: Gateway, uuid: str) -> list[tuple[str, str]]:
    rows = await gateway.db.read(
        lambda conn: conn.execute(
            select(message_events.c.kind, message_events.c.detail)
            .where(message_events.c.message_uuid == uuid)
            .order_by(message_events.c.id)
        ).all()
    )
    return [(row.kind, row.detail) for row in rows]


async def deliver(gateway: Gateway, rounds: int = 3) -> None:
    for _ in range(rounds):
        await gateway.notifier.tick()
        await gateway.notifier.drain()
        await gateway.sink.drain()


async def replies(gateway: Gateway, uuid: str) -> list[Message]:
    rows = await gateway.db.read(
        lambda conn: conn.execute(select(messages).where(messages.c.reply_to == uuid)).all()
    )
    return [Message.from_row(row._mapping) for row in rows]


async def test_an_inbound_message_reaches_its_application_signed_and_is_delivered(
    gateway: Gateway, account: Account, receiver: CallbackReceiver
) -> None:
    await bind(gateway, account, receiver.url)
    uuid = await arrive(gateway, "Привет 👋")
    assert (await message(gateway, uuid)).state == "received"  # stored before forwarding
    await deliver(gateway)
    got = receiver.get()
    params = got.form
    assert (params["From"], params["To"], params["Text"]) == (PHONE, NUMBER, "Привет 👋")
    assert (params["Type"], params["MessageUUID"], params["Units"]) == ("sms", uuid, "1")
    assert "TotalRate" in params and "TotalAmount" in params and params["MessageIntent"] == ""
    nonce = got.headers["X-Plivo-Signature-V3-Nonce"]
    signature = got.headers["X-Plivo-Signature-V3"]
    assert validate_v3_signature("POST", got.url, nonce, account.auth_token, signature, params)
    assert (await message(gateway, uuid)).state == "delivered"


async def test_get_applications_get_query_parameters(
    gateway: Gateway, account: Account, receiver: CallbackReceiver
) -> None:
    await bind(gateway, account, receiver.url + "?shop=1", method="GET")
    await arrive(gateway, "hello")
    await deliver(gateway)
    got = receiver.get()
    assert got.method == "GET" and got.query["Text"] == "hello" and got.query["shop"] == "1"


async def test_a_failing_application_is_retried_for_a_day_then_undelivered(
    make_gateway: GatewayFactory, receiver: CallbackReceiver
) -> None:
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, inbound={"retry_hours": 1})
    account = await new_account(gateway)
    await bind(gateway, account, receiver.url)
    receiver.status = 500
    uuid = await arrive(gateway, "hello")
    attempts = 0
    while (await message(gateway, uuid)).state == "received":
        await deliver(gateway, rounds=1)
        attempts += receiver.requests.qsize()
        while not receiver.requests.empty():
            receiver.get()
        clock.advance(900)  # the backoff's longest wait
        assert attempts < 50, "still retrying after the deadline"
    msg = await message(gateway, uuid)
    assert msg.state == "undelivered" and msg.error_code == "300"
    assert attempts >= 4  # tried again and again, within the hour
    assert ("undelivered", "gave up forwarding: HTTP 500") in await events_of(gateway, uuid)


async def test_an_application_replies_with_message_xml(
    gateway: Gateway, account: Account, receiver: CallbackReceiver
) -> None:
    await bind(gateway, account, receiver.url)
    receiver.reply_type = "application/xml"
    receiver.reply = (
        b"<Response><Message>Thanks, we got it</Message>"
        b'<Message dst="447700900999" src="14155550100">Copy</Message></Response>'
    )
    uuid = await arrive(gateway, "order 42")
    await deliver(gateway)
    assert (await message(gateway, uuid)).state == "delivered"
    sent = sorted(await replies(gateway, uuid), key=lambda m: m.to_number)
    assert [(m.from_number, m.to_number, m.text) for m in sent] == [
        (NUMBER, PHONE, "Thanks, we got it"),
        (NUMBER, "447700900999", "Copy"),
    ]
    assert all(m.state == "queued" and m.direction == "outbound" for m in sent)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<Response><Message>unclosed</Response>", "not valid XML"),
        (b"<Reply><Message>x</Message></Reply>", "root is <Reply>"),
        (b"<Response><Speak>x</Speak></Response>", "only <Message>"),
        (b'<!DOCTYPE r [<!ENTITY a "aaaa">]><Response><Message>&a;</Message></Response>', "XML"),
    ],
)
async def test_garbage_xml_still_delivers_and_sends_nothing(
    gateway: Gateway, account: Account, receiver: CallbackReceiver, body: bytes, why: str
) -> None:
    await bind(gateway, account, receiver.url)
    receiver.reply_type, receiver.reply = "text/xml", body
    uuid = await arrive(gateway, "hi")
    await deliver(gateway)
    assert (await message(gateway, uuid)).state == "delivered"
    assert await replies(gateway, uuid) == []
    notes = [detail for kind, detail in await events_of(gateway, uuid) if kind == "reply_refused"]
    assert notes and why in notes[0]


async def test_a_message_for_an_unknown_number_is_kept_and_noted(
    gateway: Gateway, account: Account
) -> None:
    uuid = await arrive(gateway, "", to="19998887777")
    msg = await message(gateway, uuid)
    assert (msg.state, msg.account_id, msg.text) == ("received", account.id, "")
    assert ("unknown_number", "no account owns 19998887777") in await events_of(gateway, uuid)
    scope = await scope_of(gateway, account)
    found = await gateway.message(scope, uuid)
    assert found is not None and found.direction == "inbound"


async def test_a_number_decides_the_account_whatever_the_channel_says(
    gateway: Gateway, account: Account
) -> None:
    other = await new_account(gateway)
    await bind(gateway, other, None)
    outcome = await gateway.record(
        [InboundReceived("simulator", PHONE, NUMBER, "hi", account_auth_id=account.auth_id)]
    )
    msg = await message(gateway, outcome.transitions[0].uuid)
    assert msg.account_id == other.id and msg.state == "received"


async def test_stop_opts_out_confirms_and_later_sends_fail_with_200(
    gateway: Gateway, account: Account, receiver: CallbackReceiver
) -> None:
    await bind(gateway, account, receiver.url)
    stop = await arrive(gateway, "Stop.")
    await deliver(gateway)
    assert receiver.get().form["MessageIntent"] == "optout"
    assert (await message(gateway, stop)).intent == "optout"
    out = await gateway.db.read(lambda conn: opt_out_store.is_out(conn, account.id, PHONE))
    assert out
    [confirmation] = await replies(gateway, stop)
    assert "unsubscribed" in (confirmation.text or "")
    scope = await scope_of(gateway, account)
    later = await gateway.accept(
        scope, Submission(src=NUMBER, dst=PHONE, text="Sale!"), requester_ip="192.0.2.1"
    )
    with gateway.watch() as changes:
        await gateway.dispatcher.tick()
        await gateway.dispatcher.drain()
        await gateway.sink.drain()
        seen = {}
        while not changes.empty():
            change = changes.get_nowait()
            seen[change.uuid] = change.state
    # The confirmation goes; the sale fails with Plivo's "blocked by STOP".
    assert seen[confirmation.uuid] in ("sent", "delivered")
    failed = await message(gateway, later.uuids[0])
    assert (failed.state, failed.error_code) == ("failed", "200")
    # START puts the number back, and says so.
    start = await arrive(gateway, "START")
    assert not await gateway.db.read(lambda conn: opt_out_store.is_out(conn, account.id, PHONE))
    assert len(await replies(gateway, start)) == 1


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("STOP", "optout"),
        ("arrêt", "optout"),
        ('"unsubscribe"', "optout"),
        ("HELP", "help"),
        ("Aide", "help"),
        ("stop by at noon", ""),
        ("yes", "optin"),
        ("", ""),
    ],
)
async def test_standard_keywords_in_several_languages(
    gateway: Gateway, account: Account, text: str, intent: str
) -> None:
    uuid = await arrive(gateway, text)
    assert (await message(gateway, uuid)).intent == intent


async def test_an_accounts_own_keywords_and_replies(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway()
    account = await new_account(gateway)
    own = {"account": account.auth_id, "optout_keywords": {"en": ["ENOUGH"]}, "optout_reply": {}}
    gateway.settings.inbound.accounts.append(AccountKeywordSettings(**own))
    enough = await arrive(gateway, "enough")
    assert (await message(gateway, enough)).intent == "optout"
    assert await replies(gateway, enough) == []  # this account sends no confirmation
    stop = await arrive(gateway, "STOP", sender="447700900124")
    assert (await message(gateway, stop)).intent == ""


async def test_a_text_too_long_to_send_is_still_received(
    gateway: Gateway, account: Account
) -> None:
    uuid = await arrive(gateway, "x" * 50_000)
    msg = await message(gateway, uuid)
    assert msg.state == "received" and len(msg.text or "") == 50_000 and msg.units == 255


async def test_an_endpoint_naming_an_unknown_account_does_not_start(
    make_gateway: GatewayFactory,
) -> None:
    with pytest.raises(ChannelConfigError, match="inbound endpoint 'shop'"):
        await make_gateway(
            inbound_endpoints=[
                {"name": "shop", "format": "broker", "account": "MA00000000000000000X"}
            ]
        )


async def test_a_rules_country_pattern_matches_a_full_number(
    gateway: Gateway, account: Account
) -> None:
    from smsgate.store import keyword_rules as rule_store

    now = gateway.clock.now_us()
    await gateway.writer.run(
        lambda conn: rule_store.insert(
            conn,
            account_id=account.id,
            destination="",
            keyword="",
            senders=["GB"],
            handler="http://127.0.0.1:9/never",
            now=now,
        )
    )
    uk = await arrive(gateway, "hello", sender=PHONE)
    us = await arrive(gateway, "hello", sender="14155550199")
    assert any(k == "routed" and "keyword rule" in d for k, d in await events_of(gateway, uk))
    assert not any(k == "routed" for k, _ in await events_of(gateway, us))


async def test_access_logs_never_show_a_links_token(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx

    from smsgate.api.app import create_app

    app = create_app(gateway, manage_gateway=False, access_log=True, log_format="json")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        answer = await http.get("/l/SeCrEtToKeN123")
    assert answer.status_code == 404
    logged = capsys.readouterr().err
    assert '"path":"/l/…"' in logged and "SeCrEtToKeN123" not in logged


async def test_an_opt_out_written_the_long_way_blocks_the_number(
    gateway: Gateway, account: Account
) -> None:
    await arrive(gateway, "STOP", sender="00447700900125")
    assert await gateway.db.read(
        lambda conn: opt_out_store.is_out(conn, account.id, "447700900125")
    )


async def test_one_inbound_message_per_channel_reference(
    gateway: Gateway, account: Account
) -> None:
    from sqlalchemy.exc import IntegrityError

    from smsgate.store import messages as message_store

    await gateway.record([InboundReceived("simulator", PHONE, NUMBER, "hi", channel_ref="r1")])
    row = (await gateway.db.read(lambda conn: conn.execute(select(messages)).all()))[0]
    copy = {**row._mapping, "uuid": "01a23399-0000-7000-8000-000000000001"}
    with pytest.raises(IntegrityError):
        await gateway.writer.run(lambda conn: message_store.insert(conn, [copy]))


async def test_an_opt_out_is_put_back_however_the_number_is_written(
    gateway: Gateway, account: Account
) -> None:
    await arrive(gateway, "STOP", sender="447700900126")

    def put_back(conn: Any) -> bool:
        return opt_out_store.remove(conn, account.id, "+44 7700 900126")

    assert await gateway.writer.run(put_back)
    assert not await gateway.db.read(
        lambda conn: opt_out_store.is_out(conn, account.id, "00447700900126")
    )

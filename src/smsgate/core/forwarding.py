"""What the gateway does with the answers to inbound forwarding (``core/inbound_routing.py``):
an application's 2xx delivers the message, and Message XML in it sends the replies; when
every attempt failed the message is undelivered."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import structlog
from sqlalchemy import Connection

from smsgate.core.errors import InvalidParameter
from smsgate.core.events import Event, Forwarded
from smsgate.core.inbound_routing import INBOUND
from smsgate.core.models import Callback
from smsgate.core.replies import BadReply, Reply, looks_like_xml, parse
from smsgate.core.submission import Prepared, Submission
from smsgate.store import messages as message_store
from smsgate.store import schema

if TYPE_CHECKING:
    from smsgate.core.gateway import Gateway

log = structlog.get_logger(__name__)

APPLICATION_REPLY = "application/reply"


class Forwarding:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        notifier = gateway.notifier
        notifier.judges[INBOUND] = self.judge_application
        notifier.settled[INBOUND] = self.settled

    async def judge_application(self, cb: Callback, response: httpx.Response) -> str | None:
        if not 200 <= response.status_code < 300:
            return f"HTTP {response.status_code}"
        body = response.content
        if cb.message_uuid and looks_like_xml(response.headers.get("content-type", ""), body):
            try:
                replies = parse(body)
            except BadReply as exc:
                # Delivered all the same: the application has the message.
                self.note_on_delivery(cb, "reply_refused", str(exc))
                return None
            await self.queue_replies(cb, replies, APPLICATION_REPLY)
        return None

    def settled(self, cb: Callback, delivered: bool, error: str) -> list[Event]:
        if not cb.message_uuid:
            return []
        detail = "" if delivered else f"gave up forwarding: {error}"
        return [Forwarded(cb.message_uuid, delivered, detail)]

    def note_on_delivery(self, cb: Callback, kind: str, detail: str) -> None:
        """A note on ``cb``'s message, written with ``cb``'s delivery."""
        uuid = cb.message_uuid
        if uuid is None:
            return
        now = self._gateway.clock.now_us()
        self._gateway.notifier.on_delivery(
            cb.id, lambda conn: message_store.note(conn, uuid, kind, detail, now)
        )

    async def queue_replies(self, cb: Callback, replies: list[Reply], submitted_by: str) -> None:
        """Have ``replies`` to ``cb``'s inbound message stored with ``cb``'s delivery, in one
        transaction: a handled message is neither handed over again nor its replies lost or
        sent twice. Replies the gateway refuses are noted on the inbound message."""
        gateway = self._gateway
        uuid = cb.message_uuid
        if uuid is None:
            return
        inbound = await gateway.db.read(lambda conn: message_store.by_uuid(conn, uuid))
        account = await gateway.accounts.by_id(inbound.account_id) if inbound else None
        if inbound is None or account is None:
            return
        scope = await gateway.accounts.scope(account, account.auth_id)
        ready: list[Prepared] = []
        for reply in replies:
            submission = Submission(
                src=reply.src or inbound.to_number,
                dst=reply.dst or inbound.from_number,
                text=reply.text,
                url=reply.url,
                method=reply.method,
                submitted_by=submitted_by,
                reply_to=uuid,
            )
            try:
                ready.append(await gateway.prepare_send(scope, submission, requester_ip=""))
            except InvalidParameter as exc:
                self.note_on_delivery(cb, "reply_refused", exc.message)
        if not ready:
            return
        rows = [row for prepared in ready for row in prepared.messages]
        callbacks = [row for prepared in ready for row in prepared.callbacks]
        sent = ", ".join(row["uuid"] for row in rows)
        now = gateway.clock.now_us()

        def work(conn: Connection) -> None:
            conn.execute(schema.messages.insert(), rows)
            if callbacks:
                conn.execute(schema.callbacks.insert(), callbacks)
            message_store.note(conn, uuid, "replied", sent, now)

        def after() -> None:
            gateway.metrics.messages.labels("outbound", "queued", "").inc(len(rows))
            gateway.dispatcher.notify()
            if callbacks:
                gateway.notifier.notify()

        gateway.notifier.on_delivery(cb.id, work, after)

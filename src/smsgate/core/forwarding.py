"""What the gateway does with the answers to inbound forwarding (``core/inbound_routing.py``):
an application's 2xx delivers the message, and Message XML in it sends the replies; when
every attempt failed the message is undelivered."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import structlog

from smsgate.core.errors import InvalidParameter
from smsgate.core.events import Forwarded
from smsgate.core.inbound_routing import INBOUND
from smsgate.core.models import Callback
from smsgate.core.replies import BadReply, Reply, looks_like_xml, parse
from smsgate.core.submission import Submission
from smsgate.store import messages as message_store

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
                await self.note(cb.message_uuid, "reply_refused", str(exc))
                return None
            await self.send_replies(cb.message_uuid, replies, APPLICATION_REPLY)
        return None

    async def settled(self, cb: Callback, delivered: bool, error: str) -> None:
        if cb.message_uuid:
            detail = "" if delivered else f"gave up forwarding: {error}"
            await self._gateway.sink.record(Forwarded(cb.message_uuid, delivered, detail))

    async def note(self, uuid: str, kind: str, detail: str) -> None:
        now = self._gateway.clock.now_us()
        await self._gateway.writer.run(
            lambda conn: message_store.note(conn, uuid, kind, detail, now)
        )

    async def send_replies(self, uuid: str, replies: list[Reply], submitted_by: str) -> list[str]:
        """Queue ``replies`` to the inbound message ``uuid``, as its account; refused ones
        are noted on the inbound message. Returns the replies' message_uuids."""
        gateway = self._gateway
        inbound = await gateway.db.read(lambda conn: message_store.by_uuid(conn, uuid))
        if inbound is None:
            return []
        account = await gateway.accounts.by_id(inbound.account_id)
        if account is None:
            return []
        scope = await gateway.accounts.scope(account, account.auth_id)
        sent: list[str] = []
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
                prepared = await gateway.accept(scope, submission, requester_ip="")
            except InvalidParameter as exc:
                await self.note(uuid, "reply_refused", exc.message)
                continue
            sent += prepared.uuids
        if sent:
            await self.note(uuid, "replied", ", ".join(sent))
        return sent

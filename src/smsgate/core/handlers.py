"""Keyword handlers: what the gateway does with the outbox rows of kind ``handler`` that a
matching keyword rule makes (``core/inbound_routing.py``), and ``link_opened`` ones.

A rule's handler is a webhook (an http or https URL) or ``python:<name>``, an entry point of
the ``smsgate.handlers`` group (``smsgate.handlers_api``). Either way it answers handled
(perhaps with a reply, perhaps with a one-time link in it), retry later, or fails; retries and
failures are tried again with backoff up to the rule's ``max_attempts``, then the message is
undelivered. Handled delivers the message: the row is settled once and never attempted again.

Webhooks answer (``read_answer``):

* 2xx with an empty body, ``handled`` or ``ok`` (plain text), or ``{"result": "handled"}``:
  handled. ``{"result": "handled", "reply": "Your wallpaper: {link}", "link": {"redirect":
  "https://…"} or {"content": "…", "content_type": "text/plain"}, "link_expires_in": 3600}``:
  handled, and the reply goes to the sender with ``{link}`` replaced by a new one-time link.
* ``{"result": "retry"}``, ``retry`` or ``send it again``, or HTTP 503 or 429: retry later.
* anything else (another status, an answer that says neither): a failed attempt.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Literal

import httpx
import orjson
import structlog

from smsgate.core.clock import to_datetime
from smsgate.core.events import Event, Forwarded
from smsgate.core.inbound_routing import HANDLER
from smsgate.core.links import LINK_OPENED, Links, LinkSpec, link_spec
from smsgate.core.models import Callback
from smsgate.core.notifier import BY_HTTP, Fallback
from smsgate.core.replies import Reply
from smsgate.handlers_api import (
    ENTRY_POINT_GROUP,
    Handled,
    HandlerContext,
    InboundMessage,
    LinkOpened,
    RetryLater,
)
from smsgate.store import messages as message_store

if TYPE_CHECKING:
    from smsgate.core.gateway import Gateway

log = structlog.get_logger(__name__)

PYTHON = "python:"
#: What an entry point name may be in a rule (``python:<name>``).
HANDLER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
MAX_ANSWER = 64 * 1024
HANDLED_WORDS = frozenset({"handled", "ok"})
RETRY_WORDS = frozenset({"retry", "send it again"})
RETRY_STATUSES = frozenset({429, 503})

Outcome = Literal["handled", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A handler's answer to one attempt. ``error`` says why it was not handled; a
    ``reply`` may name ``{link}``, replaced by the URL of the link ``link`` asks for."""

    outcome: Outcome
    error: str = ""
    reply: str | None = None
    link: LinkSpec | None = None


def _failed(error: str) -> Answer:
    return Answer("failed", error)


def _retry(reason: str = "") -> Answer:
    return Answer("retry", "retry requested" + (f": {reason}" if reason else ""))


def _snippet(text: str) -> str:
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


def _looks_like_json(content_type: str, body: bytes) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json") or body.lstrip()[:1] == b"{"


def read_answer(status: int, content_type: str, body: bytes) -> Answer:
    """What a webhook's answer means (pure)."""
    if status in RETRY_STATUSES:
        return _retry(f"HTTP {status}")
    if not 200 <= status < 300:
        return _failed(f"HTTP {status}")
    if len(body) > MAX_ANSWER:
        return _failed(f"the answer is larger than {MAX_ANSWER // 1024} KiB")
    if not body.strip():
        return Answer("handled")
    if _looks_like_json(content_type, body):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            shown = _snippet(body.decode("utf-8", "replace"))
            return _failed(f"the answer is not valid JSON: {shown}")
        return _json_answer(data)
    text = body.decode("utf-8", "replace").strip()
    word = " ".join(text.split()).casefold()
    if word in HANDLED_WORDS:
        return Answer("handled")
    if word in RETRY_WORDS:
        return _retry()
    return _failed(f"the answer says neither handled nor retry: {_snippet(text)}")


def _json_answer(data: Any) -> Answer:
    if not isinstance(data, dict):
        return _failed("the JSON answer is not an object")
    result = data.get("result")
    if not isinstance(result, str) or result.strip().lower() not in ("handled", "retry"):
        shown = _snippet(str(result))
        return _failed(f'the JSON answer\'s "result" is {shown}, not handled or retry')
    if result.strip().lower() == "retry":
        reason = data.get("reason")
        return _retry(reason[:200] if isinstance(reason, str) else "")
    reply, link = data.get("reply"), data.get("link")
    if reply is not None and not isinstance(reply, str):
        return _failed('the JSON answer\'s "reply" is not text')
    if link is None:
        if reply is not None and "{link}" in reply:
            return _failed('the reply names {link} but the answer has no "link"')
        return Answer("handled", reply=reply or None)
    if not isinstance(link, dict):
        return _failed('the JSON answer\'s "link" is not an object')
    if not reply or "{link}" not in reply:
        return _failed('the answer has a "link" but no "reply" that names {link}')
    content_type = link.get("content_type", "text/plain")
    try:
        spec = link_spec(
            redirect=link.get("redirect"),
            content=link.get("content"),
            content_type=content_type if isinstance(content_type, str) else "",
            expires_in=data.get("link_expires_in"),
        )
    except ValueError as exc:
        return _failed(str(exc))
    return Answer("handled", reply=reply, link=spec)


def result_answer(result: object) -> Answer:
    """What a Python handler's result means."""
    if result is None:
        return Answer("handled")
    if isinstance(result, Handled):
        if result.reply is not None and not isinstance(result.reply, str):
            return _failed("the handler's reply is not text")
        return Answer("handled", reply=result.reply or None)
    if isinstance(result, RetryLater):
        return _retry(str(result.reason)[:200])
    return _failed(f"the handler returned {type(result).__name__}, not Handled or RetryLater")


# --- Python handlers -------------------------------------------------------------------------


class HandlerNotFound(LookupError):
    pass


def installed_handlers() -> dict[str, str]:
    """Installed handler names and what they point at (``module:attribute``)."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_handler(name: str) -> Any:
    """The object the entry point ``name`` names (a class: an instance of it); HandlerNotFound
    saying why not."""
    found = {ep.value: ep for ep in entry_points(group=ENTRY_POINT_GROUP, name=name)}
    if not found:
        raise HandlerNotFound(
            f"no handler {name!r} is installed (entry point group {ENTRY_POINT_GROUP})"
        )
    if len(found) > 1:
        raise HandlerNotFound(
            f"handler {name!r} is registered by more than one package: {', '.join(sorted(found))}"
        )
    [entry] = found.values()
    try:
        obj = entry.load()
        if isinstance(obj, type):
            obj = obj()
    except Exception as exc:
        raise HandlerNotFound(
            f"handler {name!r} ({entry.value}) cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(obj):
        raise HandlerNotFound(f"handler {name!r} ({entry.value}) is not callable")
    return obj


async def run_handler(
    name: str, call: Callable[[], Awaitable[object]], limit: float
) -> tuple[object, str]:
    """``call()``'s result within ``limit`` seconds and ""; or None and why it failed."""
    try:
        async with asyncio.timeout(limit):
            return await call(), ""
    except TimeoutError:
        return None, f"handler {name} did not answer within {limit:g}s"
    except Exception as exc:
        log.warning("keyword handler raised", handler=name, exc_info=True)
        return None, f"handler {name} raised {type(exc).__name__}: {exc}"[:500]


def inbound_message(params: dict[str, Any], uuid: str, received_at: int) -> InboundMessage:
    rule = str(params.get("RuleID", ""))
    return InboundMessage(
        uuid=uuid,
        from_number=str(params.get("From", "")),
        to_number=str(params.get("To", "")),
        text=str(params.get("Text", "")),
        keyword=str(params.get("Keyword", "")),
        rule_id=int(rule) if rule.isdigit() else 0,
        received_at=to_datetime(received_at),
    )


def link_opened_event(params: dict[str, Any], opened_at: datetime) -> LinkOpened:
    def number(key: str) -> int:
        value = str(params.get(key, ""))
        return int(value) if value.isdigit() else 0

    return LinkOpened(
        link_id=number("LinkID"),
        message_uuid=str(params.get("MessageUUID", "")),
        rule_id=number("RuleID"),
        opened_at=opened_at,
        opened_ip=str(params.get("OpenedIP", "")),
        user_agent=str(params.get("UserAgent", "")),
    )


def _opened_at(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


class _Context:
    """A handler's context during one attempt: its links are made for this message."""

    def __init__(self, links: Links, account_id: int, uuid: str, rule_id: int) -> None:
        self._links = links
        self._account_id = account_id
        self._uuid = uuid
        self._rule_id = rule_id

    async def link(
        self,
        *,
        redirect: str | None = None,
        content: str | None = None,
        content_type: str = "text/plain",
        expires_in: int | None = None,
    ) -> str:
        spec = link_spec(
            redirect=redirect, content=content, content_type=content_type, expires_in=expires_in
        )
        return await self._links.create(
            spec, account_id=self._account_id, message_uuid=self._uuid, rule_id=self._rule_id
        )


class Handlers:
    """Wires keyword handlers into the notifier (``gateway.handlers``)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self.links = Links(gateway)
        self._loaded: dict[str, Any] = {}
        notifier = gateway.notifier
        notifier.judges[HANDLER] = self.judge
        notifier.attempters[HANDLER] = self.attempt
        notifier.settled[HANDLER] = self.settled
        notifier.attempters[LINK_OPENED] = self.attempt_link_opened

    @property
    def timeout(self) -> float:
        return self._gateway.settings.callbacks.timeout

    def handler(self, name: str) -> Any:
        """The handler ``name``, loaded once (a failure is not remembered: installing the
        package and restarting is enough)."""
        if name not in self._loaded:
            self._loaded[name] = load_handler(name)
        return self._loaded[name]

    # webhooks ------------------------------------------------------------------------------

    async def judge(self, cb: Callback, response: httpx.Response) -> str | None:
        answer = read_answer(
            response.status_code, response.headers.get("content-type", ""), response.content
        )
        return await self._act(cb, answer)

    async def _act(self, cb: Callback, answer: Answer) -> str | None:
        """Carry out a handled answer (its reply, its link); None, or why not handled."""
        if answer.outcome != "handled":
            return answer.error
        if answer.reply and cb.message_uuid:
            params = orjson.loads(cb.params)
            rule_id = str(params.get("RuleID", ""))
            text = answer.reply
            if answer.link is not None:
                url = await self.links.create(
                    answer.link,
                    account_id=cb.account_id,
                    message_uuid=cb.message_uuid,
                    rule_id=int(rule_id) if rule_id.isdigit() else None,
                )
                text = text.replace("{link}", url)
            forwarding = self._gateway.forwarding
            await forwarding.queue_replies(cb, [Reply(text)], f"handler/{rule_id}")
        return None

    def settled(self, cb: Callback, delivered: bool, error: str) -> list[Event]:
        if not cb.message_uuid:
            return []
        detail = "" if delivered else f"gave up handing over to the handler: {error}"
        return [Forwarded(cb.message_uuid, delivered, detail)]

    # Python handlers -----------------------------------------------------------------------

    async def attempt(self, cb: Callback) -> str | Literal[Fallback.BY_HTTP] | None:
        if not cb.url.startswith(PYTHON):
            return BY_HTTP  # a webhook: the notifier posts it, and judge() reads it
        name = cb.url.removeprefix(PYTHON)
        try:
            handler = self.handler(name)
        except HandlerNotFound as exc:
            return str(exc)
        params = orjson.loads(cb.params)
        uuid = cb.message_uuid or str(params.get("MessageUUID", ""))
        gateway = self._gateway
        stored = await gateway.db.read(lambda conn: message_store.by_uuid(conn, uuid))
        received = stored.created_at if stored is not None else gateway.clock.now_us()
        message = inbound_message(params, uuid, received)
        context: HandlerContext = _Context(self.links, cb.account_id, uuid, message.rule_id)
        result, error = await run_handler(name, lambda: handler(message, context), self.timeout)
        if error:
            return error
        return await self._act(cb, result_answer(result))

    async def attempt_link_opened(self, cb: Callback) -> str | Literal[Fallback.BY_HTTP] | None:
        if not cb.url.startswith(PYTHON):
            return BY_HTTP  # a webhook: posted like any callback, 2xx delivers it
        name = cb.url.removeprefix(PYTHON)
        try:
            hook = getattr(self.handler(name), "link_opened", None)
        except HandlerNotFound as exc:
            return str(exc)
        if hook is None:
            return None  # the handler does not want to know
        params = orjson.loads(cb.params)
        event = link_opened_event(params, _opened_at(str(params.get("OpenedAt", ""))))
        _, error = await run_handler(f"{name}.link_opened", lambda: hook(event), self.timeout)
        return error or None

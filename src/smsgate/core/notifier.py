"""The notifier: sends what the callback outbox holds, signed, retrying with backoff.

Status callbacks go as form data (POST) or query parameters (GET) with Plivo's V2 and V3
signature headers. Async-API responses (``callback_url``) go as JSON (POST) or query parameters
(GET). A 2xx answer delivers a callback; anything else is tried again after an exponentially
growing delay, until ``max_attempts`` (a row may carry its own), or until the row's
``deadline`` when it has one (inbound forwarding: 24 hours by default).

Other parts of the gateway may take over a kind of callback: ``judges[kind]`` decides from the
answer whether it was delivered (and acts on it, say by sending the reply an application
answered with), ``attempters[kind]`` makes the attempt itself (a handler in this process), and
``settled[kind]`` names the events (``Forwarded``) that record a callback delivered or given up.
What a judge or attempter wants done when its callback is delivered (the replies it queues)
it hands to ``on_delivery``: that, the settled events and the callback's own outcome are
written in one transaction, so a crash can neither lose the reply of a handled message nor
hand the message to its handler again. An attempter that returns
``BY_HTTP`` leaves that callback to the HTTP attempt (and its kind's judge): for a kind whose
callbacks go to webhooks and to in-process handlers alike.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import orjson
import structlog
from sqlalchemy import Connection

from smsgate import __version__
from smsgate.config import CallbackSettings
from smsgate.core.accounts import AccountDirectory
from smsgate.core.clock import Clock, seconds
from smsgate.core.events import Event
from smsgate.core.loops import finish, run_forever
from smsgate.core.metrics import Metrics
from smsgate.core.models import Callback
from smsgate.core.record import Outcome
from smsgate.core.signing import signature_headers
from smsgate.store import outbox
from smsgate.store.writer import Writer

log = structlog.get_logger(__name__)

#: Whether an answer delivered the callback: None if so, else why not.
Judge = Callable[[Callback, httpx.Response], Awaitable[str | None]]


class Fallback(Enum):
    BY_HTTP = "by HTTP"


#: What an attempter answers to have the notifier make the HTTP attempt after all.
BY_HTTP = Fallback.BY_HTTP
#: An attempt made some other way than HTTP: None when delivered, else why not (or BY_HTTP).
Attempter = Callable[[Callback], Awaitable[str | Literal[Fallback.BY_HTTP] | None]]
#: The events that record a callback delivered (True) or given up (False), with the error.
Settled = Callable[[Callback, bool, str], list[Event]]
#: Writes done with a delivered callback's outcome, in its transaction; then ``after`` runs.
Work = Callable[[Connection], None]
#: Applies events in a transaction (``core/record.apply``), and publishes what it did.
RecordIn = Callable[[Connection, list[Event]], Outcome]
Publish = Callable[[Outcome], None]

USER_AGENT = f"smsgate/{__version__}"


def _with_query(url: str, params: dict[str, Any]) -> str:
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params, doseq=True)


class Notifier:
    def __init__(
        self,
        *,
        writer: Writer,
        clock: Clock,
        node_id: str,
        accounts: AccountDirectory,
        settings: CallbackSettings,
        metrics: Metrics,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._writer = writer
        self._clock = clock
        self._node = node_id
        self._accounts = accounts
        self._settings = settings
        self._metrics = metrics
        self._client = client or httpx.AsyncClient(
            timeout=settings.timeout,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=settings.concurrency),
        )
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._random = random.Random()  # noqa: S311 - jitter, not security
        self.judges: dict[str, Judge] = {}
        self.attempters: dict[str, Attempter] = {}
        self.settled: dict[str, Settled] = {}
        self.record_in: RecordIn | None = None
        self.publish: Publish | None = None
        self._on_delivery: dict[int, list[tuple[Work, Callable[[], None] | None]]] = {}

    def on_delivery(
        self, callback_id: int, work: Work, after: Callable[[], None] | None = None
    ) -> None:
        """Have ``work`` written with callback ``callback_id``'s outcome, if it is delivered
        by the attempt under way (and ``after`` run once that is committed)."""
        self._on_delivery.setdefault(callback_id, []).append((work, after))

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await run_forever(self.tick, self._wake, self._settings.poll_interval, "notifier")

    async def drain(self, grace: float = 10.0) -> None:
        """Wait for attempts in flight to finish and be recorded."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace)

    async def close(self, grace: float = 10.0) -> None:
        """Let attempts in flight finish for ``grace`` seconds, cancel the rest (they are
        tried again after a restart), then close the HTTP client."""
        await finish(self._in_flight, grace)
        await self._client.aclose()

    async def tick(self) -> bool:
        free = self._settings.concurrency - len(self._in_flight)
        if free <= 0:
            return False
        want = min(free, self._settings.batch_size)
        now = self._clock.now_us()
        batch = await self._writer.run(lambda conn: outbox.claim(conn, self._node, now, want))
        for callback in batch:
            task = asyncio.create_task(self._deliver(callback))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(batch) == want

    def _backoff(self, attempts: int) -> int:
        delay = min(self._settings.backoff_base * 2 ** (attempts - 1), self._settings.backoff_max)
        return seconds(delay * self._random.uniform(0.9, 1.1))

    async def _deliver(self, cb: Callback) -> None:
        status: int | None = None
        error = ""
        try:
            attempter = self.attempters.get(cb.kind)
            made = BY_HTTP if attempter is None else await attempter(cb)
            if made is not BY_HTTP:
                error = made or ""
            else:
                response = await self._attempt(cb)
                status = response.status_code
                judge = self.judges.get(cb.kind)
                if judge is not None:
                    error = await judge(cb, response) or ""
                elif not 200 <= status < 300:
                    error = f"HTTP {status}"
        except (httpx.HTTPError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:
            log.exception("callback attempt raised", callback_id=cb.id)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._wake.set()
        attempts = cb.attempts + 1
        now = self._clock.now_us()
        if cb.deadline is not None:
            gave_up = now + self._backoff(attempts) > cb.deadline
        else:
            gave_up = attempts >= (cb.max_attempts or self._settings.max_attempts)
        if not error:
            state, outcome, next_at = "delivered", "delivered", now
        elif gave_up:
            state, outcome, next_at = "failed", "failed", now
        else:
            state, outcome, next_at = "pending", "retry", now + self._backoff(attempts)
        self._metrics.callbacks.labels(outcome).inc()
        if error:
            log.info(
                "callback attempt failed",
                callback_id=cb.id,
                message_uuid=cb.message_uuid,
                attempts=attempts,
                error=error,
                will_retry=state == "pending",
            )
        result = {
            "b_id": cb.id,
            "b_state": state,
            "b_attempts": attempts,
            "b_last_status": status,
            "b_last_error": error[:500],
            "b_updated_at": now,
            "b_next_attempt_at": next_at,
        }
        works = self._on_delivery.pop(cb.id, [])
        if state != "delivered":
            works = []  # what a refused or failed attempt asked for is not done
        hook = self.settled.get(cb.kind)
        events = hook(cb, state == "delivered", error) if hook and state != "pending" else []
        record_in = self.record_in

        def settle(conn: Connection) -> Outcome | None:
            outbox.finish(conn, [result])
            for work, _ in works:
                work(conn)
            return record_in(conn, events) if events and record_in is not None else None

        recorded = await self._writer.run(settle)
        if recorded is not None and self.publish is not None:
            self.publish(recorded)
        for _, after in works:
            if after is not None:
                after()

    async def _attempt(self, cb: Callback) -> httpx.Response:
        account = await self._accounts.by_id(cb.account_id)
        if account is None:
            raise ValueError(f"account {cb.account_id} no longer exists")
        payload = orjson.loads(cb.params)
        method = cb.method.upper()
        if cb.kind == "api_response" and method == "POST":
            headers = signature_headers(account.auth_token, method, cb.url, {})
            headers["Content-Type"] = "application/json"
            return await self._client.post(cb.url, content=orjson.dumps(payload), headers=headers)
        params = {key: value for key, value in payload.items() if value is not None}
        signed = {
            key: [str(item) for item in value] if isinstance(value, list) else str(value)
            for key, value in params.items()
        }
        headers = signature_headers(account.auth_token, method, cb.url, signed)
        if method == "GET":
            return await self._client.get(_with_query(cb.url, signed), headers=headers)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(signed, doseq=True)
        return await self._client.post(cb.url, content=body, headers=headers)

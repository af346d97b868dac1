"""Sending planned messages through a gateway's Plivo-compatible API, a few requests at a time.

One request per destination (``POST /v1/Account/{auth_id}/Message/``), so that each answer
belongs to one row: a refusal (``400``, ``403``) names exactly the number it refuses. A ``429``
pauses every worker for its ``Retry-After`` and the same request is tried again, a bounded
number of times. ``401`` (wrong credentials), ``404`` (no such account or route) and a gateway
that cannot be reached stop the run: every request would fail the same way. A request whose
answer is lost (a timeout, a ``5xx``) is ``failed``: it may or may not have been queued, and
it is not retried, so that nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from smsgate import __version__
from smsgate.operator.templates import Planned

DEFAULT_CONCURRENCY = 8
#: Attempts of one request answered 429, and the longest Retry-After honoured.
MAX_ATTEMPTS = 10
MAX_RETRY_AFTER = 600.0
#: Waits when a 429 carries no usable Retry-After: doubling from the first.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0


class Status(StrEnum):
    QUEUED = "queued"
    INVALID = "invalid"  # not sent: not a number the gateway would take
    REFUSED = "refused"  # the gateway refused it (400, 403, or 429 too long)
    FAILED = "failed"  # no answer, or a server error: it may or may not be queued
    NOT_SENT = "not_sent"  # the run stopped before it (wrong credentials, Ctrl-C, …)


@dataclass(slots=True)
class Result:
    index: int  # position in the plan
    where: str
    number: str
    status: Status
    message_uuid: str | None = None
    units: int | None = None
    encoding: str | None = None
    reason: str = ""
    http_status: int | None = None
    attempts: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "number": self.number,
            "status": self.status.value,
            "message_uuid": self.message_uuid,
            "units": self.units,
            "encoding": self.encoding,
            "reason": self.reason or None,
            "http_status": self.http_status,
            "attempts": self.attempts,
        }


@dataclass(frozen=True, slots=True)
class Credentials:
    auth_id: str
    auth_token: str


@dataclass(slots=True)
class Run:
    """The results so far, in plan order; rows not reached yet are None."""

    results: list[Result | None]
    stopped: str = ""  # why the run stopped early, "" when it did not

    def finished(self, planned: Sequence[Planned]) -> list[Result]:
        """Every row's result; rows never reached are NOT_SENT."""
        reason = self.stopped or "interrupted before it was sent"
        return [
            result or Result(i, item.where, item.number, Status.NOT_SENT, reason=reason)
            for i, (result, item) in enumerate(zip(self.results, planned, strict=True))
        ]


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_text(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    text = answer.text.strip()
    return text[:200] if text else answer.reason_phrase


class Sender:
    """Sends planned messages with at most ``concurrency`` requests in flight."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        src: str,
        *,
        params: dict[str, Any] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = 30.0,
        max_attempts: int = MAX_ATTEMPTS,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.src = src
        self.params = params or {}
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.transport = transport
        self.sleep = sleep
        self._resume_at = 0.0  # loop time before which no request starts (after a 429)
        self._backoff = BACKOFF_FIRST

    @property
    def path(self) -> str:
        return f"/v1/Account/{self.credentials.auth_id}/Message/"

    async def send_all(
        self,
        planned: Sequence[Planned],
        run: Run,
        on_result: Callable[[Result], None] = lambda _: None,
    ) -> None:
        """Send every valid row of ``planned``, filling ``run.results`` (in plan order) as
        answers come; rows with an invalid number are INVALID at once."""
        pending: asyncio.Queue[int] = asyncio.Queue()
        for index, item in enumerate(planned):
            if item.destination is None:
                result = Result(index, item.where, item.number, Status.INVALID, reason=item.invalid)
                run.results[index] = result
                on_result(result)
            else:
                pending.put_nowait(index)
        stop = asyncio.Event()
        async with httpx.AsyncClient(
            base_url=self.base_url,
            auth=(self.credentials.auth_id, self.credentials.auth_token),
            timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
            headers={"User-Agent": f"smsgate-cli/{__version__}"},
            transport=self.transport,
        ) as client:

            async def worker() -> None:
                while not stop.is_set():
                    try:
                        index = pending.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    item = planned[index]
                    try:
                        result = await self._send_one(client, index, item)
                    except _Stop as exc:
                        if not run.stopped:
                            run.stopped = exc.reason
                        stop.set()
                        result = Result(
                            index, item.where, item.number, Status.NOT_SENT, reason=exc.reason
                        )
                    run.results[index] = result
                    on_result(result)

            workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
            try:
                await asyncio.gather(*workers)
            finally:
                for task in workers:
                    task.cancel()
        for index, item in enumerate(planned):
            if run.results[index] is None:
                result = Result(index, item.where, item.number, Status.NOT_SENT, reason=run.stopped)
                run.results[index] = result
                on_result(result)

    async def _wait_for_turn(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self._resume_at - loop.time()
            if delay <= 0:
                return
            await self.sleep(delay)

    async def _send_one(self, client: httpx.AsyncClient, index: int, item: Planned) -> Result:
        body = {"src": self.src, "dst": item.dst, "text": item.text, **self.params}
        result = Result(index, item.where, item.number, Status.FAILED)
        loop = asyncio.get_running_loop()
        while True:
            await self._wait_for_turn()
            result.attempts += 1
            try:
                answer = await client.post(self.path, json=body)
            except httpx.ConnectError as exc:
                raise _Stop(f"no gateway answers at {self.base_url}: {exc}") from None
            except httpx.TimeoutException:
                result.reason = (
                    f"no answer within {self.timeout:g} s: it may or may not have been queued"
                )
                return result
            except httpx.HTTPError as exc:
                result.reason = f"the request failed: {exc}: it may or may not have been queued"
                return result
            result.http_status = answer.status_code
            status = answer.status_code
            if status == 429:
                wait = retry_after(answer.headers.get("Retry-After"))
                if wait is None:
                    wait = self._backoff
                    self._backoff = min(BACKOFF_MAX, self._backoff * 2)
                if result.attempts >= self.max_attempts or wait > MAX_RETRY_AFTER:
                    result.status = Status.REFUSED
                    result.reason = (
                        f"429 rate limited {result.attempts} times: {_error_text(answer)}"
                    )
                    return result
                self._resume_at = max(self._resume_at, loop.time() + wait)
                continue
            self._backoff = BACKOFF_FIRST
            if status in (401, 404):
                raise _Stop(f"{status} from the gateway: {_error_text(answer)}")
            if status == 202:
                return self._queued(result, item, answer)
            if 400 <= status < 500:
                result.status = Status.REFUSED
                result.reason = f"{status} {_error_text(answer)}"
                return result
            result.reason = f"{status} {_error_text(answer)}: it may or may not have been queued"
            return result

    @staticmethod
    def _queued(result: Result, item: Planned, answer: httpx.Response) -> Result:
        try:
            body = answer.json()
        except ValueError:
            body = {}
        uuids = body.get("message_uuid") if isinstance(body, dict) else None
        if isinstance(uuids, list) and uuids:
            result.status = Status.QUEUED
            result.message_uuid = str(uuids[0])
            units = body.get("units") or [None]
            encodings = body.get("encoding") or [None]
            result.units = units[0] if isinstance(units, list) else None
            result.encoding = encodings[0] if isinstance(encodings, list) else None
            return result
        if isinstance(body, dict) and body.get("invalid_number"):
            result.status = Status.INVALID
            result.reason = "the gateway found the number invalid"
            return result
        result.reason = "202 without a message_uuid: it may or may not have been queued"
        return result


@dataclass(slots=True)
class Counts:
    queued: int = 0
    invalid: int = 0
    refused: int = 0
    failed: int = 0
    not_sent: int = 0
    #: Refused and failed rows by reason, in order of first appearance.
    reasons: dict[str, list[Result]] = field(default_factory=dict)

    @classmethod
    def of(cls, results: Sequence[Result]) -> Counts:
        counts = cls()
        for result in results:
            name = result.status.value
            setattr(counts, name, getattr(counts, name) + 1)
            if result.status in (Status.REFUSED, Status.FAILED, Status.NOT_SENT):
                counts.reasons.setdefault(f"{result.status.value}: {result.reason}", []).append(
                    result
                )
        return counts

    @property
    def ok(self) -> bool:
        """Whether the run succeeded: nothing refused, failed or left unsent, and something
        was queued."""
        return self.queued > 0 and not (self.refused or self.failed or self.not_sent)

    def as_json(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "invalid": self.invalid,
            "refused": self.refused,
            "failed": self.failed,
            "not_sent": self.not_sent,
        }

"""ASGI middleware: Plivo's optional trailing slash, and the access log."""

from __future__ import annotations

import functools
import re
import sys
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SECRET_KEY = re.compile(r"token|password|secret|key|auth", re.IGNORECASE)


#: One-time link tokens are secrets: access logs show ``/l/…``.
_LINK = re.compile(r"^/l/[^/]+")


class TrailingSlash:
    """Serve ``/v1/…/Message`` as ``/v1/…/Message/``: Plivo documents both forms."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(self.prefix) and not path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path + "/"
                raw = scope.get("raw_path")
                if raw is not None:
                    scope["raw_path"] = raw + b"/"
        await self.app(scope, receive, send)


@functools.lru_cache(maxsize=4)
def _second(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso(now: float) -> str:
    return f"{_second(int(now)).replace(' ', 'T')}.{int(now % 1 * 1e6):06d}Z"


def masked_query(query: str) -> str:
    """The query string with the values of secret-looking parameters hidden."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if _SECRET_KEY.search(k) else v) for k, v in pairs])


class AccessLog:
    """One line per request, written straight to stderr: the access log is on the hot path,
    so it is rendered here rather than through the logging chain (the same fields, JSON or
    console form)."""

    def __init__(self, app: ASGIApp, fmt: str = "console") -> None:
        self.app = app
        self.json = fmt == "json"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self._write(scope, status, (time.perf_counter() - started) * 1000)

    def _write(self, scope: Scope, status: int, ms: float) -> None:
        query = masked_query(scope.get("query_string", b"").decode("latin-1"))
        path = _LINK.sub("/l/…", scope["path"]) + (f"?{query}" if query else "")
        client = scope.get("client")
        host = client[0] if client else ""
        now = time.time()
        if self.json:
            line = orjson.dumps(
                {
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "ms": round(ms, 2),
                    "client": host,
                    "event": "request",
                    "level": "info",
                    "logger": "smsgate.access",
                    "timestamp": _iso(now),
                }
            ).decode()
        else:
            stamp = _second(int(now))
            line = (
                f"{stamp} [info     ] request {scope['method']} {path} status={status} "
                f"ms={ms:.2f} client={host}"
            )
        sys.stderr.write(line + "\n")

"""A lean ASGI path for the hottest routes.

FastAPI's routing, dependency solving and middleware cost more than validating and storing a
message. Routes listed here are served straight from the ASGI scope by the same handler
functions FastAPI routes to, so behaviour and the OpenAPI description stay one; every other
request goes on to FastAPI.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from smsgate.api.errors import ApiError, envelope, refusal_status, store_error
from smsgate.core.errors import InvalidParameter

Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    method: str
    path: re.Pattern[str]
    handler: Handler


class FastPath:
    def __init__(self, app: ASGIApp, routes: Sequence[FastRoute]) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            for route in self.routes:
                match = route.path.fullmatch(path) if route.method == method else None
                if match is not None:
                    request = Request(scope, receive)
                    try:
                        response = await route.handler(request, **match.groupdict())
                    except ApiError as exc:
                        response = envelope(request, exc.status, exc.message, exc.headers)
                    except InvalidParameter as exc:
                        response = envelope(request, refusal_status(exc), exc.message)
                    except DBAPIError as exc:
                        response = store_error(request, exc)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

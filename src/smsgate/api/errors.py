"""Errors in each face's own envelope.

Plivo routes (``/v1/…``) answer ``{"api_id": …, "error": …}``; every other route ``{"error": …}``.
No input produces a stack trace or a 500: unexpected errors are logged and answered with a
generic message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from smsgate.api.responses import JSONResponse
from smsgate.core.errors import Forbidden, InvalidParameter
from smsgate.core.ids import api_id
from smsgate.store.database import store_unavailable

log = structlog.get_logger(__name__)

PLIVO_PREFIX = "/v1/"


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _is_plivo_list(request: Request) -> bool:
    """A GET on a collection (``…/Message/``): its last segment is a capitalised name."""
    last = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    return request.method == "GET" and last[:1].isupper() and not last[:2].isupper()


def envelope(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body: dict[str, Any]
    if request.url.path.startswith(PLIVO_PREFIX):
        body = {"api_id": api_id(), "error": message}
        if _is_plivo_list(request):
            # Plivo's SDKs read ``objects`` of a list response before its status; without
            # it they crash instead of raising the error.
            body["objects"] = []
    else:
        body = {"error": message}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


_STATUS_TEXT = {
    404: "not found: there is no resource at this path",
    401: "authentication failed",
}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return envelope(request, exc.status, exc.message, exc.headers)


async def _invalid_parameter(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidParameter)
    return envelope(request, refusal_status(exc), exc.message)


def refusal_status(exc: InvalidParameter) -> int:
    """403 for what the sender may not do (as Plivo answers a geo-permission refusal), 400
    for a bad request."""
    return 403 if isinstance(exc, Forbidden) else 400


_PATH_PARAM = re.compile(r"\\{[^/]+?\\}")


def _allowed_methods(request: Request) -> str:
    """Every method the API description lists for this path (the router names only one)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = _PATH_PARAM.sub("[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods.update(method.upper() for method in operations)
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        message = f"method {request.method} is not allowed on this resource"
        allowed = _allowed_methods(request)
        return envelope(request, 405, message, {"Allow": allowed} if allowed else exc.headers)
    else:
        message = _STATUS_TEXT.get(exc.status_code, str(exc.detail))
    return envelope(request, exc.status_code, message, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
    return envelope(request, 400, f"invalid {where}: {first.get('msg', 'bad value')}")


def store_error(request: Request, exc: DBAPIError) -> Response:
    """The answer when the database fails: 503 if it is unavailable, else 500."""
    if store_unavailable(exc):
        log.error("store unavailable", path=request.url.path, error=str(exc.orig))
        return envelope(
            request,
            503,
            "the message store is unavailable: the request was not confirmed as stored; try again",
            {"Retry-After": "5"},
        )
    log.error("store refused a statement", path=request.url.path, error=str(exc.orig))
    return envelope(request, 500, "internal server error")


async def _store_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    return store_error(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", path=request.url.path, exc_info=exc)
    return envelope(request, 500, "internal server error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InvalidParameter, _invalid_parameter)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _store_error)
    app.add_exception_handler(Exception, _unexpected)

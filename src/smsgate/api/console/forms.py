"""Console forms: how a POST is read and checked before its handler runs.

``form_action(router, path, on_error=...)`` registers a handler for ``POST path``. Before
the handler runs, in this order:

1. the caller must be an admin (``401`` page);
2. a browser's ``Origin`` or ``Referer`` must name this site (``403`` page);
3. the body must be ``application/x-www-form-urlencoded`` (or untyped; else ``415``) of at most
   ``MAX_FORM`` bytes (``413``), in UTF-8 (``400``);
4. it must carry this admin's CSRF token (``csrf.py``; ``403`` page).

Any of these refusals changes nothing. The handler gets the admin and the ``Form``; it
answers with ``rendering.redirect`` (post, redirect, get) and a flash message, or raises
``FormError``, which shows the form's page again (``on_error``) with the error in plain
words, status ``400``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.bodies import read_body
from smsgate.api.console import csrf
from smsgate.api.console.auth import Admin, CurrentAdmin
from smsgate.api.console.errors import PageError
from smsgate.api.console.rendering import now_seconds
from smsgate.api.errors import ApiError

MAX_FORM = 64 * 1024
MAX_FIELDS = 1000
FORM_TYPE = "application/x-www-form-urlencoded"
_NOTHING_CHANGED = "Nothing was changed."


class FormError(ValueError):
    """What is wrong with a form, in words its user understands."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Form:
    """A form's fields (the first value of each), read with checks that raise FormError."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.values: dict[str, str] = {}
        for name, value in pairs:
            self.values.setdefault(name, value)

    def raw(self, name: str) -> str:
        return self.values.get(name, "")

    def text(self, name: str, label: str, *, max_length: int = 200, multiline: bool = False) -> str:
        value = self.raw(name).strip()
        if len(value) > max_length:
            raise FormError(f"{label}: at most {max_length} characters")
        allowed = "\n\r\t" if multiline else ""
        if any(ord(char) < 32 and char not in allowed for char in value):
            raise FormError(f"{label}: no control characters")
        return value

    def number(
        self, name: str, label: str, *, low: int, high: int, default: int | None = None
    ) -> int | None:
        """A whole number from ``low`` to ``high``; ``default`` when the field is empty."""
        value = self.raw(name).strip().replace(",", "").replace("_", "")
        if not value:
            return default
        if not value.isdigit() or len(value) > 12:
            raise FormError(f"{label}: a whole number from {low:,} to {high:,}")
        number = int(value)
        if not low <= number <= high:
            raise FormError(f"{label}: a whole number from {low:,} to {high:,}, not {number:,}")
        return number

    def flag(self, name: str) -> bool:
        """A checkbox: ticked, or not sent at all."""
        return self.raw(name).lower() in ("1", "on", "true", "yes")


FormHandler = Callable[[Request, Admin, Form], Awaitable[Response]]
#: Shows a form's page again with an error: (request, admin, form, error) -> the page.
ErrorPage = Callable[[Request, Admin, Form, str], Awaitable[Response]]

#: Every path served by ``form_action``, for the tests that check each form's protection.
FORM_PATHS: list[str] = []


def _refused(status: int, title: str, why: str) -> PageError:
    return PageError(status, title, f"{why[:1].upper()}{why[1:]}. {_NOTHING_CHANGED}")


async def read_form(request: Request, admin: Admin) -> Form:
    """The form of a POST, once it is checked (see the module's docstring)."""
    why = csrf.cross_site(request)
    if why is not None:
        raise _refused(403, "Form refused", why)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in (FORM_TYPE, ""):
        raise _refused(415, "Form refused", f"a form must be sent as {FORM_TYPE}")
    try:
        body = await read_body(request, MAX_FORM)
    except ApiError as exc:
        if exc.status != 413:
            raise
        raise _refused(
            413, "Form too large", f"a form may be at most {MAX_FORM // 1024} KiB"
        ) from None
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise _refused(400, "Form refused", "the form is not UTF-8") from None
    except ValueError:
        raise _refused(
            400, "Form refused", f"a form may have at most {MAX_FIELDS} fields"
        ) from None
    form = Form(pairs)
    why = csrf.refusal(admin, form.values.get(csrf.FIELD), now_seconds(request))
    if why is not None:
        raise _refused(403, "Form refused", f"{why}; reload the page and try again")
    return form


def form_action(
    router: APIRouter, path: str, *, on_error: ErrorPage
) -> Callable[[FormHandler], FormHandler]:
    """Serve ``POST path`` with the decorated handler, behind every check of ``read_form``.
    Path parameters are in ``request.path_params``."""

    def register(handler: FormHandler) -> FormHandler:
        async def endpoint(request: Request, admin: CurrentAdmin) -> Response:
            form = await read_form(request, admin)
            try:
                return await handler(request, admin, form)
            except FormError as exc:
                return await on_error(request, admin, form, exc.message)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        router.add_api_route(path, endpoint, methods=["POST"], include_in_schema=False)
        FORM_PATHS.append(router.prefix + path)
        return handler

    return register

"""Rendering console pages: Jinja2 templates from ``smsgate/web/console`` (autoescaped, so
nothing a user or a message put in a field becomes markup), the headers every page carries,
error pages, and the redirect that ends a form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from smsgate.api.console import csrf, flash
from smsgate.api.console.auth import Admin
from smsgate.api.console.errors import PageError
from smsgate.api.console.nav import NAV
from smsgate.core.clock import US_PER_SECOND, to_datetime
from smsgate.core.gateway import Gateway

#: No script or style but the console's own files; no framing; forms post only here.
POLICY = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Same-origin requests keep their Referer (and a real Origin), which forms are checked by.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(us: int | None) -> str:
    """A stored time as the console shows it (UTC, to the second)."""
    if us is None:
        return ""
    return to_datetime(us).strftime("%Y-%m-%d %H:%M:%S")


_env = Environment(
    loader=PackageLoader("smsgate.web", "console"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = when


def render(
    template: str, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any
) -> HTMLResponse:
    body = _env.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers={**HEADERS, **(headers or {})})


def now_seconds(request: Request) -> int:
    gateway: Gateway = request.app.state.gateway
    return gateway.clock.now_us() // US_PER_SECOND


async def page(
    request: Request,
    admin: Admin,
    template: str,
    *,
    title: str,
    section: str,
    status: int = 200,
    error: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A console page: ``template`` (which extends ``base.html``) with the menu, this
    admin's CSRF token for its forms, the flash message a redirect brought, and ``error``."""
    cookie = request.cookies.get(flash.COOKIE)
    shown = flash.unseal(admin, cookie) if cookie else None
    response = render(
        template,
        status,
        title=title,
        section=section,
        nav=NAV,
        admin=admin.username,
        csrf_field=csrf.FIELD,
        csrf_token=csrf.issue(admin, now_seconds(request)),
        flash=shown,
        error=error,
        **context,
    )
    if cookie is not None:
        response.delete_cookie(flash.COOKIE, path="/admin", httponly=True, samesite="strict")
    return response


def error_page(error: PageError) -> HTMLResponse:
    return render(
        "error.html",
        error.status,
        error.headers,
        title=error.title,
        message=error.message,
        code=error.status,
        section="",
        nav=(),
        admin=None,
        flash=None,
        error=None,
    )


async def page_error(_: Request, exc: Exception) -> Response:
    """The application's handler for ``PageError``."""
    assert isinstance(exc, PageError)
    return error_page(exc)


def redirect(
    request: Request, admin: Admin, to: str, notice: flash.Flash | None = None
) -> Response:
    """``303 See Other`` to a console page (the end of every form), with a flash message."""
    if urlsplit(to).netloc or not to.startswith("/admin"):
        raise ValueError(f"not a console page: {to!r}")
    response = RedirectResponse(to, status_code=303, headers=HEADERS)
    if notice is not None:
        response.set_cookie(
            flash.COOKIE,
            flash.seal(admin, notice),
            max_age=flash.MAX_AGE_SECONDS,
            path="/admin",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
    return response

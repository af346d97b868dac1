"""``/admin/limits``: rate limits (see ``core/pacing.py``). The gateway-wide defaults of the
settings file's ``[limits]`` and each channel's ``send_rate`` (read only), how many messages
pacing has put back in the queue, and each account's own limits, which an admin sets here:
a rate (``30/s``), ``none`` for no limit, or ``default`` (or nothing) for the default."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.console.account_picker import account_named, every_account, names
from smsgate.api.console.auth import Admin, CurrentAdmin
from smsgate.api.console.flash import Flash
from smsgate.api.console.forms import Form, FormError, form_action
from smsgate.api.console.rendering import page, redirect
from smsgate.core.gateway import Gateway
from smsgate.core.rates import check_rate
from smsgate.store import accounts as account_store

router = APIRouter(prefix="/admin", include_in_schema=False)

#: What an account's limit field says for "use the default" and for "no limit".
DEFAULT, NONE = "default", "none"
MAX_RATE = 40


@dataclass(frozen=True, slots=True)
class LimitKind:
    name: str  # the account's column, and the [limits] setting
    label: str
    what: str


LIMITS = (
    LimitKind(
        "api_requests",
        "API requests",
        "requests per credential: each auth_id, access token, pass code and face user counts "
        "on its own. One too many is answered 429 with Retry-After.",
    ),
    LimitKind(
        "send_rate",
        "Send rate",
        "message parts per account, as they are handed to a channel. Over it, messages wait "
        "in the queue; none fails for it.",
    ),
    LimitKind(
        "number_pace",
        "Number pace",
        "message parts per source number and per destination number (the carriers' "
        '"10 messages a minute"). Over it, messages wait in the queue.',
    ),
)
assert tuple(kind.name for kind in LIMITS) == account_store.LIMIT_COLUMNS


def rate_shown(rate: str) -> str:
    """A stored or configured rate as the page shows it: ``none`` for no limit."""
    return rate or NONE


def own_shown(value: str | None) -> str:
    """An account's own limit: ``default`` (it has none of its own), ``none``, or a rate."""
    return DEFAULT if value is None else rate_shown(value)


def redis_host(url: str | None) -> str | None:
    """Where limits are shared: the Redis URL's host only (never its password)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "(an address that cannot be read)"
    if parts.scheme == "unix":
        return "a local socket"
    return host or "(no host named)"


def _defaults(gateway: Gateway) -> dict[str, str]:
    settings = gateway.settings.limits
    return {kind.name: str(getattr(settings, kind.name)) for kind in LIMITS}


# every account -------------------------------------------------------------------------------


@router.get("/limits")
async def listing(request: Request, admin: CurrentAdmin) -> Response:
    gateway: Gateway = request.app.state.gateway
    accounts = await every_account(gateway)
    defaults = _defaults(gateway)
    return await page(
        request,
        admin,
        "limits.html",
        title="Limits",
        section="limits",
        limits=LIMITS,
        defaults={name: rate_shown(rate) for name, rate in defaults.items()},
        redis=redis_host(gateway.settings.limits.redis_url),
        channels=[
            (name, rate_shown(channel.options.send_rate))
            for name, channel in gateway.channels.items()
        ],
        paced=gateway.dispatcher.paced,
        accounts=accounts,
        account_names=names(accounts),
        own={a.id: {k.name: own_shown(getattr(a, k.name)) for k in LIMITS} for a in accounts},
    )


# one account ---------------------------------------------------------------------------------


async def show_account(
    request: Request,
    admin: Admin,
    auth_id: str,
    *,
    error: str | None = None,
    form: Form | None = None,
) -> Response:
    gateway: Gateway = request.app.state.gateway
    account = await account_named(gateway, auth_id)
    defaults = _defaults(gateway)
    own = {kind.name: getattr(account, kind.name) for kind in LIMITS}
    return await page(
        request,
        admin,
        "limits_account.html",
        title=f"Limits of {account.auth_id}",
        section="limits",
        status=400 if error else 200,
        error=error,
        account=account,
        limits=LIMITS,
        defaults={name: rate_shown(rate) for name, rate in defaults.items()},
        applied={
            name: rate_shown(defaults[name] if value is None else value)
            for name, value in own.items()
        },
        values=form.values if form else {name: own_shown(value) for name, value in own.items()},
    )


@router.get("/limits/{auth_id}")
async def account_page(request: Request, auth_id: str, admin: CurrentAdmin) -> Response:
    return await show_account(request, admin, auth_id)


async def _again(request: Request, admin: Admin, form: Form, error: str) -> Response:
    return await show_account(
        request, admin, request.path_params["auth_id"], error=error, form=form
    )


def _limit(form: Form, kind: LimitKind) -> str | None:
    """A limit field: None for the default, "" for no limit, else a normalised rate."""
    raw = form.text(kind.name, kind.label, max_length=MAX_RATE)
    if raw.lower() in ("", DEFAULT):
        return None
    try:
        return check_rate(raw)
    except ValueError as exc:
        raise FormError(
            f"{kind.label}: {exc}; or {NONE} for no limit, {DEFAULT} for the default"
        ) from None


@form_action(router, "/limits/{auth_id}", on_error=_again)
async def save(request: Request, admin: Admin, form: Form) -> Response:
    """Set an account's own limits; they apply at once in this process."""
    gateway: Gateway = request.app.state.gateway
    account = await account_named(gateway, request.path_params["auth_id"])
    limits = {kind.name: _limit(form, kind) for kind in LIMITS}
    now = gateway.clock.now_us()
    await gateway.writer.run(lambda conn: account_store.set_limits(conn, account.id, now, **limits))
    gateway.accounts.forget(account)
    said = ", ".join(f"{kind.name} {own_shown(limits[kind.name])}" for kind in LIMITS)
    return redirect(
        request,
        admin,
        f"/admin/limits/{account.auth_id}",
        Flash(f"Limits of {account.auth_id} saved: {said}."),
    )

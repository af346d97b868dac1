"""``/admin/passcodes``: pass codes for the send page: every code with its status (active,
expired, used up, revoked), a new one (shown once), and revoking one at once. The same
codes as ``smsgate passcodes``."""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.console.account_picker import chosen, default_choice, every_account, names
from smsgate.api.console.auth import Admin, CurrentAdmin
from smsgate.api.console.flash import Flash
from smsgate.api.console.forms import Form, FormError, form_action
from smsgate.api.console.rendering import page, redirect, when
from smsgate.core import passcodes as passcode_core
from smsgate.core.gateway import Gateway
from smsgate.core.passcode_sends import issue
from smsgate.core.passcodes import Status
from smsgate.store import passcodes as passcode_store

router = APIRouter(prefix="/admin", include_in_schema=False)

STATUSES = tuple(status.value for status in Status)
_PATTERNS = re.compile(r"[\s,;]+")


async def show_codes(
    request: Request, admin: Admin, *, error: str | None = None, form: Form | None = None
) -> Response:
    gateway: Gateway = request.app.state.gateway
    accounts = await every_account(gateway)
    now = gateway.clock.now_us()
    wanted = request.query_params.get("status", "")
    codes = [
        (code, code.status(now).value) for code in await gateway.db.read(passcode_store.listed)
    ]
    if wanted in STATUSES:
        codes = [(code, status) for code, status in codes if status == wanted]
    values = (
        form.values
        if form
        else {
            "account": default_choice(accounts),
            "minutes": str(passcode_core.DEFAULT_MINUTES),
        }
    )
    return await page(
        request,
        admin,
        "passcodes.html",
        title="Pass codes",
        section="passcodes",
        status=400 if error else 200,
        error=error,
        codes=codes,
        statuses=STATUSES,
        status_filter=wanted if wanted in STATUSES else "",
        accounts=accounts,
        account_names=names(accounts),
        values=values,
        max_minutes=passcode_core.MAX_MINUTES,
    )


@router.get("/passcodes")
async def listing(request: Request, admin: CurrentAdmin) -> Response:
    return await show_codes(request, admin)


async def _again(request: Request, admin: Admin, form: Form, error: str) -> Response:
    return await show_codes(request, admin, error=error, form=form)


@form_action(router, "/passcodes", on_error=_again)
async def create(request: Request, admin: Admin, form: Form) -> Response:
    """Make a pass code; it is shown once."""
    gateway: Gateway = request.app.state.gateway
    account = chosen(form, await every_account(gateway))
    minutes = form.number(
        "minutes",
        "valid for (minutes)",
        low=1,
        high=passcode_core.MAX_MINUTES,
        default=passcode_core.DEFAULT_MINUTES,
    )
    max_messages = form.number(
        "max_messages", "most messages", low=1, high=passcode_core.MAX_MESSAGES
    )
    patterns = [
        p
        for p in _PATTERNS.split(
            form.text("destinations", "destinations", max_length=10_000, multiline=True)
        )
        if p
    ]
    label = form.text("label", "label", max_length=200)
    assert minutes is not None
    try:
        wanted = passcode_core.limits(minutes, max_messages, patterns, label)
    except ValueError as exc:
        raise FormError(str(exc)) from None
    now = gateway.clock.now_us()
    code, made = await gateway.writer.run(
        lambda conn: issue(conn, account.id, wanted, f"console/{admin.username}", now)
    )
    return redirect(
        request,
        admin,
        "/admin/passcodes",
        Flash(
            f"Pass code {made.id} made for {account.auth_id}, valid until "
            f"{when(made.expires_at)} UTC.",
            secret=passcode_core.shown(code),
            secret_label=f"pass code {made.id}: shown this once",
        ),
    )


@form_action(router, "/passcodes/{code_id}/revoke", on_error=_again)
async def revoke(request: Request, admin: Admin, form: Form) -> Response:
    """Revoke a pass code at once: it sends nothing more."""
    gateway: Gateway = request.app.state.gateway
    raw = request.path_params["code_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise FormError(f"there is no pass code {raw[:20]}")
    code_id = int(raw)
    now = gateway.clock.now_us()
    if not await gateway.writer.run(lambda conn: passcode_store.revoke(conn, code_id, now)):
        raise FormError(f"there is no pass code {code_id} that is not revoked already")
    return redirect(request, admin, "/admin/passcodes", Flash(f"Pass code {code_id} revoked."))

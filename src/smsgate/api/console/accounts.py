"""``/admin/accounts``: accounts and subaccounts: list, create, rename, enable or disable,
their switches (alphanumeric sender IDs, smart encoding), and a new auth token (shown once).
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.console.account_picker import account_named, every_account, names
from smsgate.api.console.auth import Admin, CurrentAdmin
from smsgate.api.console.flash import Flash
from smsgate.api.console.forms import Form, FormError, form_action
from smsgate.api.console.rendering import page, redirect
from smsgate.core.bootstrap import create_account
from smsgate.core.gateway import Gateway
from smsgate.core.ids import new_auth_token
from smsgate.core.models import Account
from smsgate.core.passcodes import Status
from smsgate.store import accounts as account_store
from smsgate.store import passcodes as passcode_store
from smsgate.store import reports

router = APIRouter(prefix="/admin", include_in_schema=False)

SWITCHES = ("enabled", "alphanumeric_sender", "smart_encoding")


def _name(form: Form) -> str:
    return form.text("name", "name", max_length=200)


# the list ------------------------------------------------------------------------------------


async def show_list(
    request: Request, admin: Admin, *, error: str | None = None, form: Form | None = None
) -> Response:
    gateway: Gateway = request.app.state.gateway
    found = await every_account(gateway)
    return await page(
        request,
        admin,
        "accounts.html",
        title="Accounts",
        section="accounts",
        status=400 if error else 200,
        error=error,
        accounts=found,
        account_names=names(found),
        parents=[a for a in found if not a.is_subaccount],
        values=form.values if form else {},
    )


@router.get("/accounts")
async def listing(request: Request, admin: CurrentAdmin) -> Response:
    return await show_list(request, admin)


async def _list_again(request: Request, admin: Admin, form: Form, error: str) -> Response:
    return await show_list(request, admin, error=error, form=form)


@form_action(router, "/accounts", on_error=_list_again)
async def create(request: Request, admin: Admin, form: Form) -> Response:
    """Create an account, or a subaccount of a main account; its token is shown once."""
    gateway: Gateway = request.app.state.gateway
    name = _name(form)
    parent_id = form.raw("parent").strip()
    alphanumeric = form.flag("alphanumeric_sender")
    smart = form.flag("smart_encoding")
    now = gateway.clock.now_us()

    parent = None
    if parent_id:
        parent = await gateway.db.read(lambda conn: account_store.by_auth_id(conn, parent_id))
        if parent is None or parent.is_subaccount:
            raise FormError("parent: choose a main account, or none")

    def work(conn: Connection) -> Account:
        return create_account(
            conn,
            now=now,
            name=name,
            parent=parent,
            alphanumeric_sender=alphanumeric,
            smart_encoding=smart,
        )

    made = await gateway.writer.run(work)
    gateway.accounts.forget(made)
    kind = "Subaccount" if made.is_subaccount else "Account"
    return redirect(
        request,
        admin,
        f"/admin/accounts/{made.auth_id}",
        Flash(
            f"{kind} {made.auth_id} created.",
            secret=made.auth_token,
            secret_label=f"auth_token of {made.auth_id}: shown this once",
        ),
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
    everyone = await every_account(gateway)
    tokens = [
        t for t in await gateway.db.read(reports.access_token_list) if t.account_id == account.id
    ]
    codes = await gateway.db.read(lambda conn: passcode_store.listed(conn, [account.id]))
    now = gateway.clock.now_us()
    return await page(
        request,
        admin,
        "account.html",
        title=f"Account {account.auth_id}",
        section="accounts",
        status=400 if error else 200,
        error=error,
        account=account,
        parent=next((a for a in everyone if a.id == account.parent_id), None),
        subaccounts=[a for a in everyone if a.parent_id == account.id],
        tokens=tokens,
        active_codes=sum(1 for code in codes if code.status(now) is Status.ACTIVE),
        all_codes=len(codes),
        values=form.values if form else {},
    )


@router.get("/accounts/{auth_id}")
async def account_page(request: Request, auth_id: str, admin: CurrentAdmin) -> Response:
    return await show_account(request, admin, auth_id)


async def _account_again(request: Request, admin: Admin, form: Form, error: str) -> Response:
    return await show_account(
        request, admin, request.path_params["auth_id"], error=error, form=form
    )


@form_action(router, "/accounts/{auth_id}", on_error=_account_again)
async def save(request: Request, admin: Admin, form: Form) -> Response:
    """Rename an account and set its switches (unticked boxes are off)."""
    gateway: Gateway = request.app.state.gateway
    account = await account_named(gateway, request.path_params["auth_id"])
    name = _name(form)
    switches = {switch: form.flag(switch) for switch in SWITCHES}
    now = gateway.clock.now_us()

    def work(conn: Connection) -> None:
        account_store.rename(conn, account.id, name, now)
        account_store.update_account(conn, account.id, now, **switches)

    await gateway.writer.run(work)
    gateway.accounts.forget(account)
    state = "enabled" if switches["enabled"] else "disabled"
    return redirect(
        request,
        admin,
        f"/admin/accounts/{account.auth_id}",
        Flash(f"Account {account.auth_id} saved ({state})."),
    )


@form_action(router, "/accounts/{auth_id}/rotate-token", on_error=_account_again)
async def rotate_token(request: Request, admin: Admin, form: Form) -> Response:
    """Give the account a new auth_token, shown once; the old one stops working."""
    gateway: Gateway = request.app.state.gateway
    account = await account_named(gateway, request.path_params["auth_id"])
    if not form.flag("confirm"):
        raise FormError("tick the box to confirm: applications using the old token will stop")
    token = new_auth_token()
    now = gateway.clock.now_us()
    await gateway.writer.run(
        lambda conn: account_store.set_auth_token(conn, account.id, token, now)
    )
    gateway.accounts.forget(account)
    return redirect(
        request,
        admin,
        f"/admin/accounts/{account.auth_id}",
        Flash(
            f"Account {account.auth_id} has a new auth_token; the old one no longer works.",
            secret=token,
            secret_label=f"auth_token of {account.auth_id}: shown this once",
        ),
    )

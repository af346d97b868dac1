"""``/admin/tokens``: the access tokens faces authenticate with instead of an account's
auth_id and auth_token (SMSSender's ``access-token``): list, issue (shown once), revoke.
The same tokens as the admin API's ``/admin/api/smssender/tokens``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.admin.tokens import FACE
from smsgate.api.console.account_picker import chosen, default_choice, every_account, names
from smsgate.api.console.auth import Admin, CurrentAdmin
from smsgate.api.console.flash import Flash
from smsgate.api.console.forms import Form, FormError, form_action
from smsgate.api.console.rendering import page, redirect
from smsgate.core.gateway import Gateway
from smsgate.store import reports
from smsgate.store import tokens as token_store

router = APIRouter(prefix="/admin", include_in_schema=False)


async def show_tokens(
    request: Request, admin: Admin, *, error: str | None = None, form: Form | None = None
) -> Response:
    gateway: Gateway = request.app.state.gateway
    accounts = await every_account(gateway)
    return await page(
        request,
        admin,
        "tokens.html",
        title="Access tokens",
        section="tokens",
        status=400 if error else 200,
        error=error,
        tokens=await gateway.db.read(reports.access_token_list),
        accounts=accounts,
        account_names=names(accounts),
        values=form.values if form else {"account": default_choice(accounts)},
    )


@router.get("/tokens")
async def listing(request: Request, admin: CurrentAdmin) -> Response:
    return await show_tokens(request, admin)


async def _again(request: Request, admin: Admin, form: Form, error: str) -> Response:
    return await show_tokens(request, admin, error=error, form=form)


@form_action(router, "/tokens", on_error=_again)
async def issue(request: Request, admin: Admin, form: Form) -> Response:
    """Issue an access token for an account; its value is shown once."""
    gateway: Gateway = request.app.state.gateway
    account = chosen(form, await every_account(gateway))
    label = form.text("label", "label", max_length=100)
    now = gateway.clock.now_us()
    token, token_id = await gateway.writer.run(
        lambda conn: token_store.issue(conn, FACE, account.id, label, now)
    )
    return redirect(
        request,
        admin,
        "/admin/tokens",
        Flash(
            f"Access token {token_id} issued for {account.auth_id}.",
            secret=token,
            secret_label=f"access token {token_id}: shown this once",
        ),
    )


@form_action(router, "/tokens/{token_id}/revoke", on_error=_again)
async def revoke(request: Request, admin: Admin, form: Form) -> Response:
    """Revoke an access token at once."""
    gateway: Gateway = request.app.state.gateway
    raw = request.path_params["token_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise FormError(f"there is no access token {raw[:20]}")
    token_id = int(raw)
    now = gateway.clock.now_us()
    tokens = await gateway.db.read(reports.access_token_list)
    face = next((t.face for t in tokens if t.id == token_id and t.revoked_at is None), None)
    if face is None or not await gateway.writer.run(
        lambda conn: token_store.revoke(conn, face, token_id, now)
    ):
        raise FormError(f"there is no active access token {token_id}")
    return redirect(request, admin, "/admin/tokens", Flash(f"Access token {token_id} revoked."))

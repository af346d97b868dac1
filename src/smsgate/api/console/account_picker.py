"""Choosing an account in a form, and naming accounts on pages."""

from __future__ import annotations

from smsgate.api.console.errors import PageError
from smsgate.api.console.forms import Form, FormError
from smsgate.core.accounts import AUTH_ID
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.store import accounts as account_store


async def every_account(gateway: Gateway) -> list[Account]:
    """Every account, oldest first."""
    return await gateway.db.read(account_store.all_accounts)


def names(accounts: list[Account]) -> dict[int, str]:
    """Each account's id as pages name it: ``auth_id`` and, when it has one, its name."""
    return {a.id: f"{a.auth_id} ({a.name})" if a.name else a.auth_id for a in accounts}


def chosen(form: Form, accounts: list[Account], field: str = "account") -> Account:
    """The enabled account a form's ``field`` names by auth_id."""
    auth_id = form.raw(field).strip()
    found = next((a for a in accounts if a.auth_id == auth_id), None)
    if found is None:
        raise FormError("account: choose one of the accounts listed")
    if not found.enabled:
        raise FormError(f"account: {found.auth_id} is disabled")
    return found


def default_choice(accounts: list[Account]) -> str:
    """What an account field offers first: the first enabled main account."""
    main = [a for a in accounts if a.enabled and not a.is_subaccount]
    return main[0].auth_id if main else ""


async def account_named(gateway: Gateway, auth_id: str) -> Account:
    """The account a page's path names; a 404 page when there is none."""
    found = (
        await gateway.db.read(lambda conn: account_store.by_auth_id(conn, auth_id))
        if AUTH_ID.fullmatch(auth_id)
        else None
    )
    if found is None:
        raise PageError(404, "No such account", f"There is no account {auth_id[:40]}.")
    return found

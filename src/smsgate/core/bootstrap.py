"""First start: a main account and an admin user, so a new gateway is usable at once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection

from smsgate.core.ids import new_auth_id, new_auth_token
from smsgate.core.models import Account
from smsgate.core.passwords import hash_password
from smsgate.store import accounts as store

ADMIN_USER = "admin"


@dataclass(frozen=True, slots=True)
class Bootstrap:
    account: Account
    account_created: bool
    admin_password: str | None


def create_account(
    conn: Connection,
    *,
    now: int,
    name: str = "",
    parent: Account | None = None,
    alphanumeric_sender: bool = False,
    smart_encoding: bool = False,
) -> Account:
    return store.insert_account(
        conn,
        auth_id=new_auth_id(subaccount=parent is not None),
        auth_token=new_auth_token(),
        parent_id=parent.id if parent else None,
        name=name,
        alphanumeric_sender=alphanumeric_sender,
        smart_encoding=smart_encoding,
        now=now,
    )


def bootstrap(conn: Connection, now: int) -> Bootstrap:
    """Create the first main account and the ``admin`` user if there are none yet."""
    account = store.first_main_account(conn)
    created = account is None
    if account is None:
        account = create_account(conn, now=now, name="default")
    password = None
    if store.admin_count(conn) == 0:
        password = secrets.token_urlsafe(12)
        store.insert_admin(conn, ADMIN_USER, hash_password(password), now)
    return Bootstrap(account, created, password)

"""Who is using the console: an admin user, by HTTP Basic (``smsgate admin set-password``).

Each admin's console secret (the key of their CSRF tokens and flash messages) is derived from
their stored password hash: it is random (the scrypt salt), kept in the database and so the
same on every node, known to no one else, and it changes when the password does.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from smsgate.api.auth import basic_credentials
from smsgate.api.console.errors import PageError
from smsgate.core.gateway import Gateway
from smsgate.store import accounts as account_store

#: The same realm as the admin API's, so a browser sends one login to both.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="smsgate admin", charset="UTF-8"'}


@dataclass(frozen=True, slots=True)
class Admin:
    username: str
    #: Secret to this admin and this password (see the module's docstring).
    key: bytes

    def derived(self, purpose: str) -> bytes:
        """A key for one purpose, so that no two uses of ``key`` can stand in for each other."""
        return hmac.new(self.key, purpose.encode(), hashlib.sha256).digest()


def console_key(username: str, password_hash: str) -> bytes:
    message = f"smsgate console\0{username}".encode()
    return hmac.new(password_hash.encode(), message, hashlib.sha256).digest()


async def current_admin(request: Request) -> Admin:
    """The admin these credentials open; a 401 page that asks for them otherwise."""
    gateway: Gateway = request.app.state.gateway
    credentials = basic_credentials(request)
    if credentials is not None and await gateway.accounts.verify_admin(*credentials):
        username = credentials[0]
        stored = await gateway.db.read(
            lambda conn: account_store.admin_password_hash(conn, username)
        )
        if stored is not None:
            return Admin(username, console_key(username, stored))
    raise PageError(
        401,
        "Sign in",
        "The console needs an admin user's name and password. "
        "`smsgate admin set-password NAME` creates one.",
        CHALLENGE,
    )


#: The admin a page or form handler runs for: ``admin: CurrentAdmin`` in its signature.
CurrentAdmin = Annotated[Admin, Depends(current_admin)]

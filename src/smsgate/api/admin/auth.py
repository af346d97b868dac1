"""Admin credentials: HTTP Basic against admin users (scrypt-hashed passwords).

A browser that signed in to the console sends those credentials to the admin API too, so a
request that changes something is refused when its ``Origin`` (or ``Referer``) names another
site: another site's page cannot make an admin's browser issue or revoke anything."""

from __future__ import annotations

from starlette.requests import Request

from smsgate.api.auth import basic_credentials
from smsgate.api.console.csrf import cross_site
from smsgate.api.errors import ApiError
from smsgate.core.gateway import Gateway

_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="smsgate admin"'}


async def require_admin(request: Request) -> str:
    gateway: Gateway = request.app.state.gateway
    credentials = basic_credentials(request)
    if credentials is None or not await gateway.accounts.verify_admin(*credentials):
        raise ApiError(401, "admin credentials required", _CHALLENGE)
    if request.method not in _SAFE_METHODS:
        why = cross_site(request)
        if why is not None:
            raise ApiError(403, f"refused: {why}")
    return credentials[0]

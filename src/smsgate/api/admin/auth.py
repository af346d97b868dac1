"""Admin credentials: HTTP Basic against admin users (scrypt-hashed passwords)."""

from __future__ import annotations

from starlette.requests import Request

from smsgate.api.auth import basic_credentials
from smsgate.api.errors import ApiError
from smsgate.core.gateway import Gateway

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="smsgate admin"'}


async def require_admin(request: Request) -> str:
    gateway: Gateway = request.app.state.gateway
    credentials = basic_credentials(request)
    if credentials is None or not await gateway.accounts.verify_admin(*credentials):
        raise ApiError(401, "admin credentials required", _CHALLENGE)
    return credentials[0]

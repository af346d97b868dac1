"""Who is calling a Plivo route: HTTP Basic auth_id/auth_token, matched to the path's auth_id."""

from __future__ import annotations

from starlette.requests import Request

from smsgate.api.auth import basic_credentials
from smsgate.api.errors import ApiError
from smsgate.core.accounts import AccessDenied, Scope
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.pacing import RateLimited

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="smsgate"'}


async def plivo_scope(request: Request, auth_id: str) -> Scope:
    gateway: Gateway = request.app.state.gateway
    credentials = basic_credentials(request)
    if credentials is None:
        raise ApiError(
            401,
            "authentication failed: send HTTP Basic credentials (auth_id and auth_token)",
            _CHALLENGE,
        )
    account = await gateway.accounts.authenticate(*credentials)
    if account is None:
        raise ApiError(401, "authentication failed: wrong auth_id or auth_token", _CHALLENGE)
    try:
        scope = await gateway.accounts.scope(account, auth_id)
    except AccessDenied:
        raise ApiError(
            401, f"authentication failed: these credentials are not valid for account {auth_id}"
        ) from None
    await admit(gateway, account.auth_id, account)
    return scope


async def admit(gateway: Gateway, credential: str, account: Account | None) -> None:
    """Count a request against its credential's API rate limit; 429 when over it."""
    try:
        await gateway.pacing.admit(credential, account)
    except RateLimited as exc:
        raise ApiError(
            429, "You are sending too many requests: slow down", {"Retry-After": exc.header}
        ) from None

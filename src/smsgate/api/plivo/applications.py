"""``/v1/Account/{auth_id}/Application/``: Plivo's applications, for messages.

An application names the ``message_url`` (and ``message_method``) that receives what arrives
for the numbers bound to it (see ``core/inbound_routing.py``). Plivo's voice fields
(``answer_url``, ``hangup_url``, ``fallback_answer_url`` and their methods,
``default_number_app``, ``default_endpoint_app``, ``public_uri``) are accepted and ignored:
smsgate carries no calls. A main account sees and manages its subaccounts' applications too,
as the Message API lets it read their messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from starlette.responses import Response

from smsgate.api import params as p
from smsgate.api.bodies import read_params
from smsgate.api.errors import ApiError
from smsgate.api.plivo import schemas
from smsgate.api.plivo.auth import plivo_scope
from smsgate.api.plivo.listing import links_around, read_page
from smsgate.api.responses import JSONResponse
from smsgate.core.accounts import AccessDenied, Scope
from smsgate.core.errors import InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.core.ids import api_id
from smsgate.core.models import Account
from smsgate.store import accounts as account_store
from smsgate.store import numbers as number_store
from smsgate.store.numbers import Application, Refused

PlivoScope = Annotated[Scope, Depends(plivo_scope)]
MAX_LIMIT = 20
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": schemas.ErrorEnvelope}}

router = APIRouter(prefix="/v1/Account/{auth_id}/Application", tags=["Application"])


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


# what every Plivo list of this kind shares --------------------------------------------------


#: ``limit`` and ``offset`` of a list request, as every Plivo list reads them.
page_of = read_page


def listing(
    base: str, query: Mapping[str, str], objects: list[dict[str, Any]], limit: int, offset: int
) -> dict[str, Any]:
    """Plivo's list envelope: ``meta`` (with links to the pages on either side, keeping the
    filters) and one page of ``objects``."""
    total = len(objects)
    following, previous = links_around(base, query, limit, offset, total)
    return {
        "api_id": api_id(),
        "meta": {
            "limit": limit,
            "offset": offset,
            "next": following,
            "previous": previous,
            "total_count": total,
        },
        "objects": objects[offset : offset + limit],
    }


async def account_ids(request: Request, scope: Scope, query: Mapping[str, str]) -> list[int]:
    """The accounts a list covers: the scope's, or only the ``subaccount`` named."""
    sub = query.get("subaccount")
    if not sub:
        return list(scope.account_ids)
    try:
        return list((await gateway_of(request).accounts.scope(scope.owner, sub)).account_ids)
    except AccessDenied:
        raise ApiError(
            400, f"invalid subaccount {sub!r}: not a subaccount of this account"
        ) from None


def refusal(exc: Refused) -> ApiError:
    return ApiError(exc.status, exc.message)


def owners(conn: Connection, ids: set[int]) -> dict[int, Account]:
    found = {account_id: account_store.by_id(conn, account_id) for account_id in ids}
    return {account_id: account for account_id, account in found.items() if account is not None}


def sub_account_uri(account: Account, accounts: Mapping[int, Account]) -> str | None:
    """Plivo's ``sub_account``: null for a main account's, else the subaccount's resource."""
    parent = accounts.get(account.parent_id) if account.parent_id is not None else None
    if parent is None:
        return None
    return f"/v1/Account/{parent.auth_id}/Subaccount/{account.auth_id}/"


def application_uri(app: Application, owner: Account) -> str:
    return f"/v1/Account/{owner.auth_id}/Application/{app.app_id}/"


def shown(app: Application, accounts: Mapping[int, Account]) -> dict[str, Any]:
    """An application as Plivo's API shows one."""
    owner = accounts[app.account_id]
    return {
        "app_id": app.app_id,
        "app_name": app.name,
        "message_url": app.message_url or "",
        "message_method": app.message_method,
        "log_incoming_messages": app.log_incoming_messages,
        "resource_uri": application_uri(app, owner),
        "sub_account": sub_account_uri(owner, accounts),
        "default_app": False,
        "default_endpoint_app": False,
        "enabled": True,
        "public_uri": False,
        # Voice: smsgate carries no calls.
        "answer_url": None,
        "answer_method": "POST",
        "hangup_url": None,
        "hangup_method": "POST",
        "fallback_answer_url": None,
        "fallback_method": "POST",
    }


def _with_parents(conn: Connection, ids: set[int]) -> dict[int, Account]:
    accounts = owners(conn, ids)
    parents = {a.parent_id for a in accounts.values() if a.parent_id is not None}
    return {**owners(conn, parents - set(accounts)), **accounts}


def _visible(conn: Connection, scope: Scope, app_id: str) -> Application | None:
    if not app_id.isdigit() or len(app_id) > number_store.MAX_APP_ID:
        return None
    found = number_store.application(conn, app_id)
    return found if found is not None and found.account_id in scope.account_ids else None


# the routes ----------------------------------------------------------------------------------


async def _owner_for_create(request: Request, scope: Scope, body: Mapping[str, Any]) -> Account:
    """Who owns a new application: the path's account, or the ``subaccount`` named."""
    sub = p.text(body, "subaccount", max_length=40)
    if not sub or sub == scope.owner.auth_id:
        return scope.owner
    if scope.owner.is_subaccount:
        raise InvalidParameter("subaccount", "invalid subaccount: a subaccount has none")
    try:
        return (await gateway_of(request).accounts.scope(scope.owner, sub)).owner
    except AccessDenied:
        raise InvalidParameter(
            "subaccount", f"invalid subaccount {sub!r}: not a subaccount of this account"
        ) from None


def _method(body: Mapping[str, Any], default: str | None) -> str | None:
    return p.choice(body, "message_method", ("GET", "POST"), default)


@router.post(
    "/",
    status_code=201,
    summary="Create an application (message_url, message_method, log_incoming_messages)",
    responses=schemas.ERRORS,
)
async def create_application(request: Request, scope: PlivoScope) -> Response:
    gateway = gateway_of(request)
    body = await read_params(request)
    try:
        name = number_store.check_name(p.text(body, "app_name", required=True) or "")
    except Refused as exc:
        raise refusal(exc) from None
    message_url = p.message_url(body, "message_url")
    method = _method(body, "POST")
    assert method is not None
    log = p.boolean(body, "log_incoming_messages", True)
    owner = await _owner_for_create(request, scope, body)
    now = gateway.clock.now_us()
    made = await gateway.writer.run(
        lambda conn: number_store.insert_application(
            conn,
            account_id=owner.id,
            name=name,
            message_url=message_url,
            message_method=method,
            log_incoming_messages=log,
            now=now,
        )
    )
    return JSONResponse(
        {"api_id": api_id(), "app_id": made.app_id, "message": "created"}, status_code=201
    )


@router.get("/", summary="List applications, newest first", responses=schemas.ERRORS)
async def list_applications(request: Request, auth_id: str, scope: PlivoScope) -> Response:
    gateway = gateway_of(request)
    query = dict(request.query_params)
    limit, offset = page_of(query)
    ids = await account_ids(request, scope, query)
    wanted_name = query.get("app_name") or None

    def work(conn: Connection) -> list[dict[str, Any]]:
        found = number_store.applications(conn, ids)[::-1]
        if wanted_name is not None:
            found = [app for app in found if app.name == wanted_name]
        accounts = _with_parents(conn, {app.account_id for app in found})
        return [shown(app, accounts) for app in found]

    objects = await gateway.db.read(work)
    return JSONResponse(
        listing(f"/v1/Account/{auth_id}/Application/", query, objects, limit, offset)
    )


@router.get(
    "/{app_id}/",
    summary="Get an application",
    responses={**schemas.ERRORS, **NOT_FOUND},
)
async def get_application(request: Request, app_id: str, scope: PlivoScope) -> Response:
    def work(conn: Connection) -> dict[str, Any] | None:
        found = _visible(conn, scope, app_id)
        if found is None:
            return None
        return shown(found, _with_parents(conn, {found.account_id}))

    body = await gateway_of(request).db.read(work)
    if body is None:
        raise ApiError(404, f"application {app_id[:40]} not found")
    return JSONResponse({"api_id": api_id(), **body})


@router.post(
    "/{app_id}/",
    status_code=202,
    summary="Modify an application (what is sent changes; the rest stays)",
    responses={**schemas.ERRORS, **NOT_FOUND},
)
async def modify_application(request: Request, app_id: str, scope: PlivoScope) -> Response:
    gateway = gateway_of(request)
    body = await read_params(request)
    changes: dict[str, Any] = {}
    try:
        if body.get("app_name") is not None:
            changes["name"] = number_store.check_name(p.text(body, "app_name") or "")
    except Refused as exc:
        raise refusal(exc) from None
    if "message_url" in body:
        changes["message_url"] = p.message_url(body, "message_url")  # "" or null: none
    method = _method(body, None)
    if method is not None:
        changes["message_method"] = method
    if body.get("log_incoming_messages") is not None:
        changes["log_incoming_messages"] = p.boolean(body, "log_incoming_messages", True)
    sub = p.text(body, "subaccount", max_length=40)
    now = gateway.clock.now_us()

    def work(conn: Connection) -> bool:
        found = _visible(conn, scope, app_id)
        if found is None:
            return False
        if sub:
            owner = account_store.by_id(conn, found.account_id)
            if owner is None or owner.auth_id != sub:
                raise InvalidParameter(
                    "subaccount",
                    f"invalid subaccount {sub!r}: an application stays with the account that "
                    "made it; create one for the subaccount instead",
                )
        number_store.update_application(conn, found.app_id, now, **changes)
        return True

    if not await gateway.writer.run(work):
        raise ApiError(404, f"application {app_id[:40]} not found")
    return JSONResponse({"api_id": api_id(), "message": "changed"}, status_code=202)


@router.delete(
    "/{app_id}/",
    status_code=204,
    summary="Delete an application; its numbers keep receiving, with no application",
    responses={**schemas.ERRORS, **NOT_FOUND},
)
async def delete_application(request: Request, app_id: str, scope: PlivoScope) -> Response:
    def work(conn: Connection) -> bool:
        found = _visible(conn, scope, app_id)
        return found is not None and number_store.delete_application(conn, found.app_id)

    if not await gateway_of(request).writer.run(work):
        raise ApiError(404, f"application {app_id[:40]} not found")
    return Response(status_code=204)

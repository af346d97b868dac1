"""``/v1/Account/{auth_id}/Number/``: the numbers and short codes an account owns.

An account lists its numbers, binds each to one of its applications (``app_id``; ``""``
unbinds), names it (``alias``) and releases it. Adding a number is the operator's act
(``smsgate numbers add``, the console's Numbers page, ``POST /admin/api/numbers/``): smsgate
owns no carrier inventory, so Plivo's ways of getting one, ``POST …/Number/`` (numbers from
your own carrier) and ``POST …/PhoneNumber/{number}/`` (renting), answer ``405`` saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Connection
from starlette.responses import Response

from smsgate.api import params as p
from smsgate.api.bodies import read_params
from smsgate.api.errors import ApiError
from smsgate.api.plivo import schemas
from smsgate.api.plivo.applications import (
    NOT_FOUND,
    PlivoScope,
    account_ids,
    application_uri,
    gateway_of,
    listing,
    owners,
    page_of,
    refusal,
    sub_account_uri,
)
from smsgate.api.responses import JSONResponse
from smsgate.core.accounts import Scope
from smsgate.core.clock import to_datetime
from smsgate.core.errors import InvalidParameter
from smsgate.core.ids import api_id
from smsgate.core.models import Account
from smsgate.store import numbers as number_store
from smsgate.store.numbers import Application, Number, Refused
from smsgate.text.numbers import sanitize_sender

PATH = "/v1/Account/{auth_id}/Number"
OPERATORS_ACT = (
    "numbers are added by the gateway's operator (smsgate numbers add, the console's Numbers "
    "page or POST /admin/api/numbers/): smsgate has no carrier inventory to rent from"
)
_ALLOW = {"Allow": "GET"}

router = APIRouter(tags=["Number"])


def shown(
    number: Number, accounts: Mapping[int, Account], apps: Mapping[int, Application]
) -> dict[str, Any]:
    """A number as Plivo's API shows one."""
    owner = accounts[number.account_id]
    app = apps.get(number.application_id) if number.application_id is not None else None
    app_owner = accounts.get(app.account_id) if app is not None else None
    return {
        "number": number.number,
        "alias": number.alias or None,
        "application": application_uri(app, app_owner) if app and app_owner else None,
        "added_on": to_datetime(number.created_at).strftime("%Y-%m-%d"),
        "number_type": number_store.number_type(number.number),
        "carrier": "smsgate",
        "sms_enabled": True,
        "mms_enabled": False,
        "voice_enabled": False,
        "sms_rate": "0.00000",
        "mms_rate": "0.00000",
        "voice_rate": "0.00000",
        "monthly_rental_rate": "0.00000",
        "renewal_date": None,
        "active": True,
        "region": "",
        "resource_uri": f"/v1/Account/{owner.auth_id}/Number/{number.number}/",
        "sub_account": sub_account_uri(owner, accounts),
    }


def _context(
    conn: Connection, found: list[Number]
) -> tuple[dict[int, Account], dict[int, Application]]:
    apps = {
        app_id: app
        for app_id in {num.application_id for num in found if num.application_id is not None}
        if (app := number_store.application_by_id(conn, app_id)) is not None
    }
    accounts = owners(conn, {num.account_id for num in found})
    parents = {a.parent_id for a in accounts.values() if a.parent_id is not None}
    return {**owners(conn, parents - set(accounts)), **accounts}, apps


def _visible(conn: Connection, scope: Scope, raw: str) -> Number | None:
    value = sanitize_sender(raw)[:32]
    found = number_store.number(conn, value) if value else None
    return found if found is not None and found.account_id in scope.account_ids else None


def _filtered(found: list[Number], query: Mapping[str, str]) -> list[Number]:
    kind = query.get("type")
    if kind:
        found = [num for num in found if number_store.number_type(num.number) == kind.lower()]
    prefix = sanitize_sender(query.get("number_startswith") or "")
    if prefix:
        found = [num for num in found if num.number.startswith(prefix)]
    alias = query.get("alias")
    if alias:
        found = [num for num in found if num.alias == alias]
    services = {s.strip().lower() for s in (query.get("services") or "").split(",") if s.strip()}
    if services - {"sms"}:
        found = []  # voice and MMS: no smsgate number has them
    return found


@router.get(
    PATH + "/",
    summary="List the account's numbers and short codes",
    responses=schemas.ERRORS,
)
async def list_numbers(request: Request, auth_id: str, scope: PlivoScope) -> Response:
    gateway = gateway_of(request)
    query = dict(request.query_params)
    limit, offset = page_of(query)
    ids = await account_ids(request, scope, query)

    def work(conn: Connection) -> list[dict[str, Any]]:
        found = _filtered(number_store.numbers(conn, ids), query)
        accounts, apps = _context(conn, found)
        return [shown(num, accounts, apps) for num in found]

    objects = await gateway.db.read(work)
    return JSONResponse(listing(f"/v1/Account/{auth_id}/Number/", query, objects, limit, offset))


@router.post(
    PATH + "/",
    status_code=405,
    summary="Not served: numbers are added by the operator",
    responses={405: {"model": schemas.ErrorEnvelope}},
)
async def add_numbers(_: PlivoScope) -> Response:
    raise ApiError(405, f"method POST is not allowed on this resource: {OPERATORS_ACT}", _ALLOW)


@router.post(
    "/v1/Account/{auth_id}/PhoneNumber/{number}/",
    status_code=405,
    summary="Not served: numbers are added by the operator",
    responses={405: {"model": schemas.ErrorEnvelope}},
)
async def rent_number(_: PlivoScope) -> Response:
    raise ApiError(405, f"renting numbers is not served: {OPERATORS_ACT}", {"Allow": ""})


@router.get(
    PATH + "/{number}/",
    summary="Get one of the account's numbers",
    responses={**schemas.ERRORS, **NOT_FOUND},
)
async def get_number(request: Request, number: str, scope: PlivoScope) -> Response:

    def work(conn: Connection) -> dict[str, Any] | None:
        found = _visible(conn, scope, number)
        if found is None:
            return None
        accounts, apps = _context(conn, [found])
        return shown(found, accounts, apps)

    body = await gateway_of(request).db.read(work)
    if body is None:
        raise ApiError(404, f"number {number[:40]} not found")
    return JSONResponse({"api_id": api_id(), **body})


@router.post(
    PATH + "/{number}/",
    status_code=202,
    summary='Bind a number to an application (app_id, "" to unbind) or name it (alias)',
    responses={**schemas.ERRORS, **NOT_FOUND},
)
async def update_number(request: Request, number: str, scope: PlivoScope) -> Response:
    gateway = gateway_of(request)
    body = await read_params(request)
    app_id = p.text(body, "app_id", numbers=True, max_length=40)
    raw_alias = p.text(body, "alias", max_length=number_store.MAX_ALIAS + 1)
    if p.text(body, "subaccount", max_length=40):
        raise InvalidParameter(
            "subaccount",
            "invalid subaccount: a number moves between accounts by the operator's act "
            "(smsgate numbers add after numbers remove)",
        )
    try:
        alias = number_store.check_alias(raw_alias) if raw_alias is not None else None
    except Refused as exc:
        raise refusal(exc) from None

    def work(conn: Connection) -> bool:
        found = _visible(conn, scope, number)
        if found is None:
            return False
        changes: dict[str, Any] = {}
        if app_id is not None:
            app_id_clean = app_id.strip()
            changes["application_id"] = (
                number_store.owned_application(conn, app_id_clean, found.account_id).id
                if app_id_clean
                else None
            )
        if alias is not None:
            changes["alias"] = alias
        if changes:
            number_store.update_number(conn, found.number, **changes)
        return True

    try:
        done = await gateway.writer.run(work)
    except Refused as exc:
        raise refusal(exc) from None
    if not done:
        raise ApiError(404, f"number {number[:40]} not found")
    return JSONResponse({"api_id": api_id(), "message": "changed"}, status_code=202)


@router.delete(
    PATH + "/{number}/",
    status_code=204,
    summary="Release a number: what arrives for it then is the channel's account's",
    responses={**schemas.ERRORS, **NOT_FOUND},
)
async def delete_number(request: Request, number: str, scope: PlivoScope) -> Response:

    def work(conn: Connection) -> bool:
        found = _visible(conn, scope, number)
        return found is not None and number_store.delete_number(conn, found.number)

    if not await gateway_of(request).writer.run(work):
        raise ApiError(404, f"number {number[:40]} not found")
    return Response(status_code=204)

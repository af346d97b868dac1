"""``/admin/api/numbers`` and ``/admin/api/opt-outs``: the operator gives numbers and short
codes to accounts (``smsgate numbers``, the console's Numbers page, and this do the same),
and puts numbers that opted out back on an account's list of reachable ones.

A number is stored as inbound messages name it (``sanitize_sender``: ``+``, spaces and
punctuation removed): a short code of 3 to 8 digits or a possible E.164 number. It belongs to
one account, is optionally bound to one of that account's applications, and optionally to a
channel (then only what arrives on that channel is its account's).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from smsgate.api import params as p
from smsgate.api.admin.auth import require_admin
from smsgate.api.bodies import read_params
from smsgate.api.errors import ApiError
from smsgate.api.responses import JSONResponse
from smsgate.core.clock import iso
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.store import accounts as account_store
from smsgate.store import numbers as number_store
from smsgate.store import opt_outs as opt_out_store
from smsgate.store.numbers import Application, Number, Refused
from smsgate.store.opt_outs import OptOut
from smsgate.text.numbers import sanitize_sender

router = APIRouter(prefix="/admin/api", tags=["Admin"], dependencies=[Depends(require_admin)])


def described(
    number: Number, accounts: dict[int, Account], apps: dict[int, Application]
) -> dict[str, Any]:
    owner = accounts.get(number.account_id)
    app = apps.get(number.application_id) if number.application_id is not None else None
    return {
        "number": number.number,
        "number_type": number_store.number_type(number.number),
        "account": owner.auth_id if owner else None,
        "application": app.app_id if app else None,
        "application_name": app.name if app else None,
        "message_url": app.message_url if app else None,
        "channel": number.channel,
        "alias": number.alias,
        "created_at": iso(number.created_at),
    }


def every_number(
    conn: Connection, account_ids: Collection[int] | None = None
) -> tuple[list[Number], dict[int, Account], dict[int, Application]]:
    """Numbers (of some accounts, or all) with the accounts and applications they name."""
    found = number_store.numbers(conn, list(account_ids) if account_ids is not None else None)
    accounts = {a.id: a for a in account_store.all_accounts(conn)}
    apps = {app.id: app for app in number_store.applications(conn)}
    return found, accounts, apps


def add(
    conn: Connection,
    *,
    raw_number: str,
    auth_id: str,
    app_id: str | None,
    channel: str | None,
    alias: str,
    known_channels: Collection[str],
    now: int,
) -> Number:
    """Check everything and store the number, in one transaction; ``Refused`` says why not."""
    number = number_store.clean_number(raw_number)
    account = account_store.by_auth_id(conn, auth_id)
    if account is None:
        raise Refused("account", f"no account {auth_id[:40]!r}", "unknown")
    if app_id:
        found = number_store.application(conn, app_id) if app_id.isdigit() else None
        if found is None:
            raise Refused("application", f"no application {app_id[:40]!r}", "unknown")
        if found.account_id != account.id:
            raise Refused(
                "application",
                f"application {app_id} belongs to another account, not to {account.auth_id}",
            )
    return number_store.add_number(
        conn,
        number=number,
        account_id=account.id,
        app_id=app_id or None,
        channel=number_store.check_channel(channel, known_channels),
        alias=number_store.check_alias(alias),
        now=now,
    )


@router.post("/numbers/", status_code=201, summary="Give a number or short code to an account")
async def create(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    body = await read_params(request)
    raw = p.text(body, "number", required=True, numbers=True, max_length=40) or ""
    auth_id = p.text(body, "account", required=True, max_length=40) or ""
    app_id = p.text(body, "application", numbers=True, max_length=40)
    channel = p.text(body, "channel", max_length=64)
    alias = p.text(body, "alias", max_length=number_store.MAX_ALIAS + 1) or ""
    now = gateway.clock.now_us()
    known = gateway.settings.receiving_channels

    def work(conn: Connection) -> dict[str, Any]:
        made = add(
            conn,
            raw_number=raw,
            auth_id=auth_id.strip(),
            app_id=(app_id or "").strip() or None,
            channel=channel,
            alias=alias,
            known_channels=known,
            now=now,
        )
        owner = account_store.by_id(conn, made.account_id)
        app = number_store.application_by_id(conn, made.application_id or 0)
        accounts = {owner.id: owner} if owner else {}
        return described(made, accounts, {app.id: app} if app else {})

    try:
        shown = await gateway.writer.run(work)
    except Refused as exc:
        raise ApiError(exc.status, exc.message) from None
    except IntegrityError:  # added at the same moment elsewhere
        raise ApiError(409, "this number belongs to an account already") from None
    return JSONResponse(shown, status_code=201)


@router.get("/numbers/", summary="Numbers and short codes, with their accounts and applications")
async def listing(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    auth_id = request.query_params.get("account")

    def work(conn: Connection) -> list[dict[str, Any]] | None:
        ids = None
        if auth_id:
            account = account_store.by_auth_id(conn, auth_id)
            if account is None:
                return None
            ids = [account.id]
        found, accounts, apps = every_number(conn, ids)
        return [described(num, accounts, apps) for num in found]

    objects = await gateway.db.read(work)
    if objects is None:
        raise ApiError(404, f"no account {auth_id!r}")
    return JSONResponse({"objects": objects})


@router.delete("/numbers/{number}", status_code=204, summary="Take a number back from its account")
async def remove(request: Request, number: str) -> Response:
    gateway: Gateway = request.app.state.gateway
    value = sanitize_sender(number)[:32]
    done = bool(value) and await gateway.writer.run(
        lambda conn: number_store.delete_number(conn, value)
    )
    if not done:
        raise ApiError(404, f"no number {number[:40]!r}")
    return Response(status_code=204)


def _opt_out(item: OptOut, accounts: dict[int, Account]) -> dict[str, Any]:
    owner = accounts.get(item.account_id)
    return {
        "account": owner.auth_id if owner else None,
        "number": item.number,
        "keyword": item.keyword,
        "message_uuid": item.message_uuid,
        "created_at": iso(item.created_at),
    }


@router.get("/opt-outs/", summary="Numbers that opted out of an account's messages (STOP)")
async def opt_outs(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    auth_id = request.query_params.get("account")

    def work(conn: Connection) -> list[dict[str, Any]] | None:
        accounts = {a.id: a for a in account_store.all_accounts(conn)}
        ids = None
        if auth_id:
            account = next((a for a in accounts.values() if a.auth_id == auth_id), None)
            if account is None:
                return None
            ids = [account.id]
        return [_opt_out(item, accounts) for item in opt_out_store.listed(conn, ids)]

    objects = await gateway.db.read(work)
    if objects is None:
        raise ApiError(404, f"no account {auth_id!r}")
    return JSONResponse({"objects": objects})


@router.delete(
    "/opt-outs/{auth_id}/{number}",
    status_code=204,
    summary="Put a number back: the account may send to it again",
)
async def put_back(request: Request, auth_id: str, number: str) -> Response:
    gateway: Gateway = request.app.state.gateway
    value = sanitize_sender(number)[:32]

    def work(conn: Connection) -> bool:
        account = account_store.by_auth_id(conn, auth_id)
        return account is not None and opt_out_store.remove(conn, account.id, value)

    if not value or not await gateway.writer.run(work):
        raise ApiError(404, f"{number[:40]!r} is not on the opt-out list of {auth_id[:40]!r}")
    return Response(status_code=204)

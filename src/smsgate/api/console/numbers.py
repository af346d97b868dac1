"""``/admin/numbers``: the numbers and short codes accounts own, with their applications and
channels; the applications (``message_url``, method, whether texts are logged); and the
opt-out list, where the operator puts a number back. The same as ``smsgate numbers``,
``smsgate applications`` and ``smsgate optouts``; a change applies to the next message that
arrives (routing reads the store)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from fastapi import APIRouter
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api import params as p
from smsgate.api.console.account_picker import chosen, default_choice, every_account, names
from smsgate.api.console.auth import Admin, CurrentAdmin
from smsgate.api.console.flash import Flash
from smsgate.api.console.forms import Form, FormError, form_action
from smsgate.api.console.rendering import page, redirect
from smsgate.core.errors import InvalidParameter
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.store import accounts as account_store
from smsgate.store import numbers as number_store
from smsgate.store import opt_outs as opt_out_store
from smsgate.store.numbers import Application, Number, Refused
from smsgate.store.opt_outs import OptOut
from smsgate.text.numbers import sanitize_sender

T = TypeVar("T")
router = APIRouter(prefix="/admin", include_in_schema=False)
PAGE = "/admin/numbers"
MAX_NUMBER = 40


@dataclass(frozen=True, slots=True)
class Row:
    number: Number
    kind: str
    application: Application | None


@dataclass(frozen=True, slots=True)
class AppRow:
    app: Application
    numbers: int


@dataclass(frozen=True, slots=True)
class Everything:
    numbers: list[Row]
    apps: list[AppRow]
    opt_outs: list[OptOut]


def _read(conn: Connection) -> Everything:
    apps = number_store.applications(conn)
    by_id = {app.id: app for app in apps}
    counts = number_store.numbers_per_application(conn)
    rows = [
        Row(
            num,
            number_store.number_type(num.number),
            by_id.get(num.application_id) if num.application_id is not None else None,
        )
        for num in number_store.numbers(conn)
    ]
    return Everything(
        rows, [AppRow(app, counts.get(app.id, 0)) for app in apps], opt_out_store.listed(conn)
    )


async def show_numbers(
    request: Request, admin: Admin, *, error: str | None = None, form: Form | None = None
) -> Response:
    gateway: Gateway = request.app.state.gateway
    accounts = await every_account(gateway)
    found = await gateway.db.read(_read)
    first = default_choice(accounts)
    return await page(
        request,
        admin,
        "numbers.html",
        title="Numbers",
        section="numbers",
        status=400 if error else 200,
        error=error,
        rows=found.numbers,
        apps=found.apps,
        opt_outs=found.opt_outs,
        accounts=accounts,
        account_names=names(accounts),
        auth_ids={a.id: a.auth_id for a in accounts},
        channels=gateway.settings.receiving_channels,
        quote=quote,
        values=form.values
        if form
        else {"account": first, "app_account": first, "message_method": "POST", "log": "1"},
    )


@router.get("/numbers")
async def listing(request: Request, admin: CurrentAdmin) -> Response:
    return await show_numbers(request, admin)


async def _again(request: Request, admin: Admin, form: Form, error: str) -> Response:
    return await show_numbers(request, admin, error=error, form=form)


async def _write(gateway: Gateway, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in the writer; a refusal as the form's error."""
    try:
        result: T = await gateway.writer.run(work)
        return result
    except Refused as exc:
        raise FormError(f"{exc.field}: {exc.message}") from None
    except IntegrityError:
        raise FormError("number: it belongs to an account already") from None


def _channel(form: Form, gateway: Gateway) -> str | None:
    raw = form.text("channel", "channel", max_length=64)
    try:
        return number_store.check_channel(raw, gateway.settings.receiving_channels)
    except Refused as exc:
        raise FormError(f"channel: {exc.message}") from None


def _alias(form: Form) -> str:
    return form.text("alias", "alias", max_length=number_store.MAX_ALIAS)


def _app_for(conn: Connection, app_id: str, account: Account) -> Application | None:
    """The application a number form chose ("" for none): one of ``account``'s."""
    if not app_id:
        return None
    found = number_store.application(conn, app_id) if app_id.isdigit() else None
    if found is None:
        raise FormError(f"application: there is no application {app_id[:40]}")
    if found.account_id != account.id:
        raise FormError(
            f"application: {found.name or found.app_id} is another account's; a number answers "
            f"only applications of its own account ({account.auth_id})"
        )
    return found


# numbers -------------------------------------------------------------------------------------


@form_action(router, "/numbers", on_error=_again)
async def add_number(request: Request, admin: Admin, form: Form) -> Response:
    """Give a number or short code to an account."""
    gateway: Gateway = request.app.state.gateway
    raw = form.text("number", "number", max_length=MAX_NUMBER)
    if not raw:
        raise FormError("number: write the number or short code")
    try:
        value = number_store.clean_number(raw)
    except Refused as exc:
        raise FormError(f"number: {exc.message}") from None
    account = chosen(form, await every_account(gateway))
    app_id = form.text("application", "application", max_length=40)
    channel = _channel(form, gateway)
    alias = _alias(form)
    now = gateway.clock.now_us()

    def work(conn: Connection) -> Number:
        app = _app_for(conn, app_id, account)
        return number_store.add_number(
            conn,
            number=value,
            account_id=account.id,
            app_id=app.app_id if app else None,
            channel=channel,
            alias=alias,
            now=now,
        )

    await _write(gateway, work)
    return redirect(request, admin, PAGE, Flash(f"Number {value} added to {account.auth_id}."))


def _number_of(request: Request) -> str:
    raw = request.path_params["number"]
    value = sanitize_sender(raw)[:32]
    if not value:
        raise FormError(f"there is no number {raw[:MAX_NUMBER]}")
    return value


@form_action(router, "/numbers/{number}", on_error=_again)
async def update_number(request: Request, admin: Admin, form: Form) -> Response:
    """Bind a number to another application or channel, or rename it."""
    gateway: Gateway = request.app.state.gateway
    value = _number_of(request)
    app_id = form.text("application", "application", max_length=40)
    channel = _channel(form, gateway)
    alias = _alias(form)

    def work(conn: Connection) -> bool:
        found = number_store.number(conn, value)
        if found is None:
            return False
        owner = account_store.by_id(conn, found.account_id)
        assert owner is not None
        app = _app_for(conn, app_id, owner)
        return number_store.update_number(
            conn, value, application_id=app.id if app else None, channel=channel, alias=alias
        )

    if not await _write(gateway, work):
        raise FormError(f"there is no number {value}: it may have been removed")
    return redirect(request, admin, PAGE, Flash(f"Number {value} changed."))


@form_action(router, "/numbers/{number}/remove", on_error=_again)
async def remove_number(request: Request, admin: Admin, form: Form) -> Response:
    """Take a number back from its account."""
    gateway: Gateway = request.app.state.gateway
    value = _number_of(request)
    if not await gateway.writer.run(lambda conn: number_store.delete_number(conn, value)):
        raise FormError(f"there is no number {value}: it may have been removed already")
    return redirect(
        request,
        admin,
        PAGE,
        Flash(f"Number {value} removed: what arrives for it now is the channel's account's."),
    )


# applications --------------------------------------------------------------------------------


def _app_fields(form: Form) -> tuple[str, str | None, str, bool]:
    """An application form's name, message_url (None: none), method and log switch."""
    try:
        name = number_store.check_name(form.text("app_name", "name", max_length=200))
    except Refused:
        raise FormError("name: give the application a name") from None
    raw_url = form.text("message_url", "message URL", max_length=p.MAX_URL)
    try:
        url = p.message_url({"message_url": raw_url}, "message_url")
    except InvalidParameter:
        raise FormError(
            f"message URL {raw_url[:100]!r}: a full http:// or https:// URL, "
            "smpp://SYSTEM_ID, or nothing"
        ) from None
    method = form.raw("message_method").strip().upper()
    if method not in ("GET", "POST"):
        raise FormError("method: choose GET or POST")
    return name, url, method, form.flag("log")


@form_action(router, "/applications", on_error=_again)
async def create_application(request: Request, admin: Admin, form: Form) -> Response:
    """Create an application for an account."""
    gateway: Gateway = request.app.state.gateway
    account = chosen(form, await every_account(gateway), "app_account")
    name, url, method, log = _app_fields(form)
    now = gateway.clock.now_us()
    made = await gateway.writer.run(
        lambda conn: number_store.insert_application(
            conn,
            account_id=account.id,
            name=name,
            message_url=url,
            message_method=method,
            log_incoming_messages=log,
            now=now,
        )
    )
    return redirect(
        request,
        admin,
        PAGE,
        Flash(f"Application {made.app_id} ({name}) created for {account.auth_id}."),
    )


def _app_id_of(request: Request) -> str:
    raw = request.path_params["app_id"]
    if not raw.isdigit() or len(raw) > number_store.MAX_APP_ID:
        raise FormError(f"there is no application {raw[:40]}")
    return str(raw)


@form_action(router, "/applications/{app_id}", on_error=_again)
async def update_application(request: Request, admin: Admin, form: Form) -> Response:
    """Change an application; its numbers follow at once."""
    gateway: Gateway = request.app.state.gateway
    app_id = _app_id_of(request)
    name, url, method, log = _app_fields(form)
    now = gateway.clock.now_us()
    done = await gateway.writer.run(
        lambda conn: number_store.update_application(
            conn,
            app_id,
            now,
            name=name,
            message_url=url,
            message_method=method,
            log_incoming_messages=log,
        )
    )
    if not done:
        raise FormError(f"there is no application {app_id}: it may have been deleted")
    return redirect(request, admin, PAGE, Flash(f"Application {app_id} ({name}) changed."))


@form_action(router, "/applications/{app_id}/delete", on_error=_again)
async def delete_application(request: Request, admin: Admin, form: Form) -> Response:
    """Delete an application; its numbers stay, with no application."""
    gateway: Gateway = request.app.state.gateway
    app_id = _app_id_of(request)
    if not await gateway.writer.run(lambda conn: number_store.delete_application(conn, app_id)):
        raise FormError(f"there is no application {app_id}: it may have been deleted already")
    return redirect(
        request,
        admin,
        PAGE,
        Flash(f"Application {app_id} deleted; its numbers now have no application."),
    )


# opt-outs ------------------------------------------------------------------------------------


@form_action(router, "/opt-outs/{auth_id}/{number}/remove", on_error=_again)
async def put_back(request: Request, admin: Admin, form: Form) -> Response:
    """Take a number off an account's opt-out list: its messages may go there again."""
    gateway: Gateway = request.app.state.gateway
    auth_id = request.path_params["auth_id"]
    value = _number_of(request)

    def work(conn: Connection) -> bool:
        account = account_store.by_auth_id(conn, auth_id)
        return account is not None and opt_out_store.remove(conn, account.id, value)

    if not await gateway.writer.run(work):
        raise FormError(f"{value} is not on the opt-out list of {auth_id[:40]}")
    return redirect(
        request, admin, PAGE + "#opt-outs", Flash(f"{value} may get {auth_id}'s messages again.")
    )

"""``/admin/messages``: every account's messages, searched by number, state, direction,
account and time, a page at a time; and one message with every state change and every
callback attempt. Numbers and texts are shown as the message's ``log`` setting allows
(``message_view.py``); a search by number does not find messages whose numbers are hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.console.account_picker import every_account, names
from smsgate.api.console.auth import CurrentAdmin
from smsgate.api.console.errors import PageError
from smsgate.api.console.forms import FormError
from smsgate.api.console.message_view import viewed
from smsgate.api.console.rendering import page
from smsgate.core.clock import parse_filter_span
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account, Message
from smsgate.core.states import Direction, State
from smsgate.store import reports
from smsgate.store.reports import MessageQuery

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 10_000
STATES = tuple(state.value for state in State)
DIRECTIONS = tuple(direction.value for direction in Direction)
FILTERS = ("number", "state", "direction", "account", "since", "until")


def _time(params: Mapping[str, str], name: str, label: str, end: bool) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    found = parse_filter_span(raw)
    if found is None:
        raise FormError(f"{label}: a time such as 2026-01-31 14:30 (UTC), not {raw[:40]!r}")
    start, span = found
    # "until 14:30" takes in the whole of that minute.
    return start + span if end else start


def read_query(params: Mapping[str, str], accounts: list[Account]) -> MessageQuery:
    """The search the form asks for; FormError for a value it cannot mean."""
    number = params.get("number", "").strip().replace(" ", "").lstrip("+")
    if len(number) > 32:
        raise FormError("number: at most 32 characters")
    state = params.get("state", "").strip()
    if state and state not in STATES:
        raise FormError(f"state: one of {', '.join(STATES)}")
    direction = params.get("direction", "").strip()
    if direction and direction not in DIRECTIONS:
        raise FormError("direction: inbound or outbound")
    auth_id = params.get("account", "").strip()
    account_id = None
    if auth_id:
        found = next((a for a in accounts if a.auth_id == auth_id), None)
        if found is None:
            raise FormError("account: choose one of the accounts listed")
        account_id = found.id
    since = _time(params, "since", "from", end=False)
    until = _time(params, "until", "until", end=True)
    if since is not None and until is not None and until <= since:
        raise FormError("until: a time after from")
    return MessageQuery(
        number=number or None,
        state=state or None,
        direction=direction or None,
        account_id=account_id,
        since=since,
        until=until,
    )


def _page_number(params: Mapping[str, str]) -> int:
    raw = params.get("page", "1").strip()
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_PAGE else 1


@router.get("/messages")
async def search(request: Request, admin: CurrentAdmin) -> Response:
    gateway: Gateway = request.app.state.gateway
    params = dict(request.query_params)
    accounts = await every_account(gateway)
    number = _page_number(params)
    kept = {name: params[name] for name in FILTERS if params.get(name)}
    error = None
    found: list[Message] = []
    more = False
    try:
        query = read_query(params, accounts)
    except FormError as exc:
        error = exc.message
    else:
        offset = (number - 1) * PAGE_SIZE
        found, more = await gateway.db.read(
            lambda conn: reports.search(conn, query, PAGE_SIZE, offset)
        )

    def link(to: int) -> str:
        return "/admin/messages?" + urlencode({**kept, "page": str(to)})

    return await page(
        request,
        admin,
        "messages.html",
        title="Messages",
        section="messages",
        status=400 if error else 200,
        error=error,
        filters={name: params.get(name, "") for name in FILTERS},
        states=STATES,
        directions=DIRECTIONS,
        accounts=accounts,
        account_names=names(accounts),
        messages=[viewed(msg) for msg in found],
        page_number=number,
        previous_url=link(number - 1) if number > 1 else None,
        next_url=link(number + 1) if more else None,
        searched=bool(kept),
    )


@router.get("/messages/{uuid}")
async def detail(request: Request, uuid: str, admin: CurrentAdmin) -> Response:
    gateway: Gateway = request.app.state.gateway
    uuid = uuid[:36]
    msg = await gateway.db.read(lambda conn: reports.message(conn, uuid))
    if msg is None:
        raise PageError(404, "No such message", f"There is no message {uuid}.")
    owner = await gateway.accounts.by_id(msg.account_id)
    events = await gateway.db.read(lambda conn: reports.state_changes(conn, uuid))
    callbacks = await gateway.db.read(lambda conn: reports.callback_attempts(conn, uuid))
    return await page(
        request,
        admin,
        "message.html",
        title="Message",
        section="messages",
        view=viewed(msg),
        owner=owner,
        events=events,
        callbacks=callbacks,
    )

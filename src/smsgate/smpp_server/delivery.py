"""The way back to ESMEs bound to the SMPP server face: delivery receipts for what they
submitted, and inbound messages (MO) for applications whose ``message_url`` names them.

Both go through the callback outbox, so nothing is lost while an ESME is not bound: a row of
kind ``smpp_receipt`` (written by ``core/record.py`` when a message with an ``smpp://`` url
reaches a final state) or ``inbound`` (``core/inbound_routing.py``, for an ``smpp://SYSID``
message_url) is attempted here as deliver_sm to a receiver or transceiver session of that
system_id on this node, most recently active first. The attempt is delivered only when every
deliver_sm of it is answered ESME_ROK; otherwise the notifier tries again with backoff until
the row's deadline. An attempt that fails part-way sends every part again the next time:
delivery is at least once. A node where the ESME is not bound fails the attempt ("no
receiver bound"); the row is tried again, and may be claimed by the node where it is. A bind
makes the system_id's waiting rows due at once (``bound``).

Receipts: one deliver_sm per message_id the ESME was given (the message's uuid, or G-1 … G-N
for a message assembled from N parts), esm_class 0x04, the receipt text of SMPP 3.4 Appendix
B in ASCII with data_coding 0, and the receipted_message_id and message_state TLVs:

    state                     stat      message_state  err
    delivered                 DELIVRD   2              000
    failed or undelivered     EXPIRED   3              420
      with error 420
    undelivered               UNDELIV   5              the message's error code
    failed                    REJECTD   8              the message's error code

``err`` is the Plivo error code in three digits (1000, unknown, is written 999). With
registered_delivery 2 (``?failure_only=1``) a delivered message gets no receipt.

Inbound messages: deliver_sm with esm_class 0, source_addr the sender and destination_addr
the number it was sent to, the text in the GSM default alphabet (data_coding 0, or the
session's default alphabet) or UCS-2 (data_coding 8), a long text as parts with a
concatenation header (UDHI). Once delivered, ``core/forwarding.py`` records the message
delivered; there are no Message XML replies over SMPP.

Only sessions of the row's account are used: an application cannot send one account's
messages to another account's ESME.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson
import structlog
from sqlalchemy import Connection, or_, update

from smsgate.core import errors
from smsgate.core.clock import to_datetime
from smsgate.core.inbound_routing import INBOUND
from smsgate.core.models import Account, Callback
from smsgate.core.notifier import BY_HTTP, Attempter, Fallback
from smsgate.core.states import State
from smsgate.core.submission import RECEIPT, SMPP_SCHEME, is_smpp_url
from smsgate.smpp.coding import ESM_UDHI, DefaultAlphabet, submit_parts
from smsgate.smpp.connection import Connection as SmppConnection
from smsgate.smpp.connection import ConnectionClosed, ResponseTimeout
from smsgate.smpp.pdu import Command, Pdu, PduError, Status, Tag, status_name
from smsgate.smpp.receipts import format_receipt
from smsgate.smpp_server.urls import parse
from smsgate.store.schema import callbacks
from smsgate.text.errors import EncodeError
from smsgate.text.segments import segment

if TYPE_CHECKING:
    from smsgate.core.gateway import Gateway

log = structlog.get_logger(__name__)

ESM_RECEIPT = 0x04
DEFAULT_WINDOW = 10
#: stat and message_state (SMPP 3.4 5.3.2.35) of a final receipt.
DELIVRD, EXPIRED, UNDELIV, REJECTD = ("DELIVRD", 2), ("EXPIRED", 3), ("UNDELIV", 5), ("REJECTD", 8)

Made = str | Literal[Fallback.BY_HTTP] | None


class Receiver(Protocol):
    """A bound session that may receive deliver_sm (``smpp_server/session.py``)."""

    @property
    def system_id(self) -> str: ...
    @property
    def account(self) -> Account: ...
    @property
    def connection(self) -> SmppConnection: ...
    @property
    def default_alphabet(self) -> str: ...


class Receivers(Protocol):
    """What finds the sessions bound on this node (``smpp_server/server.py``'s SmppServer)."""

    def receivers(self, system_id: str) -> Sequence[Receiver]: ...


def receipt_stat(status: str, error_code: str) -> tuple[str, int]:
    """The receipt's stat and message_state for a message's final state."""
    if status == State.DELIVERED:
        return DELIVRD
    if error_code == errors.EXPIRED:
        return EXPIRED
    return UNDELIV if status == State.UNDELIVERED else REJECTD


def receipt_err(status: str, error_code: str) -> str:
    """The receipt's err: the Plivo error code in three digits."""
    if status == State.DELIVERED:
        return errors.SUCCESS
    code = int(error_code) if error_code.isdigit() else int(errors.UNKNOWN)
    return f"{min(code, 999):03d}"


def address(number: str) -> dict[str, Any]:
    """``number`` as an SMPP address (TON/NPI): international, a short code, or an
    alphanumeric sender ID."""
    if number.isdigit():
        return {"ton": 1 if len(number) > 8 else 0, "npi": 1, "addr": number[:20]}
    text = number.encode("ascii", "replace").decode("ascii")
    return {"ton": 5, "npi": 0, "addr": text[:20]}


def _addresses(source: str, destination: str) -> dict[str, Any]:
    src, dst = address(source), address(destination)
    return {
        "source_addr_ton": src["ton"],
        "source_addr_npi": src["npi"],
        "source_addr": src["addr"],
        "dest_addr_ton": dst["ton"],
        "dest_addr_npi": dst["npi"],
        "destination_addr": dst["addr"],
    }


def receipt_pdus(message_ids: list[str], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The deliver_sm fields of the receipts of one message (from its receipt row's params):
    from the message's destination to its sender, as SMSCs send them."""
    status, code = str(params.get("Status", "")), str(params.get("ErrorCode", ""))
    stat, state = receipt_stat(status, code)
    err = receipt_err(status, code)
    submitted = to_datetime(int(params.get("SubmitDate") or 0))
    done = to_datetime(int(params.get("DoneDate") or 0))
    text = str(params.get("Text") or "")
    where = _addresses(str(params.get("To", "")), str(params.get("From", "")))
    pdus = []
    for message_id in message_ids:
        receipt = format_receipt(
            message_id, stat=stat, err=err, submit_date=submitted, done_date=done, text=text
        )
        pdus.append(
            {
                **where,
                "esm_class": ESM_RECEIPT,
                "data_coding": 0,
                "short_message": receipt.encode("ascii", "replace"),
                "tlvs": {
                    Tag.RECEIPTED_MESSAGE_ID: message_id.encode("ascii") + b"\x00",
                    Tag.MESSAGE_STATE: bytes((state,)),
                },
            }
        )
    return pdus


def inbound_pdus(
    params: dict[str, Any], reference: int, default_alphabet: DefaultAlphabet = "gsm7"
) -> list[dict[str, Any]]:
    """The deliver_sm fields of an inbound message (from its ``inbound`` row's params): GSM
    when the text fits the default alphabet (as the link reads data_coding 0), else UCS-2;
    EncodeError when it fits neither (longer than 255 parts)."""
    text = str(params.get("Text") or "")
    where = _addresses(str(params.get("From", "")), str(params.get("To", "")))
    try:
        parts = submit_parts(
            text, segment(text).name, reference=reference, default_alphabet=default_alphabet
        )
    except EncodeError:
        parts = submit_parts(text, "UCS-2", reference=reference)
    return [
        {
            **where,
            "esm_class": ESM_UDHI if part.esm_class_udhi else 0,
            "data_coding": part.data_coding,
            "short_message": part.short_message,
            "tlvs": part.tlvs,
        }
        for part in parts
    ]


def _alphabet(value: str) -> DefaultAlphabet:
    if value == "latin1":
        return "latin1"
    if value == "ascii":
        return "ascii"
    return "gsm7"


class SmppDelivery:
    """Receipts and inbound messages to bound ESMEs (``gateway.smpp_delivery``)."""

    def __init__(self, gateway: Gateway, window: int = DEFAULT_WINDOW) -> None:
        self._gateway = gateway
        self._servers: list[Receivers] = []
        self._window = window
        self._windows: weakref.WeakKeyDictionary[SmppConnection, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._random = random.Random()  # noqa: S311 - concatenation references
        notifier = gateway.notifier
        self._inbound_http: Attempter | None = notifier.attempters.get(INBOUND)
        notifier.attempters[RECEIPT] = self.attempt_receipt
        notifier.attempters[INBOUND] = self.attempt_inbound

    # sessions ------------------------------------------------------------------------------

    def attach(self, server: Receivers) -> None:
        """Have attempts use ``server``'s sessions (its ``start()`` calls this)."""
        if server not in self._servers:
            self._servers.append(server)

    def detach(self, server: Receivers) -> None:
        if server in self._servers:
            self._servers.remove(server)

    def receivers(self, system_id: str) -> list[Receiver]:
        """Bound sessions of ``system_id`` on this node that may receive."""
        return [session for server in self._servers for session in server.receivers(system_id)]

    async def bound(self, system_id: str) -> int:
        """Make ``system_id``'s waiting receipts and inbound messages due now, as a receiver
        or transceiver of it has just bound; how many there were."""
        now = self._gateway.clock.now_us()
        base = SMPP_SCHEME + system_id
        c = callbacks.c
        stmt = (
            update(callbacks)
            .where(
                c.state == "pending",
                c.claimed_by.is_(None),
                c.kind.in_((RECEIPT, INBOUND)),
                c.next_attempt_at > now,
                or_(
                    c.url == base,
                    c.url.startswith(base + "/", autoescape=True),
                    c.url.startswith(base + "?", autoescape=True),
                ),
            )
            .values(next_attempt_at=now)
        )

        def work(conn: Connection) -> int:
            return conn.execute(stmt).rowcount

        made_due = await self._gateway.writer.run(work)
        if made_due:
            log.info("smpp rows due for a new bind", system_id=system_id, count=made_due)
            self._gateway.notifier.notify()
        return made_due

    # attempts ------------------------------------------------------------------------------

    async def attempt_receipt(self, cb: Callback) -> Made:
        try:
            target = parse(cb.url)
        except ValueError as exc:
            return str(exc)
        params = orjson.loads(cb.params)
        if target.failure_only and params.get("Status") == State.DELIVERED:
            return None  # registered_delivery 2: failures only
        ids = target.ids(cb.message_uuid or str(params.get("MessageUUID", "")))
        pdus = receipt_pdus(ids, params)
        return await self._send(target.system_id, cb.account_id, lambda session: pdus)

    async def attempt_inbound(self, cb: Callback) -> Made:
        if not is_smpp_url(cb.url):
            return BY_HTTP if self._inbound_http is None else await self._inbound_http(cb)
        try:
            target = parse(cb.url)
        except ValueError as exc:
            return str(exc)
        params = orjson.loads(cb.params)

        def build(session: Receiver) -> list[dict[str, Any]]:
            reference = self._random.randrange(0x10000)
            return inbound_pdus(params, reference, _alphabet(session.default_alphabet))

        return await self._send(target.system_id, cb.account_id, build)

    async def _send(
        self,
        system_id: str,
        account_id: int,
        build: Callable[[Receiver], list[dict[str, Any]]],
    ) -> str | None:
        """Send ``build(session)``'s deliver_sm, in order, to a session of ``system_id``:
        None once every one is answered ESME_ROK, else why not. A session that closes or
        does not answer hands the whole attempt to the next one."""
        found = self.receivers(system_id)
        sessions = [session for session in found if session.account.id == account_id]
        if not sessions:
            if found:
                return f"{system_id} is not an ESME of this account"
            return f"no receiver bound for {system_id} on this node"
        error = ""
        for session in sessions:
            try:
                pdus = build(session)
            except (EncodeError, PduError) as exc:
                return f"cannot be sent as deliver_sm: {exc}"
            try:
                for fields in pdus:
                    answer = await self._request(session.connection, fields)
                    if answer.command != Command.DELIVER_SM_RESP or answer.status:
                        return f"{system_id} answered deliver_sm with {_refusal(answer)}"
                return None
            except (ConnectionClosed, ResponseTimeout) as exc:
                error = str(exc)
            except PduError as exc:
                return f"cannot be sent as deliver_sm: {exc}"
        return f"deliver_sm to {system_id} not answered: {error}"

    async def _request(self, connection: SmppConnection, fields: dict[str, Any]) -> Pdu:
        """One deliver_sm, within the session's window of outstanding receipts."""
        window = self._windows.get(connection)
        if window is None:
            window = self._windows[connection] = asyncio.Semaphore(self._window)
        async with window:
            return await connection.request(Command.DELIVER_SM, **fields)


def _refusal(answer: Pdu) -> str:
    if answer.command == Command.GENERIC_NACK:
        return f"generic_nack {status_name(answer.status)}"
    if answer.status == Status.ESME_ROK:
        return answer.name
    return status_name(answer.status)

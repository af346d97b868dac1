"""What a status callback carries (Plivo's parameters), built from a message after a transition."""

from __future__ import annotations

from decimal import Decimal

from smsgate.core.clock import callback_time
from smsgate.core.models import Message
from smsgate.core.states import State

_FIVE_PLACES = Decimal("0.00001")


def total_amount(rate: str, units: int) -> str:
    return str((Decimal(rate) * units).quantize(_FIVE_PLACES))


def _error_code(msg: Message, status: str) -> str:
    if status in (State.FAILED, State.UNDELIVERED):
        return msg.error_code
    if status == State.DELIVERED:
        return "000"
    return ""


def status_params(msg: Message, status: str, sequence: int) -> dict[str, str]:
    return {
        "MessageUUID": msg.uuid,
        "ParentMessageUUID": msg.uuid,
        "PartInfo": "",
        "To": msg.to_number,
        "From": msg.from_number,
        "Type": msg.type,
        "Status": status,
        "ErrorCode": _error_code(msg, status),
        "Units": str(msg.units),
        "TotalRate": msg.total_rate,
        "TotalAmount": total_amount(msg.total_rate, msg.units),
        "MCC": "",
        "MNC": "",
        "Sequence": str(sequence),
        "MessageTime": callback_time(msg.created_at),
        "QueuedTime": callback_time(msg.created_at),
        "SentTime": callback_time(msg.sent_at),
        "DeliveryReportTime": callback_time(msg.dlr_at),
        "RequesterIP": msg.requester_ip,
        "PowerpackUUID": "",
    }

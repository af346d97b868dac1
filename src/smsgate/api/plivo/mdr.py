"""Messages as Plivo's MDR objects."""

from __future__ import annotations

from typing import Any

from smsgate.core.callbacks import total_amount
from smsgate.core.clock import plivo_time
from smsgate.core.models import Message
from smsgate.core.privacy import HIDE_NUMBERS
from smsgate.core.states import Direction
from smsgate.text.numbers import mask_number, network_name

ZERO = "0.00000"


def mdr(msg: Message, owner_auth_id: str) -> dict[str, Any]:
    hide = msg.direction == Direction.OUTBOUND and msg.log in HIDE_NUMBERS
    from_number = mask_number(msg.from_number) if hide else msg.from_number
    to_number = mask_number(msg.to_number) if hide else msg.to_number
    return {
        "carrier_fees": ZERO,
        "carrier_fees_rate": ZERO,
        "conversation_expiration_timestamp": None,
        "conversation_id": "",
        "conversation_origin": "",
        "destination_country_iso2": msg.destination_country_iso2,
        "destination_network": network_name(msg.to_number)
        if msg.direction == Direction.OUTBOUND
        else "",
        "dlt_entity_id": msg.dlt_entity_id,
        "dlt_template_category": msg.dlt_template_category,
        "dlt_template_id": msg.dlt_template_id,
        "encoding": msg.encoding,
        "error_code": msg.error_code,
        "from_number": from_number,
        "is_domestic": False,
        "log": msg.log,
        "mcc": "",
        "mnc": "",
        "message_direction": msg.direction,
        "message_state": msg.state,
        "message_time": plivo_time(msg.created_at),
        "message_type": msg.type,
        "message_uuid": msg.uuid,
        "powerpack_id": "",
        "replaced_sender": "",
        "requester_ip": msg.requester_ip,
        "resource_uri": f"/v1/Account/{owner_auth_id}/Message/{msg.uuid}/",
        "tendlc_campaign_id": None,
        "tendlc_registration_status": "not_applicable",
        "text_replaced": msg.text_replaced,
        "to_number": to_number,
        "total_amount": total_amount(msg.total_rate, msg.units),
        "total_rate": msg.total_rate,
        "units": msg.units,
    }

"""The 3GPP TS 23.040 PDU codec: SMS-SUBMIT, SMS-DELIVER and SMS-STATUS-REPORT, and the
reassembly of concatenated messages. Pure functions; decoders raise PduError only."""

from smsgate.text.errors import EncodeError, PduError
from smsgate.text.pdu.address import Address
from smsgate.text.pdu.dcs import Alphabet as Coding
from smsgate.text.pdu.dcs import DataCoding
from smsgate.text.pdu.tpdu import (
    Deliver,
    Outcome,
    Pdu,
    StatusReport,
    Submit,
    decode,
    encode_deliver,
    encode_status_report,
    encode_submit,
)

__all__ = [
    "Address",
    "Coding",
    "DataCoding",
    "Deliver",
    "EncodeError",
    "Outcome",
    "Pdu",
    "PduError",
    "StatusReport",
    "Submit",
    "decode",
    "encode_deliver",
    "encode_status_report",
    "encode_submit",
]

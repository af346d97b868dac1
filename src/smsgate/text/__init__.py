"""Pure text functions, no I/O: GSM 03.38 alphabets (with the national language tables),
segmentation, smart encoding, the 3GPP TS 23.040 PDU codec, and phone numbers."""

from smsgate.text.segments import Encoding, Segmentation, segment

__all__ = ["Encoding", "Segmentation", "segment"]

"""What upstream providers' callbacks mean, and how to check that they sent them. Pure: no I/O.

* Statuses: Plivo's and Twilio's message statuses as smsgate's verdicts (``delivered`` or
  ``undelivered`` with one of Plivo's error codes), or nothing to record.
* Signatures: Plivo's V3 scheme (through ``core/signing.py``, the same code that signs
  smsgate's own callbacks) and Twilio's ``X-Twilio-Signature``, computed as Twilio's
  ``RequestValidator`` does.
* Nonces: the Plivo V3 nonces seen lately, so that a replayed request is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from smsgate.core import errors
from smsgate.core.signing import Params, v3_signature

# statuses ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusMeaning:
    """``state`` is ``delivered`` or ``undelivered`` (with ``error_code``) when the status is a
    verdict to record; None when there is nothing to record (the message is on its way, or the
    status is ``known`` to be none of smsgate's business, or not ``known`` at all)."""

    state: str | None
    error_code: str = ""
    known: bool = True


_NOTHING = StatusMeaning(None)
_UNKNOWN = StatusMeaning(None, known=False)

#: Plivo: ``queued`` and ``sent`` say the message is on its way: smsgate recorded ``sent`` when
#: it handed the message over. ``failed`` comes after that handover too, so it is
#: ``undelivered`` here (smsgate's ``failed`` means it never handed the message over).
#: ``read`` (WhatsApp) implies delivered.
_PLIVO = {
    "queued": "",
    "sent": "",
    "received": "",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "undelivered",
    "rejected": "undelivered",
}

#: Twilio's message statuses, likewise.
_TWILIO = {
    "accepted": "",
    "scheduled": "",
    "queued": "",
    "sending": "",
    "sent": "",
    "receiving": "",
    "received": "",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "undelivered",
    "canceled": "undelivered",
}

#: Twilio's error codes as Plivo's (see docs/inbound-endpoints.md); others are 1000.
TWILIO_ERRORS = {
    "30001": errors.DISPATCH_FAILED,  # queue overflow
    "30002": errors.DISPATCH_FAILED,  # account suspended
    "30003": errors.DESTINATION_TEMPORARILY_UNAVAILABLE,  # unreachable destination handset
    "30004": errors.PROHIBITED_BY_CARRIER,  # message blocked
    "30005": errors.INVALID_DESTINATION,  # unknown destination handset
    "30006": errors.DESTINATION_PERMANENTLY_UNAVAILABLE,  # landline or unreachable carrier
    "30007": "30",  # carrier violation: filtered as spam
    "30008": errors.UNKNOWN,  # unknown error
    "30009": errors.NETWORK_ERROR,  # missing segment
    "30010": "900",  # message price exceeds max price
    "30032": errors.PROHIBITED_BY_CARRIER,  # toll-free number not verified
    "30034": errors.PROHIBITED_BY_CARRIER,  # 10DLC number not registered
    "21211": errors.INVALID_DESTINATION,  # invalid 'To' number
    "21212": errors.INVALID_SOURCE,  # invalid 'From' number
    "21408": errors.NO_ROUTE,  # region not enabled
    "21610": "200",  # the recipient replied STOP
    "21612": errors.NO_ROUTE,  # cannot route to this number
    "21614": errors.INVALID_DESTINATION,  # not a mobile number
    "21617": errors.MESSAGE_TOO_LONG,  # body too long
}


def _meaning(table: Mapping[str, str], status: str, code: str) -> StatusMeaning:
    state = table.get(status.strip().lower())
    if state is None:
        return _UNKNOWN
    if not state:
        return _NOTHING
    return StatusMeaning(state, code if state == "undelivered" else errors.SUCCESS)


def plivo_status(status: str, error_code: str = "") -> StatusMeaning:
    """A Plivo status callback's ``Status`` and ``ErrorCode`` (already Plivo's codes)."""
    code = error_code.strip()
    if not (code.isdigit() and len(code) <= 8) or code.strip("0") == "":
        code = errors.UNKNOWN  # missing, malformed, or "000" on a failure
    return _meaning(_PLIVO, status, code)


def twilio_status(status: str, error_code: str = "") -> StatusMeaning:
    """A Twilio status callback's ``MessageStatus`` and ``ErrorCode`` (Twilio's codes)."""
    return _meaning(_TWILIO, status, TWILIO_ERRORS.get(error_code.strip(), errors.UNKNOWN))


# signatures ----------------------------------------------------------------------------------


def plivo_v3_valid(
    auth_token: str, method: str, url: str, params: Params, nonce: str, header: str
) -> bool:
    """Whether ``header`` (``X-Plivo-Signature-V3``: one signature, or several separated by
    commas, as Plivo sends while a token is being rotated) signs this request.
    ``params`` are the body's parameters of a POST (none for a GET: its query is in ``url``);
    computed as ``plivo.utils.validate_v3_signature`` does."""
    expected = v3_signature(auth_token, method, url, params, nonce).encode()
    found = False
    for candidate in header.split(","):
        found |= hmac.compare_digest(expected, candidate.strip().encode())
    return found


TWILIO_ALGORITHMS = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}


def twilio_algorithm(settings_header: str) -> str:
    """The algorithm ``X-Twilio-Webhooks-Signature-Settings`` names (``key=…,algorithm=…``);
    HMAC_SHA1, Twilio's Auth Token signature, when it names none."""
    for part in settings_header.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def _values(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def twilio_signature(
    auth_token: str, url: str, params: Params, algorithm: str = "HMAC_SHA1"
) -> str:
    """base64(HMAC(auth_token, url + each parameter's name and value, sorted by name, then
    value)): the ``X-Twilio-Signature`` of a request to ``url`` carrying ``params`` (a POST's
    body; none for a GET, whose query is part of ``url``)."""
    data = url
    for name in sorted(params):
        for value in sorted(set(_values(params[name]))):
            data += name + value
    digest = hmac.new(auth_token.encode(), data.encode(), TWILIO_ALGORITHMS[algorithm]).digest()
    return base64.b64encode(digest).decode()


def _port_forms(url: str) -> list[str]:
    """``url`` without its port and with the scheme's default port: Twilio signs one or the
    other, and its own validator accepts both."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    bare = host.split("]")[0] + "]" if host.startswith("[") else host.split(":")[0]
    try:
        port = parts.port
    except ValueError:
        port = None
    with_port = host if port else f"{host}:{443 if parts.scheme == 'https' else 80}"
    return [
        urlunsplit(parts._replace(netloc=userinfo + at + netloc)) for netloc in (bare, with_port)
    ]


def twilio_valid(
    auth_token: str, url: str, params: Params, signature: str, algorithm: str = "HMAC_SHA1"
) -> bool:
    """Whether ``signature`` (``X-Twilio-Signature``) signs this request."""
    if algorithm not in TWILIO_ALGORITHMS:
        return False
    found = False
    for candidate in _port_forms(url):
        expected = twilio_signature(auth_token, candidate, params, algorithm).encode()
        found |= hmac.compare_digest(expected, signature.strip().encode())
    return found


# nonces --------------------------------------------------------------------------------------


class NonceCache:
    """The nonces each endpoint saw in the last ``window`` (microseconds), in this process.

    An endpoint keeps at most ``max_entries``; past that the oldest are forgotten first (and
    ``evicted`` counts them), so memory stays bounded under a flood of valid requests.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self.evicted = 0
        self._seen: dict[str, OrderedDict[str, int]] = {}

    def reserve(self, endpoint: str, nonce: str, now: int, window: int) -> bool:
        """Remember ``nonce``; False if it was seen within the window (a replay)."""
        seen = self._seen.setdefault(endpoint, OrderedDict())
        while seen:
            oldest, expires = next(iter(seen.items()))
            if expires > now:
                break
            del seen[oldest]
        if nonce in seen:
            return False
        seen[nonce] = now + window
        while len(seen) > self.max_entries:
            seen.popitem(last=False)
            self.evicted += 1
        return True

    def release(self, endpoint: str, nonce: str) -> None:
        """Forget ``nonce``: its request was not processed, so the provider may send it again."""
        self._seen.get(endpoint, OrderedDict()).pop(nonce, None)

    def __len__(self) -> int:
        return sum(len(seen) for seen in self._seen.values())

"""Identifiers: message UUIDs, Plivo-shaped account ids and tokens."""

from __future__ import annotations

import os
import random
import secrets
import string
import threading
import time

_ID_ALPHABET = string.ascii_uppercase + string.digits
_TOKEN_ALPHABET = string.ascii_letters + string.digits


_lock = threading.Lock()
_last_ms = 0
_sequence = 0
#: Seeded from the OS once: uniqueness comes from the time and counter, this only spreads them.
_random = random.Random(os.urandom(16))  # noqa: S311 - not a secret


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7), strictly increasing within this process (a
    12-bit counter orders those made in the same millisecond): new rows land at the end of
    the index, and messages of one request sort in request order."""
    global _last_ms, _sequence
    with _lock:  # ids are made on the event loop and on the store threads
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _sequence += 1
            if _sequence > 0xFFF:
                _last_ms += 1
                _sequence = 0
            ms = _last_ms
        else:
            _last_ms, _sequence = ms, 0
        sequence = _sequence
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | sequence << 64
        | 0b10 << 62
        | _random.getrandbits(62)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def api_id() -> str:
    """A request id (time-ordered, like every id smsgate makes)."""
    return uuid7()


def new_auth_id(subaccount: bool = False) -> str:
    """``MA`` or ``SA`` and 18 upper-case letters and digits, as Plivo's SDKs check."""
    prefix = "SA" if subaccount else "MA"
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(18))


def new_auth_token() -> str:
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(40))

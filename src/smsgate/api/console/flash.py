"""Flash messages: what a form did, shown once on the page its redirect leads to.

A flash travels in a short-lived cookie (``Path=/admin``, ``HttpOnly``, ``SameSite=Strict``)
and is cleared by the page that shows it. It may carry a secret shown once (a new pass code
or token), so the cookie is sealed: encrypted with a keystream of HMAC-SHA256 blocks over a
random nonce and a counter, then authenticated (encrypt-then-MAC), with keys derived from the
admin's console secret. Nothing else can read it or make one, and any node can open it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Literal

import orjson

from smsgate.api.console.auth import Admin

COOKIE = "smsgate_console_flash"
MAX_AGE_SECONDS = 120
_NONCE = 16
_TAG = 16
_BLOCK = hashlib.sha256().digest_size


@dataclass(frozen=True, slots=True)
class Flash:
    notice: str
    level: Literal["ok", "error"] = "ok"
    #: Shown once, in a box of its own, with ``secret_label`` saying what it is.
    secret: str | None = None
    secret_label: str = ""


def _keystream(key: bytes, nonce: bytes, size: int) -> bytes:
    blocks = (size + _BLOCK - 1) // _BLOCK
    return b"".join(
        hmac.new(key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(blocks)
    )[:size]


def seal(admin: Admin, flash: Flash) -> str:
    plain = orjson.dumps(
        {
            "n": flash.notice[:500],
            "l": flash.level,
            "s": flash.secret,
            "sl": flash.secret_label[:200],
        }
    )
    nonce = os.urandom(_NONCE)
    stream = _keystream(admin.derived("flash-encrypt"), nonce, len(plain))
    sealed = nonce + bytes(a ^ b for a, b in zip(plain, stream, strict=True))
    tag = hmac.new(admin.derived("flash-mac"), sealed, hashlib.sha256).digest()[:_TAG]
    return base64.urlsafe_b64encode(sealed + tag).decode().rstrip("=")


def unseal(admin: Admin, cookie: str) -> Flash | None:
    """The flash in ``cookie``, or None when it is not one sealed for this admin."""
    try:
        raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) <= _NONCE + _TAG:
        return None
    sealed, tag = raw[:-_TAG], raw[-_TAG:]
    expected = hmac.new(admin.derived("flash-mac"), sealed, hashlib.sha256).digest()[:_TAG]
    if not hmac.compare_digest(tag, expected):
        return None
    nonce, secret = sealed[:_NONCE], sealed[_NONCE:]
    stream = _keystream(admin.derived("flash-encrypt"), nonce, len(secret))
    try:
        data = orjson.loads(bytes(a ^ b for a, b in zip(secret, stream, strict=True)))
        level: Literal["ok", "error"] = "error" if data["l"] == "error" else "ok"
        return Flash(str(data["n"]), level, data["s"], str(data["sl"]))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None

"""Flash messages: what a form did, shown once on the page its redirect leads to.

A flash travels in a short-lived cookie (``Path=/admin``, ``HttpOnly``, ``SameSite=Strict``)
and is cleared by the page that shows it. It may carry a secret shown once (a new pass code
or token), so the cookie is sealed with AES-256-GCM (the ``cryptography`` package) under a
key derived from the admin's console secret and a random nonce. Nothing else can read it or
make one, and any node can open it.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Literal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smsgate.api.console.auth import Admin

COOKIE = "smsgate_console_flash"
MAX_AGE_SECONDS = 120
_NONCE = 12
_TAG = 16
_PURPOSE = "flash-aes-gcm"


@dataclass(frozen=True, slots=True)
class Flash:
    notice: str
    level: Literal["ok", "error"] = "ok"
    #: Shown once, in a box of its own, with ``secret_label`` saying what it is.
    secret: str | None = None
    secret_label: str = ""


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
    sealed = AESGCM(admin.derived(_PURPOSE)).encrypt(nonce, plain, COOKIE.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal(admin: Admin, cookie: str) -> Flash | None:
    """The flash in ``cookie``, or None when it is not one sealed for this admin."""
    try:
        raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) <= _NONCE + _TAG:
        return None
    try:
        plain = AESGCM(admin.derived(_PURPOSE)).decrypt(raw[:_NONCE], raw[_NONCE:], COOKIE.encode())
    except InvalidTag:
        return None
    try:
        data = orjson.loads(plain)
        level: Literal["ok", "error"] = "error" if data["l"] == "error" else "ok"
        return Flash(str(data["n"]), level, data["s"], str(data["sl"]))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None

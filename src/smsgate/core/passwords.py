"""Hashing secrets that only need verifying (admin passwords) with the standard library's
scrypt, and checking them without holding up the event loop."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import os
import secrets
import time

_N, _R, _P = 2**14, 8, 1


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _nobody() -> str:
    """Checked when there is no stored hash, so that an unknown name costs as much as a
    wrong password and answers do not tell which names exist."""
    return hash_password(secrets.token_hex(16))


class PasswordChecker:
    """scrypt checks (tens of ms, 16 MiB each) on worker threads, ``at_once`` at a time, so
    that a flood of wrong passwords stalls neither the event loop nor every worker thread;
    successes are remembered for ``remember`` seconds."""

    def __init__(self, at_once: int = 2, remember: float = 10.0) -> None:
        self._checks = asyncio.Semaphore(at_once)
        self._remember = remember
        self._verified: dict[bytes, float] = {}

    async def check(self, password: str, stored: str | None, who: str = "") -> bool:
        """Whether ``password`` matches ``stored`` (None: there is no such user)."""
        key = hashlib.sha256(f"{who}\0{stored}\0{password}".encode()).digest()
        now = time.monotonic()
        if stored is not None and self._verified.get(key, 0.0) > now:
            return True
        async with self._checks:
            ok = await asyncio.to_thread(verify_password, password, stored or _nobody())
        if not ok or stored is None:
            return False
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[key] = now + self._remember
        return True

"""Pass codes: what an account's owner hands out so that others can send through the account
for a while, from the send page.

A code is 12 characters from an alphabet without look-alikes (no 0/O, 1/I/L), drawn by
``secrets``: about 59 bits. It is shown once, when it is made, in groups of four
(``ABCD-EFGH-JKMN``); only its SHA-256 digest is stored (it is random, so a fast digest is
enough). Typing it is forgiving: case, spaces and dashes do not matter.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from smsgate.core.patterns import check_pattern

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 12
DEFAULT_MINUTES = 20
MAX_MINUTES = 7 * 24 * 60
MAX_MESSAGES = 1_000_000
MAX_PATTERNS = 100


class Status(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def shown(code: str) -> str:
    """``code`` in groups of four, as it is shown to people."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalize(typed: str) -> str:
    """What a person typed, as the code it stands for."""
    return "".join(char for char in typed.upper() if char not in " -\t")


def digest(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()


def well_formed(typed: str) -> bool:
    code = normalize(typed)
    return len(code) == LENGTH and all(char in ALPHABET for char in code)


@dataclass(frozen=True, slots=True)
class Limits:
    """What a new pass code may do, checked."""

    minutes: int
    max_messages: int | None
    destinations: tuple[str, ...] | None
    label: str


def limits(
    minutes: int = DEFAULT_MINUTES,
    max_messages: int | None = None,
    destinations: list[str] | None = None,
    label: str = "",
) -> Limits:
    """ValueError naming what is wrong."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be 1 to {MAX_MINUTES:,} (a week), not {minutes}")
    if max_messages is not None and not 1 <= max_messages <= MAX_MESSAGES:
        raise ValueError(f"max_messages must be 1 to {MAX_MESSAGES:,}, not {max_messages}")
    checked = None
    if destinations:
        if len(destinations) > MAX_PATTERNS:
            raise ValueError(f"at most {MAX_PATTERNS} destination patterns")
        checked = tuple(check_pattern(pattern) for pattern in destinations)
    if len(label) > 200 or any(ord(char) < 32 for char in label):
        raise ValueError("label: at most 200 characters, no control characters")
    return Limits(minutes, max_messages, checked, label)


@dataclass(frozen=True, slots=True)
class PassCode:
    id: int
    account_id: int
    label: str
    created_by: str
    created_at: int
    expires_at: int
    max_messages: int | None
    used_messages: int
    destinations: tuple[str, ...] | None  # patterns (core.patterns); None: any
    revoked_at: int | None
    last_used_at: int | None

    def status(self, now: int) -> Status:
        if self.revoked_at is not None:
            return Status.REVOKED
        if self.max_messages is not None and self.used_messages >= self.max_messages:
            return Status.USED_UP
        if now >= self.expires_at:
            return Status.EXPIRED
        return Status.ACTIVE

    def remaining(self) -> int | None:
        if self.max_messages is None:
            return None
        return max(0, self.max_messages - self.used_messages)

"""Pass codes and destination patterns, without a store."""

from __future__ import annotations

import pytest

from smsgate.core import patterns
from smsgate.core.passcodes import (
    ALPHABET,
    LENGTH,
    PassCode,
    Status,
    digest,
    limits,
    new_code,
    normalize,
    shown,
    well_formed,
)


def test_codes_are_random_unambiguous_and_forgiving_to_type() -> None:
    codes = {new_code() for _ in range(1000)}
    assert len(codes) == 1000
    assert all(len(c) == LENGTH and set(c) <= set(ALPHABET) for c in codes)
    assert not set("01IOL") & set(ALPHABET)
    code = next(iter(codes))
    assert shown(code).count("-") == 2
    typed = f"  {shown(code).lower()} "
    assert well_formed(typed) and digest(typed) == digest(code)
    assert normalize("ab cd-ef") == "ABCDEF"
    assert not well_formed("ABCD-EFGH-JK0O")  # look-alikes are never part of a code
    assert not well_formed("short")


def code(**changes: object) -> PassCode:
    values: dict[str, object] = {
        "id": 1,
        "account_id": 1,
        "label": "",
        "created_by": "cli",
        "created_at": 0,
        "expires_at": 1_000,
        "max_messages": None,
        "used_messages": 0,
        "destinations": None,
        "revoked_at": None,
        "last_used_at": None,
        **changes,
    }
    return PassCode(**values)  # type: ignore[arg-type]


def test_status_revoked_before_used_up_before_expired() -> None:
    assert code().status(999) is Status.ACTIVE
    assert code().status(1_000) is Status.EXPIRED
    assert code(max_messages=2, used_messages=2).status(0) is Status.USED_UP
    assert code(revoked_at=5, max_messages=1, used_messages=1).status(2_000) is Status.REVOKED
    assert code(max_messages=5, used_messages=2).remaining() == 3
    assert code().remaining() is None


def test_limits_are_checked() -> None:
    assert limits().minutes == 20
    made = limits(60, 5, ["+44 7700*", "GB", "4477009001??"], "shop")
    assert made.destinations == ("447700*", "GB", "4477009001??")
    for bad in (
        {"minutes": 0},
        {"minutes": 10_081},
        {"max_messages": 0},
        {"destinations": ["44-7700"]},
        {"destinations": ["gb"]},
        {"label": "x\ny"},
    ):
        with pytest.raises(ValueError):
            limits(**bad)  # type: ignore[arg-type]


def test_destination_patterns() -> None:
    assert patterns.allowed(None, "447700900123")
    assert patterns.allowed(["447700900123"], "447700900123")
    assert not patterns.allowed(["447700900123"], "447700900124")
    assert patterns.allowed(["4477*"], "447700900124")
    assert patterns.allowed(["4477009001??"], "447700900124")
    assert not patterns.allowed(["4477009001?"], "447700900124")
    assert patterns.allowed(["GB"], "447700900124", "GB")
    assert not patterns.allowed(["GB"], "33612345678", "FR")
    assert not patterns.allowed([], "447700900124")

from __future__ import annotations

from smsgate.core.clock import (
    FakeClock,
    callback_time,
    from_datetime,
    parse_filter_span,
    plivo_time,
    to_datetime,
)

US = 1_626_181_446_799_021  # 2021-07-13 13:04:06.799021 UTC


def test_formats() -> None:
    assert plivo_time(US) == "2021-07-13 13:04:06.799021+00:00"
    assert callback_time(US) == "2021-07-13 13:04:06.799021"
    assert callback_time(None) == ""
    assert from_datetime(to_datetime(US)) == US


def test_filter_times_in_every_form() -> None:
    assert parse_filter_span("2021-07-13 13:04:06.799021") == (US, 1)
    assert parse_filter_span("2021-07-13 13:04:06") == (US - 799_021, 1_000_000)
    assert parse_filter_span("2021-07-13 13:04") == (US - 6_799_021, 60_000_000)
    assert parse_filter_span("2021-07-13T13:04") == (US - 6_799_021, 60_000_000)
    day = parse_filter_span("2021-07-13")
    assert day is not None and day[1] == 86_400_000_000
    assert parse_filter_span("13/07/2021") is None


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(US)
    assert clock.now_us() == US
    clock.advance(1.5)
    assert clock.now_us() == US + 1_500_000


def test_uuid7_is_a_strictly_increasing_version_7_uuid() -> None:
    import uuid

    from smsgate.core.ids import new_auth_id, uuid7

    made = [uuid7() for _ in range(10_000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    parsed = uuid.UUID(made[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    auth_id = new_auth_id()
    assert len(auth_id) == 20 and auth_id.startswith("MA") and auth_id.isalnum()
    assert new_auth_id(subaccount=True).startswith("SA")

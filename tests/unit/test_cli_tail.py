"""`smsgate messages tail`'s pure half: where to read next when ids and uuids commit out of
order, which changes to show, how they read, and when following is over."""

from __future__ import annotations

from typing import Any

import pytest

from smsgate.core.clock import US_PER_SECOND
from smsgate.core.ids import uuid7
from smsgate.operator.tail import (
    CREATED,
    Change,
    CreationWindow,
    Followed,
    IdCursor,
    Selection,
    SinceError,
    from_event,
    from_message,
    line,
    parse_since,
    record,
    uuid_floor,
)

NOW = 1_780_000_000 * US_PER_SECOND


def change(**overrides: Any) -> Change:
    values: dict[str, Any] = {
        "time": NOW,
        "message_uuid": "01a2019b-3f7c-7000-976a-da580435fcaf",
        "account": "MA" + "X" * 18,
        "direction": "outbound",
        "event": "sent",
        "state": "sent",
        "from_number": "14155550100",
        "to_number": "447700900123",
        "error_code": "",
        "channel": "simulator",
        "detail": "",
        "log": "true",
        "event_id": 7,
    }
    values.update(overrides)
    return Change(**values)


def test_since() -> None:
    assert parse_since("now", NOW).replay is False and parse_since("NOW", NOW).start == NOW
    assert parse_since("all", NOW).replay is True and parse_since("all", NOW).start is None
    assert parse_since("10", NOW).start == NOW - 600 * US_PER_SECOND
    assert parse_since("0.5", NOW).start == NOW - 30 * US_PER_SECOND
    for bad in ("yesterday", "-5", "nan", "inf", ""):
        with pytest.raises(SinceError):
            parse_since(bad, NOW)


def test_uuid_floor_sorts_below_every_uuid_made_from_then_on() -> None:
    made = uuid7()
    ms_now = int(made.replace("-", "")[:12], 16)
    assert uuid_floor(ms_now * 1000) < made
    assert uuid_floor(ms_now * 1000 + 999) < made  # the whole millisecond
    assert uuid_floor((ms_now + 1) * 1000) > made
    assert len(uuid_floor(0)) == 36 and uuid_floor(0) < uuid_floor(1000)


def test_the_id_cursor_asks_again_for_ids_it_skipped_until_they_commit_or_time_out() -> None:
    # At start, 8 and 9 are missing below the highest id (10): uncommitted, or rolled back.
    cursor = IdCursor(10, present=[6, 7, 10], now=0.0, window=5, grace=10.0)
    assert cursor.also() == [8, 9]
    assert cursor.take([9, 11, 14], now=1.0) == [9, 11, 14]
    assert cursor.high == 14 and cursor.also() == [8, 12, 13]
    # Seen once: never again, even if asked for again.
    assert cursor.take([9, 11, 13], now=2.0) == [13]
    assert cursor.also() == [8, 12]
    # 8 was missing since 0 s: given up after the grace; 12 since 1 s.
    assert cursor.take([], now=10.5) == []
    assert cursor.also() == [12]
    assert cursor.take([], now=11.5) == [] and cursor.also() == []


def test_the_id_cursor_remembers_a_bounded_number_of_gaps() -> None:
    cursor = IdCursor(0, now=0.0, max_gaps=3)
    assert cursor.take([1_000_000], now=0.0) == [1_000_000]
    assert cursor.also() == [999_997, 999_998, 999_999]
    assert IdCursor(0, now=0.0).also() == []


def test_the_creation_window_looks_back_and_shows_each_message_once() -> None:
    window = CreationWindow(uuid_floor(NOW - 60 * US_PER_SECOND), lookback_us=10 * US_PER_SECOND)
    assert window.floor(NOW) == uuid_floor(NOW - 10 * US_PER_SECOND)
    first, second = "01a2019b-0000-7000-8000-000000000001", "01a2019b-0000-7000-8000-000000000002"
    assert window.fresh([first], NOW) == [first]
    assert window.fresh([first, second], NOW) == [second]
    # The floor never moves back, even when the clock does.
    later = window.floor(NOW + 60 * US_PER_SECOND)
    assert window.floor(NOW) == later
    # The start floor holds while the lookback would reach before it.
    assert CreationWindow("9").floor(NOW) == "9"


def test_lines_and_records_mask_what_log_hides() -> None:
    shown = line(change(error_code="", detail=""))
    assert shown.startswith("2026-05-28 20:26:40.000  01a2019b-3f7c-7000-976a-da580435fcaf")
    assert "outbound" in shown and "sent" in shown
    assert "14155550100→447700900123  -  simulator" in shown
    hidden = change(log="false", event=CREATED, state="queued", text="secret", event_id=None)
    assert "141XXXXX100→447XXXXXX123" in line(hidden)
    assert record(hidden)["text"] is None and record(hidden)["to_number"] == "447XXXXXX123"
    assert record(change(log="content_only", text="kept"))["text"] == "kept"
    assert record(change(log="number_only", text="gone"))["to_number"] == "447700900123"
    assert record(change(log="number_only", text="gone"))["text"] is None
    # An event that is not a change of state says what it is.
    retry = line(change(event="retry", state="queued", error_code="80", detail="modem busy"))
    assert "queued" in retry and "80" in retry and "(retry: modem busy)" in retry
    assert "(rejected by the simulator)" in line(
        change(event="failed", state="failed", detail="rejected by the simulator")
    )
    assert record(change())["time"] == "2026-05-28 20:26:40.000000+00:00"


def test_rows_become_changes() -> None:
    event = from_event(
        {
            "id": 3,
            "message_uuid": "u",
            "kind": "delivered",
            "state": "delivered",
            "error_code": "000",
            "detail": "",
            "created_at": NOW,
            "direction": "outbound",
            "from_number": "1",
            "to_number": "2",
            "channel": "sim",
            "log": "true",
            "auth_id": "MA1",
        }
    )
    assert (event.event_id, event.state, event.error_code, event.account) == (
        3,
        "delivered",
        "000",
        "MA1",
    )
    row = {
        "uuid": "u",
        "created_at": NOW,
        "direction": "outbound",
        "state": "delivered",  # its state now; the creation is its first state
        "error_code": "000",
        "from_number": "1",
        "to_number": "2",
        "channel": "sim",
        "log": "true",
        "text": "hi",
        "auth_id": "MA1",
    }
    made = from_message(row)
    assert (made.event, made.state, made.channel, made.event_id) == (CREATED, "queued", None, None)
    inbound = from_message({**row, "direction": "inbound", "state": "received"})
    assert (inbound.state, inbound.channel) == ("received", "sim")
    assert made.sort_key < event.sort_key


def test_a_number_matched_once_stays_followed_after_it_is_masked() -> None:
    selection = Selection(numbers=["+44 7700 900123"], states=["delivered"])
    uuid = "01a2019b-3f7c-7000-976a-da580435fcaf"
    assert not selection.relevant(change(message_uuid="other", to_number="447700900999"))
    created = change(event=CREATED, state="queued", message_uuid=uuid, log="false")
    assert selection.relevant(created) and not selection.shown(created)
    final = change(
        event="delivered", state="delivered", message_uuid=uuid, to_number="447XXXXXX123"
    )
    assert selection.relevant(final) and selection.shown(final)
    # Inbound messages from that number match too.
    assert selection.relevant(change(direction="inbound", from_number="447700900123"))
    assert Selection().relevant(change()) and Selection().shown(change())


def test_following_ends_when_every_message_seen_is_final() -> None:
    followed = Followed()
    assert not followed.done  # nothing seen yet
    followed.see(change(message_uuid="a", event=CREATED, state="queued"))
    followed.see(change(message_uuid="b", event="sent", state="sent"))
    assert not followed.done
    followed.see(change(message_uuid="a", event="delivered", state="delivered"))
    followed.see(change(message_uuid="b", event="failed", state="failed"))
    assert followed.done
    # Final stays final, whatever order changes come in; a creation tells nothing new.
    followed.see(change(message_uuid="a", event="sent", state="sent"))
    assert followed.done
    known = Followed()
    known.know("c", "sent")
    known.see(change(message_uuid="c", event=CREATED, state="queued"))
    assert known.states == {"c": "sent"}
    inbound = Followed()
    inbound.see(change(message_uuid="d", direction="inbound", event=CREATED, state="received"))
    assert inbound.done

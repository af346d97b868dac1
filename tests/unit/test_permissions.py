"""Permission rules: deny wins, allow lists narrow, every level must allow."""

from __future__ import annotations

import pytest

from smsgate.core.permissions import (
    Effect,
    Kind,
    Levels,
    Rule,
    check_rule_pattern,
    check_subject,
)

D, S = Kind.DESTINATION, Kind.SENDER


def rule(effect: str, pattern: str, kind: Kind = D, subject: str = "account:x") -> Rule:
    return Rule(0, subject, kind, Effect(effect), pattern)


def levels(*per_level: list[Rule]) -> Levels:
    return Levels(tuple((f"level{i}", tuple(rules)) for i, rules in enumerate(per_level)))


def test_no_rules_allow_everything() -> None:
    assert levels([], []).refuses(D, "447700900123", "GB") is None


def test_deny_refuses_what_it_matches_only() -> None:
    mine = levels([rule("deny", "44*")])
    assert mine.refuses(D, "447700900123", "GB") == "level0"
    assert mine.refuses(D, "14155550100", "US") is None


def test_an_allow_list_refuses_what_it_does_not_name() -> None:
    mine = levels([rule("allow", "GB"), rule("allow", "3361234567?")])
    assert mine.refuses(D, "447700900123", "GB") is None
    assert mine.refuses(D, "33612345678", "FR") is None
    assert mine.refuses(D, "33698765432", "FR") == "level0"


def test_deny_wins_over_allow_at_the_same_level() -> None:
    mine = levels([rule("allow", "GB"), rule("deny", "447700900*")])
    assert mine.refuses(D, "447700900123", "GB") == "level0"
    assert mine.refuses(D, "447911123456", "GB") is None


def test_an_inner_level_only_narrows() -> None:
    account, passcode = [rule("allow", "GB")], [rule("allow", "1*")]
    both = levels(account, passcode)
    # The pass code allows US numbers, but its account does not.
    assert both.refuses(D, "14155550100", "US") == "level0"
    assert both.refuses(D, "447700900123", "GB") == "level1"


def test_sender_rules_ignore_case_and_destination_rules() -> None:
    mine = levels([rule("allow", "myshop*", S), rule("deny", "44*")])
    assert mine.refuses(S, "MyShopUK") is None
    assert mine.refuses(S, "Other") == "level0"
    assert mine.refuses(D, "14155550100", "US") is None


@pytest.mark.parametrize("raw", ["GB", "+44 77*", "4477009001??", "1"])
def test_destination_patterns(raw: str) -> None:
    assert check_rule_pattern(D, raw)


@pytest.mark.parametrize("raw", ["gb", "44-77", "<script>", ""])
def test_bad_destination_patterns(raw: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        check_rule_pattern(D, raw)


@pytest.mark.parametrize("raw", ["<b>x</b>", "", "a" * 21, "My\nShop"])
def test_bad_sender_patterns(raw: str) -> None:
    with pytest.raises(ValueError, match="sender pattern"):
        check_rule_pattern(S, raw)


@pytest.mark.parametrize("raw", ["account:MAXXXXXXXXXXXXXXXXXX", "passcode/12", "smstools-api/lvv"])
def test_subjects(raw: str) -> None:
    assert check_subject(raw) == raw


@pytest.mark.parametrize("raw", ["account:nobody", "passcode", "a b/c", "/x"])
def test_bad_subjects(raw: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        check_subject(raw)

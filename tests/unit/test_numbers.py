from __future__ import annotations

import pytest

from smsgate.text.numbers import (
    mask_number,
    network_name,
    parse_destination,
    sanitize_destination,
    sanitize_sender,
    sender_kind,
)


def test_destination_sanitising_strips_plivo_punctuation() -> None:
    assert sanitize_destination("+1 (415) 555-0101") == "14155550101"
    assert sanitize_destination("44/7700.900123") == "447700900123"


@pytest.mark.parametrize(
    ("raw", "number", "country"),
    [
        ("+1 415 555 0101", "14155550101", "US"),
        ("16135550123", "16135550123", "CA"),
        ("447700900123", "447700900123", "GB"),
        ("491701234567", "491701234567", "DE"),
        ("31641600986", "31641600986", "NL"),
    ],
)
def test_valid_destinations(raw: str, number: str, country: str) -> None:
    dest = parse_destination(raw)
    assert dest is not None
    assert (dest.number, dest.country_iso2) == (number, country)


@pytest.mark.parametrize(
    "raw", ["", "abc", "1234", "0044770090012", "99912345678", "1415555010112345", "14155550101x"]
)
def test_invalid_destinations(raw: str) -> None:
    assert parse_destination(raw) is None


def test_network_comes_from_numbering_data() -> None:
    assert network_name("491701234567") == "T-Mobile"
    assert network_name("14155550101") == ""
    assert network_name("141XXXXX101") == ""


def test_sender_kinds() -> None:
    assert sanitize_sender("+1 (415) 555-0100") == "14155550100"
    assert sender_kind("14155550100") == "numeric"
    assert sender_kind("12345") == "numeric"
    assert sender_kind("MyShop") == "alphanumeric"
    assert sender_kind("ABCDEFGHIJK") == "alphanumeric"
    assert sender_kind("ABCDEFGHIJKL") is None
    assert sender_kind("123456789012345") is None
    assert sender_kind("") is None


def test_masking_keeps_three_digits_each_side() -> None:
    assert mask_number("14155551528") == "141XXXXX528"
    assert mask_number("12345") == "XXXXX"

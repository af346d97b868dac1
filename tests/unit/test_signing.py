"""Our callback signatures, checked by the official Plivo SDK's validators."""

from __future__ import annotations

import pytest
from plivo.utils import validate_signature, validate_v3_signature

from smsgate.core.signing import signature_headers, v2_signature, v3_signature

TOKEN = "MzE0ZjU2MGY0ZTU1YjVkNzBhMjE3NmMzNWI2ODg2"
PARAMS = {
    "MessageUUID": "01a2-uuid",
    "Status": "delivered",
    "To": "14155550101",
    "Text": "héllo & <you>",
    "Units": "1",
}


@pytest.mark.parametrize(
    "url",
    ["https://example.com/status", "https://example.com/s?x=1&a=b", "http://127.0.0.1:8000/cb/"],
)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_v3_is_accepted_by_the_sdk(url: str, method: str) -> None:
    headers = signature_headers(TOKEN, method, url, PARAMS)
    assert validate_v3_signature(
        method,
        url,
        headers["X-Plivo-Signature-V3-Nonce"],
        TOKEN,
        headers["X-Plivo-Signature-V3"],
        dict(PARAMS),
    )


def test_v3_without_params_and_with_lists() -> None:
    for params in ({}, {"message_uuid": ["b", "a"], "api_id": "x"}):
        sig = v3_signature(TOKEN, "POST", "https://example.com/r", params, "123")
        assert validate_v3_signature(
            "POST", "https://example.com/r", "123", TOKEN, sig, dict(params)
        )


def test_v3_rejects_tampering() -> None:
    sig = v3_signature(TOKEN, "POST", "https://example.com/s", PARAMS, "42")
    tampered = {**PARAMS, "Status": "failed"}
    assert not validate_v3_signature("POST", "https://example.com/s", "42", TOKEN, sig, tampered)
    assert not validate_v3_signature(
        "POST", "https://example.com/s", "42", "other", sig, dict(PARAMS)
    )


def test_v2_is_accepted_by_the_sdk() -> None:
    url = "https://example.com/status?x=1"
    sig = v2_signature(TOKEN, url, "12345")
    assert validate_signature(url, "12345", sig, TOKEN)
    assert not validate_signature(url, "12346", sig, TOKEN)

"""Plivo's callback signatures, so ``plivo.utils.validate_v3_signature`` and
``plivo.utils.validate_signature`` accept what smsgate sends.

V3: base64(HMAC-SHA256(auth_token, base + "." + nonce)). For GET the base is the URL without its
query, then "?" and ``k=v`` pairs of the parameters and the URL's query joined by "&", sorted by
key. For POST it is the URL without its query, "?", the URL's own sorted query (then "." when
there was one), then every body parameter as key+value, sorted by key, with no separators.
V2: base64(HMAC-SHA256(auth_token, URL without query + nonce)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit, urlunsplit

Params = Mapping[str, str | list[str]]


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _query_map(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def _sorted_query(params: Params) -> str:
    pieces = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            pieces.append("&".join(f"{key}={item}" for item in sorted(value)))
        else:
            pieces.append(f"{key}={value}")
    return "&".join(pieces)


def _sorted_pairs(params: Params) -> str:
    pieces = []
    for key in sorted(params):
        value = params[key]
        if isinstance(value, list):
            pieces.append("".join(f"{key}{item}" for item in sorted(value)))
        else:
            pieces.append(f"{key}{value}")
    return "".join(pieces)


def v3_base(method: str, url: str, params: Params) -> str:
    base = _without_query(url)
    if method.upper() == "GET":
        merged: dict[str, str | list[str]] = dict(params)
        merged.update(_query_map(url))
        query = _sorted_query(merged)
        return f"{base}?{query}" if query else base
    query = _sorted_query(_query_map(url))
    if query or params:
        base += "?" + query
    if query and params:
        base += "."
    return base + _sorted_pairs(params)


def _hmac_b64(key: str, data: str) -> str:
    digest = hmac.new(key.encode(), data.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def v3_signature(auth_token: str, method: str, url: str, params: Params, nonce: str) -> str:
    return _hmac_b64(auth_token, f"{v3_base(method, url, params)}.{nonce}")


def v2_signature(auth_token: str, url: str, nonce: str) -> str:
    return _hmac_b64(auth_token, _without_query(url) + nonce)


def new_nonce() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(20))


def signature_headers(auth_token: str, method: str, url: str, params: Params) -> dict[str, str]:
    """The V2 and V3 signature headers for a callback to ``url`` carrying ``params``."""
    nonce = new_nonce()
    return {
        "X-Plivo-Signature-V2": v2_signature(auth_token, url, nonce),
        "X-Plivo-Signature-V2-Nonce": nonce,
        "X-Plivo-Signature-V3": v3_signature(auth_token, method, url, params, nonce),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }

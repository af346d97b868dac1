"""Reading typed values out of a request's parameters, with errors that name the parameter.

Lenient where clients differ (numbers as strings, booleans as ``"True"``), strict about what
cannot be meant (an object where text belongs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from smsgate.core.errors import InvalidParameter
from smsgate.core.submission import is_smpp_url
from smsgate.smpp_server.urls import check_message_url

Params = Mapping[str, Any]

_INTEGER = re.compile(r"-?[0-9]{1,18}")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


MAX_URL = 2048


def text(
    params: Params,
    name: str,
    *,
    required: bool = False,
    numbers: bool = False,
    max_length: int | None = None,
) -> str | None:
    """A string parameter; with ``numbers`` a JSON number is taken as its digits."""
    value = params.get(name)
    if value is None:
        if required:
            raise InvalidParameter(name, f"{name} parameter is missing")
        return None
    if isinstance(value, str):
        if "\x00" in value:
            # No SMS needs a NUL, and PostgreSQL cannot store one in text.
            raise InvalidParameter(name, f"invalid {name}: it contains a NUL character")
        if max_length is not None and len(value) > max_length:
            raise InvalidParameter(name, f"invalid {name}: longer than {max_length:,} characters")
        return value
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidParameter(name, f"invalid {name}: expected a string, got {_kind(value)}")


def boolean(params: Params, name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidParameter(name, f"invalid {name}: expected true or false, got {value!r}")


def integer(params: Params, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidParameter(name, f"invalid {name}: expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    raise InvalidParameter(name, f"invalid {name}: expected an integer, got {value!r}")


def choice(params: Params, name: str, choices: Sequence[str], default: str | None) -> str | None:
    """One of ``choices``, matched case-insensitively, returned in its canonical case."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, str):
        for option in choices:
            if value.strip().lower() == option.lower():
                return option
    raise InvalidParameter(name, f"invalid {name} {value!r}: use one of {', '.join(choices)}")


def http_url(params: Params, name: str) -> str | None:
    value = text(params, name, max_length=MAX_URL)
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise InvalidParameter(
            name, f"invalid {name} {value!r}: use a fully qualified http:// or https:// URL"
        )
    return value


def message_url(params: Params, name: str) -> str | None:
    """An application's ``message_url``: an http(s) URL, or ``smpp://SYSTEM_ID`` for an ESME
    bound to the SMPP server face (see docs/smpp-server.md)."""
    value = text(params, name, max_length=MAX_URL)
    if value is None or not is_smpp_url(value.strip()):
        return http_url(params, name)
    try:
        return check_message_url(value.strip())
    except ValueError as exc:
        raise InvalidParameter(name, f"invalid {name}: {exc}") from None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__

"""Cross-site request forgery: every console form carries a token that only this admin's
pages can have put there, and a browser's ``Origin`` (or ``Referer``) must name this site.

A token is ``<issued>.<mac>``: the time it was issued (seconds) and an HMAC-SHA256 over the
admin's name and that time, keyed with the admin's console secret (``auth.Admin``). Any node
can check it, nothing is stored, and it is good for ``VALID_SECONDS``. Another admin's token,
an old one, or one made before the admin's password changed does not match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

from smsgate.api.console.auth import Admin

FIELD = "csrf_token"
VALID_SECONDS = 12 * 3600
#: Tolerated difference between the clocks of the node that issued and the one that checks.
SKEW_SECONDS = 300
_PURPOSE = "csrf"


def _mac(admin: Admin, issued: int) -> str:
    message = f"{admin.username}\0{issued}".encode()
    digest = hmac.new(admin.derived(_PURPOSE), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(admin: Admin, now: int) -> str:
    """A token for the forms of a page rendered at ``now`` (seconds)."""
    return f"{now}.{_mac(admin, now)}"


def refusal(admin: Admin, token: str | None, now: int) -> str | None:
    """Why ``token`` is not good for ``admin`` at ``now`` (seconds), or None when it is."""
    if not token:
        return "the form carries no security token"
    issued, _, mac = token.partition(".")
    if not issued.isdigit() or len(issued) > 12 or not mac:
        return "the form's security token is not one this console made"
    if not hmac.compare_digest(mac.encode(), _mac(admin, int(issued)).encode()):
        return "the form's security token is not one this console made for you"
    age = now - int(issued)
    if age > VALID_SECONDS or age < -SKEW_SECONDS:
        return "the form is too old: its security token has expired"
    return None


def _site(scheme: str, netloc: str) -> str:
    """``host[:port]`` in lower case, without the scheme's default port."""
    host = netloc.lower().rsplit("@", 1)[-1]
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return host


def _hosts(request: Request) -> set[str]:
    """This site as the browser may have named it: the Host header, or the one a proxy in
    front was asked for (a cross-site page cannot set ``X-Forwarded-Host``)."""
    found = set()
    for header in ("host", "x-forwarded-host"):
        value = request.headers.get(header, "").split(",")[0].strip()
        if value:
            for scheme in ("http", "https"):
                found.add(_site(scheme, value))
    return found


def cross_site(request: Request) -> str | None:
    """Why the request looks like it came from another site, or None. Browsers send
    ``Origin`` with every form POST; ``Referer`` is checked when there is no Origin."""
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null":
            return "the form was sent from a page without an origin"
        parts = urlsplit(origin)
        if _site(parts.scheme, parts.netloc) not in _hosts(request):
            return "the form was sent from another site"
        return None
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        if _site(parts.scheme, parts.netloc) not in _hosts(request):
            return "the form was sent from a page of another site"
    return None

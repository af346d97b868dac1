"""``GET /l/<token>``: a keyword handler's one-time link (``core/links.py``).

The first GET uses the link up: it redirects (302) or serves the content. Later ones get a page
saying the link was used (410); an expired link says so (410), an unknown or forged token is
not found (404). HEAD and link-preview bots see the same statuses without using the link up.
Every answer is ``no-store``, sends no Referer on (the token is the URL) and may not be framed;
content is served as one of a few plain types, never as a page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from smsgate.api.auth import client_ip
from smsgate.core.gateway import Gateway
from smsgate.core.links import Opening, is_preview_bot
from smsgate.store.links import REDIRECT

router = APIRouter(include_in_schema=False)

_COMMON = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
CONTENT_CSP = (
    "default-src 'none'; sandbox; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;
color:#222}}h1{{font-size:1.4rem}}p{{line-height:1.5}}</style></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""

PAGES = {
    "used": (410, "This link has already been used", "It could be opened only once."),
    "expired": (410, "This link has expired", "Ask for a new one by sending your message again."),
    "unknown": (404, "Link not found", "Check that the whole link was copied."),
    "usable": (
        200,
        "One-time link",
        "This link works once. Open it on the phone it was sent to; a preview does not use it.",
    ),
}


def _page(state: str, head: bool) -> Response:
    status, title, text = PAGES[state]
    body = b"" if head else _PAGE.format(title=title, text=text).encode()
    headers = {**_COMMON, "Content-Security-Policy": PAGE_CSP}
    return Response(body, status, headers=headers, media_type="text/html; charset=utf-8")


def _served(opening: Opening) -> Response:
    link = opening.link
    assert link is not None
    headers = {**_COMMON, "Content-Security-Policy": CONTENT_CSP}
    if link.kind == REDIRECT:
        headers["Location"] = link.target
        return Response(status_code=302, headers=headers)
    media = f"{link.content_type or 'text/plain'}; charset=utf-8"
    return Response(link.target.encode(), 200, headers=headers, media_type=media)


# HEAD first: it must never reach the route that uses the link up.
@router.head("/l/{token}")
async def look_at_link(request: Request, token: str) -> Response:
    gateway: Gateway = request.app.state.gateway
    return _page((await gateway.handlers.links.peek(token)).state, head=True)


@router.get("/l/{token}")
async def open_link(request: Request, token: str) -> Response:
    gateway: Gateway = request.app.state.gateway
    links = gateway.handlers.links
    agent = request.headers.get("user-agent", "")
    if is_preview_bot(agent):
        return _page((await links.peek(token)).state, head=False)
    opening = await links.open(token, ip=client_ip(request), agent=agent)
    if opening.state == "opened":
        return _served(opening)
    return _page(opening.state, head=False)

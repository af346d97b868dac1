"""One-time links a keyword handler hands out (``GET /l/<token>``, see docs/handlers.md).

A link's token is ``secrets.token_urlsafe(24)``, known only to whoever got the reply; the store
keeps its SHA-256 digest. A link redirects (302) to a URL or serves a text content, once: the
first GET records when, from which address and with which User-Agent it was opened (a
conditional UPDATE, so two opens at once cannot both win), notes ``link_opened`` on the
inbound message and queues a ``link_opened`` callback to the rule's handler, all in one
transaction. HEAD requests and link-preview bots see the link's state without using it up.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from sqlalchemy import Connection

from smsgate.config import Settings
from smsgate.core.clock import callback_time, seconds
from smsgate.core.submission import callback_row
from smsgate.store import keyword_rules as rule_store
from smsgate.store import links as link_store
from smsgate.store import messages as message_store
from smsgate.store import outbox
from smsgate.store.links import CONTENT, REDIRECT, Link
from smsgate.store.tokens import digest

if TYPE_CHECKING:
    from smsgate.core.gateway import Gateway

#: The callback kind (and the message event) of a link that was opened.
LINK_OPENED = "link_opened"
MAX_CONTENT = 64 * 1024  # characters
MAX_URL = 2048
MAX_EXPIRY = 366 * 86_400  # seconds
#: Content types served as they are (with charset=utf-8); any other is served as text/plain,
#: so a handler's content can never run as a page on the gateway's origin.
SAFE_TYPES = frozenset(
    {"text/plain", "text/csv", "text/calendar", "text/vcard", "text/x-vcard", "application/json"}
)
#: A token as made by ``new_token`` (and a little slack); anything else is unknown at once.
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
#: User-Agents of link-preview fetchers (chat apps, social networks, search engines): they see
#: a page about the link without using it up.
_PREVIEW_BOTS = re.compile(
    r"bot[/;_-]|crawler|spider|preview|facebookexternalhit|facebot|whatsapp|telegrambot|"
    r"twitterbot|discordbot|slackbot|linkedinbot|skypeuripreview|embedly|iframely|vkshare|"
    r"pinterest|mastodon|google-inspectiontool|headlesschrome",
    re.IGNORECASE,
)

State = Literal["unknown", "usable", "used", "expired", "opened"]


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """What a handler asked a link to do; ``expires_in`` None takes the settings'."""

    kind: str  # redirect | content
    target: str
    content_type: str  # the type served ("" for a redirect)
    expires_in: int | None = None


def served_type(content_type: str) -> str:
    """The type a content is served as: one of SAFE_TYPES, else text/plain."""
    base = content_type.split(";", 1)[0].strip().lower()
    return base if base in SAFE_TYPES else "text/plain"


def link_spec(
    *,
    redirect: str | None = None,
    content: str | None = None,
    content_type: str = "text/plain",
    expires_in: int | None = None,
) -> LinkSpec:
    """A checked link request, or ValueError saying what is wrong with it."""
    if (redirect is None) == (content is None):
        raise ValueError("a link needs either redirect or content")
    if expires_in is not None and (
        not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0
    ):
        raise ValueError("link expiry must be a positive number of seconds")
    if expires_in is not None and expires_in > MAX_EXPIRY:
        raise ValueError(f"link expiry is at most {MAX_EXPIRY} seconds (366 days)")
    if redirect is not None:
        if not isinstance(redirect, str) or len(redirect) > MAX_URL:
            raise ValueError(f"a link's redirect is a URL of at most {MAX_URL} characters")
        parts = urlsplit(redirect)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in redirect)
        ):
            raise ValueError(f"a link redirects to an http or https URL, not {redirect[:80]!r}")
        return LinkSpec(REDIRECT, redirect, "", expires_in)
    if not isinstance(content, str):
        raise ValueError("a link's content is text")
    if len(content) > MAX_CONTENT:
        raise ValueError(f"a link's content is at most {MAX_CONTENT} characters")
    if not isinstance(content_type, str):
        raise ValueError("a link's content_type is text")
    return LinkSpec(CONTENT, content, served_type(content_type), expires_in)


def new_token() -> tuple[str, str]:
    """A new token and the digest the store keeps of it."""
    token = secrets.token_urlsafe(24)
    return token, digest(token)


def is_preview_bot(user_agent: str) -> bool:
    return bool(_PREVIEW_BOTS.search(user_agent))


def base_url(settings: Settings) -> str:
    """What links are made with: ``[inbound] public_url``, else ``http://HOST:PORT``."""
    if settings.inbound.public_url:
        return settings.inbound.public_url.rstrip("/")
    host = settings.host
    if host in ("0.0.0.0", "", "*"):  # noqa: S104 - a listening address, not a bind
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


@dataclass(frozen=True, slots=True)
class Opening:
    """What opening a token found: ``opened`` (this request used it up), ``usable`` (seen
    without using it), ``used``, ``expired`` or ``unknown``."""

    state: State
    link: Link | None = None
    notified: bool = False  # a link_opened callback was queued


def state_of(link: Link, now: int) -> State:
    if link.opened_at is not None:
        return "used"
    if link.expires_at <= now:
        return "expired"
    return "usable"


def opened_params(link: Link, now: int, ip: str, agent: str) -> dict[str, str]:
    """What a webhook handler is told when one of its links is opened."""
    return {
        "Event": LINK_OPENED,
        "LinkID": str(link.id),
        "MessageUUID": link.message_uuid or "",
        "RuleID": "" if link.rule_id is None else str(link.rule_id),
        "OpenedAt": callback_time(now),
        "OpenedIP": ip,
        "UserAgent": agent,
    }


def _open(conn: Connection, token_hash: str, now: int, ip: str, agent: str) -> Opening:
    link = link_store.by_hash(conn, token_hash)
    if link is None:
        return Opening("unknown")
    if not link_store.open_once(conn, link.id, now=now, ip=ip, agent=agent):
        found = link_store.by_id(conn, link.id) or link
        return Opening("used" if found.opened_at is not None else "expired", found)
    link = replace(link, opened_at=now, opened_ip=ip[:64], opened_agent=agent[:300])
    if link.message_uuid is None:
        return Opening("opened", link)
    inbound = message_store.by_uuid(conn, link.message_uuid)
    private = inbound is not None and inbound.log == "false"
    detail = f"link {link.id} opened" + ("" if private else f" from {ip}")
    message_store.note(conn, link.message_uuid, LINK_OPENED, detail, now)
    rule = rule_store.by_id(conn, link.rule_id) if link.rule_id is not None else None
    if rule is None:
        return Opening("opened", link)
    row = callback_row(
        account_id=link.account_id,
        message_uuid=link.message_uuid,
        kind=LINK_OPENED,
        url=rule.handler,
        method=rule.method,
        params=opened_params(link, now, ip, agent),
        private=private,
        now=now,
        max_attempts=rule.max_attempts,
    )
    outbox.insert(conn, [row])
    return Opening("opened", link, notified=True)


class Links:
    """Making and opening links, for the gateway (``gateway.handlers.links``)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    @property
    def default_expiry(self) -> int:
        return self._gateway.settings.inbound.link_expiry_minutes * 60

    async def create(
        self, spec: LinkSpec, *, account_id: int, message_uuid: str | None, rule_id: int | None
    ) -> str:
        """Store a new link; its URL."""
        gateway = self._gateway
        token, token_hash = new_token()
        now = gateway.clock.now_us()
        expires_at = now + seconds(spec.expires_in or self.default_expiry)
        await gateway.writer.run(
            lambda conn: link_store.insert(
                conn,
                token_hash=token_hash,
                account_id=account_id,
                message_uuid=message_uuid,
                rule_id=rule_id,
                kind=spec.kind,
                target=spec.target,
                content_type=spec.content_type,
                now=now,
                expires_at=expires_at,
            )
        )
        return f"{base_url(gateway.settings)}/l/{token}"

    async def peek(self, token: str) -> Opening:
        """The state of the link ``token`` names, without using it up."""
        if not TOKEN.fullmatch(token):
            return Opening("unknown")
        gateway = self._gateway
        now = gateway.clock.now_us()
        link = await gateway.db.read(lambda conn: link_store.by_hash(conn, digest(token)))
        if link is None:
            return Opening("unknown")
        return Opening(state_of(link, now), link)

    async def open(self, token: str, *, ip: str, agent: str) -> Opening:
        """Use up the link ``token`` names, if it can be: ``opened`` for the one request that
        did, else why not."""
        if not TOKEN.fullmatch(token):
            return Opening("unknown")
        gateway = self._gateway
        now = gateway.clock.now_us()
        token_hash = digest(token)
        opening = await gateway.writer.run(lambda conn: _open(conn, token_hash, now, ip, agent))
        if opening.notified:
            gateway.notifier.notify()
        return opening

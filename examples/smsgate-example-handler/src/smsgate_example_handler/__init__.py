"""An example smsgate keyword handler: the unicorn wallpaper shop of django-sms-broker.

A handset sends ``ABC.UNICORN`` to the short code; the handler starts a purchase and answers
with a one-time link to the wallpaper; when the phone opens the link, the purchase is finished.
Any other ``ABC.`` message gets a short help reply.

Registered as the entry point ``wallpaper`` (group ``smsgate.handlers``)::

    smsgate rules add --account MA… --keyword ABC. --destination 567 --handler python:wallpaper

Purchases are kept in memory here, to keep the example short: a real shop keeps them in its
own database, and makes both steps idempotent, since an attempt may be repeated (a retry, a
restart in the middle of one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smsgate.handlers_api import Handled, HandlerContext, InboundMessage, LinkOpened, RetryLater

__all__ = ["UNICORN", "Purchase", "Wallpaper", "wallpaper"]

PRODUCT = "ABC.UNICORN"
#: The wallpaper: text art, served as text/plain by the one-time link.
UNICORN = r"""
              \
               \\
                \\\
        __       \\\\
       /  \_______\\\\\
      /  o          \\\\
     (_____          \\\
           \_         \\
             \         \
   Your unicorn wallpaper. Thank you for your purchase!
"""


@dataclass(slots=True)
class Purchase:
    message_uuid: str
    phone: str
    started_at: datetime
    link: str
    finished_at: datetime | None = None
    opened_from: str = ""

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class Wallpaper:
    """The handler: awaited with each message its rules send it."""

    def __init__(self) -> None:
        self.purchases: dict[str, Purchase] = {}
        self.paused = False  # a shop that is closed asks for the message again later

    async def __call__(
        self, message: InboundMessage, context: HandlerContext
    ) -> Handled | RetryLater:
        if self.paused:
            return RetryLater("the shop is closed for a moment")
        words = message.text.split()
        if not words or words[0].upper() != PRODUCT:
            return Handled(reply=f"Send {PRODUCT} to get a unicorn wallpaper.")
        purchase = self.purchases.get(message.uuid)
        if purchase is None:
            url = await context.link(content=UNICORN, content_type="text/plain", expires_in=3600)
            purchase = Purchase(message.uuid, message.from_number, message.received_at, url)
            self.purchases[message.uuid] = purchase
        return Handled(reply=f"Your unicorn wallpaper: {purchase.link}")

    async def link_opened(self, event: LinkOpened) -> None:
        """The phone opened the link: the purchase is finished."""
        purchase = self.purchases.get(event.message_uuid)
        if purchase is None:  # started before a restart: this example forgot it
            purchase = Purchase(event.message_uuid, "", event.opened_at, "")
            self.purchases[event.message_uuid] = purchase
        if purchase.finished_at is None:
            purchase.finished_at = event.opened_at
            purchase.opened_from = event.opened_ip


#: The entry point's object.
wallpaper = Wallpaper()

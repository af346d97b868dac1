"""A message as the console shows it: what its ``log`` setting lets anyone see.

The same rules as Plivo's API (``api/plivo/mdr.py``, ``core/privacy.py``): an outbound
message with ``log`` ``false`` or ``content_only`` shows its numbers masked; with ``false``
or ``number_only`` its text is not shown, even while it is still stored for sending.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.core.models import Message
from smsgate.core.privacy import HIDE_CONTENT, HIDE_NUMBERS
from smsgate.core.states import Direction
from smsgate.text.numbers import mask_number


@dataclass(frozen=True, slots=True)
class MessageView:
    message: Message
    from_number: str
    to_number: str
    #: None when it is not shown; ``text_withheld`` then says why.
    text: str | None
    text_withheld: str
    numbers_masked: bool


def viewed(msg: Message) -> MessageView:
    outbound = msg.direction == Direction.OUTBOUND
    hide_numbers = outbound and msg.log in HIDE_NUMBERS
    hide_text = outbound and msg.log in HIDE_CONTENT
    if hide_text:
        withheld = f"not shown: the message was sent with log={msg.log}"
    elif msg.text is None:
        withheld = "not kept"
    else:
        withheld = ""
    return MessageView(
        message=msg,
        from_number=mask_number(msg.from_number) if hide_numbers else msg.from_number,
        to_number=mask_number(msg.to_number) if hide_numbers else msg.to_number,
        text=None if hide_text else msg.text,
        text_withheld=withheld,
        numbers_masked=hide_numbers,
    )

"""Plivo Message XML, as an application answers an inbound message to reply to it.

    <Response>
      <Message src="14155550100" dst="447700900123" type="sms"
               callbackUrl="https://…" callbackMethod="POST">Thanks!</Message>
    </Response>

Pure: parsing only (with defusedxml: no entities, no external references). ``src`` and
``dst`` default to the inbound message's ``To`` and ``From``.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

MAX_REPLIES = 10
MAX_BYTES = 64 * 1024


class BadReply(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    src: str | None = None
    dst: str | None = None
    url: str | None = None
    method: str = "POST"


def looks_like_xml(content_type: str, body: bytes) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind in ("application/xml", "text/xml") or body.lstrip()[:9] == b"<Response"


def parse(body: bytes) -> list[Reply]:
    """The replies a ``<Response>`` asks for; BadReply saying what is wrong otherwise."""
    if len(body) > MAX_BYTES:
        raise BadReply(f"the XML answer is larger than {MAX_BYTES // 1024} KiB")
    try:
        root: Element = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise BadReply(f"the answer is not valid XML: {exc}") from None
    if root.tag != "Response":
        raise BadReply(f"the XML answer's root is <{root.tag[:40]}>, not <Response>")
    replies = []
    for element in root:
        if element.tag != "Message":
            raise BadReply(f"<Response> holds <{element.tag[:40]}>: only <Message> is supported")
        kind = element.get("type", "sms").lower()
        if kind != "sms":
            raise BadReply(f"<Message type={kind[:20]!r}>: only sms replies are supported")
        text = (element.text or "").strip()
        if not text:
            raise BadReply("a <Message> has no text")
        method = element.get("callbackMethod", "POST").upper()
        if method not in ("GET", "POST"):
            raise BadReply(f"<Message callbackMethod={method[:10]!r}>: use GET or POST")
        replies.append(
            Reply(text, element.get("src"), element.get("dst"), element.get("callbackUrl"), method)
        )
    if len(replies) > MAX_REPLIES:
        raise BadReply(f"at most {MAX_REPLIES} <Message> replies to one message")
    return replies

"""``smpp://`` URLs: an ESME bound to the SMPP server face as the place a message's receipts,
or an application's inbound messages, go.

    smpp://SYSID                 receipts for one message, its id the message's uuid; as an
                                 application's message_url, inbound messages to SYSID
    smpp://SYSID/G/N             receipts for a message assembled from N parts: ids G-1 … G-N
    …?failure_only=1             registered_delivery 2: a receipt only when it was not delivered

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from smsgate.core.submission import SMPP_SCHEME
from smsgate.store.smpp_users import SYSTEM_ID

FAILURE_ONLY = "failure_only"
MAX_PARTS = 255


@dataclass(frozen=True, slots=True)
class Target:
    """Where an ``smpp://`` URL points, and (for receipts) which ids it stands for."""

    system_id: str
    group: str | None = None
    total: int = 1
    failure_only: bool = False

    def ids(self, message_uuid: str) -> list[str]:
        """The message_ids the ESME was given for the message: one per part."""
        if self.group is None:
            return [message_uuid]
        return [f"{self.group}-{number}" for number in range(1, self.total + 1)]


def parse(url: str) -> Target:
    """The target of ``url``; ValueError saying why when it is not a valid ``smpp://`` URL."""
    if url[: len(SMPP_SCHEME)].lower() != SMPP_SCHEME:
        raise ValueError(f"{url[:100]!r} is not an smpp:// URL")
    rest = url[len(SMPP_SCHEME) :]
    path, _, query = rest.partition("?")
    system_id, *segments = path.split("/")
    if not SYSTEM_ID.fullmatch(system_id):
        raise ValueError(
            f"{url[:100]!r}: the system_id is 1 to 15 letters, digits, '_', '.' or '-'"
        )
    group: str | None = None
    total = 1
    if segments:
        if len(segments) != 2 or not segments[0].isalnum() or not segments[1].isdigit():
            raise ValueError(f"{url[:100]!r}: a message's parts are written /GROUP/TOTAL")
        group, total = segments[0], int(segments[1])
        if not 1 <= total <= MAX_PARTS:
            raise ValueError(f"{url[:100]!r}: a message has 1 to {MAX_PARTS} parts")
    flags = parse_qs(query, keep_blank_values=True)
    unknown = set(flags) - {FAILURE_ONLY}
    if unknown:
        raise ValueError(f"{url[:100]!r}: unknown parameter {sorted(unknown)[0]!r}")
    failure_only = flags.get(FAILURE_ONLY, ["0"])[-1] in ("1", "true")
    return Target(system_id, group, total, failure_only)


def receipt_url(
    system_id: str, group: str | None = None, total: int = 1, failure_only: bool = False
) -> str:
    """The ``url`` of a message an ESME submitted asking for receipts."""
    url = SMPP_SCHEME + system_id
    if group is not None:
        url += f"/{group}/{total}"
    return url + (f"?{FAILURE_ONLY}=1" if failure_only else "")


def check_message_url(url: str) -> str:
    """``url`` as an application's message_url (``smpp://SYSID``); ValueError when it is
    not one."""
    target = parse(url)
    if target.group is not None or target.failure_only or "?" in url:
        raise ValueError(f"{url[:100]!r}: an application's smpp:// URL is smpp://SYSTEM_ID")
    return SMPP_SCHEME + target.system_id

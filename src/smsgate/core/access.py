"""Enforcing permission rules on what a face submits (see ``core/permissions.py``).

Rules are cached per subject for a few seconds: a change made here applies at once in this
process, and within ``ttl`` seconds in the others.
"""

from __future__ import annotations

import time

from smsgate.core.accounts import AccountDirectory
from smsgate.core.errors import Forbidden
from smsgate.core.models import Account
from smsgate.core.permissions import Kind, Levels, Rule, account_subject
from smsgate.core.submission import Prepared
from smsgate.store import permissions as store
from smsgate.store.database import Database

MAX_LISTED = 10


class PermissionDirectory:
    def __init__(self, db: Database, accounts: AccountDirectory, ttl: float = 5.0) -> None:
        self._db = db
        self._accounts = accounts
        self._ttl = ttl
        self._cache: dict[str, tuple[float, tuple[Rule, ...]]] = {}

    def forget(self) -> None:
        """Drop cached rules (after a change made in this process)."""
        self._cache.clear()

    async def levels(self, account: Account, submitted_by: str = "") -> Levels:
        subjects = []
        if account.parent_id is not None:
            parent = await self._accounts.by_id(account.parent_id)
            if parent is not None:
                subjects.append(account_subject(parent.auth_id))
        subjects.append(account_subject(account.auth_id))
        if submitted_by:
            subjects.append(submitted_by)
        now = time.monotonic()
        missing = [s for s in subjects if s not in self._cache or self._cache[s][0] <= now]
        if missing:
            found = await self._db.read(lambda conn: store.for_subjects(conn, missing))
            for subject in missing:
                rules = tuple(rule for rule in found if rule.subject == subject)
                self._cache[subject] = (now + self._ttl, rules)
            if len(self._cache) > 50_000:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        return Levels(tuple((s, self._cache[s][1]) for s in subjects))


def enforce(levels: Levels, prepared: Prepared) -> None:
    """Forbidden unless every level allows the sender and every destination."""
    if levels.empty or not prepared.messages:
        return
    src = prepared.messages[0]["from_number"]
    if levels.refuses(Kind.SENDER, src) is not None:
        raise Forbidden("src", f"forbidden: this account may not send from {src}")
    refused = [
        row["to_number"]
        for row in prepared.messages
        if levels.refuses(Kind.DESTINATION, row["to_number"], row["destination_country_iso2"])
    ]
    if refused:
        shown = ", ".join(refused[:MAX_LISTED])
        more = f" and {len(refused) - MAX_LISTED} more" if len(refused) > MAX_LISTED else ""
        raise Forbidden(
            "dst",
            f"forbidden: this account may not send to {shown}{more} (destination not permitted)",
        )

"""Accounts and credentials: who is calling, and which messages they may see.

Accounts are cached for a few seconds (at most ``MAX_CACHED``, least recently used first out),
so authenticating a request rarely touches the store. Unknown ids are not cached. A token that
does not match the cached account is checked against the store again, at most once a second
per account: a rotated token works at once everywhere, and the old one keeps working in other
processes for at most ``ttl`` seconds. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import re
import time
from collections import OrderedDict
from dataclasses import dataclass

from smsgate.core.models import Account
from smsgate.core.passwords import PasswordChecker
from smsgate.store import accounts as store
from smsgate.store.database import Database

_DUMMY_TOKEN = "x" * 40
#: What every auth_id looks like (Plivo's SDKs check the same).
AUTH_ID = re.compile(r"[MS]A[A-Z0-9]{18}")
MAX_CACHED = 10_000
RECHECK_SECONDS = 1.0
ADMIN_CACHE_SECONDS = 10.0
#: scrypt is slow on purpose: cap how many checks run at once.
ADMIN_CHECKS_AT_ONCE = 2


class AccessDenied(PermissionError):
    pass


@dataclass(frozen=True, slots=True)
class Scope:
    """The account a request acts as, and the accounts whose messages it may read."""

    owner: Account
    account_ids: tuple[int, ...]


class AccountDirectory:
    def __init__(self, db: Database, ttl: float = 5.0) -> None:
        self._db = db
        self._ttl = ttl
        self._cache: OrderedDict[str, tuple[float, Account]] = OrderedDict()
        self._auth_ids: dict[int, str] = {}
        self._children: dict[int, tuple[float, tuple[int, ...]]] = {}
        #: Checks every face's passwords (admins, smstools-http-api users).
        self.passwords = PasswordChecker(ADMIN_CHECKS_AT_ONCE, ADMIN_CACHE_SECONDS)

    def _cached(self, auth_id: str) -> tuple[float, Account] | None:
        hit = self._cache.get(auth_id)
        if hit is None or time.monotonic() - hit[0] >= self._ttl:
            return None
        self._cache.move_to_end(auth_id)
        return hit

    def _remember(self, account: Account) -> None:
        self._cache[account.auth_id] = (time.monotonic(), account)
        self._cache.move_to_end(account.auth_id)
        self._auth_ids[account.id] = account.auth_id
        while len(self._cache) > MAX_CACHED:
            _, (_, gone) = self._cache.popitem(last=False)
            self._auth_ids.pop(gone.id, None)

    def forget(self, account: Account) -> None:
        """Read ``account`` (and its parent's subaccounts) again on next use: after a change
        made in this process (other processes see it within ``ttl`` seconds)."""
        self._cache.pop(account.auth_id, None)
        if account.parent_id is not None:
            self._children.pop(account.parent_id, None)

    async def by_auth_id(self, auth_id: str) -> Account | None:
        if not AUTH_ID.fullmatch(auth_id):
            return None
        hit = self._cached(auth_id)
        if hit is not None:
            return hit[1]
        account = await self._db.read(lambda conn: store.by_auth_id(conn, auth_id))
        if account is not None:
            self._remember(account)
        return account

    async def by_id(self, account_id: int) -> Account | None:
        auth_id = self._auth_ids.get(account_id)
        hit = self._cached(auth_id) if auth_id is not None else None
        if hit is not None:
            return hit[1]
        account = await self._db.read(lambda conn: store.by_id(conn, account_id))
        if account is not None:
            self._remember(account)
        return account

    async def children(self, parent_id: int) -> tuple[int, ...]:
        hit = self._children.get(parent_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        ids = tuple(await self._db.read(lambda conn: store.subaccount_ids(conn, parent_id)))
        self._children[parent_id] = (now + self._ttl, ids)
        return ids

    async def authenticate(self, auth_id: str, token: str) -> Account | None:
        """The account these credentials open, or None."""
        account = await self.by_auth_id(auth_id)
        if account is not None and not _matches(token, account):
            fetched = self._cache[auth_id][0]
            if time.monotonic() - fetched >= RECHECK_SECONDS:  # perhaps rotated elsewhere
                self._cache.pop(auth_id, None)
                account = await self.by_auth_id(auth_id)
        if account is None or not _matches(token, account) or not account.enabled:
            return None
        return account

    async def scope(self, caller: Account, path_auth_id: str) -> Scope:
        """What ``caller`` may do under ``/Account/{path_auth_id}/``.

        An account acts as itself; a main account may also act as one of its subaccounts. A main
        account acting as itself sees its subaccounts' messages too.
        """
        if path_auth_id == caller.auth_id:
            if caller.is_subaccount:
                return Scope(caller, (caller.id,))
            return Scope(caller, (caller.id, *await self.children(caller.id)))
        target = await self.by_auth_id(path_auth_id)
        if target is None or target.parent_id != caller.id or not target.enabled:
            raise AccessDenied(path_auth_id)
        return Scope(target, (target.id,))

    async def verify_admin(self, username: str, password: str) -> bool:
        """Check an admin's password (scrypt, off the event loop, a few at a time); successes
        are remembered for a few seconds."""
        stored = await self._db.read(lambda conn: store.admin_password_hash(conn, username))
        return await self.passwords.check(password, stored, f"admin/{username}")


def _matches(token: str, account: Account | None) -> bool:
    expected = account.auth_token if account is not None else _DUMMY_TOKEN
    return hmac.compare_digest(token.encode(), expected.encode())

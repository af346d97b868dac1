"""The account directory: a bounded cache that still sees rotated tokens."""

from __future__ import annotations

from typing import Any

import pytest

from smsgate.core import accounts as directory_module
from smsgate.core.accounts import AccountDirectory
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.store import accounts as store


def counting(directory: AccountDirectory) -> list[int]:
    reads = [0]
    read = directory._db.read

    async def counted(work: Any) -> Any:
        reads[0] += 1
        return await read(work)

    directory._db = type("DB", (), {"read": staticmethod(counted)})()  # type: ignore[assignment]
    return reads


async def test_unknown_ids_are_not_remembered(gateway: Gateway) -> None:
    directory = AccountDirectory(gateway.db)
    for i in range(50):
        assert await directory.authenticate(f"MA{i:018d}", "x" * 40) is None
    assert len(directory._cache) == 0
    assert await directory.by_auth_id("garbage\x00") is None


async def test_wrong_tokens_cannot_force_store_reads(gateway: Gateway, account: Account) -> None:
    directory = AccountDirectory(gateway.db)
    assert await directory.authenticate(account.auth_id, account.auth_token) == account
    reads = counting(directory)
    for _ in range(100):
        assert await directory.authenticate(account.auth_id, "wrong") is None
    assert reads[0] == 0
    assert await directory.authenticate(account.auth_id, account.auth_token) == account


async def test_a_token_rotated_elsewhere_works_at_once(
    gateway: Gateway, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory_module, "RECHECK_SECONDS", 0.0)
    directory = AccountDirectory(gateway.db)
    assert await directory.authenticate(account.auth_id, account.auth_token)
    await gateway.writer.run(lambda c: store.set_auth_token(c, account.id, "n" * 40, 1))
    assert await directory.authenticate(account.auth_id, "n" * 40) is not None


async def test_lookups_by_id_honour_the_ttl(gateway: Gateway, account: Account) -> None:
    # The notifier signs callbacks with the account found by id: it must see a new token.
    directory = AccountDirectory(gateway.db, ttl=0.0)
    first = await directory.by_id(account.id)
    assert first is not None and first.auth_token == account.auth_token
    await gateway.writer.run(lambda c: store.set_auth_token(c, account.id, "r" * 40, 1))
    again = await directory.by_id(account.id)
    assert again is not None and again.auth_token == "r" * 40


async def test_the_cache_is_bounded(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import new_account

    monkeypatch.setattr(directory_module, "MAX_CACHED", 3)
    directory = AccountDirectory(gateway.db)
    made = [await new_account(gateway) for _ in range(5)]
    for acc in made:
        assert await directory.by_auth_id(acc.auth_id) == acc
    assert list(directory._cache) == [a.auth_id for a in made[-3:]]
    assert set(directory._auth_ids) == {a.id for a in made[-3:]}

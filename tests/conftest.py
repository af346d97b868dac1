"""Fixtures shared by every test: both databases, a gateway, an account, an API client."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import psycopg
import pytest
from sqlalchemy.engine import make_url

from smsgate.api.app import create_app
from smsgate.config import Settings
from smsgate.core.accounts import Scope
from smsgate.core.bootstrap import create_account
from smsgate.core.clock import Clock
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.store.database import Database, open_database
from smsgate.store.migrate import migrate
from tests.support import LiveServer, modem_sim, need_peer, receiver  # noqa: F401 - fixture

# CI runs the property tests on a fixed seed so that a red build can be replayed; local runs
# keep exploring new examples.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("SMSGATE_REQUIRE_PEERS") == "1":
    hypothesis.settings.load_profile("ci")

PG_URL = os.environ.get("SMSGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_pg_ok: bool | None = None


def _pg_connect() -> psycopg.Connection[Any]:
    url = make_url(PG_URL)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        connect_timeout=5,
        autocommit=True,
    )


def postgres_available() -> bool:
    global _pg_ok
    if _pg_ok is None:
        try:
            _pg_connect().close()
            _pg_ok = True
        except psycopg.Error:
            _pg_ok = False
    return _pg_ok


def need_postgres() -> None:
    need_peer(postgres_available(), f"PostgreSQL is not reachable at {PG_URL}")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    if backend == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'smsgate.db'}")
        await migrate(db)
        yield db
        await db.dispose()
        return
    need_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = _pg_connect()
    conn.execute(f"CREATE SCHEMA {schema}")
    db = open_database(PG_URL, pg_schema=schema)
    try:
        await migrate(db)
        yield db
    finally:
        await db.dispose()
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


@pytest.fixture
async def live_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database URL a child process can use: a file, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.db'}"
        return
    need_postgres()
    name = f"smsgate_t_{uuid.uuid4().hex[:12]}"
    conn = _pg_connect()
    conn.execute(f"CREATE DATABASE {name}")
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.close()


def simulator(**options: Any) -> dict[str, Any]:
    return {"name": "simulator", "kind": "simulator", "delivery_delay": 0, "seed": 7, **options}


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def make_gateway(database: Database) -> AsyncIterator[GatewayFactory]:
    made: list[Gateway] = []

    async def factory(
        clock: Clock | None = None, background: bool = False, **overrides: Any
    ) -> Gateway:
        # The carriers' pace per number (10 parts a minute) would stall tests that send more
        # to one number, and the API's limit per credential would refuse fuzzers' requests:
        # the tests of limits set them themselves.
        values: dict[str, Any] = {
            "channels": [simulator()],
            "limits": {"number_pace": "", "api_requests": ""},
            **overrides,
        }
        gateway = Gateway(Settings(**values), database, clock=clock)
        await gateway.start(background=background)
        made.append(gateway)
        return gateway

    yield factory
    for gateway in made:
        if gateway.started:
            await gateway.stop()


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    return await make_gateway()


async def new_account(
    gateway: Gateway, parent: Account | None = None, alphanumeric: bool = False
) -> Account:
    now = gateway.clock.now_us()
    return await gateway.writer.run(
        lambda conn: create_account(conn, now=now, parent=parent, alphanumeric_sender=alphanumeric)
    )


async def scope_of(gateway: Gateway, account: Account) -> Scope:
    """What ``account`` may do acting as itself."""
    return await gateway.accounts.scope(account, account.auth_id)


@pytest.fixture
async def account(gateway: Gateway) -> Account:
    return await new_account(gateway)


def basic(auth_id: str, token: str) -> dict[str, str]:
    raw = base64.b64encode(f"{auth_id}:{token}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway, manage_gateway=False, access_log=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """A live-server launcher with its own data directory; stopped at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_")}
    env["SMSGATE_DATA_DIR"] = str(tmp_path / "data")
    server = LiveServer(data_dir=tmp_path, env=env)
    yield server
    server.stop()

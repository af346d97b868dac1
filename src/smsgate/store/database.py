"""Engines for the database a URL names, and the threads their connections run on.

Queries are plain SQLAlchemy Core on a synchronous connection; each read or write transaction
runs whole on a thread of its own (one hop from the event loop per transaction, not one per
statement). SQLite runs in WAL mode with ``synchronous=FULL`` so a committed message survives a
crash or a power cut. All writes go through one connection (see ``writer.py``) that takes the
write lock at ``BEGIN IMMEDIATE``; reads use a small pool of their own and never wait for it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)
READERS = 4


class DatabaseUrlError(ValueError):
    pass


_SQLITE_UNAVAILABLE = (
    "database is locked",
    "unable to open database",
    "disk i/o error",
    "database or disk is full",
    "database disk image is malformed",
)


def store_unavailable(exc: BaseException) -> bool:
    """True when the database cannot be used at all (connection lost or refused, SQLite locked
    or its disk failing); False for a statement the database refused."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.OperationalError):
        message = str(exc.orig).lower()
        return any(text in message for text in _SQLITE_UNAVAILABLE)
    return True


def driver_url(url: str) -> URL:
    """The SQLAlchemy URL, with its driver, for ``sqlite:///…`` or ``postgresql://…``."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseUrlError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseUrlError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


class Database:
    def __init__(self, url: URL, writer: Engine, reader: Engine) -> None:
        self.url = url
        self.writer = writer
        self.reader = reader
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="smsgate-read")

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on a reading connection, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, work)

    def _read(self, work: Callable[[Connection], T]) -> T:
        with self.reader.connect() as conn:
            return work(conn)

    async def dispose(self) -> None:
        self._readers.shutdown(wait=True)
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _sqlite_engine(url: URL, begin: str, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        hide_parameters=True,  # errors in logs never carry message text or numbers
        pool_size=pool_size,
        max_overflow=0,
        connect_args={"check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


def open_database(url: str, *, pg_schema: str | None = None) -> Database:
    """Open engines for ``url``. ``pg_schema`` puts every table in that PostgreSQL schema."""
    target = driver_url(url)
    if target.get_backend_name() == "sqlite":
        path = target.database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = _sqlite_engine(target, "BEGIN IMMEDIATE", pool_size=1)
        reader = _sqlite_engine(target, "BEGIN", pool_size=READERS)
        return Database(target, writer, reader)
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if pg_schema:
        connect_args["options"] = f"-csearch_path={pg_schema}"
    engine = create_engine(
        target,
        hide_parameters=True,
        pool_size=READERS + 2,
        max_overflow=4,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    return Database(target, engine, engine)

"""What the operator commands share: the gateway's URL and the store, opened to read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from smsgate.config import Settings
from smsgate.store.database import Database, DatabaseUrlError, driver_url, open_database

T = TypeVar("T")


def gateway_url(settings: Settings, url: str | None) -> str:
    """``url``, else ``http://HOST:PORT`` from the settings (a wildcard host as loopback)."""
    if url:
        return url.rstrip("/")
    host = settings.host
    if host in ("0.0.0.0", "", "*"):  # noqa: S104 - a listening address, not a bind
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


@contextmanager
def store(settings: Settings) -> Iterator[Database]:
    """The configured database, to read; a clear error when there is none. Never migrates:
    the gateway owns the schema."""
    url = settings.resolved_database_url
    try:
        target = driver_url(url)
    except DatabaseUrlError as exc:
        raise click.ClickException(str(exc)) from None
    if target.get_backend_name() == "sqlite":
        path = target.database
        if not path or path == ":memory:" or not Path(path).exists():
            raise click.ClickException(
                f"no smsgate database at {path}: start the gateway first, or name its store "
                "with --data-dir or --database-url before the command"
            )
    db = open_database(url)
    try:
        yield db
    finally:
        asyncio.run(db.dispose())


def read(db: Database, work: Callable[[Connection], T]) -> T:
    """``work`` on a reading connection; a store error as a ClickException."""
    try:
        with db.reader.connect() as conn:
            return work(conn)
    except DBAPIError as exc:
        raise click.ClickException(f"cannot read the store: {exc.orig}") from None

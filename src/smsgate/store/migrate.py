"""Bring a database's schema up to date with Alembic, on a connection smsgate opens."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from smsgate.store.database import Database


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "smsgate.store:migrations")
    config.attributes["connection"] = connection
    return config


def migrate_sync(db: Database) -> None:
    with db.writer.begin() as conn:
        command.upgrade(_config(conn), "head")


async def migrate(db: Database) -> None:
    await asyncio.to_thread(migrate_sync, db)

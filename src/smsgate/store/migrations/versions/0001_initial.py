"""The spine: accounts, admin users, messages, their events, the callback outbox, nodes.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _partial(where: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("auth_id", sa.String(20), nullable=False, unique=True),
        sa.Column("auth_token", sa.String(64), nullable=False),
        sa.Column("parent_id", Id, sa.ForeignKey("accounts.id"), nullable=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column(
            "alphanumeric_sender", sa.Boolean, nullable=False, server_default=sa.text("false")
        ),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "admin_users",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("encoding", sa.String(8), nullable=False),
        sa.Column("units", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(8), nullable=False, server_default=""),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("method", sa.String(4), nullable=False, server_default="POST"),
        sa.Column("log", sa.String(16), nullable=False, server_default="true"),
        sa.Column("trackable", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("requester_ip", sa.String(64), nullable=False, server_default=""),
        sa.Column("destination_country_iso2", sa.String(2), nullable=False, server_default=""),
        sa.Column("dlt_entity_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("dlt_template_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("dlt_template_category", sa.String(32), nullable=False, server_default=""),
        sa.Column("total_rate", sa.String(16), nullable=False, server_default="0.00000"),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("channel_ref", sa.String(100), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("callback_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(40), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("sent_at", sa.BigInteger, nullable=True),
        sa.Column("dlr_at", sa.BigInteger, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_messages_account_time", "messages", ["account_id", "created_at"])
    op.create_index("ix_messages_channel_ref", "messages", ["channel", "channel_ref"])
    op.create_index(
        "ix_messages_queue",
        "messages",
        ["next_attempt_at"],
        **_partial("state = 'queued' AND claimed_by IS NULL"),
    )
    op.create_index(
        "ix_messages_expiry", "messages", ["expires_at"], **_partial("state = 'queued'")
    )
    op.create_index(
        "ix_messages_claimed", "messages", ["claimed_by"], **_partial("claimed_by IS NOT NULL")
    )
    op.create_table(
        "message_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("message_uuid", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("error_code", sa.String(8), nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_message_events_message", "message_events", ["message_uuid"])
    op.create_table(
        "callbacks",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("message_uuid", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("method", sa.String(4), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("private", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("state", sa.String(12), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(40), nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_callbacks_message", "callbacks", ["message_uuid"])
    op.create_index(
        "ix_callbacks_due",
        "callbacks",
        ["next_attempt_at"],
        **_partial("state = 'pending' AND claimed_by IS NULL"),
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("hostname", sa.String(200), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("nodes", "callbacks", "message_events", "messages", "admin_users", "accounts"):
        op.drop_table(table)

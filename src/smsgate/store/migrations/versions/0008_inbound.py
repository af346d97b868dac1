"""Inbound: applications, numbers, keyword rules, opt-outs, one-time links, replies.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("app_id", sa.String(32), nullable=False, unique=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("message_url", sa.Text, nullable=True),
        sa.Column("message_method", sa.String(4), nullable=False, server_default="POST"),
        sa.Column("log_incoming_messages", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_applications_account", "applications", ["account_id"])
    op.create_table(
        "numbers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("application_id", Id, sa.ForeignKey("applications.id"), nullable=True),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("alias", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_numbers_account", "numbers", ["account_id"])
    op.create_table(
        "keyword_rules",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False, server_default=""),
        sa.Column("keyword", sa.String(64), nullable=False, server_default=""),
        sa.Column("senders", sa.Text, nullable=False, server_default=""),
        sa.Column("handler", sa.Text, nullable=False),
        sa.Column("method", sa.String(4), nullable=False, server_default="POST"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="5"),
        sa.Column("priority", sa.Integer, nullable=False, server_default="100"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_keyword_rules_account", "keyword_rules", ["account_id"])
    op.create_table(
        "opt_outs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("keyword", sa.String(32), nullable=False, server_default=""),
        sa.Column("message_uuid", sa.String(36), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("account_id", "number", name="uq_opt_outs_account_number"),
    )
    op.create_table(
        "links",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("message_uuid", sa.String(36), nullable=True),
        sa.Column("rule_id", Id, nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("opened_at", sa.BigInteger, nullable=True),
        sa.Column("opened_ip", sa.String(64), nullable=False, server_default=""),
        sa.Column("opened_agent", sa.String(300), nullable=False, server_default=""),
    )
    op.create_index("ix_links_message", "links", ["message_uuid"])
    # One message per channel reference: a provider's retry reaching two nodes at once is
    # stored once (the second transaction fails and its retry finds the first).
    op.create_index(
        "ux_messages_inbound_ref",
        "messages",
        ["channel", "channel_ref"],
        unique=True,
        sqlite_where=sa.text("direction = 'inbound' AND channel_ref IS NOT NULL"),
        postgresql_where=sa.text("direction = 'inbound' AND channel_ref IS NOT NULL"),
    )
    op.add_column("messages", sa.Column("reply_to", sa.String(36), nullable=True))
    op.add_column("messages", sa.Column("intent", sa.String(8), nullable=False, server_default=""))
    op.add_column("callbacks", sa.Column("deadline", sa.BigInteger, nullable=True))
    op.add_column("callbacks", sa.Column("max_attempts", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callbacks") as batch:
        batch.drop_column("max_attempts")
        batch.drop_column("deadline")
    op.drop_index("ux_messages_inbound_ref", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("intent")
        batch.drop_column("reply_to")
    op.drop_index("ix_links_message", "links")
    op.drop_table("links")
    op.drop_table("opt_outs")
    op.drop_index("ix_keyword_rules_account", "keyword_rules")
    op.drop_table("keyword_rules")
    op.drop_index("ix_numbers_account", "numbers")
    op.drop_table("numbers")
    op.drop_index("ix_applications_account", "applications")
    op.drop_table("applications")

"""Permission rules, per-account rate limits, and indexes for fair claims and number search.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_QUEUED_UNCLAIMED = sa.text("state = 'queued' AND claimed_by IS NULL")


def upgrade() -> None:
    op.create_table(
        "permission_rules",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("effect", sa.String(8), nullable=False),
        sa.Column("pattern", sa.String(64), nullable=False),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_permission_rules_subject", "permission_rules", ["subject"])
    for column in ("api_requests", "send_rate", "number_pace"):
        op.add_column("accounts", sa.Column(column, sa.String(24), nullable=True))
    op.create_index(
        "ix_messages_account_queue",
        "messages",
        ["account_id", "next_attempt_at"],
        sqlite_where=_QUEUED_UNCLAIMED,
        postgresql_where=_QUEUED_UNCLAIMED,
    )
    op.create_index("ix_messages_from", "messages", ["from_number", "created_at"])
    op.create_index("ix_messages_to", "messages", ["to_number", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_to", "messages")
    op.drop_index("ix_messages_from", "messages")
    op.drop_index("ix_messages_account_queue", "messages")
    with op.batch_alter_table("accounts") as batch:
        for column in ("number_pace", "send_rate", "api_requests"):
            batch.drop_column(column)
    op.drop_index("ix_permission_rules_subject", "permission_rules")
    op.drop_table("permission_rules")

"""Message parts: each part's channel reference and verdict, for per-part delivery reports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_parts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("message_uuid", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(100), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("error_code", sa.String(8), nullable=False, server_default=""),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_message_parts_ref", "message_parts", ["channel", "ref"])
    op.create_index("ix_message_parts_message", "message_parts", ["message_uuid"])


def downgrade() -> None:
    op.drop_index("ix_message_parts_message", "message_parts")
    op.drop_index("ix_message_parts_ref", "message_parts")
    op.drop_table("message_parts")

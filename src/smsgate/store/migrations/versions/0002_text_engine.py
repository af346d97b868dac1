"""The text engine: encoding labels with national tables, smart encoding.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from typing import Literal

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _rebuild() -> Literal["always", "never"]:
    """SQLite cannot change a column's type: there the table is rebuilt."""
    return "always" if op.get_bind().dialect.name == "sqlite" else "never"


def upgrade() -> None:
    with op.batch_alter_table("messages", recreate=_rebuild()) as batch:
        batch.alter_column("encoding", type_=sa.String(32), existing_type=sa.String(8))
        batch.add_column(
            sa.Column("text_replaced", sa.Boolean, nullable=False, server_default=sa.text("false"))
        )
    op.add_column(
        "accounts",
        sa.Column("smart_encoding", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )


def downgrade() -> None:
    op.drop_column("accounts", "smart_encoding")
    with op.batch_alter_table("messages", recreate=_rebuild()) as batch:
        batch.drop_column("text_replaced")
        batch.alter_column("encoding", type_=sa.String(8), existing_type=sa.String(32))

"""The SMPP server face: ESME credentials, and the parts of concatenated submits.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-15
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "smpp_users",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("system_id", sa.String(15), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column(
            "binds",
            sa.String(40),
            nullable=False,
            server_default="transmitter,receiver,transceiver",
        ),
        sa.Column("max_binds", sa.Integer, nullable=False, server_default="4"),
        sa.Column("submit_rate", sa.String(24), nullable=False, server_default=""),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_smpp_users_account", "smpp_users", ["account_id"])
    op.create_table(
        "smpp_parts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("group_id", sa.String(32), nullable=False),
        sa.Column("system_id", sa.String(15), nullable=False),
        sa.Column("src", sa.String(32), nullable=False),
        sa.Column("dst", sa.String(32), nullable=False),
        sa.Column("reference", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("text", sa.LargeBinary, nullable=False),
        sa.Column("registered_delivery", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint(
            "system_id", "src", "dst", "reference", "total", "seq", name="uq_smpp_parts_part"
        ),
    )
    op.create_index("ix_smpp_parts_group", "smpp_parts", ["group_id"])
    op.create_index("ix_smpp_parts_started", "smpp_parts", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_smpp_parts_started", "smpp_parts")
    op.drop_index("ix_smpp_parts_group", "smpp_parts")
    op.drop_table("smpp_parts")
    op.drop_index("ix_smpp_users_account", "smpp_users")
    op.drop_table("smpp_users")

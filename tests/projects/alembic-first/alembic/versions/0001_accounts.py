"""accounts and transfers

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False, unique=True),
        sa.Column("balance", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint("balance >= 0", name="balance_not_negative"),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("target_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("transfers")
    op.drop_table("accounts")

"""drop the first scorecard's daily counters (the fact tables replaced them; nothing writes them); erased
profile ids and the random ids that replaced them

Revision ID: 3e8c1f0b7d25
Revises: a7001af9fc34
Create Date: 2026-12-07 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3e8c1f0b7d25"
down_revision: str | Sequence[str] | None = "a7001af9fc34"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("counter")
    op.create_table(
        "metrics_erased_profile",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("anonymous_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "profile_id"),
    )


def downgrade() -> None:
    op.drop_table("metrics_erased_profile")
    op.create_table(
        "counter",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=120), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "bucket", "metric"),
    )

"""snapshots of the fact tables (`rapport metrics snapshot` / `rebuild`)

Revision ID: 1e7b9251bfe1
Revises: 8b31f6d0e2a4
Create Date: 2026-12-07 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1e7b9251bfe1"
down_revision: str | Sequence[str] | None = "8b31f6d0e2a4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metrics_snapshot",
        sa.Column("snapshot_id", sa.String(length=64), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watermarks", sa.JSON(), nullable=False),
        sa.Column("erased_count", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_id"),
    )
    op.create_table(
        "metrics_snapshot_row",
        sa.Column("snapshot_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_id", "position"),
    )
    op.create_index(
        "ix_metrics_snapshot_row_tenant", "metrics_snapshot_row", ["snapshot_id", "tenant_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_metrics_snapshot_row_tenant", table_name="metrics_snapshot_row")
    op.drop_table("metrics_snapshot_row")
    op.drop_table("metrics_snapshot")

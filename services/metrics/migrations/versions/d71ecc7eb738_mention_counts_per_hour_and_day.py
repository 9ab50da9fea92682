"""mentions counted per hour and per day (the scorecard's listening figures over long periods), computed
from the mention rows; indexes for the CLV's customers and a period's orders

Revision ID: d71ecc7eb738
Revises: 1e7b9251bfe1
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.metrics.logic import rollups

revision: str = "d71ecc7eb738"
down_revision: str | Sequence[str] | None = "1e7b9251bfe1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mention_count",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("filter", sa.String(length=80), nullable=False),
        sa.Column("span", sa.String(length=1), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "filter", "span", "start", "field", "value"),
    )
    rollups.backfill(op.get_bind())
    op.create_index("ix_profile_fact_tenant_snapshot", "profile_fact", ["tenant_id", "snapshot_at"])
    op.create_index("ix_profile_fact_tenant_merged_into", "profile_fact", ["tenant_id", "merged_into"])
    op.create_index("ix_order_fact_tenant_at", "order_fact", ["tenant_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_order_fact_tenant_at", table_name="order_fact")
    op.drop_index("ix_profile_fact_tenant_merged_into", table_name="profile_fact")
    op.drop_index("ix_profile_fact_tenant_snapshot", table_name="profile_fact")
    op.drop_table("mention_count")

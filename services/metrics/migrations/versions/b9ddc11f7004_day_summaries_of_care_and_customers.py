"""day summaries of the care and customer figures (counts per day, SLA deadline days, duration sets,
customers' totals per stage and currency), computed from the rows; indexes for the part days' reads

Revision ID: b9ddc11f7004
Revises: 4b8e2c6a9d13
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.metrics.logic import summaries

revision: str = "b9ddc11f7004"
down_revision: str | Sequence[str] | None = "4b8e2c6a9d13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "day_count",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("filter", sa.String(length=80), nullable=False),
        sa.Column("figure", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "filter", "figure", "day", "value"),
    )
    op.create_table(
        "sla_count",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("filter", sa.String(length=80), nullable=False),
        sa.Column("fr_day", sa.String(length=10), nullable=False),
        sa.Column("res_day", sa.String(length=10), nullable=False),
        sa.Column("met_fr", sa.Integer(), nullable=False),
        sa.Column("met_res", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "filter", "fr_day", "res_day", "met_fr", "met_res"),
    )
    op.create_index("ix_sla_count_fr", "sla_count", ["tenant_id", "filter", "fr_day"])
    op.create_index("ix_sla_count_res", "sla_count", ["tenant_id", "filter", "res_day"])
    op.create_table(
        "duration_set",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("filter", sa.String(length=80), nullable=False),
        sa.Column("figure", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("durations", sa.LargeBinary(), nullable=False),
        sa.Column("last_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "filter", "figure", "day"),
    )
    op.create_table(
        "clv_total",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=64), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("total", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "stage", "currency"),
    )
    op.create_index(
        "ix_conversation_fact_tenant_first_resolved", "conversation_fact", ["tenant_id", "first_resolved_at"]
    )
    op.create_index(
        "ix_conversation_fact_tenant_fr_due", "conversation_fact", ["tenant_id", "first_response_due_at"]
    )
    op.create_index(
        "ix_conversation_fact_tenant_res_due", "conversation_fact", ["tenant_id", "resolution_due_at"]
    )
    summaries.backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_conversation_fact_tenant_res_due", table_name="conversation_fact")
    op.drop_index("ix_conversation_fact_tenant_fr_due", table_name="conversation_fact")
    op.drop_index("ix_conversation_fact_tenant_first_resolved", table_name="conversation_fact")
    op.drop_table("clv_total")
    op.drop_table("duration_set")
    op.drop_index("ix_sla_count_res", table_name="sla_count")
    op.drop_index("ix_sla_count_fr", table_name="sla_count")
    op.drop_table("sla_count")
    op.drop_table("day_count")

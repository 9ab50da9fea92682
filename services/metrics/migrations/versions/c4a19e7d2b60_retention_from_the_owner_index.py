"""retention read from an index on (tenant, owner, at)

Revision ID: c4a19e7d2b60
Revises: 73dbc93b2785
Create Date: 2026-12-08 00:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c4a19e7d2b60"
down_revision: str | Sequence[str] | None = "73dbc93b2785"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_order_fact_tenant_owner_at", "order_fact", ["tenant_id", "owner_id", "at"])
    op.drop_index("ix_order_fact_tenant_owner", table_name="order_fact")


def downgrade() -> None:
    op.create_index("ix_order_fact_tenant_owner", "order_fact", ["tenant_id", "owner_id"])
    op.drop_index("ix_order_fact_tenant_owner_at", table_name="order_fact")

"""retention per tenant: each tenant's period (from its privacy policy) and its sweep's clock

Revision ID: 1099dc10acaf
Revises: 4276ba478c33
Create Date: 2026-12-07 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1099dc10acaf"
down_revision: str | Sequence[str] | None = "4276ba478c33"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listening_retention",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("policy_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sweep_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_swept_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    with op.batch_alter_table("listening_retention", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_listening_retention_sweep_due_at"), ["sweep_due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("listening_retention", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listening_retention_sweep_due_at"))
    op.drop_table("listening_retention")

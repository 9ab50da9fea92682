"""the suppression list: hashed identifiers of erased people

Revision ID: fd0d783e4e2f
Revises: 1099dc10acaf
Create Date: 2026-12-07 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fd0d783e4e2f"
down_revision: str | Sequence[str] | None = "1099dc10acaf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listening_suppression",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("listening_suppression", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listening_suppression_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("listening_suppression", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listening_suppression_tenant_id"))
    op.drop_table("listening_suppression")

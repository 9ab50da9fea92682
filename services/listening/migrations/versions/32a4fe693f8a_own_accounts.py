"""the brand's own accounts

Revision ID: 32a4fe693f8a
Revises: e2248165931c
Create Date: 2026-12-06 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "32a4fe693f8a"
down_revision: str | Sequence[str] | None = "e2248165931c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listening_own_account",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("handle", sa.String(length=100), nullable=True),
        sa.Column("platform_user_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("listening_own_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listening_own_account_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_listening_own_account_tenant_created", ["tenant_id", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("listening_own_account", schema=None) as batch_op:
        batch_op.drop_index("ix_listening_own_account_tenant_created")
        batch_op.drop_index(batch_op.f("ix_listening_own_account_tenant_id"))
    op.drop_table("listening_own_account")

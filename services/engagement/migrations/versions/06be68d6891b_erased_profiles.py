"""erased profiles: events about them still in transit change nothing

Revision ID: 06be68d6891b
Revises: 79d47d544d86
Create Date: 2026-12-07 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "06be68d6891b"
down_revision: str | Sequence[str] | None = "79d47d544d86"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erased_profile",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "profile_id"),
    )


def downgrade() -> None:
    op.drop_table("erased_profile")

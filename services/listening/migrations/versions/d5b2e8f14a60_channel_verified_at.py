"""channel verified_at: when the platform's webhook subscription check last passed

Revision ID: d5b2e8f14a60
Revises: cf118e57a349
Create Date: 2026-12-07 13:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d5b2e8f14a60"
down_revision: str | Sequence[str] | None = "cf118e57a349"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("listening_channel") as batch:
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("listening_channel") as batch:
        batch.drop_column("verified_at")

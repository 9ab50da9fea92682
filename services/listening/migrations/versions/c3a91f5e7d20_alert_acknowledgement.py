"""alert acknowledgement

Revision ID: c3a91f5e7d20
Revises: b7d41c0e9a52
Create Date: 2026-12-07 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3a91f5e7d20"
down_revision: str | Sequence[str] | None = "b7d41c0e9a52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("listening_alert") as batch:
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("listening_alert") as batch:
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")

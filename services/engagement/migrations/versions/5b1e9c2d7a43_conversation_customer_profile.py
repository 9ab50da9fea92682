"""conversations: the customer's profile snapshot

Revision ID: 5b1e9c2d7a43
Revises: f8ef90b54956
Create Date: 2026-12-07 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e9c2d7a43"
down_revision: str | Sequence[str] | None = "f8ef90b54956"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_profile", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("customer_profile")

"""a conversation's first response and resolution counted in its team's business hours

Revision ID: 8b31f6d0e2a4
Revises: 5d2e8a91c4b7
Create Date: 2026-12-07 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b31f6d0e2a4"
down_revision: str | Sequence[str] | None = "5d2e8a91c4b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_fact") as batch_op:
        batch_op.add_column(sa.Column("first_response_business_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("resolution_business_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation_fact") as batch_op:
        batch_op.drop_column("resolution_business_s")
        batch_op.drop_column("first_response_business_s")

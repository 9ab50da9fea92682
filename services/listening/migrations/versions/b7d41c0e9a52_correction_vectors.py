"""a correction's embedding: each tenant's labelled posts as prototypes for its own later posts

Revision ID: b7d41c0e9a52
Revises: 9cfdc688f78a
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d41c0e9a52"
down_revision: str | Sequence[str] | None = "9cfdc688f78a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mention_label", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vector", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mention_label", schema=None) as batch_op:
        batch_op.drop_column("vector")

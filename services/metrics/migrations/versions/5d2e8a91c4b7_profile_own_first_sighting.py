"""a profile's own first sighting beside the person's, so an unmerge gives each side its own back

Revision ID: 5d2e8a91c4b7
Revises: 3e8c1f0b7d25
Create Date: 2026-12-07 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d2e8a91c4b7"
down_revision: str | Sequence[str] | None = "3e8c1f0b7d25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("profile_fact") as batch_op:
        batch_op.add_column(sa.Column("own_first_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("own_platform", sa.String(length=64), nullable=True))
    # A profile merged away was first seen when it says; a survivor's own sighting before this revision
    # is not known apart from its group's, so the group's stands in for it.
    op.execute("UPDATE profile_fact SET own_first_seen_at = first_seen_at, own_platform = platform")


def downgrade() -> None:
    with op.batch_alter_table("profile_fact") as batch_op:
        batch_op.drop_column("own_platform")
        batch_op.drop_column("own_first_seen_at")

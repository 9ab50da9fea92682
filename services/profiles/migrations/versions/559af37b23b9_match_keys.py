"""match keys

The blocking index of match suggestions: each profile under its name tokens, handle stems and website
hosts (services/profiles/logic/suggestions.py), so that only profiles sharing a key are compared. Profiles
from before get their keys when resolution next changes them.

Revision ID: 559af37b23b9
Revises: 2c597b33ca61
Create Date: 2026-12-06 17:04:19.979326
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "559af37b23b9"
down_revision: str | Sequence[str] | None = "2c597b33ca61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_key",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", "profile_id"),
    )
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.create_index("ix_match_key_profile", ["tenant_id", "profile_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("match_key", schema=None) as batch_op:
        batch_op.drop_index("ix_match_key_profile")

    op.drop_table("match_key")

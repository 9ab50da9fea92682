"""erased authors: hashed identifiers of erased people

A post of an erased person announced before the erasure and delivered after it is resolved to no
profile (the table holds digests only).

Revision ID: 2124d9575852
Revises: f0f0964d3130
Create Date: 2026-12-07 05:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2124d9575852"
down_revision: str | Sequence[str] | None = "f0f0964d3130"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erased_author",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("erased_author", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erased_author_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("erased_author", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erased_author_tenant_id"))
    op.drop_table("erased_author")

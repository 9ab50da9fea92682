"""tenant privacy: each tenant's retention period and its sweep's clock, its consent keywords; the
indexes the retention sweep reads messages and mention projection rows by

Revision ID: 79d47d544d86
Revises: 5b1e9c2d7a43
Create Date: 2026-12-07 02:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "79d47d544d86"
down_revision: str | Sequence[str] | None = "5b1e9c2d7a43"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_privacy",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("policy_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sweep_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_swept_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_keywords", sa.Text(), nullable=True),
        sa.Column("keywords_updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    with op.batch_alter_table("tenant_privacy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenant_privacy_sweep_due_at"), ["sweep_due_at"], unique=False)
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_tenant_posted", ["tenant_id", "posted_at"], unique=False)
    with op.batch_alter_table("seen_mention", schema=None) as batch_op:
        batch_op.create_index("ix_seen_mention_tenant_updated", ["tenant_id", "updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seen_mention", schema=None) as batch_op:
        batch_op.drop_index("ix_seen_mention_tenant_updated")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_tenant_posted")
    with op.batch_alter_table("tenant_privacy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_privacy_sweep_due_at"))
    op.drop_table("tenant_privacy")

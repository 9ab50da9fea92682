"""replies: outbound messages with their delivery, the platform's ids, and canned responses

Revision ID: 04d5ce6cc306
Revises: 3c5e0d7a9b21
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "04d5ce6cc306"
down_revision: str | Sequence[str] | None = "3c5e0d7a9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "canned_response",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("default_language", sa.String(length=16), nullable=False),
        sa.Column("variants", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_canned_response_tenant_name"),
    )
    with op.batch_alter_table("canned_response", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_canned_response_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_canned_response_tenant_created", ["tenant_id", "created_at", "id"], unique=False
        )

    with op.batch_alter_table("message", schema=None) as batch_op:
        # Outbound messages have no mention and no analysis.
        batch_op.alter_column("mention_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("intent", existing_type=sa.String(length=30), nullable=True)
        batch_op.alter_column("sentiment_label", existing_type=sa.String(length=10), nullable=True)
        batch_op.add_column(sa.Column("external_id", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("author_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("origin", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("platform_message_id", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("error_code", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("error", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("error_retryable", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_message_tenant_external", ["tenant_id", "external_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_tenant_external")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("error_retryable")
        batch_op.drop_column("error")
        batch_op.drop_column("error_code")
        batch_op.drop_column("platform_message_id")
        batch_op.drop_column("status")
        batch_op.drop_column("origin")
        batch_op.drop_column("author_id")
        batch_op.drop_column("external_id")
    op.execute("DELETE FROM message WHERE mention_id IS NULL")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.alter_column("sentiment_label", existing_type=sa.String(length=10), nullable=False)
        batch_op.alter_column("intent", existing_type=sa.String(length=30), nullable=False)
        batch_op.alter_column("mention_id", existing_type=sa.String(length=64), nullable=False)

    with op.batch_alter_table("canned_response", schema=None) as batch_op:
        batch_op.drop_index("ix_canned_response_tenant_created")
        batch_op.drop_index(batch_op.f("ix_canned_response_tenant_id"))
    op.drop_table("canned_response")

"""WhatsApp message templates per channel; a reply's template and Meta message tag

Revision ID: 4276ba478c33
Revises: 32a4fe693f8a
Create Date: 2026-12-07 02:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4276ba478c33"
down_revision: str | Sequence[str] | None = "32a4fe693f8a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listening_channel_template",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("parameters", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "tenant_id", "channel_id", "name", "language", name="uq_listening_channel_template_name"
        ),
    )
    with op.batch_alter_table("listening_channel_template", schema=None) as batch_op:
        batch_op.create_index(
            "ix_listening_channel_template_channel",
            ["tenant_id", "channel_id", "created_at", "id"],
            unique=False,
        )
    with op.batch_alter_table("listening_reply", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("messaging_tag", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("listening_reply", schema=None) as batch_op:
        batch_op.drop_column("messaging_tag")
        batch_op.drop_column("template")
    with op.batch_alter_table("listening_channel_template", schema=None) as batch_op:
        batch_op.drop_index("ix_listening_channel_template_channel")
    op.drop_table("listening_channel_template")

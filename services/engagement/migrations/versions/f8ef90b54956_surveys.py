"""surveys: CSAT/NPS settings per channel and the surveys offered on resolve

Revision ID: f8ef90b54956
Revises: 7d2e4b9a1c60
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f8ef90b54956"
down_revision: str | Sequence[str] | None = "7d2e4b9a1c60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_setting",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("questions", sa.Text(), server_default="{}", nullable=False),
        sa.Column("default_question", sa.Text(), nullable=True),
        sa.Column("link_valid_s", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "channel_id"),
    )
    op.create_table(
        "survey",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("platform", sa.String(length=64), nullable=True),
        sa.Column("assignee_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_via", sa.String(length=10), nullable=True),
        sa.Column("answer_mention_id", sa.String(length=64), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_digest", name="uq_survey_token_digest"),
    )
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_tenant_profile", ["tenant_id", "profile_id", "channel_id"], unique=False
        )
        batch_op.create_index("ix_survey_tenant_conversation", ["tenant_id", "conversation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_tenant_conversation")
        batch_op.drop_index("ix_survey_tenant_profile")
    op.drop_table("survey")
    op.drop_table("survey_setting")

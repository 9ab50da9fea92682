"""teams and members, agents' capacity and presence, assignment reasons

Revision ID: 7d2e4b9a1c60
Revises: 28449d4de110
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d2e4b9a1c60"
down_revision: str | Sequence[str] | None = "28449d4de110"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("languages", sa.Text(), server_default="[]", nullable=False),
        sa.Column("topics", sa.Text(), server_default="[]", nullable=False),
        sa.Column("business_hours", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_team_tenant_name"),
    )
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.create_index("ix_team_tenant_created", ["tenant_id", "created_at", "id"], unique=False)

    op.create_table(
        "team_member",
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "agent_id"),
    )
    with op.batch_alter_table("team_member", schema=None) as batch_op:
        batch_op.create_index("ix_team_member_tenant_agent", ["tenant_id", "agent_id"], unique=False)

    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capacity", sa.Integer(), server_default="5", nullable=False))
        batch_op.add_column(
            sa.Column("presence", sa.String(length=10), server_default="offline", nullable=False)
        )
        batch_op.add_column(sa.Column("presence_changed_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignment_reason", sa.Text(), nullable=True))
        batch_op.create_index("ix_conversation_tenant_assignee", ["tenant_id", "assignee_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_tenant_assignee")
        batch_op.drop_column("assignment_reason")
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_column("presence_changed_at")
        batch_op.drop_column("presence")
        batch_op.drop_column("capacity")
    with op.batch_alter_table("team_member", schema=None) as batch_op:
        batch_op.drop_index("ix_team_member_tenant_agent")
    op.drop_table("team_member")
    with op.batch_alter_table("team", schema=None) as batch_op:
        batch_op.drop_index("ix_team_tenant_created")
    op.drop_table("team")

"""SLA policies, the SLA clock's columns on conversations, routing rules and their version

Revision ID: 28449d4de110
Revises: 04d5ce6cc306
Create Date: 2026-12-06 23:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "28449d4de110"
down_revision: str | Sequence[str] | None = "04d5ce6cc306"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLA_TIMES = (
    "sla_started_at",
    "sla_paused_at",
    "first_response_warn_at",
    "resolution_warn_at",
    "first_response_warned_at",
    "first_response_breached_at",
    "resolution_warned_at",
    "resolution_breached_at",
    "sla_next_at",
)


def upgrade() -> None:
    op.create_table(
        "sla_policy",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("first_response_s", sa.Float(), nullable=True),
        sa.Column("resolution_s", sa.Float(), nullable=True),
        sa.Column("business_hours", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "priority", name="uq_sla_policy_tenant_priority"),
    )
    with op.batch_alter_table("sla_policy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_policy_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "routing_rule",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("conditions", sa.Text(), server_default="{}", nullable=False),
        sa.Column("actions", sa.Text(), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("routing_rule", schema=None) as batch_op:
        batch_op.create_index(
            "ix_routing_rule_tenant_position", ["tenant_id", "position", "id"], unique=False
        )

    op.create_table(
        "routing_version",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        for name in SLA_TIMES:
            batch_op.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sla_paused_s", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("sla_hours", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_conversation_sla_next_at"), ["sla_next_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_sla_next_at"))
        batch_op.drop_column("sla_hours")
        batch_op.drop_column("sla_paused_s")
        for name in reversed(SLA_TIMES):
            batch_op.drop_column(name)
    op.drop_table("routing_version")
    with op.batch_alter_table("routing_rule", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_rule_tenant_position")
    op.drop_table("routing_rule")
    with op.batch_alter_table("sla_policy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_policy_tenant_id"))
    op.drop_table("sla_policy")

"""consent ledger, privacy policy and audit

The consent ledger (`consent_record`, append-only history; `consent_state`, each person's current state
that the Redis projection copies), the tenants' privacy policies and the audit log of access to personal
data (services/profiles/logic/consent.py, privacy_policy.py, audit.py). New tables only.

Revision ID: 12f1fd1d7fed
Revises: 559af37b23b9
Create Date: 2026-12-07 02:02:43.834136
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "12f1fd1d7fed"
down_revision: str | Sequence[str] | None = "559af37b23b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_record",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("origin_profile_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("by_user_id", sa.String(length=64), nullable=True),
        sa.Column("merge_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.create_index("ix_consent_record_origin", ["tenant_id", "origin_profile_id"], unique=False)
        batch_op.create_index(
            "ix_consent_record_profile", ["tenant_id", "profile_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "consent_state",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("objections", sa.JSON(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "profile_id"),
    )
    with op.batch_alter_table("consent_state", schema=None) as batch_op:
        batch_op.create_index("ix_consent_state_updated", ["updated_at"], unique=False)

    op.create_table(
        "privacy_audit",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("recorded_by", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("privacy_audit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_privacy_audit_profile", ["tenant_id", "profile_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_privacy_audit_tenant_created", ["tenant_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "privacy_policy",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("bases", sa.JSON(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )


def downgrade() -> None:
    op.drop_table("privacy_policy")
    with op.batch_alter_table("privacy_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_audit_tenant_created")
        batch_op.drop_index("ix_privacy_audit_profile")

    op.drop_table("privacy_audit")
    with op.batch_alter_table("consent_state", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_state_updated")

    op.drop_table("consent_state")
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_record_profile")
        batch_op.drop_index("ix_consent_record_origin")

    op.drop_table("consent_record")

"""privacy requests

People's export and erasure requests (due date, who asked, status, certificate) and each service's
answer to them (export parts, erasure counts and references).

Revision ID: f0f0964d3130
Revises: 12f1fd1d7fed
Create Date: 2026-12-07 02:03:13.846651
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f0f0964d3130"
down_revision: str | Sequence[str] | None = "12f1fd1d7fed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_request",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("profile_ids", sa.JSON(), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("named_by", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scrubbed_messages", sa.Integer(), nullable=True),
        sa.Column("certificate", sa.JSON(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_request_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_privacy_request_tenant_kind", ["tenant_id", "kind", "created_at", "id"], unique=False
        )

    op.create_table(
        "privacy_answer",
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
        ),
        sa.PrimaryKeyConstraint("request_id", "service", "chunk"),
    )
    with op.batch_alter_table("privacy_answer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_answer_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_answer_tenant_id"))

    op.drop_table("privacy_answer")
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_request_tenant_kind")
        batch_op.drop_index(batch_op.f("ix_privacy_request_tenant_id"))

    op.drop_table("privacy_request")

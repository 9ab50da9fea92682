"""the outbox's sequence: its rows in the order they were staged, the order the relay publishes them in

Revision ID: cf118e57a349
Revises: c3a91f5e7d20
Create Date: 2026-12-07 12:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cf118e57a349"
down_revision: str | Sequence[str] | None = "c3a91f5e7d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "id, tenant_id, type, body, headers, created_at, published_at"


def _outbox(name: str, *key: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        *key,
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(key[0].name if key else "id", name=f"{name}_pkey"),
    )


def _replace(new: str, order: str) -> None:
    """Copy the outbox into `new` in `order`, drop it, and give `new` its name (SQLite cannot change a
    table's primary key in place)."""
    op.execute(f"INSERT INTO {new} ({COLUMNS}) SELECT {COLUMNS} FROM outbox ORDER BY {order}")  # noqa: S608
    op.drop_table("outbox")
    op.rename_table(new, "outbox")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE outbox RENAME CONSTRAINT {new}_pkey TO outbox_pkey")


def upgrade() -> None:
    # The sequence is the key (SQLite's rowid; a BIGSERIAL on PostgreSQL); the rows waiting keep the
    # order the relay took them in before (created_at, then id). created_at is no longer indexed.
    _outbox(
        "outbox_next",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
    )
    _replace("outbox_next", "created_at, id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER SEQUENCE outbox_next_seq_seq RENAME TO outbox_seq_seq")
    op.create_index("ix_outbox_id", "outbox", ["id"], unique=True)
    op.create_index("ix_outbox_tenant_id", "outbox", ["tenant_id"], unique=False)
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"], unique=False)


def downgrade() -> None:
    _outbox("outbox_prev")
    _replace("outbox_prev", "seq")
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"], unique=False)
    op.create_index("ix_outbox_tenant_id", "outbox", ["tenant_id"], unique=False)
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"], unique=False)

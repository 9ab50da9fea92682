"""mentions counted per hour and per day (the scorecard's listening figures over long periods), computed
from the mention rows; indexes for the CLV's customers and a period's orders

Revision ID: d71ecc7eb738
Revises: 1e7b9251bfe1
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d71ecc7eb738"
down_revision: str | Sequence[str] | None = "1e7b9251bfe1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mention_count",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("filter", sa.String(length=80), nullable=False),
        sa.Column("span", sa.String(length=1), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "filter", "span", "start", "field", "value"),
    )
    _backfill()
    op.create_index("ix_profile_fact_tenant_snapshot", "profile_fact", ["tenant_id", "snapshot_at"])
    op.create_index("ix_profile_fact_tenant_merged_into", "profile_fact", ["tenant_id", "merged_into"])
    op.create_index("ix_order_fact_tenant_at", "order_fact", ["tenant_id", "at"])


def bucket(dialect: str, span: str, column: str) -> str:
    """The UTC hour ("h") or day ("d") of a time column, as the counts store it."""
    if dialect == "postgresql":
        unit = "hour" if span == "h" else "day"
        return f"(date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    # SQLite keeps the UTC time as text: '2026-12-06 16:42:02.123456'.
    if span == "h":
        return f"(substr({column}, 1, 13) || ':00:00.000000')"
    return f"(substr({column}, 1, 10) || ' 00:00:00.000000')"


# The counts as this revision defined them (fixed here: later revisions count more values).
FILTERS = (
    ("''", "", ""),
    ("'platform:' || m.platform", "", ""),
    ("'language:' || m.language", "", ""),
    ("'channel:' || m.channel_id", "", " AND m.channel_id IS NOT NULL"),
    (
        "'query:' || fq.query_id",
        " JOIN mention_query_fact fq ON fq.tenant_id = m.tenant_id AND fq.mention_id = m.mention_id",
        "",
    ),
)
VALUES = (
    ("sentiment", "m.sentiment", ""),
    ("language", "m.language", ""),
    ("intent", "m.intent", ""),
    ("platform", "m.platform", ""),
    (
        "kind",
        "k.kind",
        " JOIN mention_query_fact k ON k.tenant_id = m.tenant_id"
        " AND k.mention_id = m.mention_id AND k.kind IN ('brand', 'competitor')",
    ),
)


def _backfill() -> None:
    conn = op.get_bind()
    hour = bucket(conn.dialect.name, "h", "m.created_at")
    for filter_expr, filter_join, filter_where in FILTERS:
        for name, value, join in VALUES:
            conn.execute(
                sa.text(
                    "INSERT INTO mention_count (tenant_id, filter, span, start, field, value, n) "  # noqa: S608
                    f"SELECT m.tenant_id, {filter_expr}, 'h', {hour}, '{name}', {value}, count(*) "
                    f"FROM mention_fact m{filter_join}{join} WHERE m.removed_at IS NULL{filter_where} "
                    "GROUP BY 1, 2, 4, 6"
                )
            )
    day = bucket(conn.dialect.name, "d", "start")
    conn.execute(
        sa.text(
            "INSERT INTO mention_count (tenant_id, filter, span, start, field, value, n) "  # noqa: S608
            f"SELECT tenant_id, filter, 'd', {day}, field, value, sum(n) FROM mention_count "
            "WHERE span = 'h' GROUP BY 1, 2, 4, 5, 6"
        )
    )


def downgrade() -> None:
    op.drop_index("ix_order_fact_tenant_at", table_name="order_fact")
    op.drop_index("ix_profile_fact_tenant_merged_into", table_name="profile_fact")
    op.drop_index("ix_profile_fact_tenant_snapshot", table_name="profile_fact")
    op.drop_table("mention_count")

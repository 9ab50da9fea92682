"""the mentions' hashtags (the scorecard's top hashtags); topic matches and hashtags counted per hour and
day beside the other mention counts

Revision ID: 4b8e2c6a9d13
Revises: d71ecc7eb738
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b8e2c6a9d13"
down_revision: str | Sequence[str] | None = "d71ecc7eb738"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def bucket(dialect: str, span: str, column: str) -> str:
    """The UTC hour ("h") or day ("d") of a time column, as the counts store it."""
    if dialect == "postgresql":
        unit = "hour" if span == "h" else "day"
        return f"(date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    if span == "h":
        return f"(substr({column}, 1, 13) || ':00:00.000000')"
    return f"(substr({column}, 1, 10) || ' 00:00:00.000000')"


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
TOPICS = (
    " JOIN mention_query_fact t ON t.tenant_id = m.tenant_id AND t.mention_id = m.mention_id"
    " AND t.kind = 'topic'"
)


def upgrade() -> None:
    op.create_table(
        "mention_hashtag_fact",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("mention_id", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "mention_id", "tag"),
    )
    # The topic matches of the mentions already folded, counted as the folding now counts them. Their
    # hashtags are not known (metrics kept no text): they count from the mentions folded from here on,
    # or from every mention still in the stream after `rapport metrics rebuild`.
    conn = op.get_bind()
    hour = bucket(conn.dialect.name, "h", "m.created_at")
    for filter_expr, filter_join, filter_where in FILTERS:
        conn.execute(
            sa.text(
                "INSERT INTO mention_count (tenant_id, filter, span, start, field, value, n) "  # noqa: S608
                f"SELECT m.tenant_id, {filter_expr}, 'h', {hour}, 'topic', t.query_id, count(*) "
                f"FROM mention_fact m{filter_join}{TOPICS} WHERE m.removed_at IS NULL{filter_where} "
                "GROUP BY 1, 2, 4, 6"
            )
        )
    day = bucket(conn.dialect.name, "d", "start")
    conn.execute(
        sa.text(
            "INSERT INTO mention_count (tenant_id, filter, span, start, field, value, n) "  # noqa: S608
            f"SELECT tenant_id, filter, 'd', {day}, field, value, sum(n) FROM mention_count "
            "WHERE span = 'h' AND field = 'topic' GROUP BY 1, 2, 4, 5, 6"
        )
    )


def downgrade() -> None:
    op.execute("DELETE FROM mention_count WHERE field IN ('topic', 'hashtag')")
    op.drop_table("mention_hashtag_fact")

"""day summaries of the care and customer figures (counts per day, SLA deadline days, duration sets,
customers' totals per stage and currency), computed from the rows; indexes for the part days' reads

Revision ID: b9ddc11f7004
Revises: 4b8e2c6a9d13
Create Date: 2026-12-07 09:00:00
"""

import sys
from array import array
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "b9ddc11f7004"
down_revision: str | Sequence[str] | None = "4b8e2c6a9d13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "day_count",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("filter", sa.String(length=80), nullable=False),
        sa.Column("figure", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "filter", "figure", "day", "value"),
    )
    op.create_table(
        "sla_count",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("filter", sa.String(length=80), nullable=False),
        sa.Column("fr_day", sa.String(length=10), nullable=False),
        sa.Column("res_day", sa.String(length=10), nullable=False),
        sa.Column("met_fr", sa.Integer(), nullable=False),
        sa.Column("met_res", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "filter", "fr_day", "res_day", "met_fr", "met_res"),
    )
    op.create_index("ix_sla_count_fr", "sla_count", ["tenant_id", "filter", "fr_day"])
    op.create_index("ix_sla_count_res", "sla_count", ["tenant_id", "filter", "res_day"])
    op.create_table(
        "duration_set",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("filter", sa.String(length=80), nullable=False),
        sa.Column("figure", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("durations", sa.LargeBinary(), nullable=False),
        sa.Column("last_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "filter", "figure", "day"),
    )
    op.create_table(
        "clv_total",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=64), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("total", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "stage", "currency"),
    )
    op.create_index(
        "ix_conversation_fact_tenant_first_resolved", "conversation_fact", ["tenant_id", "first_resolved_at"]
    )
    op.create_index(
        "ix_conversation_fact_tenant_fr_due", "conversation_fact", ["tenant_id", "first_response_due_at"]
    )
    op.create_index(
        "ix_conversation_fact_tenant_res_due", "conversation_fact", ["tenant_id", "resolution_due_at"]
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_conversation_fact_tenant_res_due", table_name="conversation_fact")
    op.drop_index("ix_conversation_fact_tenant_fr_due", table_name="conversation_fact")
    op.drop_index("ix_conversation_fact_tenant_first_resolved", table_name="conversation_fact")
    op.drop_table("clv_total")
    op.drop_table("duration_set")
    op.drop_index("ix_sla_count_res", table_name="sla_count")
    op.drop_index("ix_sla_count_fr", table_name="sla_count")
    op.drop_table("sla_count")
    op.drop_table("day_count")


# --- the backfill -----------------------------------------------------------------------------------
# This revision's own copy of the summaries' backfill (`summaries.backfill` in services/metrics/logic when
# the copy was taken), over the fact tables as they are at this revision. Frozen on purpose: a migration
# must do the same thing to a database forever, whatever the app's summaries become later; so no app code
# is imported here. Not SQL: the duration sets are packed sorted integers (rounded as Python rounds) and
# the totals are decimal sums over merge trees of JSON values.

MAX_MERGE_HOPS = 32
DAY = timedelta(days=1)
NO_ORDER = "-"
CHUNK = 5000

_conversation_fact = sa.table(
    "conversation_fact",
    sa.column("tenant_id", sa.String),
    sa.column("opened_at", sa.DateTime(timezone=True)),
    sa.column("team_id", sa.String),
    sa.column("assignee_id", sa.String),
    sa.column("first_response_at", sa.DateTime(timezone=True)),
    sa.column("first_resolved_at", sa.DateTime(timezone=True)),
    sa.column("resolved_at", sa.DateTime(timezone=True)),
    sa.column("reopen_count", sa.Integer),
    sa.column("first_response_due_at", sa.DateTime(timezone=True)),
    sa.column("resolution_due_at", sa.DateTime(timezone=True)),
    sa.column("first_response_breached", sa.Boolean),
    sa.column("resolution_breached", sa.Boolean),
    sa.column("first_response_business_s", sa.Float),
    sa.column("resolution_business_s", sa.Float),
    sa.column("merged_into", sa.String),
)
_survey_fact = sa.table(
    "survey_fact",
    sa.column("tenant_id", sa.String),
    sa.column("kind", sa.String),
    sa.column("score", sa.Integer),
    sa.column("assignee_id", sa.String),
    sa.column("channel_id", sa.String),
    sa.column("platform", sa.String),
    sa.column("answered_at", sa.DateTime(timezone=True)),
)
_profile_fact = sa.table(
    "profile_fact",
    sa.column("tenant_id", sa.String),
    sa.column("profile_id", sa.String),
    sa.column("first_seen_at", sa.DateTime(timezone=True)),
    sa.column("platform", sa.String),
    sa.column("lifecycle_stage", sa.String),
    sa.column("lifetime_value", sa.JSON),
    sa.column("snapshot_at", sa.DateTime(timezone=True)),
    sa.column("merged_into", sa.String),
    sa.column("merged_at", sa.DateTime(timezone=True)),
)
_order_fact = sa.table(
    "order_fact",
    sa.column("tenant_id", sa.String),
    sa.column("owner_id", sa.String),
    sa.column("at", sa.DateTime(timezone=True)),
)
_day_count = sa.table(
    "day_count",
    *(sa.column(name, sa.String) for name in ("tenant_id", "filter", "figure", "day", "value")),
    sa.column("n", sa.Integer),
)
_sla_count = sa.table(
    "sla_count",
    *(sa.column(name, sa.String) for name in ("tenant_id", "filter", "fr_day", "res_day")),
    *(sa.column(name, sa.Integer) for name in ("met_fr", "met_res", "n")),
)
_duration_set = sa.table(
    "duration_set",
    *(sa.column(name, sa.String) for name in ("tenant_id", "filter", "figure", "day")),
    sa.column("n", sa.Integer),
    sa.column("durations", sa.LargeBinary),
    sa.column("last_done_at", sa.DateTime(timezone=True)),
)
_clv_total = sa.table(
    "clv_total",
    *(sa.column(name, sa.String) for name in ("tenant_id", "stage", "currency")),
    sa.column("customers", sa.Integer),
    sa.column("total", sa.String),
)
DAY_KEYS = ("tenant_id", "filter", "figure", "day", "value")
SLA_KEYS = ("tenant_id", "filter", "fr_day", "res_day", "met_fr", "met_res")


def _utc(moment: datetime) -> datetime:
    """A naive time (SQLite gives the stored UTC time back without its offset) is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _day_of(moment: datetime) -> str:
    return _utc(moment).date().isoformat()


def _centiminutes(seconds: float) -> int:
    return round(round(seconds / 60, 2) * 100)


def _met(due: datetime | None, done: datetime | None, breached: bool) -> int:
    return int(due is not None and not breached and done is not None and _utc(done) <= _utc(due))


def _add_conversation(r: Any, counts: Counter[tuple[Any, ...]]) -> None:
    if r.opened_at is None or r.merged_into is not None:
        return
    t, opened = r.tenant_id, _day_of(r.opened_at)
    fr_due, res_due = r.first_response_due_at, r.resolution_due_at
    sla = None
    if fr_due is not None or res_due is not None:
        sla = (
            "" if fr_due is None else _day_of(fr_due),
            "" if res_due is None else _day_of(res_due),
            _met(fr_due, r.first_response_at, r.first_response_breached),
            _met(res_due, r.first_resolved_at, r.resolution_breached),
        )
    durations = []
    for figure, done, business_s in (
        ("first_response", r.first_response_at, r.first_response_business_s),
        ("resolution", r.resolved_at, r.resolution_business_s),
    ):
        if done is not None:
            seconds = (
                business_s if business_s is not None else (_utc(done) - _utc(r.opened_at)).total_seconds()
            )
            durations.append((figure, _centiminutes(seconds), _utc(done)))
    agent = r.assignee_id or ""
    reopen = None
    if r.first_resolved_at is not None:
        reopen = (_day_of(r.first_resolved_at), "1" if r.reopen_count > 0 else "0")
    filters = [""]
    if r.team_id:
        filters.append(f"team:{r.team_id}")
    if r.assignee_id:
        filters.append(f"agent:{r.assignee_id}")
    for f in filters:
        counts[(t, "day", f, "opened", opened, agent)] += 1
        if r.resolved_at is None:
            counts[(t, "day", f, "unresolved", opened, "")] += 1
        if reopen is not None:
            counts[(t, "day", f, "reopen", *reopen)] += 1
        if sla is not None:
            counts[(t, "sla", f, *sla)] += 1
        for figure, value, done in durations:
            counts[(t, "dur", f, figure, opened, value, done)] += 1


def _add_answer(r: Any, counts: Counter[tuple[Any, ...]]) -> None:
    filters = [""]
    if r.channel_id:
        filters.append(f"channel:{r.channel_id}")
    if r.platform:
        filters.append(f"platform:{r.platform}")
    if r.assignee_id:
        filters.append(f"agent:{r.assignee_id}")
    day = _day_of(r.answered_at)
    for f in filters:
        counts[(r.tenant_id, "day", f, r.kind, day, str(r.score))] += 1


def _lag_days(seen: datetime, ordered: datetime | None) -> str:
    if ordered is None or _utc(ordered) < _utc(seen):
        return NO_ORDER
    days, rest = divmod(_utc(ordered) - _utc(seen), DAY)
    return str(days + (1 if rest else 0))


def _customer_value(root: Any, children: dict[tuple[str, str], list[Any]]) -> dict[str, Decimal]:
    """Its snapshot's order totals per currency, plus what was merged into it after that snapshot."""

    def value(r: Any, depth: int) -> dict[str, Decimal]:
        total = {cur: Decimal(v) for cur, v in (r.lifetime_value or {}).items()}
        below = children.get((r.tenant_id, r.profile_id), []) if depth < MAX_MERGE_HOPS else []
        for child in below:
            if (
                r.snapshot_at is None
                or child.merged_at is None
                or _utc(r.snapshot_at) < _utc(child.merged_at)
            ):
                for cur, v in value(child, depth + 1).items():
                    total[cur] = total.get(cur, Decimal(0)) + v
        return total

    return value(root, 0)


def _pack(values: Sequence[int]) -> bytes:
    """Sorted durations as little-endian signed 64-bit integers, as `duration_set.durations` holds them."""
    packed = array("q", values)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def _insert(conn: sa.Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[i : i + CHUNK])


def _backfill(conn: sa.Connection) -> None:
    """The summaries computed from the fact rows there are (into the tables just made, empty)."""
    counts: Counter[tuple[Any, ...]] = Counter()
    money: dict[tuple[str, str, str], Decimal] = {}
    for r in conn.execute(sa.select(_conversation_fact)):
        _add_conversation(r, counts)
    for r in conn.execute(sa.select(_survey_fact)):
        _add_answer(r, counts)
    firsts: dict[tuple[str, str], datetime] = {}
    for t, owner, at in conn.execute(sa.select(_order_fact)):
        if (t, owner) not in firsts or _utc(at) < _utc(firsts[(t, owner)]):
            firsts[(t, owner)] = at
    profiles = list(conn.execute(sa.select(_profile_fact)))
    children: dict[tuple[str, str], list[Any]] = {}
    for r in profiles:
        if r.merged_into is not None:
            children.setdefault((r.tenant_id, r.merged_into), []).append(r)
    for r in profiles:
        if r.merged_into is not None:
            continue
        t = r.tenant_id
        if r.first_seen_at is not None and (r.platform is None or not r.platform.startswith("partner:")):
            lag, day = _lag_days(r.first_seen_at, firsts.get((t, r.profile_id))), _day_of(r.first_seen_at)
            counts[(t, "day", "", "seen", day, lag)] += 1
            if r.platform is not None:
                counts[(t, "day", f"platform:{r.platform}", "seen", day, lag)] += 1
        for currency, amount in _customer_value(r, children).items():
            counts[(t, "clv", r.lifecycle_stage, currency)] += 1
            money[(t, r.lifecycle_stage, currency)] = (
                money.get((t, r.lifecycle_stage, currency), Decimal(0)) + amount
            )

    days, slas, customers = [], [], {}
    durations: dict[tuple[str, str, str, str], list[tuple[int, datetime]]] = {}
    for key, n in counts.items():
        if key[1] == "day":
            days.append(dict(zip(DAY_KEYS, (key[0], *key[2:]), strict=True), n=n))
        elif key[1] == "sla":
            slas.append(dict(zip(SLA_KEYS, (key[0], *key[2:]), strict=True), n=n))
        elif key[1] == "dur":
            t, _, f, figure, day, value, done = key
            durations.setdefault((t, f, figure, day), []).extend([(value, done)] * n)
        else:
            customers[(key[0], key[2], key[3])] = n
    _insert(conn, _day_count, days)
    _insert(conn, _sla_count, slas)
    sets = []
    for (t, f, figure, day), entries in durations.items():
        values = sorted(v for v, _ in entries)
        sets.append(
            {
                "tenant_id": t,
                "filter": f,
                "figure": figure,
                "day": day,
                "n": len(values),
                "durations": _pack(values),
                "last_done_at": max(done for _, done in entries),
            }
        )
    _insert(conn, _duration_set, sets)
    totals = [
        {
            "tenant_id": t,
            "stage": s,
            "currency": c,
            "customers": n,
            "total": str(money.get((t, s, c), Decimal(0))),
        }
        for (t, s, c), n in customers.items()
    ]
    _insert(conn, _clv_total, totals)

"""The scorecard, its time series and its drill-down rows, all computed from one function per metric
family that reads the fact rows a period and filters select.

Each figure is an aggregate of rows (`*_rows`), and the drill-down (`GET /v1/metrics/rows`) exports those
very rows: a metric always equals what its rows add up to. docs/metrics.md gives the definitions; the
same sentences are the API's field descriptions (services/metrics/schemas.py).
"""

from __future__ import annotations

import functools
import math
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, get_args

from sqlalchemy import and_, bindparam, case, exists, func, or_, union
from sqlalchemy import select as _sa_select
from sqlmodel import col

from services.metrics.logic import rollups, summaries
from services.metrics.logic.surveys import CSAT_SATISFIED, NPS_DETRACTORS, NPS_PROMOTERS, csat, nps
from services.metrics.models import (
    AlertFact,
    ClvTotal,
    ConversationFact,
    DayCount,
    DurationSet,
    MentionCount,
    MentionFact,
    MentionHashtagFact,
    MentionQueryFact,
    OrderFact,
    ProfileFact,
    SlaCount,
    SurveyFact,
)
from services.metrics.schemas import (
    Care,
    Clv,
    ClvGroup,
    ConversationCounts,
    Customer,
    Durations,
    HashtagCount,
    Listening,
    MentionCounts,
    Rate,
    Scorecard,
    SentimentCounts,
    ShareOfVoice,
    Sla,
    TopicCount,
)
from shared.db import utcnow
from shared.events.contracts import Intent, LifecycleStage
from shared.reads import Reader

Row = dict[str, Any]


def select_(*columns: Any) -> Any:
    """`select` over model attributes (typed loosely: the rows are read as mappings)."""
    return _sa_select(*columns)


STAGES: tuple[str, ...] = get_args(LifecycleStage)
CENT = Decimal("0.01")
TOP = 10  # the topic queries and the hashtags the scorecard lists
# What `mention_tallies` counts: the mentions per value of each field, their brand and competitor matches
# per kind, their topic matches per query and their hashtags per tag.
TALLIES = (*rollups.FIELDS, "kind", "topic", "hashtag")


@dataclass(frozen=True)
class Filters:
    """A scorecard's period [`from_`, `to`) (`to`: when it is measured, never after now) and filters."""

    to: datetime
    from_: datetime | None = None
    channel: str | None = None
    platform: str | None = None
    team: str | None = None
    agent: str | None = None
    language: str | None = None
    query: str | None = None
    currency: str = "EUR"
    conversion_days: int = 30
    # When replies and resolutions are looked at (a time series' buckets are all measured at its end).
    measured_at: datetime | None = None

    @property
    def at(self) -> datetime:
        return self.measured_at or self.to


def _in(moment: datetime | None, f: Filters) -> bool:
    return moment is not None and (f.from_ is None or moment >= f.from_) and moment < f.to


def percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def nearest_rank(values: Sequence[float], p: int) -> float | None:
    """The nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered) / 100), 1) - 1]


def _done(moment: datetime | None, f: Filters) -> datetime | None:
    """A reply or resolution as it stood when the figures are measured (a later one is not known yet)."""
    return moment if moment is not None and moment < f.at else None


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 60, 2)


# --- listening ------------------------------------------------------------------------------------


def _mention_where(tenant_id: str, f: Filters) -> list[Any]:
    m = MentionFact
    where: list[Any] = [col(m.tenant_id) == tenant_id, col(m.created_at) < f.to, col(m.removed_at).is_(None)]
    if f.from_ is not None:
        where.append(col(m.created_at) >= f.from_)
    if f.channel is not None:
        where.append(col(m.channel_id) == f.channel)
    if f.platform is not None:
        where.append(col(m.platform) == f.platform)
    if f.language is not None:
        where.append(col(m.language) == f.language)
    if f.query is not None:
        where.append(_matches(f.query, col(m.tenant_id), col(m.mention_id)))
    return where


def _matches(query_id: str, tenant: Any, mention: Any) -> Any:
    q = MentionQueryFact.__table__.alias("query_filter")  # type: ignore[attr-defined]
    return exists().where(q.c.tenant_id == tenant, q.c.mention_id == mention, q.c.query_id == query_id)


async def mention_rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """Mentions posted in the period (their latest analysis)."""
    m = MentionFact
    stmt = select_(
        m.mention_id, m.created_at, m.platform, m.channel_id, m.language, m.sentiment, m.intent
    ).where(*_mention_where(tenant_id, f))
    return [dict(r._mapping) for r in await reader.all(stmt)]


def tally(rows: Sequence[Row], field: str) -> Tally[str]:
    """How many rows hold each value of `field` (a row with `n` stands for n rows: a grouped count)."""
    counts: Tally[str] = Tally()
    for r in rows:
        counts[r[field]] += r.get("n", 1)
    return counts


async def mention_groups(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """The period's mentions counted per (sentiment, language, intent, platform) in the database: what
    the scorecard needs of them, without reading each row (the drill-down reads the rows, same filter)."""
    m = MentionFact
    keys = (col(m.sentiment), col(m.language), col(m.intent), col(m.platform))
    stmt = select_(*keys, func.count().label("n")).where(*_mention_where(tenant_id, f)).group_by(*keys)
    return [dict(r._mapping) for r in await reader.all(stmt)]


def mentions_of(rows: Sequence[Row]) -> MentionCounts:
    return mention_counts({name: tally(rows, name) for name in rollups.FIELDS})


def mention_counts(tallies: dict[str, Tally[str]]) -> MentionCounts:
    """The mention figures from the counts per value of each field (`rollups.FIELDS`)."""
    by_sentiment, intents = tallies["sentiment"], tallies["intent"]
    return MentionCounts(
        total=sum(by_sentiment.values()),
        by_sentiment=SentimentCounts(**{k: by_sentiment[k] for k in ("negative", "neutral", "positive")}),
        by_language=dict(sorted(tallies["language"].items())),
        by_intent={k: intents[k] for k in sorted(get_args(Intent))},
        by_platform=dict(sorted(tallies["platform"].items())),
    )


def net_sentiment(rows: Sequence[Row]) -> float | None:
    """(positive - negative) / (positive + negative), in percent; null without either."""
    return net_of(tally(rows, "sentiment"))


def net_of(sentiments: Tally[str]) -> float | None:
    positive, negative = sentiments["positive"], sentiments["negative"]
    return percent(positive - negative, positive + negative)


async def _match_rows(reader: Reader, tenant_id: str, f: Filters, kinds: tuple[str, ...]) -> list[Row]:
    """The period's mentions' matches of queries of these kinds."""
    m, q = MentionFact, MentionQueryFact
    stmt = (
        select_(q.mention_id, q.query_id, q.kind, m.created_at)
        .join(m, and_(col(m.tenant_id) == col(q.tenant_id), col(m.mention_id) == col(q.mention_id)))
        .where(*_mention_where(tenant_id, f), col(q.kind).in_(kinds))
    )
    return [dict(r._mapping) for r in await reader.all(stmt)]


async def share_rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """The brand and competitor query matches of the period's mentions."""
    return await _match_rows(reader, tenant_id, f, ("brand", "competitor"))


async def topic_rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """The topic query matches of the period's mentions."""
    return await _match_rows(reader, tenant_id, f, ("topic",))


async def hashtag_rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """The hashtags of the period's mentions (one row per mention and tag)."""
    m, h = MentionFact, MentionHashtagFact
    stmt = (
        select_(h.mention_id, h.tag, m.created_at)
        .join(m, and_(col(m.tenant_id) == col(h.tenant_id), col(m.mention_id) == col(h.mention_id)))
        .where(*_mention_where(tenant_id, f))
    )
    return [dict(r._mapping) for r in await reader.all(stmt)]


def top_of(counts: Tally[str]) -> list[tuple[str, int]]:
    """The `TOP` values counted most, most first, ties by value."""
    return sorted(((v, n) for v, n in counts.items() if n), key=lambda vn: (-vn[1], vn[0]))[:TOP]


def top_topics(tallies: dict[str, Tally[str]]) -> list[TopicCount]:
    return [TopicCount(query_id=q, mentions=n) for q, n in top_of(tallies["topic"])]


def top_hashtags(tallies: dict[str, Tally[str]]) -> list[HashtagCount]:
    return [HashtagCount(tag=t, mentions=n) for t, n in top_of(tallies["hashtag"])]


async def _joined_tally(
    reader: Reader, tenant_id: str, f: Filters, model: Any, by: Any, *where: Any
) -> Tally[str]:
    """The rows of `model` (query matches, hashtags) of the period's mentions counted per value of `by`,
    in the database."""
    m = MentionFact
    stmt = (
        select_(by, func.count())
        .join(m, and_(col(m.tenant_id) == col(model.tenant_id), col(m.mention_id) == col(model.mention_id)))
        .where(*_mention_where(tenant_id, f), *where)
        .group_by(by)
    )
    return Tally({value: n for value, n in await reader.all(stmt)})


def share_of_voice(rows: Sequence[Row]) -> ShareOfVoice:
    return share_of(tally(rows, "kind"))


def share_of(kinds: Tally[str]) -> ShareOfVoice:
    brand, competitor = kinds["brand"], kinds["competitor"]
    return ShareOfVoice(brand=brand, competitor=competitor, share=percent(brand, brand + competitor))


async def _tallies_of_rows(reader: Reader, tenant_id: str, f: Filters) -> dict[str, Tally[str]]:
    groups = await mention_groups(reader, tenant_id, f)
    tallies = {name: tally(groups, name) for name in rollups.FIELDS}
    q, h = MentionQueryFact, MentionHashtagFact
    tallies["kind"] = await _joined_tally(
        reader, tenant_id, f, q, col(q.kind), col(q.kind).in_(rollups.SHARE_KINDS)
    )
    tallies["topic"] = await _joined_tally(reader, tenant_id, f, q, col(q.query_id), col(q.kind) == "topic")
    tallies["hashtag"] = await _joined_tally(reader, tenant_id, f, h, col(h.tag))
    return tallies


async def mention_tallies(reader: Reader, tenant_id: str, f: Filters) -> dict[str, Tally[str]]:
    """The period's mentions counted per value of each field, their brand and competitor matches per kind
    (`kind`), their topic matches per query (`topic`) and their hashtags (`hashtag`): the same numbers as
    the rows' (`mention_groups`, `_joined_tally`), read from the
    hourly and daily counts for the period's whole hours and days when at most one of channel, platform,
    language and query is given, and from the rows for the part hours at its ends (and otherwise)."""
    given = [
        (name, v)
        for name, v in (
            ("channel", f.channel),
            ("platform", f.platform),
            ("language", f.language),
            ("query", f.query),
        )
        if v is not None
    ]
    if len(given) > 1:
        return await _tallies_of_rows(reader, tenant_id, f)
    which = rollups.filter_of(*given[0]) if given else ""
    pieces, counted = rollups.whole_spans(f.from_, f.to)
    tallies: dict[str, Tally[str]] = {name: Tally() for name in TALLIES}
    for lo, hi in pieces:
        for name, counts in (await _tallies_of_rows(reader, tenant_id, replace(f, from_=lo, to=hi))).items():
            tallies[name].update(counts)
    mc = MentionCount
    for span, lo, hi in counted:
        where = [
            col(mc.tenant_id) == tenant_id,
            col(mc.filter) == which,
            col(mc.span) == span,
            col(mc.start) < hi,
        ]
        if lo is not None:
            where.append(col(mc.start) >= lo)
        stmt = (
            select_(mc.field, mc.value, func.sum(mc.n).label("n"))
            .where(*where)
            .group_by(col(mc.field), col(mc.value))
        )
        for name, value, n in await reader.all(stmt):
            if n:
                tallies[name][value] += n
    return tallies


async def alert_rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """Alerts raised on listening queries for buckets starting in the period."""
    a = AlertFact
    where: list[Any] = [col(a.tenant_id) == tenant_id, col(a.bucket_start) < f.to]
    if f.from_ is not None:
        where.append(col(a.bucket_start) >= f.from_)
    if f.query is not None:
        where.append(col(a.query_id) == f.query)
    stmt = select_(a.alert_id, a.query_id, a.kind, a.bucket_start).where(*where)
    return [dict(r._mapping) for r in await reader.all(stmt)]


# --- care -----------------------------------------------------------------------------------------


async def conversations(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """Every conversation the period's care figures may need (opened before `to`, not merged away), with
    the platform, channel and language of the mention that opened it."""
    cv = ConversationFact
    when: list[Any] = []
    if f.from_ is not None:
        when.append(
            or_(
                col(cv.opened_at) >= f.from_,
                col(cv.first_resolved_at) >= f.from_,
                col(cv.first_response_due_at) >= f.from_,
                col(cv.resolution_due_at) >= f.from_,
                col(cv.resolved_at).is_(None),
            )
        )
    return await conversations_where(reader, tenant_id, f, *when)


_CONVERSATION_COLUMNS = (
    ConversationFact.conversation_id,
    ConversationFact.profile_id,
    ConversationFact.opened_at,
    ConversationFact.first_response_at,
    ConversationFact.resolved_at,
    ConversationFact.first_resolved_at,
    ConversationFact.status,
    ConversationFact.reopen_count,
    ConversationFact.team_id,
    ConversationFact.assignee_id,
    ConversationFact.priority,
    ConversationFact.first_response_due_at,
    ConversationFact.resolution_due_at,
    ConversationFact.first_response_breached,
    ConversationFact.resolution_breached,
    ConversationFact.first_response_business_s,
    ConversationFact.resolution_business_s,
    MentionFact.platform,
    MentionFact.channel_id,
    MentionFact.language,
)


async def conversations_where(reader: Reader, tenant_id: str, f: Filters, *when: Any) -> list[Row]:
    """The conversations opened before `to`, not merged away, that the filters and `when` select."""
    cv, m = ConversationFact, MentionFact
    where: list[Any] = [
        col(cv.tenant_id) == tenant_id,
        col(cv.opened_at).is_not(None),
        col(cv.opened_at) < f.to,
        col(cv.merged_into).is_(None),
        *when,
    ]
    if f.team is not None:
        where.append(col(cv.team_id) == f.team)
    if f.agent is not None:
        where.append(col(cv.assignee_id) == f.agent)
    if f.channel is not None:
        where.append(col(m.channel_id) == f.channel)
    if f.platform is not None:
        where.append(col(m.platform) == f.platform)
    if f.language is not None:
        where.append(col(m.language) == f.language)
    if f.query is not None:
        where.append(_matches(f.query, col(cv.tenant_id), col(cv.mention_id)))
    stmt = (
        select_(*_CONVERSATION_COLUMNS)
        .select_from(cv)
        .outerjoin(m, and_(col(m.tenant_id) == col(cv.tenant_id), col(m.mention_id) == col(cv.mention_id)))
        .where(*where)
    )
    return [dict(r._mapping) for r in await reader.all(stmt)]


def _conversation_row(r: Row, **extra: Any) -> Row:
    return {
        "conversation_id": r["conversation_id"],
        "opened_at": r["opened_at"],
        "team_id": r["team_id"],
        "assignee_id": r["assignee_id"],
        "platform": r["platform"],
        "channel_id": r["channel_id"],
        "language": r["language"],
        **extra,
    }


def _duration(r: Row, done: datetime | None, business_s: float | None) -> tuple[float | None, str]:
    """Minutes from opening to `done` (null: not done by `to`), in the team's business hours where the
    conversation's SLA runs in them, else on the wall clock; and which clock it was."""
    if business_s is not None:
        return (None if done is None else round(business_s / 60, 2)), "business"
    return _minutes(r["opened_at"], done), "wall"


def first_response_rows(convs: Sequence[Row], f: Filters) -> list[Row]:
    """Conversations opened in the period; minutes from opening to the first reply (null: pending)."""
    rows = []
    for r in convs:
        if _in(r["opened_at"], f):
            done = _done(r["first_response_at"], f)
            minutes, clock = _duration(r, done, r["first_response_business_s"])
            rows.append(
                _conversation_row(r, first_response_at=done, first_response_minutes=minutes, clock=clock)
            )
    return rows


def resolution_rows(convs: Sequence[Row], f: Filters) -> list[Row]:
    """Conversations opened in the period; minutes from opening to resolution (null: unresolved)."""
    rows = []
    for r in convs:
        if _in(r["opened_at"], f):
            done = _done(r["resolved_at"], f)
            minutes, clock = _duration(r, done, r["resolution_business_s"])
            rows.append(_conversation_row(r, resolved_at=done, resolution_minutes=minutes, clock=clock))
    return rows


def durations(rows: Sequence[Row], field: str) -> Durations:
    values = [r[field] for r in rows if r[field] is not None]
    return Durations(
        count=len(values),
        pending=len(rows) - len(values),
        p50_minutes=nearest_rank(values, 50),
        p90_minutes=nearest_rank(values, 90),
    )


def sla_rows(convs: Sequence[Row], f: Filters) -> list[Row]:
    """Conversations with a deadline (first response or resolution) in the period; met = every such
    deadline was met (answered or resolved by it)."""
    rows = []
    for r in convs:
        targets = []
        fr_due, res_due = r["first_response_due_at"], r["resolution_due_at"]
        if _in(fr_due, f):
            done = _done(r["first_response_at"], f)
            targets.append(not r["first_response_breached"] and done is not None and done <= fr_due)
        if _in(res_due, f):
            done = _done(r["first_resolved_at"], f)
            targets.append(not r["resolution_breached"] and done is not None and done <= res_due)
        if targets:
            rows.append(
                _conversation_row(
                    r,
                    first_response_due_at=fr_due if _in(fr_due, f) else None,
                    resolution_due_at=res_due if _in(res_due, f) else None,
                    met=int(all(targets)),
                )
            )
    return rows


def sla_of(rows: Sequence[Row]) -> Sla:
    met = sum(r["met"] for r in rows)
    return Sla(conversations=len(rows), met=met, compliance=percent(met, len(rows)))


def reopen_rows(convs: Sequence[Row], f: Filters) -> list[Row]:
    """Conversations first resolved in the period; reopened = the customer reopened it since."""
    return [
        _conversation_row(
            r,
            first_resolved_at=r["first_resolved_at"],
            reopened=int(r["reopen_count"] > 0),
            reopen_count=r["reopen_count"],
        )
        for r in convs
        if _in(r["first_resolved_at"], f)
    ]


def reopen_of(rows: Sequence[Row]) -> Rate:
    hit = sum(r["reopened"] for r in rows)
    return Rate(base=len(rows), count=hit, rate=percent(hit, len(rows)))


def backlog_rows(convs: Sequence[Row], f: Filters) -> list[Row]:
    """Conversations opened before `to` and not resolved or closed (as of now)."""
    return [_conversation_row(r, status=r["status"]) for r in convs if r["resolved_at"] is None]


def opened_rows(convs: Sequence[Row], f: Filters) -> list[Row]:
    """Conversations opened in the period, with their agent."""
    return [_conversation_row(r, status=r["status"]) for r in convs if _in(r["opened_at"], f)]


# --- customer -------------------------------------------------------------------------------------


async def survey_rows(reader: Reader, tenant_id: str, f: Filters, kind: str) -> list[Row]:
    """Answers of one kind given in the period."""
    s, cv, m = SurveyFact, ConversationFact, MentionFact
    where: list[Any] = [col(s.tenant_id) == tenant_id, col(s.kind) == kind, col(s.answered_at) < f.to]
    if f.from_ is not None:
        where.append(col(s.answered_at) >= f.from_)
    if f.channel is not None:
        where.append(col(s.channel_id) == f.channel)
    if f.platform is not None:
        where.append(col(s.platform) == f.platform)
    if f.agent is not None:
        where.append(col(s.assignee_id) == f.agent)
    if f.team is not None:
        where.append(col(cv.team_id) == f.team)
    if f.language is not None:
        where.append(col(m.language) == f.language)
    if f.query is not None:
        where.append(_matches(f.query, col(cv.tenant_id), col(cv.mention_id)))
    stmt = (
        select_(
            s.survey_id, s.conversation_id, s.answered_at, s.score, s.assignee_id, s.channel_id, s.platform
        )
        .select_from(s)
        .outerjoin(
            cv, and_(col(cv.tenant_id) == col(s.tenant_id), col(cv.conversation_id) == col(s.conversation_id))
        )
        .outerjoin(m, and_(col(m.tenant_id) == col(cv.tenant_id), col(m.mention_id) == col(cv.mention_id)))
        .where(*where)
    )
    rows = [dict(r._mapping) for r in await reader.all(stmt)]
    for r in rows:
        if kind == "csat":
            r["satisfied"] = int(r["score"] in CSAT_SATISFIED)
        else:
            r["promoter"] = int(r["score"] in NPS_PROMOTERS)
            r["detractor"] = int(r["score"] in NPS_DETRACTORS)
    return rows


def _totals(rows: Sequence[Row], kind: str) -> dict[str, int]:
    return dict(Tally(f"surveys.{kind}.{r['score']}" for r in rows))


async def conversion_rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """Profiles first seen on social (not created by a partner's CRM) in the period, as the customers they
    are now (a merged-away profile counts as its survivor); converted = their first order came within the
    conversion window after they were first seen."""
    p, o = ProfileFact, OrderFact
    # Each profile's first order, looked up per profile (an index range each), not every order grouped.
    first = (
        select_(func.min(o.at))
        .where(col(o.tenant_id) == col(p.tenant_id), col(o.owner_id) == col(p.profile_id))
        .correlate(p)
        .scalar_subquery()
        .label("first_order_at")
    )
    where: list[Any] = [
        col(p.tenant_id) == tenant_id,
        col(p.merged_into).is_(None),
        col(p.first_seen_at).is_not(None),
        col(p.first_seen_at) < f.to,
        or_(col(p.platform).is_(None), ~col(p.platform).startswith("partner:")),
    ]
    if f.from_ is not None:
        where.append(col(p.first_seen_at) >= f.from_)
    if f.platform is not None:
        where.append(col(p.platform) == f.platform)
    stmt = select_(p.profile_id, p.first_seen_at, p.platform, first).select_from(p).where(*where)
    window = timedelta(days=f.conversion_days)
    rows = []
    for r in await reader.all(stmt):
        row = dict(r._mapping)
        seen, ordered = row["first_seen_at"], row["first_order_at"]
        row["converted"] = int(ordered is not None and seen <= ordered <= seen + window)
        rows.append(row)
    return rows


async def retention_rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """The previous period's customers (an order in the period of the same length just before this one);
    retained = they ordered again in this one. Needs `from`."""
    if f.from_ is None:
        return []
    o = OrderFact
    before = f.from_ - (f.to - f.from_)
    stmt = select_(o.owner_id, o.at).where(
        col(o.tenant_id) == tenant_id, col(o.at) >= before, col(o.at) < f.to
    )
    previous: set[str] = set()
    current: set[str] = set()
    for owner, at in await reader.all(stmt):
        (previous if at < f.from_ else current).add(owner)
    return [{"profile_id": pid, "retained": int(pid in current)} for pid in sorted(previous)]


async def clv_rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
    """Customers (profiles with an order total, merged profiles counted in their survivor) and their order
    total per currency, with their lifecycle stage now: one row per customer and currency.

    A survivor's snapshot taken after a merge already holds the merged profile's total (profiles adds it);
    one taken before does not, so the merged profile's own is added."""
    p = ProfileFact
    stmt = select_(
        p.profile_id, p.lifecycle_stage, p.lifetime_value, p.snapshot_at, p.merged_into, p.merged_at
    ).where(
        col(p.tenant_id) == tenant_id,
        # One index range each (an OR of the three would read every profile of the tenant).
        col(p.profile_id).in_(
            union(
                _sa_select(col(p.profile_id)).where(
                    col(p.tenant_id) == tenant_id, col(p.snapshot_at).is_not(None)
                ),
                _sa_select(col(p.profile_id)).where(
                    col(p.tenant_id) == tenant_id, col(p.merged_into).is_not(None)
                ),
                # A survivor known only from its creation still holds what was merged into it.
                _sa_select(col(p.merged_into)).where(
                    col(p.tenant_id) == tenant_id, col(p.merged_into).is_not(None)
                ),
            )
        ),
    )
    profiles = {r.profile_id: r for r in await reader.all(stmt)}
    children: dict[str, list[Any]] = {}
    for r in profiles.values():
        if r.merged_into is not None:
            children.setdefault(r.merged_into, []).append(r)

    def value(r: Any, depth: int = 0) -> dict[str, Decimal]:
        total = {cur: Decimal(v) for cur, v in (r.lifetime_value or {}).items()}
        for child in children.get(r.profile_id, []) if depth < 32 else []:
            if r.snapshot_at is None or child.merged_at is None or r.snapshot_at < child.merged_at:
                for cur, v in value(child, depth + 1).items():
                    total[cur] = total.get(cur, Decimal(0)) + v
        return total

    rows = []
    for r in profiles.values():
        if r.merged_into is not None:
            continue
        for currency, amount in sorted(value(r).items()):
            rows.append(
                {
                    "profile_id": r.profile_id,
                    "lifecycle_stage": r.lifecycle_stage,
                    "currency": currency,
                    "value": str(amount),
                }
            )
    return rows


def _clv_group(rows: Sequence[Row]) -> ClvGroup:
    total = sum((Decimal(r["value"]) for r in rows), Decimal(0))
    mean = (total / len(rows)).quantize(CENT, rounding=ROUND_HALF_EVEN) if rows else None
    return ClvGroup(
        customers=len(rows), total=str(total.quantize(CENT)), mean=None if mean is None else str(mean)
    )


def clv_of(rows: Sequence[Row], currency: str) -> Clv:
    mine = [r for r in rows if r["currency"] == currency]
    others = sorted({r["currency"] for r in rows} - {currency})
    return Clv(
        currency=currency,
        all=_clv_group(mine),
        by_stage={s: _clv_group([r for r in mine if r["lifecycle_stage"] == s]) for s in STAGES},
        other_currencies={cur: _clv_group([r for r in rows if r["currency"] == cur]) for cur in others},
    )


# --- from the day summaries -----------------------------------------------------------------------
# Statements of a fixed shape, built once (the reader compiles a statement once per object), with the
# tenant, the filter and the days as parameters.


@dataclass(frozen=True)
class Days:
    """A period cut into its whole UTC days [`lo`, `hi`) (`lo` None: from the start) and the part days at
    its ends (`pieces`, read from the rows)."""

    lo: datetime | None
    hi: datetime
    pieces: tuple[tuple[datetime, datetime], ...]

    @property
    def edges(self) -> list[tuple[datetime, datetime]]:
        """The whole UTC days the part days lie in."""
        return [(rollups.day_of(a), rollups.day_of(a) + DAY) for a, _ in self.pieces]


DAY = timedelta(days=1)


def whole_days(f: Filters) -> Days | None:
    """The period's whole days and part days, or None without a whole day."""
    hi = rollups.day_of(f.to)
    lo: datetime | None = None
    pieces: list[tuple[datetime, datetime]] = []
    if f.from_ is not None:
        lo = rollups.day_of(f.from_)
        if lo < f.from_:
            lo += DAY
            pieces.append((f.from_, lo))
        if lo >= hi:
            return None
    if hi < f.to:
        pieces.append((hi, f.to))
    return Days(lo, hi, tuple(pieces))


def _one_filter(f: Filters, allowed: tuple[str, ...]) -> str | None:
    """The summaries' `filter` for these filters: "" for none, "name:value" for one of `allowed`; None
    (read the rows) for two, or one the summaries do not keep."""
    given = [
        (name, getattr(f, name))
        for name in ("channel", "platform", "team", "agent", "language", "query")
        if getattr(f, name) is not None
    ]
    if not given:
        return ""
    if len(given) > 1 or given[0][0] not in allowed:
        return None
    return f"{given[0][0]}:{given[0][1]}"


def _days(lo: datetime | None, hi: datetime) -> dict[str, str]:
    return {"hi": summaries.day_of(hi), **({} if lo is None else {"lo": summaries.day_of(lo)})}


@functools.cache
def _counts_stmt(figures: tuple[str, ...], from_start: bool) -> Any:
    dc = DayCount
    where = [
        col(dc.tenant_id) == bindparam("tenant"),
        col(dc.filter) == bindparam("which"),
        col(dc.figure).in_(figures),
        col(dc.day) < bindparam("hi"),
    ]
    if not from_start:
        where.append(col(dc.day) >= bindparam("lo"))
    return (
        select_(dc.figure, dc.value, func.sum(dc.n).label("n"))
        .where(*where)
        .group_by(col(dc.figure), col(dc.value))
    )


async def _day_counts(
    reader: Reader, tenant_id: str, which: str, figures: tuple[str, ...], lo: datetime | None, hi: datetime
) -> Tally[tuple[str, str]]:
    """`DayCount` summed per (figure, value) over the days [lo, hi)."""
    params = {"tenant": tenant_id, "which": which, **_days(lo, hi)}
    rows = await reader.all(_counts_stmt(figures, lo is None), params)
    return Tally({(figure, value): int(n) for figure, value, n in rows if n})


@functools.cache
def _conversations_stmt(columns: tuple[str, ...], team: bool, agent: bool) -> Any:
    """The conversations (opened before `to`, not merged away; of `team` and `agent` when given) with one
    of `columns` in [lo<i>, hi<i>): one index range each."""
    cv, m = ConversationFact, MentionFact
    ranges = [
        _sa_select(col(cv.conversation_id)).where(
            col(cv.tenant_id) == bindparam("tenant"),
            getattr(cv, name) >= bindparam(f"lo{i}"),
            getattr(cv, name) < bindparam(f"hi{i}"),
        )
        for i, name in enumerate(columns)
    ]
    where: list[Any] = [
        col(cv.tenant_id) == bindparam("tenant"),
        col(cv.opened_at).is_not(None),
        col(cv.opened_at) < bindparam("to"),
        col(cv.merged_into).is_(None),
        col(cv.conversation_id).in_(union(*ranges) if len(ranges) > 1 else ranges[0]),
    ]
    if team:
        where.append(col(cv.team_id) == bindparam("team"))
    if agent:
        where.append(col(cv.assignee_id) == bindparam("agent"))
    return (
        select_(*_CONVERSATION_COLUMNS)
        .select_from(cv)
        .outerjoin(m, and_(col(m.tenant_id) == col(cv.tenant_id), col(m.mention_id) == col(cv.mention_id)))
        .where(*where)
    )


async def _conversations_in(
    reader: Reader, tenant_id: str, f: Filters, ranges: Sequence[tuple[str, datetime, datetime]]
) -> list[Row]:
    """The conversations the filters select (team or agent only) with a time in one of `ranges`."""
    if not ranges:
        return []
    stmt = _conversations_stmt(tuple(name for name, _, _ in ranges), f.team is not None, f.agent is not None)
    params: dict[str, Any] = {"tenant": tenant_id, "to": f.to, "team": f.team, "agent": f.agent}
    for i, (_, lo, hi) in enumerate(ranges):
        params[f"lo{i}"], params[f"hi{i}"] = lo, hi
    return [dict(r._mapping) for r in await reader.all(stmt, params)]


def _piece(f: Filters, lo: datetime, hi: datetime) -> Filters:
    return replace(f, from_=lo, to=hi, measured_at=f.at)


@functools.cache
def _durations_stmts(from_start: bool) -> tuple[Any, Any]:
    d = DurationSet
    where = [
        col(d.tenant_id) == bindparam("tenant"),
        col(d.filter) == bindparam("which"),
        col(d.day) < bindparam("hi"),
    ]
    if not from_start:
        where.append(col(d.day) >= bindparam("lo"))
    late = select_(func.min(d.day)).where(*where, col(d.last_done_at) >= bindparam("at"))
    sets = select_(d.figure, d.n, d.durations).where(*where)
    return late, sets


async def _durations_summarised(
    reader: Reader, tenant_id: str, f: Filters, days: Days, which: str, opened_in: list[Row], opened: int
) -> tuple[Durations, Durations]:
    """First response and resolution: the whole days' durations from `DurationSet` (from the first day
    with a reply or resolution at or after `f.at` on, from the rows: those were not known yet), the part
    days' from their rows (`opened_in`); `opened`: the conversations opened on the whole days."""
    late_stmt, sets_stmt = _durations_stmts(days.lo is None)
    params = {"tenant": tenant_id, "which": which, **_days(days.lo, days.hi)}
    late = await reader.scalar(late_stmt, {**params, "at": f.at})
    hi = days.hi
    rows = list(opened_in)
    if late is not None:
        hi = datetime.strptime(late, "%Y-%m-%d").replace(tzinfo=UTC)
        rows += await _conversations_in(reader, tenant_id, f, [("opened_at", hi, days.hi)])
    sets: dict[str, list[bytes]] = {figure: [] for figure in summaries.FIGURES}
    answered = Tally[str]()
    if hi < days.hi:
        opened = 0
    if days.lo is None or days.lo < hi:
        if hi < days.hi:
            opened = sum((await _day_counts(reader, tenant_id, which, ("opened",), days.lo, hi)).values())
        for figure, n, data in await reader.all(sets_stmt, {**params, **_days(days.lo, hi)}):
            if n:
                sets[figure].append(data)
                answered[figure] += n
    out = []
    for figure, made, field in (
        ("first_response", first_response_rows, "first_response_minutes"),
        ("resolution", resolution_rows, "resolution_minutes"),
    ):
        values: list[float] = []
        pending = opened - answered[figure]
        for lo_p, hi_p in (*days.pieces, (hi, days.hi)):
            for r in made(rows, _piece(f, lo_p, hi_p)):
                if r[field] is None:
                    pending += 1
                else:
                    values.append(r[field])
        p50, p90 = summaries.nearest_ranks(sets[figure], [round(v * 100) for v in values], (50, 90))
        out.append(
            Durations(
                count=answered[figure] + len(values),
                pending=pending,
                p50_minutes=None if p50 is None else p50 / 100,
                p90_minutes=None if p90 is None else p90 / 100,
            )
        )
    return out[0], out[1]


@functools.cache
def _sla_stmt(from_start: bool) -> Any:
    sc = SlaCount

    def inside(column: Any) -> Any:
        where = [column != "", column < bindparam("hi")]
        if not from_start:
            where.append(column >= bindparam("lo"))
        return and_(*where)

    fr_in = case((inside(col(sc.fr_day)), 1), else_=0).label("fr_in")
    res_in = case((inside(col(sc.res_day)), 1), else_=0).label("res_in")
    edges: Any = bindparam("edges", expanding=True)
    return (
        select_(fr_in, res_in, sc.met_fr, sc.met_res, func.sum(sc.n).label("n"))
        .where(
            col(sc.tenant_id) == bindparam("tenant"),
            col(sc.filter) == bindparam("which"),
            or_(inside(col(sc.fr_day)), inside(col(sc.res_day))),
            col(sc.fr_day).not_in(edges),
            col(sc.res_day).not_in(edges),
        )
        .group_by(fr_in, res_in, col(sc.met_fr), col(sc.met_res))
    )


async def _sla_summarised(reader: Reader, tenant_id: str, f: Filters, days: Days, which: str) -> Sla:
    """Conversations with a deadline in the period: those with a deadline on a part day from their rows,
    the others from `SlaCount` (both deadlines at once, so each conversation counts once)."""
    # (A day no deadline has when there is no part day: an empty list is not a list in SQL.)
    edges: list[str] = sorted({summaries.day_of(a) for a, _ in days.edges}) or ["-"]
    params = {"tenant": tenant_id, "which": which, "edges": edges, **_days(days.lo, days.hi)}
    total = met = 0
    for a, b, met_fr, met_res, n in await reader.all(_sla_stmt(days.lo is None), params):
        total += n
        if (not a or met_fr) and (not b or met_res):
            met += n
    ranges = [
        (name, lo, hi) for lo, hi in days.edges for name in ("first_response_due_at", "resolution_due_at")
    ]
    for r in sla_rows(await _conversations_in(reader, tenant_id, f, ranges), f):
        total += 1
        met += r["met"]
    return Sla(conversations=total, met=met, compliance=percent(met, total))


async def care_summarised(reader: Reader, tenant_id: str, f: Filters) -> Care | None:
    """The care figures from the day summaries for the whole days and the rows for the part days; None
    (read the rows) without a whole day, or with a filter the summaries do not keep."""
    which = _one_filter(f, ("team", "agent"))
    days = whole_days(f)
    if which is None or days is None:
        return None
    counted = await _day_counts(reader, tenant_id, which, ("opened", "reopen"), days.lo, days.hi)
    backlog = sum((await _day_counts(reader, tenant_id, which, ("unresolved",), None, days.hi)).values())
    opened_in = await _conversations_in(
        reader, tenant_id, f, [("opened_at", lo, hi) for lo, hi in days.pieces]
    )
    per_agent = Tally[str]()
    opened = 0
    for (figure, value), n in counted.items():
        if figure == "opened":
            opened += n
            if value:
                per_agent[value] += n
    for lo, hi in days.pieces:
        for r in opened_rows(opened_in, _piece(f, lo, hi)):
            opened += 1
            if r["assignee_id"]:
                per_agent[r["assignee_id"]] += 1
    backlog += sum(1 for r in opened_in if r["opened_at"] >= days.hi and r["resolved_at"] is None)
    reopened = counted[("reopen", "1")]
    resolved = reopened + counted[("reopen", "0")]
    first_resolved = [("first_resolved_at", lo, hi) for lo, hi in days.pieces]
    for r in reopen_rows(await _conversations_in(reader, tenant_id, f, first_resolved), f):
        resolved += 1
        reopened += r["reopened"]
    whole = sum(n for (figure, _), n in counted.items() if figure == "opened")
    first_response, resolution = await _durations_summarised(
        reader, tenant_id, f, days, which, opened_in, whole
    )
    return Care(
        conversations=ConversationCounts(
            opened=opened,
            assigned=sum(per_agent.values()),
            backlog=backlog,
            per_agent=dict(sorted(per_agent.items())),
        ),
        first_response=first_response,
        resolution=resolution,
        sla=await _sla_summarised(reader, tenant_id, f, days, which),
        reopen=Rate(base=resolved, count=reopened, rate=percent(reopened, resolved)),
    )


async def survey_totals(reader: Reader, tenant_id: str, f: Filters) -> dict[str, dict[str, int]] | None:
    """CSAT and NPS answers per score (`surveys.<kind>.<score>`) from the day summaries and the part
    days' rows; None (read the rows) without a whole day, or with a filter the summaries do not keep."""
    which = _one_filter(f, ("channel", "platform", "agent"))
    days = whole_days(f)
    if which is None or days is None:
        return None
    counted = await _day_counts(reader, tenant_id, which, ("csat", "nps"), days.lo, days.hi)
    totals: dict[str, Tally[str]] = {"csat": Tally(), "nps": Tally()}
    for (kind, score), n in counted.items():
        totals[kind][f"surveys.{kind}.{score}"] += n
    for lo, hi in days.pieces:
        for kind in ("csat", "nps"):
            totals[kind].update(_totals(await survey_rows(reader, tenant_id, _piece(f, lo, hi), kind), kind))
    return {kind: dict(t) for kind, t in totals.items()}


async def conversion_summarised(reader: Reader, tenant_id: str, f: Filters) -> Rate | None:
    """Social conversion from the day summaries of first sightings and the part days' rows."""
    days = whole_days(f)
    if days is None:
        return None
    which = "" if f.platform is None else f"platform:{f.platform}"
    counted = await _day_counts(reader, tenant_id, which, ("seen",), days.lo, days.hi)
    base = converted = 0
    for (_, lag), n in counted.items():
        base += n
        if lag != summaries.NO_ORDER and int(lag) <= f.conversion_days:
            converted += n
    for lo, hi in days.pieces:
        rows = await conversion_rows(reader, tenant_id, _piece(f, lo, hi))
        base += len(rows)
        converted += sum(r["converted"] for r in rows)
    return Rate(base=base, count=converted, rate=percent(converted, base))


_CLV_TOTALS = select_(ClvTotal.stage, ClvTotal.currency, ClvTotal.customers, ClvTotal.total).where(
    col(ClvTotal.tenant_id) == bindparam("tenant")
)


async def clv_summarised(reader: Reader, tenant_id: str, f: Filters) -> Clv:
    """CLV from the customers' totals per stage and currency (`ClvTotal`): what `clv_rows` adds up."""
    groups: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for stage, currency, customers, total in await reader.all(_CLV_TOTALS, {"tenant": tenant_id}):
        if customers:
            groups[(stage, currency)] = (customers, Decimal(total))

    def group(keep: Callable[[str, str], bool]) -> ClvGroup:
        n = sum(c for (s, cur), (c, _) in groups.items() if keep(s, cur))
        total = sum((t for (s, cur), (_, t) in groups.items() if keep(s, cur)), Decimal(0))
        mean = (total / n).quantize(CENT, rounding=ROUND_HALF_EVEN) if n else None
        return ClvGroup(
            customers=n, total=str(total.quantize(CENT)), mean=None if mean is None else str(mean)
        )

    def of_stage(stage: str) -> Callable[[str, str], bool]:
        return lambda s, cur: cur == f.currency and s == stage

    def of_currency(currency: str) -> Callable[[str, str], bool]:
        return lambda s, cur: cur == currency

    others = sorted({cur for _, cur in groups} - {f.currency})
    return Clv(
        currency=f.currency,
        all=group(of_currency(f.currency)),
        by_stage={stage: group(of_stage(stage)) for stage in STAGES},
        other_currencies={cur: group(of_currency(cur)) for cur in others},
    )


def _retention_stmt() -> Any:
    o = OrderFact
    per_owner = (
        select_(
            func.max(case((col(o.at) < bindparam("start"), 1), else_=0)).label("prev"),
            func.max(case((col(o.at) >= bindparam("start"), 1), else_=0)).label("cur"),
        )
        .where(
            col(o.tenant_id) == bindparam("tenant"),
            col(o.at) >= bindparam("before"),
            col(o.at) < bindparam("to"),
        )
        .group_by(col(o.owner_id))
        .subquery()
    )
    return select_(func.count(), func.sum(per_owner.c.cur)).where(per_owner.c.prev == 1)


_RETENTION = _retention_stmt()


async def retention_of(reader: Reader, tenant_id: str, f: Filters) -> Rate:
    """Retention counted in the database: what `retention_rows` adds up."""
    if f.from_ is None:
        return Rate(base=0, count=0, rate=None)
    before = f.from_ - (f.to - f.from_)
    params = {"tenant": tenant_id, "start": f.from_, "before": before, "to": f.to}
    row = await reader.first(_RETENTION, params)
    base, retained = (int(row[0] or 0), int(row[1] or 0)) if row is not None else (0, 0)
    return Rate(base=base, count=retained, rate=percent(retained, base))


# --- the scorecard --------------------------------------------------------------------------------


async def scorecard(reader: Reader, tenant_id: str, f: Filters) -> Scorecard:
    mentions = await mention_tallies(reader, tenant_id, f)
    return Scorecard(
        from_=f.from_,
        to=f.to,
        listening=Listening(
            mentions=mention_counts(mentions),
            net_sentiment=net_of(mentions["sentiment"]),
            share_of_voice=share_of(mentions["kind"]),
            top_topics=top_topics(mentions),
            top_hashtags=top_hashtags(mentions),
            alerts=len(await alert_rows(reader, tenant_id, f)),
        ),
        care=await care_figures(reader, tenant_id, f),
        customer=await customer_figures(reader, tenant_id, f),
    )


async def care_figures(reader: Reader, tenant_id: str, f: Filters) -> Care:
    """The scorecard's care figures: from the day summaries where they apply, else from the rows."""
    care = await care_summarised(reader, tenant_id, f)
    return care if care is not None else care_of(await conversations(reader, tenant_id, f), f)


async def customer_figures(reader: Reader, tenant_id: str, f: Filters) -> Customer:
    """The scorecard's customer figures: from the day summaries where they apply, else from the rows."""
    totals = await survey_totals(reader, tenant_id, f)
    if totals is None:
        totals = {
            kind: _totals(await survey_rows(reader, tenant_id, f, kind), kind) for kind in ("csat", "nps")
        }
    conversion = await conversion_summarised(reader, tenant_id, f)
    if conversion is None:
        rows = await conversion_rows(reader, tenant_id, f)
        converted = sum(r["converted"] for r in rows)
        conversion = Rate(base=len(rows), count=converted, rate=percent(converted, len(rows)))
    return Customer(
        csat=csat(totals["csat"]),
        nps=nps(totals["nps"]),
        profiles_first_seen=conversion.base,
        social_conversion=conversion,
        conversion_window_days=f.conversion_days,
        retention=await retention_of(reader, tenant_id, f),
        clv=await clv_summarised(reader, tenant_id, f),
    )


def care_of(convs: Sequence[Row], f: Filters) -> Care:
    """The care figures from the conversations' rows."""
    opened = opened_rows(convs, f)
    per_agent = Tally(r["assignee_id"] for r in opened if r["assignee_id"])
    return Care(
        conversations=ConversationCounts(
            opened=len(opened),
            assigned=sum(1 for r in opened if r["assignee_id"]),
            backlog=len(backlog_rows(convs, f)),
            per_agent=dict(sorted(per_agent.items())),
        ),
        first_response=durations(first_response_rows(convs, f), "first_response_minutes"),
        resolution=durations(resolution_rows(convs, f), "resolution_minutes"),
        sla=sla_of(sla_rows(convs, f)),
        reopen=reopen_of(reopen_rows(convs, f)),
    )


# --- drill-down and time series -------------------------------------------------------------------


RowsOf = Callable[[Reader, str, Filters], Any]
CareRows = Callable[[Sequence[Row], Filters], list[Row]]

CARE: dict[str, CareRows] = {
    "conversations": opened_rows,
    "backlog": backlog_rows,
    "first_response": first_response_rows,
    "resolution": resolution_rows,
    "sla": sla_rows,
    "reopen_rate": reopen_rows,
}


def _care_rows(which: CareRows) -> RowsOf:
    async def rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
        return which(await conversations(reader, tenant_id, f), f)

    return rows


def _survey(kind: str) -> RowsOf:
    async def rows(reader: Reader, tenant_id: str, f: Filters) -> list[Row]:
        return await survey_rows(reader, tenant_id, f, kind)

    return rows


@dataclass(frozen=True)
class Metric:
    """A drill-down: its rows, the time each row falls at (time series), the id that orders them."""

    rows: RowsOf
    at: str
    key: str
    # The rows' fields, in order (the CSV's header, even without rows).
    columns: tuple[str, ...]


_CONVERSATION = (
    "conversation_id",
    "opened_at",
    "team_id",
    "assignee_id",
    "platform",
    "channel_id",
    "language",
)
_SURVEY = ("survey_id", "conversation_id", "answered_at", "score", "assignee_id", "channel_id", "platform")

ROWS: dict[str, Metric] = {
    "mentions": Metric(
        mention_rows,
        "created_at",
        "mention_id",
        ("mention_id", "created_at", "platform", "channel_id", "language", "sentiment", "intent"),
    ),
    "share_of_voice": Metric(
        share_rows, "created_at", "mention_id", ("mention_id", "query_id", "kind", "created_at")
    ),
    "top_topics": Metric(
        topic_rows, "created_at", "mention_id", ("mention_id", "query_id", "kind", "created_at")
    ),
    "top_hashtags": Metric(hashtag_rows, "created_at", "mention_id", ("mention_id", "tag", "created_at")),
    "alerts": Metric(
        alert_rows, "bucket_start", "alert_id", ("alert_id", "query_id", "kind", "bucket_start")
    ),
    "conversations": Metric(
        _care_rows(opened_rows), "opened_at", "conversation_id", (*_CONVERSATION, "status")
    ),
    "backlog": Metric(_care_rows(backlog_rows), "opened_at", "conversation_id", (*_CONVERSATION, "status")),
    "first_response": Metric(
        _care_rows(first_response_rows),
        "opened_at",
        "conversation_id",
        (*_CONVERSATION, "first_response_at", "first_response_minutes", "clock"),
    ),
    "resolution": Metric(
        _care_rows(resolution_rows),
        "opened_at",
        "conversation_id",
        (*_CONVERSATION, "resolved_at", "resolution_minutes", "clock"),
    ),
    "sla": Metric(
        _care_rows(sla_rows),
        "opened_at",
        "conversation_id",
        (*_CONVERSATION, "first_response_due_at", "resolution_due_at", "met"),
    ),
    "reopen_rate": Metric(
        _care_rows(reopen_rows),
        "first_resolved_at",
        "conversation_id",
        (*_CONVERSATION, "first_resolved_at", "reopened", "reopen_count"),
    ),
    "csat": Metric(_survey("csat"), "answered_at", "survey_id", (*_SURVEY, "satisfied")),
    "nps": Metric(_survey("nps"), "answered_at", "survey_id", (*_SURVEY, "promoter", "detractor")),
    "social_conversion": Metric(
        conversion_rows,
        "first_seen_at",
        "profile_id",
        ("profile_id", "first_seen_at", "platform", "first_order_at", "converted"),
    ),
    "retention": Metric(retention_rows, "", "profile_id", ("profile_id", "retained")),
    "clv": Metric(clv_rows, "", "profile_id", ("profile_id", "lifecycle_stage", "currency", "value")),
}

# Time-series metrics: the drill-down rows they are computed from, and how.
SERIES: dict[str, tuple[str, Callable[[Sequence[Row]], float | int | None]]] = {
    "mentions": ("mentions", len),
    "net_sentiment": ("mentions", net_sentiment),
    "share_of_voice": ("share_of_voice", lambda rows: share_of_voice(rows).share),
    "alerts": ("alerts", len),
    "conversations": ("conversations", len),
    "first_response_p50": (
        "first_response",
        lambda rows: durations(rows, "first_response_minutes").p50_minutes,
    ),
    "first_response_p90": (
        "first_response",
        lambda rows: durations(rows, "first_response_minutes").p90_minutes,
    ),
    "first_response_pending": (
        "first_response",
        lambda rows: durations(rows, "first_response_minutes").pending,
    ),
    "resolution_p50": ("resolution", lambda rows: durations(rows, "resolution_minutes").p50_minutes),
    "resolution_p90": ("resolution", lambda rows: durations(rows, "resolution_minutes").p90_minutes),
    "sla_compliance": ("sla", lambda rows: sla_of(rows).compliance),
    "reopen_rate": ("reopen_rate", lambda rows: reopen_of(rows).rate),
    "csat": ("csat", lambda rows: csat(_totals(rows, "csat")).score),
    "nps": ("nps", lambda rows: nps(_totals(rows, "nps")).score),
    "social_conversion": (
        "social_conversion",
        lambda rows: percent(sum(r["converted"] for r in rows), len(rows)),
    ),
}

# The listening series from the mention counts per value (`mention_tallies`): the same numbers as their
# rows', without reading every mention of a long period.
TALLIED: dict[str, Callable[[dict[str, Tally[str]]], float | int | None]] = {
    "mentions": lambda t: sum(t["sentiment"].values()),
    "net_sentiment": lambda t: net_of(t["sentiment"]),
    "share_of_voice": lambda t: share_of(t["kind"]).share,
}

INTERVALS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def bucket_start(moment: datetime, interval: str) -> datetime:
    """The UTC hour, day or ISO week (from Monday) `moment` falls in."""
    moment = moment.astimezone(UTC)
    if interval == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if interval == "day" else day - timedelta(days=day.weekday())


async def rows_of(reader: Reader, tenant_id: str, metric: str, f: Filters) -> list[Row]:
    """A metric's drill-down rows in a stable order (their time, then id)."""
    rows = await ROWS[metric].rows(reader, tenant_id, f)
    return sorted(rows, key=lambda r: row_key(r, metric))


def row_key(row: Row, metric: str) -> list[str]:
    """Where a row stands in its metric's order (a page's cursor): its time, its id, and what tells
    apart rows of one id (a mention's queries or hashtags, a customer's currencies)."""
    spec = ROWS[metric]
    return [
        str(row.get(spec.at) or ""),
        str(row[spec.key]),
        str(row.get("query_id") or row.get("tag") or row.get("currency") or ""),
    ]


async def series(
    reader: Reader, tenant_id: str, metric: str, interval: str, f: Filters
) -> list[tuple[datetime, float | int | None]]:
    """The metric per bucket of the period: each bucket's value is the metric over that bucket alone
    (the same rows the drill-down of that bucket would export)."""
    assert f.from_ is not None
    source, aggregate = SERIES[metric]
    spec = ROWS[source]
    step = INTERVALS[interval]
    start = bucket_start(f.from_, interval)
    whole = replace(f, from_=start, measured_at=f.to)
    care = CARE.get(source)
    tallied = TALLIED.get(metric)
    if tallied is not None:
        # The counts per bucket (whole hours and days come from the hourly and daily counts).
        counted: list[tuple[datetime, float | int | None]] = []
        while start < f.to:
            end = min(start + step, f.to)
            counted.append(
                (
                    start,
                    tallied(await mention_tallies(reader, tenant_id, replace(whole, from_=start, to=end))),
                )
            )
            start += step
        return counted
    # One read for the whole period; each bucket then takes its share of it.
    if care is not None:
        convs = await conversations(reader, tenant_id, whole)
    else:
        rows = await spec.rows(reader, tenant_id, whole)
    points: list[tuple[datetime, float | int | None]] = []
    while start < f.to:
        end = min(start + step, f.to)
        if care is not None:
            chosen = care(convs, replace(whole, from_=start, to=end))
        else:
            chosen = [r for r in rows if r.get(spec.at) is not None and start <= r[spec.at] < end]
        points.append((start, aggregate(chosen)))
        start += step
    return points


def now_or(to: datetime | None) -> datetime:
    """`to` as given (never after now), or now."""
    now = utcnow()
    if to is None:
        return now
    to = to.replace(tzinfo=UTC) if to.tzinfo is None else to.astimezone(UTC)
    return min(to, now)

"""metrics: the scorecard's listening figures, read from the hourly and daily mention counts for whole
hours and days, equal what the exported rows add up to: after reanalyses and removals, with each filter,
and with two filters at once (read from the rows)."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx

from rapport.stack import Stack
from services.metrics.logic.rollups import whole_spans
from shared.events.contracts import (
    Analysis,
    Author,
    MatchedQuery,
    MentionReanalysed,
    MentionReceived,
    MentionRedacted,
    Sentiment,
)
from shared.events.envelope import CloudEvent, new_event
from tests.helpers import Tenant, publish_event, signup, unique, wait_until

BRAND, RIVAL, TOPIC = "q-brand", "q-rival", "q-topic"
KINDS = {BRAND: "brand", RIVAL: "competitor", TOPIC: "topic"}
SCORES = {"negative": -0.6, "neutral": 0.0, "positive": 0.7}


def analysis(language: str, sentiment: str, intent: str) -> Analysis:
    return Analysis(
        language=language,
        sentiment=Sentiment(label=sentiment, score=SCORES[sentiment]),  # type: ignore[arg-type]
        intent=intent,  # type: ignore[arg-type]
    )


def mention(
    created_at: datetime,
    platform: str,
    language: str,
    sentiment: str,
    intent: str,
    channel: str | None,
    queries: tuple[str, ...],
) -> MentionReceived:
    return MentionReceived(
        mention_id=str(uuid.uuid4()),
        platform=platform,
        external_id=uuid.uuid4().hex,
        text="Kettlr",
        created_at=created_at,
        author=Author(handle=unique("@fan")),
        analysis=analysis(language, sentiment, intent),
        matched_query_ids=list(queries),
        matched_queries=[MatchedQuery(query_id=q, kind=KINDS[q]) for q in queries],  # type: ignore[arg-type]
        channel_id=channel,
    )


def event(tenant: Tenant, payload: Any) -> CloudEvent:
    return new_event(payload, source="tests", tenant_id=tenant.tenant_id)


def exported(
    client: httpx.Client, tenant: Tenant, metric: str, params: dict[str, str]
) -> list[dict[str, str]]:
    response = client.get(
        "/v1/metrics/rows", headers=tenant.headers, params={"metric": metric, "format": "csv", **params}
    )
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_listening_figures_from_the_counts_equal_the_rows_after_reanalysis_and_removal(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    now = datetime.now(UTC)
    # Mentions over the last five days (whole days and hours of the period) and one posted two minutes
    # ago (the part hour at its end).
    shapes = [
        ("x", "en", "positive", "praise", "ch-x", (BRAND,)),
        ("x", "de", "negative", "complaint", None, (BRAND, RIVAL)),
        ("instagram", "en", "neutral", "question", "ch-ig", (RIVAL,)),
        ("x", "en", "negative", "complaint", "ch-x", (BRAND, TOPIC)),
        ("reddit", "fr", "positive", "purchase_intent", None, ()),
        ("instagram", "de", "positive", "praise", "ch-ig", (BRAND, RIVAL, TOPIC)),
    ]
    mentions = [
        mention(now - timedelta(days=4, hours=7 * i, minutes=11 * i), *shape)
        for i, shape in enumerate(shapes * 3)
    ]
    mentions.append(mention(now - timedelta(minutes=2), "x", "en", "neutral", "other", "ch-x", (BRAND,)))
    for m in mentions:
        publish_event(stack.nats_url, event(tenant, m))
    # One is re-labelled (another sentiment, language and intent), one removed and received again.
    relabelled, removed = mentions[0], mentions[1]
    publish_event(
        stack.nats_url,
        event(
            tenant,
            MentionReanalysed(
                mention_id=relabelled.mention_id,
                created_at=relabelled.created_at,
                previous=relabelled.analysis,
                analysis=analysis("es", "negative", "complaint"),
                reason="label",
            ),
        ),
    )
    publish_event(
        stack.nats_url,
        event(
            tenant,
            MentionRedacted(
                mention_id=removed.mention_id,
                platform=removed.platform,
                created_at=removed.created_at,
                reason="deleted",
                analysis=removed.analysis,
            ),
        ),
    )
    publish_event(stack.nats_url, event(tenant, removed), msg_ids=(f"{uuid.uuid4()}",))
    barrier = mention(now - timedelta(days=2), "barrier", "en", "neutral", "other", None, ())
    publish_event(stack.nats_url, event(tenant, barrier))

    def card(params: dict[str, str]) -> dict[str, Any]:
        response = client.get("/v1/metrics/scorecard", headers=tenant.headers, params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()["listening"]
        return body

    wait_until(
        lambda: "barrier" in card({})["mentions"]["by_platform"], timeout=60, what="the barrier mention"
    )
    to = datetime.now(UTC).isoformat()
    start = (datetime.now(UTC) - timedelta(days=5, minutes=23)).isoformat()
    checked = Counter[str]()
    for filters in (
        {},
        {"platform": "x"},
        {"language": "de"},
        {"language": "es"},
        {"channel": "ch-ig"},
        {"query": BRAND},
        {"query": RIVAL},
        {"platform": "x", "language": "en"},
        {"query": TOPIC, "channel": "ch-x"},
    ):
        for period in ({"from": start, "to": to}, {"to": to}):
            params = {**filters, **period}
            got = card(params)
            rows = exported(client, tenant, "mentions", params)
            assert got["mentions"]["total"] == len(rows), params
            for name in ("sentiment", "language", "intent", "platform"):
                want = Counter(r[name] for r in rows)
                figure = got["mentions"][f"by_{name}"]
                assert {k: v for k, v in figure.items() if v} == dict(want), (params, name)
            positive, negative = (
                got["mentions"]["by_sentiment"]["positive"],
                got["mentions"]["by_sentiment"]["negative"],
            )
            want_net = (
                round(100.0 * (positive - negative) / (positive + negative), 1)
                if positive + negative
                else None
            )
            assert got["net_sentiment"] == want_net
            kinds = Counter(r["kind"] for r in exported(client, tenant, "share_of_voice", params))
            assert got["share_of_voice"]["brand"] == kinds["brand"], params
            assert got["share_of_voice"]["competitor"] == kinds["competitor"], params
            checked["rows"] += len(rows)
    # The time series per day and per hour: each bucket's count is its rows' (the first bucket starts at
    # the start of the hour or day `from` falls in).
    for interval, step in (("day", timedelta(days=1)), ("hour", timedelta(hours=1))):
        response = client.get(
            "/v1/metrics/timeseries",
            headers=tenant.headers,
            params={"metric": "mentions", "interval": interval, "from": start, "to": to},
        )
        assert response.status_code == 200, response.text
        series = response.json()
        rows = exported(client, tenant, "mentions", {"from": series["from"], "to": to})
        created = [datetime.fromisoformat(r["created_at"]) for r in rows]
        for point in series["points"]:
            at = datetime.fromisoformat(point["start"])
            assert point["value"] == sum(1 for c in created if at <= c < at + step), (interval, point)
        assert sum(point["value"] for point in series["points"]) == len(created) > 0
    # The fixture's figures, so that the comparisons above are about something.
    everything = card({"to": to})
    assert everything["mentions"]["total"] == len(mentions)  # 19 received, one removed, and the barrier
    assert removed.mention_id not in {
        r["mention_id"] for r in exported(client, tenant, "mentions", {"to": to})
    }
    assert everything["mentions"]["by_language"]["es"] == 1
    assert checked["rows"] > 0


def test_a_period_is_cut_into_rows_hours_and_days_that_cover_it_once() -> None:
    t = datetime(2026, 3, 5, 22, 17, 3, tzinfo=UTC)
    for start, end in (
        (t, t + timedelta(days=3, hours=5, minutes=1)),
        (t, t + timedelta(hours=2)),
        (t, t + timedelta(minutes=20)),
        (t.replace(hour=0, minute=0, second=0), t + timedelta(days=2)),
        (None, t),
    ):
        rows, counted = whole_spans(start, end)
        pieces = sorted(
            [(lo or datetime.min.replace(tzinfo=UTC), hi, "rows") for lo, hi in rows]
            + [(lo or datetime.min.replace(tzinfo=UTC), hi, span) for span, lo, hi in counted]
        )
        assert pieces[0][0] == (start or datetime.min.replace(tzinfo=UTC)) and pieces[-1][1] == end
        assert all(a[1] == b[0] for a, b in pairwise(pieces))
        for lo, hi, kind in pieces:
            assert lo < hi
            if kind == "h":
                assert lo.minute == lo.second == hi.minute == hi.second == 0
            if kind == "d":
                assert hi.hour == 0 and (lo.year == 1 or lo.hour == 0)
            if kind == "rows":
                assert hi - lo < timedelta(hours=1)
    assert whole_spans(t, t + timedelta(days=3))[1][1][0] == "d"

"""The scorecard's exact scenario (issue 13), fed through real events on the bus and read through HTTP.

One 24/7 team, first-response target 60 min, measured at 15:00. Four conversations whose first messages
reached Rapport at 10:00: replies at 10:10, 10:30 and 12:00 and resolutions at 11:00, 12:00 and 14:00 for
the first three, the fourth unanswered. CSAT answers 5 and 3; NPS answers 9 and 6. Ten mentions: 6
positive, 3 negative, 1 neutral; 8 brand and 2 competitor query matches. Ten profiles first seen in the
period, two of whom ordered within 30 days; customers' orders 100 + 50 and 200.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from shared.events import contracts as c
from shared.events.bus import Bus
from shared.events.envelope import CloudEvent, new_event
from tests.erasures import database_hits
from tests.helpers import Tenant, signup, unique, wait_until

DAY = datetime(2026, 1, 5, tzinfo=UTC)
PERIOD = {"from": DAY.isoformat(), "to": (DAY + timedelta(hours=15)).isoformat()}
TEAM, AGENT = "team-care", "agent-ada"


def at(hour: int, minute: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def event(tenant: Tenant, payload: c.Contract, when: datetime) -> CloudEvent:
    return new_event(payload, source="tests", tenant_id=tenant.tenant_id).model_copy(update={"time": when})


def publish(stack: Stack, events: Sequence[CloudEvent], *, again: bool = False) -> None:
    """Publish events in order on one connection (`again`: each as a second broker message, which only
    the consumers' inbox can tell from the first)."""

    async def run() -> None:
        bus = Bus(stack.nats_url, name="rapport-tests")
        await bus.connect()
        try:
            for e in events:
                msg_id = f"{e.id}-again" if again else e.id
                await bus.publish_raw(subject=e.type, body=e.to_bytes(), msg_id=msg_id)
        finally:
            await bus.close()

    asyncio.run(run())


def get(client: httpx.Client, tenant: Tenant, path: str, **params: Any) -> Any:
    response = client.get(f"/v1/metrics/{path}", headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def received(
    when: datetime, label: str, intent: str, queries: dict[str, str], channel_id: str | None = None
) -> c.MentionReceived:
    """A post of a new author at `when`, analysed as `label` and `intent`, matching `queries` (id → kind)."""
    return c.MentionReceived(
        mention_id=unique("m"),
        platform="x",
        external_id=uuid.uuid4().hex,
        text="…",
        created_at=when,
        author=c.Author(handle=unique("@fan")),
        analysis=c.Analysis(
            language="en", sentiment=c.Sentiment.model_validate({"label": label, "score": 0}), intent=intent
        ),
        matched_query_ids=list(queries),
        matched_queries=[
            c.MatchedQuery.model_validate({"query_id": q, "kind": k}) for q, k in queries.items()
        ],
        channel_id=channel_id,
    )


class Scenario:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.brand, self.competitor = unique("q-brand"), unique("q-rival")
        self.mentions: list[CloudEvent] = []
        labels = ["positive"] * 6 + ["negative"] * 3 + ["neutral"]
        for i, label in enumerate(labels):
            kind, query = ("brand", self.brand) if i < 8 else ("competitor", self.competitor)
            mention = received(at(9, i), label, "question", {query: kind}, channel_id="chan-x")
            self.mentions.append(event(tenant, mention, at(9, i)))
        self.conversations = [unique("conv") for _ in range(4)]
        self.profiles = [unique("prof") for _ in range(10)]
        # Built once: publishing them again is publishing the same events.
        self.events = self.listening() + self.engagement() + self.profile_events()

    def listening(self) -> list[CloudEvent]:
        return self.mentions

    def engagement(self) -> list[CloudEvent]:
        t, events = self.tenant, []
        for i, cid in enumerate(self.conversations):
            opened = c.ConversationOpened(
                conversation_id=cid,
                profile_id=self.profiles[i],
                mention_id=self.mentions[i].data["mention_id"],
                priority="normal",
                assignee_id=AGENT,
                opened_at=at(10),
                first_response_due_at=at(11),
                team_id=TEAM,
            )
            events.append(event(t, opened, at(10)))
        for cid, (h, m) in zip(self.conversations, [(10, 10), (10, 30), (12, 0)], strict=False):
            responded = c.ConversationFirstResponded(
                conversation_id=cid,
                message_id=unique("msg"),
                origin="agent",
                opened_at=at(10),
                responded_at=at(h, m),
            )
            events.append(event(t, responded, at(h, m)))
        for cid in self.conversations[2:]:
            breached = c.SlaBreached(
                conversation_id=cid,
                profile_id="p",
                target="first_response",
                priority="normal",
                due_at=at(11),
                team_id=TEAM,
                assignee_id=AGENT,
                fired_at=at(11),
            )
            events.append(event(t, breached, at(11)))
        for cid, hour in zip(self.conversations, (11, 12, 14), strict=False):
            resolved = c.ConversationStatusChanged(
                conversation_id=cid,
                profile_id="p",
                from_status="open",
                to_status="resolved",
                cause="agent",
                by_user_id=AGENT,
                changed_at=at(hour),
            )
            events.append(event(t, resolved, at(hour)))
        answers: list[tuple[str, int, int]] = [("csat", 5, 0), ("csat", 3, 1), ("nps", 9, 0), ("nps", 6, 1)]
        for kind, score, n in answers:
            answered = c.SurveyAnswered.model_validate(
                {
                    "survey_id": unique("survey"),
                    "conversation_id": self.conversations[n],
                    "profile_id": self.profiles[n],
                    "assignee_id": AGENT,
                    "kind": kind,
                    "score": score,
                    "channel_id": "chan-x",
                    "platform": "x",
                    "via": "link",
                    "answered_at": at(14, 30),
                }
            )
            events.append(event(t, answered, at(14, 30)))
        return events

    def updated(self, profile_id: str, value: str, when: datetime, *, order: bool = True) -> CloudEvent:
        snapshot = c.ProfileSnapshot(
            profile_id=profile_id, lifecycle_stage="customer", lifetime_value={"EUR": value}
        )
        changed = ["order_count", "lifetime_value"] if order else ["mention_count"]
        return event(
            self.tenant, c.ProfileUpdated(profile_id=profile_id, changed=changed, profile=snapshot), when
        )

    def profile_events(self) -> list[CloudEvent]:
        events = [
            event(self.tenant, c.ProfileCreated(profile_id=p, platform="x"), at(9)) for p in self.profiles
        ]
        a, b = self.profiles[:2]
        stage = c.LifecycleChanged(
            profile_id=a, from_stage="fan", to_stage="customer", at_risk=False, reason="order"
        )
        events += [
            event(self.tenant, stage, at(12)),
            self.updated(a, "100.00", at(12)),
            self.updated(a, "150.00", at(13)),
            self.updated(b, "200.00", at(13, 30)),
        ]
        return events


def card_of(client: httpx.Client, tenant: Tenant, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = get(client, tenant, "scorecard", **{**PERIOD, **params})
    return body


def all_rows(
    client: httpx.Client, tenant: Tenant, metric: str, limit: int = 3, **params: Any
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = get(
            client,
            tenant,
            "rows",
            metric=metric,
            limit=limit,
            **PERIOD,
            **params,
            **({"cursor": cursor} if cursor else {}),
        )
        rows += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered) / 100) - 1]


def settled(client: httpx.Client, tenant: Tenant, done: Any, what: str) -> dict[str, Any]:
    cards: list[dict[str, Any]] = []

    def check() -> dict[str, Any] | None:
        cards.append(card_of(client, tenant))
        return cards[-1] if done(cards[-1]) else None

    try:
        return wait_until(check, timeout=60, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last: {cards[-1] if cards else None}") from None


def complete(card: dict[str, Any]) -> bool:
    care, customer = card["care"], card["customer"]
    return bool(
        card["listening"]["mentions"]["total"] == 10
        and care["sla"]["conversations"] == 4
        and care["resolution"]["count"] == 3
        and customer["csat"]["answers"] == 2
        and customer["nps"]["answers"] == 2
        and customer["profiles_first_seen"] == 10
        and customer["clv"]["all"]["customers"] == 2
        and customer["clv"]["all"]["total"] == "350.00"
    )


@pytest.fixture(scope="module")
def scenario(stack: Stack) -> tuple[Scenario, dict[str, Any]]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        scenario = Scenario(signup(client))
        publish(stack, scenario.events)
        card = settled(client, scenario.tenant, complete, "the scenario folded")
    return scenario, card


def test_every_number_of_the_scenario(scenario: tuple[Scenario, dict[str, Any]]) -> None:
    _, card = scenario
    care, customer, listening = card["care"], card["customer"], card["listening"]
    assert care["first_response"] == {"count": 3, "pending": 1, "p50_minutes": 30.0, "p90_minutes": 120.0}
    assert care["resolution"]["p50_minutes"] == 120.0
    assert (care["resolution"]["count"], care["resolution"]["pending"]) == (3, 1)
    assert care["sla"] == {"conversations": 4, "met": 2, "compliance": 50.0}
    assert care["conversations"] == {"opened": 4, "assigned": 4, "backlog": 1, "per_agent": {AGENT: 4}}
    assert care["reopen"] == {"base": 3, "count": 0, "rate": 0.0}
    assert customer["csat"]["score"] == 50.0
    assert customer["nps"]["score"] == 0.0
    assert listening["net_sentiment"] == 33.3
    assert listening["mentions"]["by_sentiment"] == {"negative": 3, "neutral": 1, "positive": 6}
    assert listening["share_of_voice"] == {"brand": 8, "competitor": 2, "share": 80.0}
    assert customer["social_conversion"] == {"base": 10, "count": 2, "rate": 20.0}
    clv = customer["clv"]
    assert (clv["currency"], clv["all"]["customers"], Decimal(clv["all"]["mean"])) == ("EUR", 2, Decimal(175))
    assert clv["by_stage"]["customer"]["customers"] == 2


def test_filters_narrow_the_figures(client: httpx.Client, scenario: tuple[Scenario, dict[str, Any]]) -> None:
    s, _ = scenario
    t = s.tenant
    assert card_of(client, t, query=s.competitor)["listening"]["share_of_voice"]["brand"] == 0
    assert card_of(client, t, query=s.brand)["listening"]["mentions"]["total"] == 8
    assert card_of(client, t, team="another")["care"]["conversations"]["opened"] == 0
    assert card_of(client, t, agent=AGENT)["care"]["sla"]["conversations"] == 4
    # Measured at 10:45, only the first two replies had come, and no deadline had fallen.
    early = card_of(client, t, to=at(10, 45).isoformat())
    assert early["care"]["first_response"] == {
        "count": 2,
        "pending": 2,
        "p50_minutes": 10.0,
        "p90_minutes": 30.0,
    }
    assert early["care"]["sla"]["conversations"] == 0
    assert (
        card_of(client, t, **{"from": at(15).isoformat(), "to": at(20).isoformat()})["listening"]["mentions"][
            "total"
        ]
        == 0
    )


def test_rows_add_up_to_the_aggregates(
    client: httpx.Client, scenario: tuple[Scenario, dict[str, Any]]
) -> None:
    s, card = scenario
    t = s.tenant
    fr = all_rows(client, t, "first_response")
    answered = [r["first_response_minutes"] for r in fr if r["first_response_minutes"] is not None]
    assert (len(answered), len(fr) - len(answered)) == (3, 1)
    assert (nearest_rank(answered, 50), nearest_rank(answered, 90)) == (30.0, 120.0)
    res = [
        r["resolution_minutes"]
        for r in all_rows(client, t, "resolution")
        if r["resolution_minutes"] is not None
    ]
    assert nearest_rank(res, 50) == card["care"]["resolution"]["p50_minutes"]
    sla = all_rows(client, t, "sla")
    assert 100 * sum(r["met"] for r in sla) / len(sla) == card["care"]["sla"]["compliance"]
    csat = all_rows(client, t, "csat")
    assert 100 * sum(r["satisfied"] for r in csat) / len(csat) == card["customer"]["csat"]["score"]
    nps = all_rows(client, t, "nps")
    assert 100 * (sum(r["promoter"] for r in nps) - sum(r["detractor"] for r in nps)) / len(nps) == 0
    mentions = all_rows(client, t, "mentions")
    assert len(mentions) == 10 and len({m["mention_id"] for m in mentions}) == 10
    kinds = [r["kind"] for r in all_rows(client, t, "share_of_voice")]
    assert 100 * kinds.count("brand") / len(kinds) == card["listening"]["share_of_voice"]["share"]
    conversion = all_rows(client, t, "social_conversion")
    assert (len(conversion), sum(r["converted"] for r in conversion)) == (10, 2)
    clv = all_rows(client, t, "clv")
    assert sum(Decimal(r["value"]) for r in clv) / len(clv) == Decimal(card["customer"]["clv"]["all"]["mean"])
    # The CSV export holds the same rows.
    response = client.get(
        "/v1/metrics/rows", headers={**t.headers, "Accept": "text/csv"}, params={"metric": "sla", **PERIOD}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    exported = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["conversation_id"] for r in exported) == sorted(r["conversation_id"] for r in sla)
    assert sum(int(r["met"]) for r in exported) == 2
    # The scorecard as CSV: one line per figure, named by its path in the JSON answer, the same values.
    response = client.get("/v1/metrics/scorecard", headers=t.headers, params={"format": "csv", **PERIOD})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    figures = {r["metric"]: r["value"] for r in csv.DictReader(io.StringIO(response.text))}
    assert float(figures["care.first_response.p50_minutes"]) == card["care"]["first_response"]["p50_minutes"]
    assert float(figures["care.first_response.p50_minutes"]) == 30
    assert float(figures["listening.share_of_voice.share"]) == 80
    assert Decimal(figures["customer.clv.all.mean"]) == Decimal(card["customer"]["clv"]["all"]["mean"])
    assert figures["care.first_response.pending"] == "1"
    # Every drill-down's CSV header names the fields of its JSON rows.
    with_rows = ("mentions", "share_of_voice", "conversations", "backlog", "first_response", "resolution")
    for metric in (*with_rows, "sla", "reopen_rate", "csat", "nps", "social_conversion", "clv"):
        items = get(client, t, "rows", metric=metric, **PERIOD)["items"]
        header = client.get(
            "/v1/metrics/rows", headers=t.headers, params={"metric": metric, "format": "csv", **PERIOD}
        ).text.splitlines()[0]
        assert items and header.split(",") == list(items[0]), metric


def test_time_series_buckets_add_up(client: httpx.Client, scenario: tuple[Scenario, dict[str, Any]]) -> None:
    s, _ = scenario
    series = get(client, s.tenant, "timeseries", metric="mentions", interval="hour", **PERIOD)
    assert len(series["points"]) == 15
    assert sum(p["value"] for p in series["points"]) == 10
    assert series["points"][9]["value"] == 10
    daily = get(client, s.tenant, "timeseries", metric="first_response_p90", interval="day", **PERIOD)
    assert [p["value"] for p in daily["points"]] == [120.0]


def test_duplicated_and_late_events_change_nothing(
    client: httpx.Client, stack: Stack, scenario: tuple[Scenario, dict[str, Any]]
) -> None:
    s, card = scenario
    t = s.tenant
    # Every event once more (new broker messages, same events), and late words older than what is known.
    publish(stack, s.events, again=True)
    late_status = c.ConversationStatusChanged(
        conversation_id=s.conversations[0],
        profile_id="p",
        from_status="pending",
        to_status="open",
        cause="agent",
        changed_at=at(10, 50),
    )
    late_reply = c.ConversationFirstResponded(
        conversation_id=s.conversations[1],
        message_id=unique("msg"),
        origin="agent",
        opened_at=at(10),
        responded_at=at(10, 50),
    )
    late_analysis = c.MentionReanalysed(
        mention_id=s.mentions[0].data["mention_id"],
        created_at=at(9),
        previous=c.Analysis(
            language="en", sentiment=c.Sentiment(label="negative", score=0), intent="question"
        ),
        analysis=c.Analysis(
            language="en", sentiment=c.Sentiment(label="negative", score=0), intent="question"
        ),
        reason="label",
    )
    publish(
        stack,
        [event(t, late_status, at(10, 50)), event(t, late_reply, at(10, 50)), event(t, late_analysis, at(8))],
    )
    # Barriers, one per stream, outside the period: once they are counted, everything before them was.
    next_day = DAY + timedelta(days=1)
    barrier = c.MentionReceived.model_validate(
        {**s.mentions[0].data, "mention_id": unique("m"), "created_at": next_day}
    )
    publish(
        stack,
        [
            event(t, barrier, next_day),
            event(t, c.ProfileCreated(profile_id=unique("prof"), platform="x"), next_day),
            event(
                t,
                c.ConversationOpened(
                    conversation_id=unique("conv"),
                    profile_id="p",
                    mention_id="m",
                    priority="normal",
                    opened_at=next_day,
                ),
                next_day,
            ),
        ],
    )
    wide = {"from": DAY.isoformat(), "to": (next_day + timedelta(hours=1)).isoformat()}

    def barriers() -> bool:
        wide_card = get(client, t, "scorecard", **wide)
        return bool(
            wide_card["listening"]["mentions"]["total"] == 11
            and wide_card["customer"]["profiles_first_seen"] == 11
            and wide_card["care"]["conversations"]["opened"] == 5
        )

    wait_until(barriers, timeout=60, what="the barrier events")
    again = card_of(client, t)
    assert again == card


def test_a_merge_moves_counts(client: httpx.Client, stack: Stack) -> None:
    s = Scenario(signup(client))
    publish(stack, s.events)
    settled(client, s.tenant, complete, "the scenario folded")
    # The customer of 200 is found to be the same person as a profile without orders.
    b, other = s.profiles[1], s.profiles[2]
    merged = c.ProfileMerged(survivor_id=other, merged_id=b, reason="agent", merge_id=unique("merge"))
    publish(stack, [event(s.tenant, merged, at(14))])
    card = settled(client, s.tenant, lambda k: k["customer"]["profiles_first_seen"] == 9, "the merge")
    customer = card["customer"]
    # One person fewer first seen; the order moved with them, so the survivor converted.
    assert customer["social_conversion"] == {"base": 9, "count": 2, "rate": 22.2}
    assert (customer["clv"]["all"]["customers"], customer["clv"]["all"]["total"]) == (2, "350.00")
    # The survivor's next snapshot holds both totals (profiles adds them): counted once, not twice.
    barrier = c.ProfileCreated(profile_id=unique("prof"), platform="x")
    publish(
        stack, [s.updated(other, "200.00", at(14, 30), order=False), event(s.tenant, barrier, at(14, 45))]
    )
    settled(client, s.tenant, lambda k: k["customer"]["profiles_first_seen"] == 10, "the survivor's snapshot")
    after = card_of(client, s.tenant)["customer"]
    assert (after["clv"]["all"]["customers"], after["clv"]["all"]["total"], after["clv"]["all"]["mean"]) == (
        2,
        "350.00",
        "175.00",
    )
    rows = all_rows(client, s.tenant, "social_conversion")
    assert b not in {r["profile_id"] for r in rows}


def test_an_unmerge_gives_each_profile_its_own_back(client: httpx.Client, stack: Stack) -> None:
    s = Scenario(signup(client))
    publish(stack, s.events)
    settled(client, s.tenant, complete, "the scenario folded")
    # A profile first seen later, on another platform, is found to be the customer of 200 (first seen at
    # 09:00, ordered at 13:30), then the merge is undone.
    b, late = s.profiles[1], unique("prof")
    publish(stack, [event(s.tenant, c.ProfileCreated(profile_id=late, platform="facebook"), at(14))])
    before = settled(client, s.tenant, lambda k: k["customer"]["profiles_first_seen"] == 11, "the late one")
    merge_id = unique("merge")
    merged = c.ProfileMerged(survivor_id=late, merged_id=b, reason="agent", merge_id=merge_id)
    publish(stack, [event(s.tenant, merged, at(14, 10))])
    card = settled(client, s.tenant, lambda k: k["customer"]["profiles_first_seen"] == 10, "the merge")
    # The person was first seen when the customer was, and their order counts for the survivor.
    assert card["customer"]["social_conversion"] == {"base": 10, "count": 2, "rate": 20.0}
    survivor = {r["profile_id"]: r for r in all_rows(client, s.tenant, "social_conversion")}[late]
    assert (
        datetime.fromisoformat(survivor["first_seen_at"]),
        survivor["platform"],
        survivor["converted"],
    ) == (
        at(9),
        "x",
        1,
    )

    unmerged = c.ProfileUnmerged(profile_id=late, restored_profile_id=b, identifier_ids=[], merge_id=merge_id)
    publish(stack, [event(s.tenant, unmerged, at(14, 20))])
    after = settled(client, s.tenant, lambda k: k["customer"]["profiles_first_seen"] == 11, "the unmerge")
    # Every figure is what it was before the merge: each profile has its own sighting and orders back.
    assert after == before
    rows = {r["profile_id"]: r for r in all_rows(client, s.tenant, "social_conversion")}
    assert (rows[late]["platform"], rows[late]["converted"], rows[b]["converted"]) == ("facebook", 0, 1)
    clv = {r["profile_id"] for r in all_rows(client, s.tenant, "clv")}
    assert b in clv and late not in clv


def test_durations_in_business_hours_where_the_sla_runs_in_them(client: httpx.Client, stack: Stack) -> None:
    """One conversation whose SLA runs in its team's hours (engagement says how much business time each
    step took), one on the wall clock: each is measured on its own clock."""
    tenant = signup(client)
    hours, wall = unique("conv"), unique("conv")
    events = []
    for cid in (hours, wall):
        opened = c.ConversationOpened(
            conversation_id=cid,
            profile_id=unique("prof"),
            mention_id=unique("m"),
            priority="normal",
            opened_at=at(10),
        )
        events.append(event(tenant, opened, at(10)))
    # Answered at 13:00 and resolved at 14:00, of which 10 and 30 minutes fell in business hours.
    steps = [(hours, at(13), 600.0, at(14), 1800.0), (wall, at(10, 20), None, at(11), None)]
    for cid, responded_at, responded_business, resolved_at, resolved_business in steps:
        responded = c.ConversationFirstResponded(
            conversation_id=cid,
            message_id=unique("msg"),
            origin="agent",
            opened_at=at(10),
            responded_at=responded_at,
            business_seconds=responded_business,
        )
        resolved = c.ConversationStatusChanged(
            conversation_id=cid,
            profile_id="p",
            from_status="open",
            to_status="resolved",
            cause="agent",
            changed_at=resolved_at,
            business_seconds=resolved_business,
        )
        events += [event(tenant, responded, responded_at), event(tenant, resolved, resolved_at)]
    publish(stack, events)
    card = settled(client, tenant, lambda k: k["care"]["resolution"]["count"] == 2, "both resolutions")
    care = card["care"]
    assert (care["first_response"]["p50_minutes"], care["first_response"]["p90_minutes"]) == (10, 20)
    assert (care["resolution"]["p50_minutes"], care["resolution"]["p90_minutes"]) == (30, 60)
    rows = {r["conversation_id"]: r for r in all_rows(client, tenant, "first_response")}
    assert {cid: (r["first_response_minutes"], r["clock"]) for cid, r in rows.items()} == {
        hours: (10, "business"),
        wall: (20, "wall"),
    }
    rows = {r["conversation_id"]: r for r in all_rows(client, tenant, "resolution")}
    assert {cid: (r["resolution_minutes"], r["clock"]) for cid, r in rows.items()} == {
        hours: (30, "business"),
        wall: (60, "wall"),
    }


def test_top_topics_count_the_topic_queries_matches(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    shipping, returns, sizes = "q-topic-shipping", "q-topic-returns", "q-topic-sizes"
    plan = [[shipping, returns], [shipping], [shipping, sizes], [returns], [sizes], [returns]]
    events = []
    for i, topics in enumerate(plan):
        mention = received(at(9, i), "neutral", "other", dict.fromkeys(topics, "topic"))
        events.append(event(tenant, mention, at(9, i)))
    # The last mention is removed from its platform: it leaves the topics too.
    last = events[-1].data
    redacted = c.MentionRedacted(
        mention_id=last["mention_id"],
        platform="x",
        created_at=at(9, 5),
        reason="deleted",
        analysis=last["analysis"],
    )
    events.append(event(tenant, redacted, at(12)))
    publish(stack, events)
    card = settled(client, tenant, lambda k: k["listening"]["mentions"]["total"] == 5, "the mentions")
    assert card["listening"]["top_topics"] == [
        {"query_id": shipping, "mentions": 3},
        {"query_id": returns, "mentions": 2},
        {"query_id": sizes, "mentions": 2},
    ]
    assert card["listening"]["share_of_voice"] == {"brand": 0, "competitor": 0, "share": None}
    # The drill-down's rows add up to the figures.
    rows = all_rows(client, tenant, "top_topics")
    assert Counter(r["query_id"] for r in rows) == {
        t["query_id"]: t["mentions"] for t in card["listening"]["top_topics"]
    }


def test_top_hashtags_follow_the_posts_text_edits_and_removals(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    texts = [
        "Late again #Delivery #fail",
        "#delivery took a week, #DELIVERY!",  # one mention: counted once
        "#Sizes run small https://shop.example/help#sizes",  # a link's fragment is no hashtag
        "no tags here, only an email a#b",
        "#refund please #fail",
        f"#delivery was fine #gone{uuid.uuid4().hex[:10]}",  # removed from the platform below
    ]
    mentions = []
    for i, text in enumerate(texts):
        mention = received(at(9, i), "neutral", "other", {}).model_copy(update={"text": text})
        mentions.append(mention)
    events = [event(tenant, m, at(9, i)) for i, m in enumerate(mentions)]
    # The author edits the fifth post: its hashtags are the edited text's.
    analysis = mentions[4].analysis
    edited = c.MentionEdited(
        mention_id=mentions[4].mention_id,
        created_at=at(9, 4),
        text="#Refund please, #support",
        previous=analysis,
        analysis=analysis,
    )
    redacted = c.MentionRedacted(
        mention_id=mentions[5].mention_id,
        platform="x",
        created_at=at(9, 5),
        reason="deleted",
        analysis=analysis,
    )
    # The posts are counted first; the edit and the removal come in a later batch.
    publish(stack, events)
    settled(client, tenant, lambda k: k["listening"]["mentions"]["total"] == 6, "the posts counted")
    publish(stack, [event(tenant, edited, at(10)), event(tenant, redacted, at(11))])
    expected = [
        {"tag": "delivery", "mentions": 2},
        {"tag": "fail", "mentions": 1},
        {"tag": "refund", "mentions": 1},
        {"tag": "sizes", "mentions": 1},
        {"tag": "support", "mentions": 1},
    ]
    card = settled(
        client, tenant, lambda k: k["listening"]["top_hashtags"] == expected, "the hashtags after the edit"
    )
    assert card["listening"]["mentions"]["total"] == 5
    # Pages of one row: a page may end between two hashtags of one mention.
    rows = all_rows(client, tenant, "top_hashtags", limit=1)
    assert Counter(r["tag"] for r in rows) == {t["tag"]: t["mentions"] for t in expected}
    # The removed post's hashtags are deleted with it (its counts back at zero too), and a late copy of its
    # `received` brings none back.
    gone = texts[5].rsplit("#", 1)[1]
    publish(stack, [events[5]], again=True)
    publish(stack, [event(tenant, received(at(9, 30), "neutral", "other", {}), at(9, 30))])
    settled(client, tenant, lambda k: k["listening"]["mentions"]["total"] == 6, "a later mention")
    assert database_hits(stack, "metrics", [gone]) == []
    # A period that starts inside an hour reads that hour's rows, the rest from the hourly counts: the
    # same figures.
    part = get(client, tenant, "scorecard", **{**PERIOD, "from": at(9, 1).isoformat()})
    assert part["listening"]["top_hashtags"] == [
        {"tag": "delivery", "mentions": 1},
        {"tag": "refund", "mentions": 1},
        {"tag": "sizes", "mentions": 1},
        {"tag": "support", "mentions": 1},
    ]


def test_retention_and_clv_in_other_currencies(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    loyal, lapsed, abroad = unique("prof"), unique("prof"), unique("prof")
    yesterday = DAY - timedelta(days=1)

    def order(profile_id: str, values: dict[str, str], when: datetime, stage: str = "customer") -> CloudEvent:
        snapshot = c.ProfileSnapshot.model_validate(
            {"profile_id": profile_id, "lifecycle_stage": stage, "lifetime_value": values}
        )
        changed = ["order_count", "lifetime_value"]
        return event(tenant, c.ProfileUpdated(profile_id=profile_id, changed=changed, profile=snapshot), when)

    publish(
        stack,
        [
            event(tenant, c.ProfileCreated(profile_id=p, platform="x"), at(8, day=yesterday))
            for p in (loyal, lapsed, abroad)
        ]
        + [
            # The period is 00:00-15:00, so the previous one is 09:00-24:00 the day before.
            order(loyal, {"EUR": "10.00"}, at(12, day=yesterday)),
            order(lapsed, {"EUR": "30.00"}, at(20, day=yesterday)),
            order(abroad, {"USD": "99.50"}, at(8, day=yesterday), stage="advocate"),
            order(loyal, {"EUR": "25.00"}, at(11)),
            order(abroad, {"USD": "99.50", "EUR": "5.00"}, at(12), stage="advocate"),
        ],
    )

    def done(card: dict[str, Any]) -> bool:
        # A card's reads are not one snapshot (each figure is its own query): wait for both figures to
        # have seen every order.
        customer = card["customer"]
        return bool(customer["clv"]["all"]["customers"] == 3 and customer["retention"]["count"] == 1)

    card = settled(client, tenant, done, "the orders folded")
    # `abroad` ordered before the previous period began: only `loyal` and `lapsed` were its customers.
    assert card["customer"]["retention"] == {"base": 2, "count": 1, "rate": 50.0}
    retention = all_rows(client, tenant, "retention")
    assert {r["profile_id"]: r["retained"] for r in retention} == {loyal: 1, lapsed: 0}
    clv = card["customer"]["clv"]
    assert clv["all"] == {"customers": 3, "total": "60.00", "mean": "20.00"}
    assert clv["by_stage"]["customer"] == {"customers": 2, "total": "55.00", "mean": "27.50"}
    assert clv["by_stage"]["advocate"] == {"customers": 1, "total": "5.00", "mean": "5.00"}
    assert clv["other_currencies"] == {"USD": {"customers": 1, "total": "99.50", "mean": "99.50"}}
    # In dollars, the euro orders are the ones apart.
    in_usd = card_of(client, tenant, currency="USD")["customer"]["clv"]
    assert in_usd["all"]["total"] == "99.50" and set(in_usd["other_currencies"]) == {"EUR"}
    # First seen the day before: none of them is in this period's conversion.
    assert card["customer"]["social_conversion"]["base"] == 0

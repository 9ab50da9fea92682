"""Routing rules and the SLA clock without the stack: compiled conditions, the first-match decision and its
cache, what a rule does to an opened conversation, and the clock (deadlines, 80 % warnings, breaches,
pauses, business hours) driven by a clock of the test's own."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from services.engagement.logic import replies, rules, sla
from services.engagement.logic.canned import create_canned
from services.engagement.logic.conversations import move_status, receive_mention, update_conversation
from services.engagement.logic.tenant_cache import TenantCache
from services.engagement.models import Agent, Conversation, Message, SlaPolicy, Team
from services.engagement.replies_schemas import CannedResponseCreate
from services.engagement.schemas import ConversationRead, ConversationUpdate
from services.engagement.sla_schemas import RoutingRuleCreate, RuleConditions, SamplePost
from shared.db import create_engine, session_factory
from shared.events.contracts import MentionReceived, MentionResolved, ProfileSnapshot
from shared.events.outbox import OutboxMessage
from tests.helpers import create_tables

T0 = datetime(2026, 1, 6, 10, tzinfo=UTC)  # a Tuesday
TENANT = "t1"


def mention(
    *,
    text_: str = "My order arrived broken.",
    intent: str = "complaint",
    label: str = "negative",
    language: str = "en",
    platform: str = "x",
    channel_id: str | None = None,
    kinds: tuple[str, ...] = (),
    influence: float | None = None,
) -> MentionReceived:
    return MentionReceived.model_validate(
        {
            "mention_id": str(uuid.uuid4()),
            "platform": platform,
            "external_id": uuid.uuid4().hex,
            "text": text_,
            "created_at": T0,
            "author": {"handle": "@sam", "influence": influence},
            "analysis": {
                "language": language,
                "sentiment": {"label": label, "score": -0.8 if label == "negative" else 0.0},
                "intent": intent,
            },
            "channel_id": channel_id,
            "matched_queries": [{"query_id": f"q-{kind}", "kind": kind} for kind in kinds],
        }
    )


def resolved(payload: MentionReceived, profile: ProfileSnapshot | None = None) -> MentionResolved:
    profile_id = profile.profile_id if profile else f"p-{uuid.uuid4().hex[:8]}"
    return MentionResolved.model_validate_json(
        MentionResolved(profile_id=profile_id, mention=payload, profile=profile).model_dump_json()
    )


def forget_all() -> None:
    """Each test has its own database but the same tenant id: no cached configuration crosses over."""
    for cache in TenantCache.every:
        cache.entries.clear()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'engagement.db'}")
    await create_tables(engine)
    forget_all()
    refresh = rules.CACHE.refresh_s
    TenantCache.set_refresh(0.0)  # every decision looks at the version row: edits show at once
    yield engine
    TenantCache.set_refresh(refresh)
    forget_all()
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as session:
        yield session


async def add_rule(session: AsyncSession, tenant_id: str = TENANT, **fields: Any) -> str:
    rule = await rules.create_rule(
        session, tenant_id=tenant_id, rule_in=RoutingRuleCreate.model_validate(fields)
    )
    return rule.id


async def put_policy(session: AsyncSession, priority: str = "high", **fields: Any) -> None:
    values = {"first_response_s": 100.0, "resolution_s": 1000.0, "business_hours": False, **fields}
    await sla.put_policy(session, tenant_id=TENANT, priority=priority, **values)  # type: ignore[arg-type]


async def receive(session: AsyncSession, payload: MentionReceived, *, at: datetime = T0, **kw: Any) -> Any:
    message = await receive_mention(session, tenant_id=TENANT, resolved=resolved(payload, **kw), now=at)
    await session.commit()
    return message


async def only_conversation(session: AsyncSession) -> Conversation:
    [conversation] = (await session.execute(select(Conversation))).scalars().all()
    await session.refresh(conversation)
    return conversation


async def sla_events(session: AsyncSession) -> list[tuple[str, str]]:
    rows = (await session.execute(select(OutboxMessage))).scalars().all()
    events = [json.loads(row.body) for row in rows if row.type.startswith("engagement.sla.")]
    return sorted((event["type"], event["data"]["target"]) for event in events)


# --- conditions ---------------------------------------------------------------------------------------


def facts(**kwargs: Any) -> rules.Facts:
    profile = kwargs.pop("profile", None)
    return rules.facts_of(resolved(mention(**kwargs), profile).mention, profile)


def holds(conditions: dict[str, Any], subject: rules.Facts) -> bool:
    checks = rules.compile_conditions(RuleConditions.model_validate(conditions))
    return all(check.test(subject) for check in checks)


def test_keywords_are_whole_words_case_insensitive() -> None:
    assert holds({"keywords": ["refund"]}, facts(text_="I want a REFUND now"))
    assert not holds({"keywords": ["refund"]}, facts(text_="refunded already"))
    assert holds({"keywords": ["money back"]}, facts(text_="give me my Money   back!"))
    assert holds({"keywords": ["c++"]}, facts(text_="your c++ SDK crashes"))


def test_query_conditions() -> None:
    competitor_only = facts(kinds=("competitor",))
    assert holds({"only_query_kinds": ["competitor"]}, competitor_only)
    assert not holds({"only_query_kinds": ["competitor"]}, facts(kinds=("competitor", "brand")))
    assert not holds({"only_query_kinds": ["competitor"]}, facts())
    assert holds({"query_kinds": ["brand"]}, facts(kinds=("competitor", "brand")))
    assert holds({"query_ids": ["q-topic"]}, facts(kinds=("topic",)))


def test_profile_conditions() -> None:
    vip = ProfileSnapshot(
        profile_id="p1",
        lifecycle_stage="customer",
        influence=80,
        lifetime_value={"EUR": "1200.50"},
        segment_ids=["s1"],
    )
    subject = facts(profile=vip)
    assert holds(
        {
            "lifecycle_stages": ["customer"],
            "min_influence": 75,
            "min_value": 1000,
            "segment_ids": ["s1", "s9"],
        },
        subject,
    )
    assert not holds({"min_value": 2000}, subject)
    assert not holds({"max_influence": 50}, subject)
    assert not holds({"lifecycle_stages": ["lead"]}, facts())


def test_post_conditions() -> None:
    subject = facts(language="AR", platform="facebook", channel_id="c1", intent="question", label="neutral")
    assert holds(
        {
            "languages": ["ar"],
            "platforms": ["facebook"],
            "channel_ids": ["c1"],
            "via_channel": True,
            "intents": ["question"],
            "sentiments": ["neutral"],
        },
        subject,
    )
    assert not holds({"via_channel": False}, subject)
    assert not holds({"intents": ["complaint"]}, subject)


def test_rule_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="do not apply"):
        RoutingRuleCreate.model_validate({"name": "x", "actions": {"escalate": True}})
    with pytest.raises(ValueError, match="do not apply"):
        RoutingRuleCreate.model_validate({"name": "x", "trigger": "sla_breached", "actions": {"open": True}})
    with pytest.raises(ValueError, match="at least one action"):
        RoutingRuleCreate.model_validate({"name": "x", "actions": {}})
    RoutingRuleCreate.model_validate({"name": "ignore", "actions": {"open": False}})


# --- decisions ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_competitor_only_complaint_opens_nothing_unless_a_rule_opens_it(
    session: AsyncSession,
) -> None:
    competitor = mention(text_="Globex lost my package", kinds=("competitor",))
    assert await receive(session, competitor) is None
    await add_rule(
        session,
        name="win them over",
        conditions={"only_query_kinds": ["competitor"], "intents": ["complaint"], "keywords": ["lost"]},
        actions={"open": True, "team_id": "team-sales", "priority": "low", "labels": ["competitor"]},
    )
    message = await receive(session, mention(text_="Globex lost my package again", kinds=("competitor",)))
    assert message is not None
    conversation = await only_conversation(session)
    assert (conversation.team_id, conversation.priority, json.loads(conversation.labels)) == (
        "team-sales",
        "low",
        ["competitor"],
    )
    assert conversation.priority_reason == "routing rule win them over"


@pytest.mark.anyio
async def test_an_ignore_rule_and_the_first_match_wins(session: AsyncSession) -> None:
    await add_rule(session, name="no spam", conditions={"keywords": ["giveaway"]}, actions={"open": False})
    await add_rule(session, name="label all", conditions={}, actions={"labels": ["seen"]})
    assert await receive(session, mention(text_="Giveaway! my order is broken", kinds=("brand",))) is None
    assert await receive(session, mention(kinds=("brand",))) is not None
    conversation = await only_conversation(session)
    assert json.loads(conversation.labels) == ["seen"]
    # A rule without `open` keeps the default decision: a praise still opens nothing.
    assert await receive(session, mention(intent="praise", label="positive", kinds=("brand",))) is None


@pytest.mark.anyio
async def test_edits_reach_the_cache_through_the_version(engine: AsyncEngine) -> None:
    rules.CACHE.refresh_s = 3600.0
    factory = session_factory(engine)
    topic = mention(kinds=("topic",))
    async with factory() as session:
        assert not (await rules.decide(session, tenant_id=TENANT, mention=topic, profile=None)).open
        await add_rule(
            session, name="topics too", conditions={"query_kinds": ["topic"]}, actions={"open": True}
        )
    # This process's own edit shows at once.
    async with factory() as session:
        fresh = await rules.decide(session, tenant_id=TENANT, mention=topic, profile=None)
        assert fresh.open and fresh.rule_name == "topics too"
    # Another replica's edit (its row and the version change; this process is not told) shows only once the
    # version is looked at again: within the refresh interval the compiled rules stay (no read per post).
    async with factory() as session:
        await session.execute(
            text("UPDATE routing_rule SET enabled = false WHERE tenant_id = :t"), {"t": TENANT}
        )
        await session.execute(
            text("UPDATE routing_version SET version = version + 1 WHERE tenant_id = :t"), {"t": TENANT}
        )
        await session.commit()
    async with factory() as session:
        assert (await rules.decide(session, tenant_id=TENANT, mention=topic, profile=None)).open
        rules.CACHE.refresh_s = 0.0
        assert not (await rules.decide(session, tenant_id=TENANT, mention=topic, profile=None)).open


@pytest.mark.anyio
async def test_tenants_rules_are_their_own(session: AsyncSession) -> None:
    await add_rule(session, tenant_id="other", name="all", conditions={}, actions={"open": False})
    assert await receive(session, mention(kinds=("brand",))) is not None
    assert await rules.list_rules(session, tenant_id=TENANT) == []


@pytest.mark.anyio
async def test_the_dry_run_explains(session: AsyncSession) -> None:
    await add_rule(session, name="arabic", conditions={"languages": ["ar"]}, actions={"team_id": "team-ar"})
    await add_rule(
        session,
        name="competitor",
        conditions={"only_query_kinds": ["competitor"], "keywords": ["lost"]},
        actions={"open": True, "priority": "low"},
    )
    post = SamplePost.model_validate(
        {
            "text": "Globex lost it",
            "intent": "complaint",
            "sentiment": "negative",
            "matched_queries": [{"query_id": "q1", "kind": "competitor"}],
        }
    )
    result = await rules.dry_run(session, tenant_id=TENANT, post=post)
    assert (result.rule_name, result.default, result.decision.open, result.decision.priority) == (
        "competitor",
        False,
        True,
        "low",
    )
    arabic, competitor = result.rules
    assert not arabic.matched
    assert [(check.condition, check.passed) for check in arabic.checks] == [("languages", False)]
    assert "got 'en'" in arabic.checks[0].detail
    assert competitor.matched and all(check.passed for check in competitor.checks)

    default = await rules.dry_run(
        session, tenant_id=TENANT, post=SamplePost(text="hi", intent="praise", sentiment="positive")
    )
    assert default.default and default.rule_id is None and not default.decision.open
    assert "not" in default.reason


# --- the SLA clock ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_deadlines_warning_and_breach_fire_once(engine: AsyncEngine, session: AsyncSession) -> None:
    await put_policy(session)  # high: first response 100 s, resolution 1000 s, wall clock
    await receive(session, mention(kinds=("brand",)))  # a negative complaint: high
    conversation = await only_conversation(session)
    assert conversation.first_response_due_at == T0 + timedelta(seconds=100)
    assert conversation.resolution_due_at == T0 + timedelta(seconds=1000)
    assert conversation.sla_next_at == T0 + timedelta(seconds=80)

    assert (await sla.fire_due(session, now=T0 + timedelta(seconds=79)))[1] == []
    fired = (await sla.fire_due(session, now=T0 + timedelta(seconds=81)))[1]
    assert [(one.kind, one.target) for one in fired] == [("warning", "first_response")]
    # Another replica's tick (a second session on the same database) finds nothing more to fire.
    async with session_factory(engine)() as other:
        assert (await sla.fire_due(other, now=T0 + timedelta(seconds=90)))[1] == []
    fired = (await sla.fire_due(session, now=T0 + timedelta(seconds=1000)))[1]
    assert sorted((one.kind, one.target) for one in fired) == [
        ("breached", "first_response"),
        ("breached", "resolution"),
        ("warning", "resolution"),
    ]
    assert (await sla.fire_due(session, now=T0 + timedelta(days=1)))[1] == []
    assert await sla_events(session) == [
        ("engagement.sla.breached", "first_response"),
        ("engagement.sla.breached", "resolution"),
        ("engagement.sla.warning", "first_response"),
        ("engagement.sla.warning", "resolution"),
    ]
    conversation = await only_conversation(session)
    view = ConversationRead.model_validate(conversation, from_attributes=True).sla
    assert (view.first_response.state, view.resolution.state) == ("breached", "breached")
    assert conversation.sla_next_at is None


@pytest.mark.anyio
async def test_a_first_response_in_time_is_met(session: AsyncSession) -> None:
    await put_policy(session)
    await receive(session, mention(kinds=("brand",)))
    conversation = await only_conversation(session)
    conversation.first_response_at = T0 + timedelta(seconds=50)
    sla.responded(conversation)
    session.add(conversation)
    await session.commit()
    assert conversation.sla_next_at == T0 + timedelta(seconds=800)  # the resolution's 80 % mark
    fired = (await sla.fire_due(session, now=T0 + timedelta(seconds=200)))[1]
    assert fired == []
    view = ConversationRead.model_validate(conversation, from_attributes=True).sla
    assert (view.first_response.state, view.resolution.state) == ("met", "ok")


@pytest.mark.anyio
async def test_pending_pauses_the_clock(session: AsyncSession) -> None:
    await put_policy(session)
    await receive(session, mention(kinds=("brand",)))
    conversation = await only_conversation(session)
    move_status(
        session,
        conversation=conversation,
        to="pending",
        cause="agent",
        by_user_id="u",
        now=T0 + timedelta(seconds=60),
    )
    await session.commit()
    assert conversation.sla_next_at is None
    assert (await sla.fire_due(session, now=T0 + timedelta(seconds=500)))[1] == []
    view = ConversationRead.model_validate(conversation, from_attributes=True).sla
    assert view.paused
    # The customer answers 1000 s later: every deadline moves by the time spent pending.
    move_status(
        session,
        conversation=conversation,
        to="open",
        cause="customer",
        by_user_id=None,
        now=T0 + timedelta(seconds=1060),
    )
    await session.commit()
    assert conversation.first_response_due_at == T0 + timedelta(seconds=1100)
    assert conversation.resolution_due_at == T0 + timedelta(seconds=2000)
    assert conversation.sla_paused_s == 1000
    assert conversation.sla_next_at == T0 + timedelta(seconds=1080)
    fired = (await sla.fire_due(session, now=T0 + timedelta(seconds=1081)))[1]
    assert [(one.kind, one.target) for one in fired] == [("warning", "first_response")]
    # A priority change recomputes from the start, still leaving the pause out.
    await put_policy(session, priority="urgent", first_response_s=10.0, resolution_s=100.0)
    await update_conversation(
        session,
        tenant_id=TENANT,
        conversation_id=conversation.id,
        update_in=ConversationUpdate(priority="urgent"),
        by_user_id="u",
    )
    conversation = await only_conversation(session)
    assert conversation.first_response_due_at == T0 + timedelta(seconds=1010)
    assert conversation.resolution_due_at == T0 + timedelta(seconds=1100)
    # Resolving stops it.
    move_status(
        session,
        conversation=conversation,
        to="resolved",
        cause="agent",
        by_user_id="u",
        now=T0 + timedelta(seconds=1090),
    )
    await session.commit()
    assert conversation.sla_next_at is None
    view = ConversationRead.model_validate(conversation, from_attributes=True).sla
    assert view.resolution.state == "met"


@pytest.mark.anyio
async def test_business_hours_deadlines_come_from_the_team(session: AsyncSession) -> None:
    hours = {
        "timezone": "Europe/Berlin",
        "weekly": {day: [{"start": "09:00", "end": "17:00"}] for day in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-01-07"],
    }
    session.add(Team(id="team-de", tenant_id=TENANT, name="German", business_hours=json.dumps(hours)))
    await session.commit()
    assert await sla.team_hours(session, "nope") is None
    await add_rule(session, name="german", conditions={"languages": ["de"]}, actions={"team_id": "team-de"})
    await put_policy(session, first_response_s=2 * 3600.0, resolution_s=None, business_hours=True)
    tuesday_4pm = datetime(2026, 1, 6, 15, tzinfo=UTC)  # 16:00 in Berlin
    await receive(session, mention(language="de", kinds=("brand",)), at=tuesday_4pm)
    conversation = await only_conversation(session)
    assert conversation.team_id == "team-de"
    # 1 h on Tuesday, Wednesday is a holiday, 1 h on Thursday: 10:00 Berlin = 09:00 UTC.
    assert conversation.first_response_due_at == datetime(2026, 1, 8, 9, tzinfo=UTC)
    assert conversation.resolution_due_at is None
    # Pending from Tuesday 16:30 to Thursday 09:30 Berlin: 60 business minutes paused (30 on Tuesday, 30 on
    # Thursday; Wednesday is the holiday), so the deadline moves from 10:00 to 11:00 Berlin.
    move_status(
        session,
        conversation=conversation,
        to="pending",
        cause="agent",
        by_user_id="u",
        now=datetime(2026, 1, 6, 15, 30, tzinfo=UTC),
    )
    move_status(
        session,
        conversation=conversation,
        to="open",
        cause="customer",
        by_user_id=None,
        now=datetime(2026, 1, 8, 8, 30, tzinfo=UTC),
    )
    assert conversation.first_response_due_at == datetime(2026, 1, 8, 10, tzinfo=UTC)
    assert conversation.sla_paused_s == 3600

    # Metrics counts durations in the same hours: the first response on Thursday at 09:30 Berlin comes
    # 1 h 30 min of business time after the opening (1 h on Tuesday, 30 min on Thursday), the resolution at
    # 11:00 Berlin 3 h after it. The wall clock would say almost two days.
    reply = Message(
        tenant_id=TENANT,
        conversation_id=conversation.id,
        direction="outbound",
        platform=conversation.platform,
        text="Wir kümmern uns.",
        origin="agent",
        status="sent",
        posted_at=datetime(2026, 1, 8, 8, 30, tzinfo=UTC),
    )
    session.add(reply)
    assert replies.first_response(
        session,
        conversation=conversation,
        message=reply,
        responded_at=datetime(2026, 1, 8, 8, 30, tzinfo=UTC),
    )
    move_status(
        session,
        conversation=conversation,
        to="resolved",
        cause="agent",
        by_user_id="u",
        now=datetime(2026, 1, 8, 10, tzinfo=UTC),
    )
    await session.commit()
    staged = {
        event["type"]: event["data"]
        for event in (
            json.loads(row.body) for row in (await session.execute(select(OutboxMessage))).scalars()
        )
        if event["type"] == "engagement.conversation.first_responded"
        or (
            event["type"] == "engagement.conversation.status_changed"
            and event["data"]["to_status"] == "resolved"
        )
    }
    assert staged["engagement.conversation.first_responded"]["business_seconds"] == 5400
    assert staged["engagement.conversation.status_changed"]["business_seconds"] == 3 * 3600


@pytest.mark.anyio
async def test_durations_on_the_wall_clock_carry_no_business_time(session: AsyncSession) -> None:
    await put_policy(session, first_response_s=3600.0, resolution_s=None, business_hours=False)
    await receive(session, mention(kinds=("brand",)), at=T0)
    conversation = await only_conversation(session)
    move_status(session, conversation=conversation, to="resolved", cause="agent", by_user_id="u", now=T0)
    await session.commit()
    changed = [
        json.loads(row.body)["data"]
        for row in (await session.execute(select(OutboxMessage))).scalars()
        if row.type == "engagement.conversation.status_changed"
    ]
    assert [(c["to_status"], c["business_seconds"]) for c in changed] == [("resolved", None)]


@pytest.mark.anyio
async def test_sla_rules_escalate_and_label(session: AsyncSession) -> None:
    await put_policy(session, priority="normal", first_response_s=100.0, resolution_s=None)
    await put_policy(session, priority="high", first_response_s=50.0, resolution_s=None)
    await add_rule(
        session,
        name="escalate breaches",
        trigger="sla_breached",
        conditions={"targets": ["first_response"]},
        actions={"escalate": True, "labels": ["sla-breached"]},
    )
    await receive(session, mention(intent="question", label="neutral", kinds=("brand",)))  # normal
    fired = (await sla.fire_due(session, now=T0 + timedelta(seconds=101), act=rules.act_on_sla))[1]
    assert {one.kind for one in fired} == {"warning", "breached"}
    conversation = await only_conversation(session)
    assert conversation.priority == "high"
    assert "escalate breaches" in (conversation.priority_reason or "")
    assert json.loads(conversation.labels) == ["sla-breached"]
    # The deadline follows the new priority's policy; the breach stays fired once.
    assert conversation.first_response_due_at == T0 + timedelta(seconds=50)
    assert (await sla.fire_due(session, now=T0 + timedelta(seconds=500), act=rules.act_on_sla))[1] == []


@pytest.mark.anyio
async def test_no_policy_no_deadlines(session: AsyncSession) -> None:
    await receive(session, mention(kinds=("brand",)))
    conversation = await only_conversation(session)
    assert (conversation.first_response_due_at, conversation.sla_next_at) == (None, None)
    assert (await session.execute(select(SlaPolicy))).scalars().all() == []


@pytest.mark.anyio
async def test_an_sla_rule_requeues_to_another_agent(session: AsyncSession) -> None:
    for agent_id in ("a1", "a2"):
        session.add(Agent(id=agent_id, tenant_id=TENANT, role="agent", presence="online"))
    await session.commit()
    await put_policy(session, priority="high", first_response_s=60.0, resolution_s=None)
    await add_rule(
        session,
        name="hand it on",
        trigger="sla_warning",
        conditions={"targets": ["first_response"], "priorities": ["high"]},
        actions={"requeue": True},
    )
    await receive(session, mention(kinds=("brand",)))
    first = (await only_conversation(session)).assignee_id
    assert first in ("a1", "a2")
    fired = (await sla.fire_due(session, now=T0 + timedelta(seconds=50), act=rules.act_on_sla))[1]
    assert [(one.kind, one.target) for one in fired] == [("warning", "first_response")]
    conversation = await only_conversation(session)
    assert conversation.assignee_id in ("a1", "a2") and conversation.assignee_id != first
    assert "SLA warning: rule hand it on" in (conversation.assignment_reason or "")


@pytest.mark.anyio
async def test_auto_acknowledgement_answers_in_the_conversations_language(session: AsyncSession) -> None:
    canned = await create_canned(
        session,
        tenant_id=TENANT,
        canned_in=CannedResponseCreate(
            name="ack",
            variants={"en": "Thanks {{name}}, we are on it.", "de": "Danke {{name}}, wir kümmern uns."},
            default_language="en",
        ),
        created_by="u",
    )
    await add_rule(
        session,
        name="acknowledge",
        conditions={"intents": ["complaint"]},
        actions={"auto_acknowledge": {"template_id": canned.id, "variables": {"name": "Sam"}}},
    )
    await receive(session, mention(language="de", channel_id="c1", platform="facebook"))
    conversation = await only_conversation(session)
    outbound = (
        (await session.execute(select(Message).where(col(Message.direction) == "outbound"))).scalars().all()
    )
    assert [(m.text, m.origin, m.status) for m in outbound] == [
        ("Danke Sam, wir kümmern uns.", "auto_ack", "queued")
    ]
    requested = (
        (
            await session.execute(
                select(OutboxMessage).where(col(OutboxMessage.type) == "engagement.reply.requested")
            )
        )
        .scalars()
        .all()
    )
    assert [json.loads(row.body)["data"]["conversation_id"] for row in requested] == [conversation.id]
    # An acknowledgement is not the brand's first response: the SLA clock keeps running.
    assert conversation.first_response_at is None

    # Without a channel to answer through, the post still opens its conversation; nothing is sent.
    await receive(session, mention(kinds=("brand",)))
    count = len(
        (await session.execute(select(Message).where(col(Message.direction) == "outbound"))).scalars().all()
    )
    assert count == 1
    assert len((await session.execute(select(Conversation))).scalars().all()) == 2

"""Routing rules: a tenant's ordered rules that widen or narrow what opens a conversation and shape it, and
act on SLA warnings and breaches.

Every mention passes `decide`, so it is cheap: each tenant's rules are compiled once into plain predicates
(sets, one keyword regex) and kept in process (`tenant_cache`: a replica looks at the tenant's
`routing_version` row at most every `refresh_s` seconds and recompiles only when an edit bumped it). A
tenant without rules costs one dictionary lookup per post (plus that version read once a second). The
first enabled rule whose conditions all hold wins; with none, the default (`routing.is_actionable`:
actionable and addressed) decides.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.errors import (
    CannedResponseNotFound,
    InvalidCannedResponse,
    InvalidRoutingRule,
    ReplyNotPossible,
    RoutingRuleNotFound,
)
from services.engagement.logic.assignment import requeue
from services.engagement.logic.canned import render_canned
from services.engagement.logic.replies import send_reply
from services.engagement.logic.routing import PRIORITIES, bump, influence_of, is_actionable, priority_for
from services.engagement.logic.sla import reprioritise
from services.engagement.logic.tenant_cache import TenantCache, bump_version
from services.engagement.models import Conversation, Priority, RoutingRule
from services.engagement.sla_schemas import (
    AutoAcknowledge,
    ConditionCheck,
    DryRunDecision,
    DryRunResult,
    RoutingRuleCreate,
    RoutingRuleRead,
    RoutingRuleUpdate,
    RuleActions,
    RuleConditions,
    RuleTrace,
    SamplePost,
    _check_shape,
)
from shared.db import utcnow
from shared.events.contracts import MentionPayload, MentionReceived, ProfileSnapshot
from shared.tenancy import get_scoped, scoped

log = logging.getLogger("rapport.engagement.rules")

RULES_MAX = 200


# --- what a rule looks at -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What conditions test: a post (mention rules) or a conversation's SLA event (SLA rules)."""

    text: str = ""
    intent: str | None = None
    sentiment: str | None = None
    language: str | None = None
    platform: str | None = None
    channel_id: str | None = None
    query_ids: frozenset[str] = frozenset()
    query_kinds: frozenset[str] = frozenset()
    lifecycle_stage: str | None = None
    influence: float = 0.0
    value: float = 0.0
    segment_ids: frozenset[str] = frozenset()
    target: str | None = None
    priority: str | None = None
    team_id: str | None = None


def _matched(mention: MentionPayload) -> tuple[frozenset[str], frozenset[str]]:
    matched: Any = getattr(mention, "matched_queries", None) or []
    ids: set[str] = set()
    kinds: set[str] = set()
    for query in matched:
        get = query.get if isinstance(query, dict) else (lambda name, q=query: getattr(q, name, None))
        query_id, kind = get("query_id"), get("kind")
        if isinstance(query_id, str):
            ids.add(query_id)
        if isinstance(kind, str):
            kinds.add(kind)
    return frozenset(ids), frozenset(kinds)


def _value(profile: ProfileSnapshot | None) -> float:
    best = 0.0
    for amount in (profile.lifetime_value if profile else {}).values():
        try:
            best = max(best, float(amount))
        except ValueError:
            continue
    return best


def facts_of(mention: MentionPayload, profile: ProfileSnapshot | None) -> Facts:
    """The facts of a post, as its conditions see them."""
    ids, kinds = _matched(mention)
    return Facts(
        text=mention.text,
        intent=mention.analysis.intent,
        sentiment=mention.analysis.sentiment.label,
        language=mention.analysis.language,
        platform=mention.platform,
        channel_id=getattr(mention, "channel_id", None),
        query_ids=ids,
        query_kinds=kinds,
        lifecycle_stage=profile.lifecycle_stage if profile else None,
        influence=influence_of(mention, profile),
        value=_value(profile),
        segment_ids=frozenset(profile.segment_ids) if profile else frozenset(),
    )


# --- compiled rules -----------------------------------------------------------------------------------

Predicate = Callable[[Facts], bool]


@dataclass(frozen=True)
class Check:
    name: str
    test: Predicate
    wanted: str


def _any_of(name: str, attribute: str, values: Sequence[str]) -> Check:
    wanted = frozenset(values)
    return Check(name, lambda facts: getattr(facts, attribute) in wanted, f"any of {sorted(wanted)}")


def _any_in(name: str, attribute: str, values: Sequence[str]) -> Check:
    wanted = frozenset(values)
    return Check(
        name, lambda facts: not wanted.isdisjoint(getattr(facts, attribute)), f"any of {sorted(wanted)}"
    )


def _keywords(words: Sequence[str]) -> Check:
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in word.split()) for word in words)
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    return Check("keywords", lambda facts: pattern.search(facts.text) is not None, f"any of {list(words)}")


def compile_conditions(conditions: RuleConditions) -> tuple[Check, ...]:
    """The conditions as predicates, cheapest first."""
    c = conditions
    checks: list[Check] = []
    for name, attribute in (
        ("intents", "intent"),
        ("sentiments", "sentiment"),
        ("platforms", "platform"),
        ("channel_ids", "channel_id"),
        ("lifecycle_stages", "lifecycle_stage"),
        ("targets", "target"),
        ("priorities", "priority"),
        ("team_ids", "team_id"),
    ):
        values = getattr(c, name)
        if values is not None:
            checks.append(_any_of(name, attribute, values))
    if c.languages is not None:
        languages = frozenset(language.lower() for language in c.languages)
        checks.append(
            Check(
                "languages",
                lambda facts: (facts.language or "").lower() in languages,
                f"any of {sorted(languages)}",
            )
        )
    if c.via_channel is not None:
        via = c.via_channel
        checks.append(
            Check("via_channel", lambda facts: (facts.channel_id is not None) is via, str(via).lower())
        )
    if c.query_ids is not None:
        checks.append(_any_in("query_ids", "query_ids", c.query_ids))
    if c.query_kinds is not None:
        checks.append(_any_in("query_kinds", "query_kinds", c.query_kinds))
    if c.only_query_kinds is not None:
        only = frozenset(c.only_query_kinds)
        checks.append(
            Check(
                "only_query_kinds",
                lambda facts: bool(facts.query_kinds) and facts.query_kinds <= only,
                f"at least one query, all of kinds {sorted(only)}",
            )
        )
    if c.min_influence is not None:
        low = c.min_influence
        checks.append(Check("min_influence", lambda facts: facts.influence >= low, f">= {low:g}"))
    if c.max_influence is not None:
        high = c.max_influence
        checks.append(Check("max_influence", lambda facts: facts.influence <= high, f"<= {high:g}"))
    if c.min_value is not None:
        floor = c.min_value
        checks.append(Check("min_value", lambda facts: facts.value >= floor, f">= {floor:g}"))
    if c.segment_ids is not None:
        checks.append(_any_in("segment_ids", "segment_ids", c.segment_ids))
    if c.keywords is not None:
        checks.append(_keywords(c.keywords))
    return tuple(checks)


@dataclass(frozen=True)
class Compiled:
    id: str
    name: str
    position: int
    trigger: str
    checks: tuple[Check, ...]
    actions: RuleActions

    def matches(self, facts: Facts) -> bool:
        return all(check.test(facts) for check in self.checks)


def _compile(rule: RoutingRule) -> Compiled:
    conditions = RuleConditions.model_validate_json(rule.conditions)
    return Compiled(
        id=rule.id,
        name=rule.name,
        position=rule.position,
        trigger=rule.trigger,
        checks=compile_conditions(conditions),
        actions=RuleActions.model_validate_json(rule.actions),
    )


# --- the per-process cache ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantRules:
    """A tenant's enabled rules, compiled, in order: those deciding posts and those acting on SLAs."""

    mention: tuple[Compiled, ...] = ()
    sla: tuple[Compiled, ...] = ()


async def _load(session: AsyncSession, tenant_id: str) -> TenantRules:
    compiled = [_compile(rule) for rule in await _ordered(session, tenant_id=tenant_id) if rule.enabled]
    return TenantRules(
        mention=tuple(rule for rule in compiled if rule.trigger == "mention"),
        sla=tuple(rule for rule in compiled if rule.trigger != "mention"),
    )


CACHE: TenantCache[TenantRules] = TenantCache(_load)


# --- deciding -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What routing decided for a post: open (or continue) a conversation or not; how to shape a new one."""

    open: bool
    rule_id: str | None = None
    rule_name: str | None = None
    team_id: str | None = None
    priority: Priority | None = None
    labels: tuple[str, ...] = ()
    auto_acknowledge: AutoAcknowledge | None = None


OPEN = Decision(open=True)
SKIP = Decision(open=False)


def _decision(rule: Compiled, default_open: bool) -> Decision:
    actions = rule.actions
    return Decision(
        open=default_open if actions.open is None else actions.open,
        rule_id=rule.id,
        rule_name=rule.name,
        team_id=actions.team_id,
        priority=actions.priority,
        labels=tuple(actions.labels),
        auto_acknowledge=actions.auto_acknowledge,
    )


async def decide(
    session: AsyncSession, *, tenant_id: str, mention: MentionPayload, profile: ProfileSnapshot | None
) -> Decision:
    """The first matching rule's decision for a post, or the default (actionable and addressed)."""
    entry = await CACHE.get(session, tenant_id)
    if entry.mention:
        facts = facts_of(mention, profile)
        for rule in entry.mention:
            if rule.matches(facts):
                return _decision(rule, is_actionable(mention))
    return OPEN if is_actionable(mention) else SKIP


def shape(conversation: Conversation, decision: Decision) -> None:
    """Give a conversation being opened its rule's team, priority and labels."""
    if decision.rule_id is None:
        return
    if decision.team_id is not None:
        conversation.team_id = decision.team_id
    if decision.priority is not None:
        conversation.priority = decision.priority
        conversation.priority_reason = f"routing rule {decision.rule_name}"[:200]
    if decision.labels:
        conversation.labels = json.dumps(sorted(set(json.loads(conversation.labels)) | set(decision.labels)))


async def acknowledge(
    session: AsyncSession, *, conversation: Conversation, decision: Decision, now: datetime
) -> None:
    """The rule's auto-acknowledgement of a newly opened conversation, once its first message is stored:
    the canned response in the conversation's language, sent as a reply (`origin` "auto_ack"). A template
    that is gone or no longer fits, or a conversation without a channel, sends nothing (logged): the
    post still opens its conversation."""
    ack = decision.auto_acknowledge
    if ack is None:
        return
    try:
        body = await render_canned(
            session,
            tenant_id=conversation.tenant_id,
            canned_id=ack.template_id,
            language=conversation.language,
            variables=dict(ack.variables),
        )
        await send_reply(
            session, conversation=conversation, text=body, author_id=None, now=now, origin="auto_ack"
        )
    except (CannedResponseNotFound, InvalidCannedResponse, ReplyNotPossible) as error:
        log.warning(
            "rules.auto_ack_skipped",
            extra={"conversation_id": conversation.id, "rule_id": decision.rule_id, "reason": error.type},
        )


# --- SLA rules ----------------------------------------------------------------------------------------


async def act_on_sla(session: AsyncSession, conversation: Conversation, fired: Any, now: datetime) -> None:
    """Apply the first matching SLA rule to a warning or breach the clock just fired (same transaction)."""
    entry = await CACHE.get(session, conversation.tenant_id)
    if not entry.sla:
        return
    trigger = "sla_warning" if fired.kind == "warning" else "sla_breached"
    facts = Facts(
        language=conversation.language,
        platform=conversation.platform,
        channel_id=conversation.channel_id,
        target=fired.target,
        priority=conversation.priority,
        team_id=conversation.team_id,
    )
    for rule in entry.sla:
        if rule.trigger != trigger or not rule.matches(facts):
            continue
        actions = rule.actions
        priority: Priority = conversation.priority  # type: ignore[assignment]
        if actions.escalate:
            priority = bump(priority)
        if actions.priority is not None and PRIORITIES.index(actions.priority) > PRIORITIES.index(priority):
            priority = actions.priority
        if priority != conversation.priority:
            conversation.priority = priority
            conversation.priority_reason = f"SLA {fired.kind} ({fired.target}): routing rule {rule.name}"[
                :200
            ]
            await reprioritise(session, conversation=conversation)
        if actions.labels:
            conversation.labels = json.dumps(
                sorted(set(json.loads(conversation.labels)) | set(actions.labels))
            )
        if actions.requeue:
            await requeue(
                session, conversation=conversation, reason=f"SLA {fired.kind}: rule {rule.name}", now=now
            )
        conversation.updated_at = now
        session.add(conversation)
        log.info("rules.sla_applied", extra={"conversation_id": conversation.id, "rule_id": rule.id})
        return


# --- the dry run --------------------------------------------------------------------------------------


def _sample_mention(post: SamplePost) -> MentionReceived:
    return MentionReceived.model_validate(
        {
            "mention_id": "dry-run",
            "platform": post.platform,
            "external_id": "dry-run",
            "text": post.text,
            "created_at": utcnow(),
            "author": {"handle": "sample", "influence": post.author_influence},
            "analysis": {
                "intent": post.intent,
                "sentiment": {"label": post.sentiment, "score": 0.0},
                "language": post.language,
            },
            "matched_queries": [query.model_dump() for query in post.matched_queries],
            "matched_query_ids": [query.query_id for query in post.matched_queries],
            "channel_id": post.channel_id,
        }
    )


def _observed(name: str, facts: Facts) -> str:
    attribute = {
        "intents": "intent",
        "sentiments": "sentiment",
        "languages": "language",
        "platforms": "platform",
        "channel_ids": "channel_id",
        "via_channel": "channel_id",
        "query_ids": "query_ids",
        "query_kinds": "query_kinds",
        "only_query_kinds": "query_kinds",
        "lifecycle_stages": "lifecycle_stage",
        "min_influence": "influence",
        "max_influence": "influence",
        "min_value": "value",
        "segment_ids": "segment_ids",
    }.get(name)
    if attribute is None:
        return "text"
    value = getattr(facts, attribute)
    return repr(sorted(value)) if isinstance(value, frozenset) else repr(value)


async def dry_run(session: AsyncSession, *, tenant_id: str, post: SamplePost) -> DryRunResult:
    """Which of the tenant's rules a sample post would hit, and why, condition by condition."""
    mention = _sample_mention(post)
    profile = (
        ProfileSnapshot.model_validate({"profile_id": "dry-run", **post.profile.model_dump()})
        if post.profile
        else None
    )
    facts = facts_of(mention, profile)
    traces: list[RuleTrace] = []
    hit: Compiled | None = None
    for rule in await _ordered(session, tenant_id=tenant_id):
        if rule.trigger != "mention" or not rule.enabled:
            continue
        compiled = _compile(rule)
        checks = [
            ConditionCheck(
                condition=check.name,
                passed=check.test(facts),
                detail=f"wanted {check.wanted}, got {_observed(check.name, facts)}",
            )
            for check in compiled.checks
        ]
        matched = hit is None and all(check.passed for check in checks)
        traces.append(
            RuleTrace(rule_id=rule.id, name=rule.name, position=rule.position, matched=matched, checks=checks)
        )
        if matched:
            hit = compiled
    default_open = is_actionable(mention)
    priority, priority_reason = priority_for(mention, profile)
    if hit is None:
        reason = "no rule matched: the default opens actionable posts addressed to the brand" + (
            " (this one is)" if default_open else " (this one is not)"
        )
        decision = DryRunDecision(
            open=default_open,
            priority=priority if default_open else None,
            priority_reason=priority_reason if default_open else None,
        )
        return DryRunResult(
            rule_id=None, rule_name=None, default=True, reason=reason, decision=decision, rules=traces
        )
    chosen = _decision(hit, default_open)
    decision = DryRunDecision(
        open=chosen.open,
        team_id=chosen.team_id if chosen.open else None,
        priority=(chosen.priority or priority) if chosen.open else None,
        priority_reason=(f"routing rule {hit.name}" if chosen.priority else priority_reason)
        if chosen.open
        else None,
        labels=list(chosen.labels) if chosen.open else [],
        auto_acknowledge=chosen.auto_acknowledge if chosen.open else None,
    )
    verb = "opens" if chosen.open else "ignores"
    reason = f"rule {hit.name!r} (position {hit.position}) matched: it {verb} the post"
    return DryRunResult(
        rule_id=hit.id, rule_name=hit.name, default=False, reason=reason, decision=decision, rules=traces
    )


# --- the rules' CRUD ----------------------------------------------------------------------------------


async def _ordered(session: AsyncSession, *, tenant_id: str) -> list[RoutingRule]:
    stmt = scoped(RoutingRule, tenant_id).order_by(
        col(RoutingRule.position).asc(), col(RoutingRule.created_at).asc(), col(RoutingRule.id).asc()
    )
    return list((await session.execute(stmt)).scalars().all())


async def _make_room(session: AsyncSession, *, tenant_id: str, position: int, keep: str | None) -> None:
    """A rule goes in at `position`, before the rule there: that one and those after move down one."""
    table = RoutingRule.__table__  # type: ignore[attr-defined]
    await session.execute(
        update(table)
        .where(table.c.tenant_id == tenant_id, table.c.position >= position, table.c.id != (keep or ""))
        .values(position=table.c.position + 1)
    )


def _read(rule: RoutingRule) -> RoutingRuleRead:
    return RoutingRuleRead.model_validate(rule, from_attributes=True)


async def list_rules(session: AsyncSession, *, tenant_id: str) -> list[RoutingRuleRead]:
    """The tenant's rules in the order they are tried."""
    return [_read(rule) for rule in await _ordered(session, tenant_id=tenant_id)]


async def get_rule(session: AsyncSession, *, tenant_id: str, rule_id: str) -> RoutingRuleRead:
    """One rule of the tenant."""
    return _read(
        await get_scoped(session, RoutingRule, tenant_id=tenant_id, id=rule_id, error=RoutingRuleNotFound)
    )


async def create_rule(
    session: AsyncSession, *, tenant_id: str, rule_in: RoutingRuleCreate
) -> RoutingRuleRead:
    """Add a rule (at the end unless `position` is given)."""
    rules = await _ordered(session, tenant_id=tenant_id)
    if len(rules) >= RULES_MAX:
        raise InvalidRoutingRule(f"A tenant has at most {RULES_MAX} routing rules.")
    position = rule_in.position
    if position is None:
        position = (rules[-1].position + 1) if rules else 0
    else:
        await _make_room(session, tenant_id=tenant_id, position=position, keep=None)
    now = utcnow()
    rule = RoutingRule(
        tenant_id=tenant_id,
        name=rule_in.name,
        position=position,
        enabled=rule_in.enabled,
        trigger=rule_in.trigger,
        conditions=rule_in.conditions.model_dump_json(exclude_unset=True),
        actions=rule_in.actions.model_dump_json(exclude_defaults=True),
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    await bump_version(session, tenant_id)
    await session.commit()
    log.info("routing_rule.created", extra={"tenant_id": tenant_id, "rule_id": rule.id})
    return _read(rule)


async def update_rule(
    session: AsyncSession, *, tenant_id: str, rule_id: str, rule_in: RoutingRuleUpdate
) -> RoutingRuleRead:
    """Change a rule; `conditions` and `actions` are replaced whole."""
    rule = await get_scoped(session, RoutingRule, tenant_id=tenant_id, id=rule_id, error=RoutingRuleNotFound)
    given = rule_in.model_fields_set
    if not given:
        raise InvalidRoutingRule("Give at least one field to change.")
    for name in ("name", "position", "enabled"):
        if name in given:
            value = getattr(rule_in, name)
            if value is None:
                raise InvalidRoutingRule(f"`{name}` may not be null.")
            if name == "position" and value != rule.position:
                await _make_room(session, tenant_id=tenant_id, position=value, keep=rule.id)
            setattr(rule, name, value)
    conditions = (
        rule_in.conditions if "conditions" in given else RuleConditions.model_validate_json(rule.conditions)
    )
    actions = rule_in.actions if "actions" in given else RuleActions.model_validate_json(rule.actions)
    if conditions is None or actions is None:
        raise InvalidRoutingRule("`conditions` and `actions` may not be null.")
    try:
        _check_shape(rule.trigger, conditions, actions)
    except ValueError as error:
        raise InvalidRoutingRule(str(error)) from None
    rule.conditions = conditions.model_dump_json(exclude_unset=True)
    rule.actions = actions.model_dump_json(exclude_defaults=True)
    rule.updated_at = utcnow()
    session.add(rule)
    await bump_version(session, tenant_id)
    await session.commit()
    log.info("routing_rule.updated", extra={"tenant_id": tenant_id, "rule_id": rule.id})
    return _read(rule)


async def delete_rule(session: AsyncSession, *, tenant_id: str, rule_id: str) -> None:
    """Remove a rule."""
    rule = await get_scoped(session, RoutingRule, tenant_id=tenant_id, id=rule_id, error=RoutingRuleNotFound)
    await session.delete(rule)
    await bump_version(session, tenant_id)
    await session.commit()
    log.info("routing_rule.deleted", extra={"tenant_id": tenant_id, "rule_id": rule_id})

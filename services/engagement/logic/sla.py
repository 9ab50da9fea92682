"""SLA policies and the SLA clock: stored deadlines, pauses while pending, warnings at 80 %, breaches.

A tenant has at most one policy per priority: a first-response and a resolution target in seconds, counted
on the wall clock or in the business hours of the conversation's team (`business_hours`). Opening a
conversation starts its clock (`start_clock`): the deadlines (`first_response_due_at`, `resolution_due_at`)
and the 80 % marks are stored on the conversation, so they survive restarts and any replica can fire them.

While the conversation is pending (waiting on the customer) the clock is paused: moving back to open or
snoozed pushes every mark still ahead by the business time spent pending (`sla_paused_s` keeps the total,
so a priority change recomputes the deadlines from the start with the pauses left out). Resolving or
closing stops the clock; the first response (`first_response_at`) stops the first-response target.

`sla_next_at` is the next instant the clock must look at a conversation (None when nothing is left to
fire); the clock scans that one indexed column. Each warning and breach fires once per conversation and
target: its `*_warned_at` / `*_breached_at` is set by a conditional UPDATE (`... IS NULL`) in the
transaction that stages the event, so two replicas (or a replica that restarted) never fire it twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.errors import SlaPolicyNotFound
from services.engagement.logic.hours import (
    ALWAYS_OPEN,
    BusinessHours,
    add_business_seconds,
    business_seconds_between,
)
from services.engagement.logic.tenant_cache import TenantCache, bump_version
from services.engagement.models import Conversation, Priority, SlaPolicy, Team
from shared.db import utcnow
from shared.events.contracts import SlaBreached, SlaWarning
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.tenancy import scoped

log = logging.getLogger("rapport.engagement.sla")

SOURCE = "engagement"
Target = Literal["first_response", "resolution"]
TARGETS: tuple[Target, ...] = ("first_response", "resolution")
WARN_FRACTION = 0.8


# --- policies ---------------------------------------------------------------------------------------


async def list_policies(session: AsyncSession, *, tenant_id: str) -> list[SlaPolicy]:
    """The tenant's policies, most urgent priority first."""
    rows = (await session.execute(scoped(SlaPolicy, tenant_id))).scalars().all()
    order = ("urgent", "high", "normal", "low")
    return sorted(rows, key=lambda policy: order.index(policy.priority))


async def get_policy(session: AsyncSession, *, tenant_id: str, priority: str) -> SlaPolicy | None:
    """The tenant's policy for one priority, if any."""
    stmt = scoped(SlaPolicy, tenant_id).where(col(SlaPolicy.priority) == priority)
    return (await session.execute(stmt)).scalars().first()


async def put_policy(
    session: AsyncSession,
    *,
    tenant_id: str,
    priority: Priority,
    first_response_s: float | None,
    resolution_s: float | None,
    business_hours: bool,
) -> tuple[SlaPolicy, bool]:
    """Create or replace the tenant's policy for a priority; whether it was created. Applies to
    conversations opened (or re-prioritised) from now on."""
    policy = await get_policy(session, tenant_id=tenant_id, priority=priority)
    created = policy is None
    now = utcnow()
    if policy is None:
        policy = SlaPolicy(tenant_id=tenant_id, priority=priority, created_at=now)
    policy.first_response_s = first_response_s
    policy.resolution_s = resolution_s
    policy.business_hours = business_hours
    policy.updated_at = now
    session.add(policy)
    await bump_version(session, tenant_id)
    await session.commit()
    await session.refresh(policy)
    log.info("sla_policy.saved", extra={"tenant_id": tenant_id, "priority": priority})
    return policy, created


async def delete_policy(session: AsyncSession, *, tenant_id: str, priority: str) -> None:
    """Remove the tenant's policy for a priority (conversations opened later get no deadlines)."""
    policy = await get_policy(session, tenant_id=tenant_id, priority=priority)
    if policy is None:
        raise SlaPolicyNotFound(f"No SLA policy for priority {priority!r}.")
    await session.delete(policy)
    await bump_version(session, tenant_id)
    await session.commit()
    log.info("sla_policy.deleted", extra={"tenant_id": tenant_id, "priority": priority})


@dataclass(frozen=True)
class Targets:
    """A policy's targets as the clock reads them (what the process's cache holds)."""

    first_response_s: float | None
    resolution_s: float | None
    business_hours: bool


async def _read_targets(session: AsyncSession, tenant_id: str) -> dict[str, Targets]:
    rows = (await session.execute(scoped(SlaPolicy, tenant_id))).scalars().all()
    return {
        row.priority: Targets(
            first_response_s=row.first_response_s,
            resolution_s=row.resolution_s,
            business_hours=row.business_hours,
        )
        for row in rows
    }


# Each tenant's targets by priority, re-read when an edit bumped its routing version (`tenant_cache`).
TARGETS_CACHE: TenantCache[dict[str, Targets]] = TenantCache(_read_targets)


# --- the team's hours ---------------------------------------------------------------------------------


async def team_hours(session: AsyncSession, team_id: str | None) -> BusinessHours | None:
    """The business hours of a team (its `business_hours` JSON), or None: no team, a team without hours
    (around the clock), or hours that no longer validate (the clock then runs on the wall clock)."""
    if team_id is None:
        return None
    team = await session.get(Team, team_id)
    if team is None or not team.business_hours:
        return None
    try:
        return BusinessHours.model_validate_json(team.business_hours)
    except ValueError:
        log.warning("sla.team_hours_invalid", extra={"team_id": team_id})
        return None


# --- the clock on one conversation --------------------------------------------------------------------


def _hours_of(conversation: Conversation) -> BusinessHours:
    return (
        BusinessHours.model_validate_json(conversation.sla_hours) if conversation.sla_hours else ALWAYS_OPEN
    )


def _target_fields(target: Target) -> tuple[str, str, str, str]:
    """The conversation's (due, warn mark, warned, breached) columns of a target."""
    return f"{target}_due_at", f"{target}_warn_at", f"{target}_warned_at", f"{target}_breached_at"


def _live(conversation: Conversation, target: Target) -> bool:
    """Whether the target's clock still runs (not met, not stopped)."""
    if conversation.status not in ("open", "snoozed") or conversation.sla_paused_at is not None:
        return False
    return not (target == "first_response" and conversation.first_response_at is not None)


def _arm(conversation: Conversation) -> None:
    """Set `sla_next_at` to the earliest mark still to fire (None when nothing is left or it is paused)."""
    marks: list[datetime] = []
    for target in TARGETS:
        if not _live(conversation, target):
            continue
        due, warn, warned, breached = (getattr(conversation, name) for name in _target_fields(target))
        if warn is not None and warned is None:
            marks.append(warn)
        if due is not None and breached is None:
            marks.append(due)
    conversation.sla_next_at = min(marks) if marks else None


def _schedule(conversation: Conversation, policy: Targets | None, hours: BusinessHours) -> None:
    """Compute the deadlines and 80 % marks from the clock's start, leaving the paused time out."""
    start = conversation.sla_started_at
    for target in TARGETS:
        due_name, warn_name, _, _ = _target_fields(target)
        seconds = None if policy is None else getattr(policy, f"{target}_s")
        if start is None or seconds is None:
            setattr(conversation, due_name, None)
            setattr(conversation, warn_name, None)
            continue
        paused = conversation.sla_paused_s
        setattr(conversation, due_name, add_business_seconds(hours, start, seconds + paused))
        setattr(conversation, warn_name, add_business_seconds(hours, start, WARN_FRACTION * seconds + paused))
    _arm(conversation)


async def _policy_and_hours(
    session: AsyncSession, conversation: Conversation
) -> tuple[Targets | None, BusinessHours]:
    targets = await TARGETS_CACHE.get(session, conversation.tenant_id)
    policy = targets.get(conversation.priority)
    hours = None
    if policy is not None and policy.business_hours:
        hours = await team_hours(session, conversation.team_id)
    return policy, hours or ALWAYS_OPEN


async def start_clock(session: AsyncSession, *, conversation: Conversation, now: datetime) -> None:
    """Start (or restart, on a reopening) the conversation's SLA clock: its deadlines from the tenant's
    policy for its priority, in its team's hours when the policy says so. No commit."""
    policy, hours = await _policy_and_hours(session, conversation)
    conversation.sla_started_at = now
    conversation.sla_paused_s = 0.0
    conversation.sla_paused_at = now if conversation.status == "pending" else None
    conversation.sla_hours = None if hours.always_open else hours.model_dump_json()
    for target in TARGETS:
        _, _, warned, breached = _target_fields(target)
        setattr(conversation, warned, None)
        setattr(conversation, breached, None)
    _schedule(conversation, policy, hours)
    session.add(conversation)


async def reprioritise(session: AsyncSession, *, conversation: Conversation) -> None:
    """The conversation's priority changed: recompute its deadlines from the clock's start with the
    policy of the new priority (warnings and breaches already fired stay fired). No commit."""
    if conversation.sla_started_at is None:
        return
    policy, hours = await _policy_and_hours(session, conversation)
    conversation.sla_hours = None if hours.always_open else hours.model_dump_json()
    _schedule(conversation, policy, hours)
    session.add(conversation)


def on_status(conversation: Conversation, *, from_status: str, now: datetime) -> None:
    """Follow a status move (called by `move_status`): pending pauses the clock, open or snoozed resumes
    it (every mark still ahead moves by the business time spent pending), resolved and closed stop it."""
    to = conversation.status
    if to == "pending":
        if conversation.sla_paused_at is None:
            conversation.sla_paused_at = now
    elif to in ("open", "snoozed") and conversation.sla_paused_at is not None:
        hours = _hours_of(conversation)
        paused_at = conversation.sla_paused_at
        conversation.sla_paused_at = None
        spent = max(business_seconds_between(hours, paused_at, now), 0.0)
        conversation.sla_paused_s += spent
        for target in TARGETS:
            due_name, warn_name, _, _ = _target_fields(target)
            for name in (due_name, warn_name):
                mark = getattr(conversation, name)
                if mark is not None and mark > paused_at:
                    ahead = business_seconds_between(hours, paused_at, mark)
                    setattr(conversation, name, add_business_seconds(hours, now, ahead))
    _arm(conversation)


def business_seconds(conversation: Conversation, at: datetime) -> float | None:
    """Time from the conversation's opening to `at` in the business hours its SLA clock runs in (rounded
    to the millisecond); None when the clock runs on the wall clock (no hours, or around the clock)."""
    if not conversation.sla_hours:
        return None
    return round(max(business_seconds_between(_hours_of(conversation), conversation.opened_at, at), 0.0), 3)


def responded(conversation: Conversation) -> None:
    """The first response was given (`first_response_at` set): the first-response target stops."""
    _arm(conversation)


def state_condition(table: Any, state: str) -> Any:
    """The inbox filter `sla=`: `breached` (a target breached), `warning` (80 % of a target gone, none
    breached)."""
    breached = or_(
        table.c.first_response_breached_at.is_not(None), table.c.resolution_breached_at.is_not(None)
    )
    if state == "breached":
        return breached
    if state == "warning":
        warned = or_(table.c.first_response_warned_at.is_not(None), table.c.resolution_warned_at.is_not(None))
        return and_(warned, ~breached)
    raise ValueError(f"unknown SLA state {state!r}")


# --- the clock ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fired:
    """One warning or breach the clock fired."""

    tenant_id: str
    conversation_id: str
    kind: Literal["warning", "breached"]
    target: Target


async def _claim(session: AsyncSession, conversation_id: str, column: str, now: datetime) -> bool:
    """Set a fired-flag if nobody did: True when this transaction claimed it."""
    table = Conversation.__table__  # type: ignore[attr-defined]
    stmt = update(table).where(table.c.id == conversation_id, table.c[column].is_(None)).values({column: now})
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)


async def fire_due(
    session: AsyncSession, *, now: datetime | None = None, batch: int = 200, act: Any = None
) -> tuple[int, list[Fired]]:
    """Fire the warnings and breaches that are due (every tenant), each once; commits. `act(session,
    conversation, fired, now)` runs in the same transaction for each (the SLA routing rules). Returns how
    many conversations were looked at (a full `batch`: more may be due) and what fired."""
    now = now or utcnow()
    stmt = (
        select(Conversation)
        .where(col(Conversation.sla_next_at) <= now)
        .order_by(col(Conversation.sla_next_at).asc())
        .limit(batch)
        .with_for_update(skip_locked=True)  # replicas take different rows (ignored by SQLite)
    )
    due = list((await session.execute(stmt)).scalars().all())
    fired: list[Fired] = []
    for conversation in due:
        for target in TARGETS:
            if not _live(conversation, target):
                continue
            due_name, warn_name, warned_name, breached_name = _target_fields(target)
            steps: list[tuple[Literal["warning", "breached"], str, datetime | None]] = [
                ("warning", warned_name, getattr(conversation, warn_name)),
                ("breached", breached_name, getattr(conversation, due_name)),
            ]
            for kind, flag, mark in steps:
                if mark is None or mark > now or getattr(conversation, flag) is not None:
                    continue
                if not await _claim(session, conversation.id, flag, now):
                    continue
                setattr(conversation, flag, now)
                one = Fired(conversation.tenant_id, conversation.id, kind, target)
                _stage(session, conversation, one, due_at=getattr(conversation, due_name), now=now)
                fired.append(one)
                if act is not None:
                    await act(session, conversation, one, now)
        _arm(conversation)
        session.add(conversation)
    await session.commit()
    for one in fired:
        log.info(
            f"sla.{one.kind}",
            extra={"tenant_id": one.tenant_id, "conversation_id": one.conversation_id, "target": one.target},
        )
    return len(due), fired


def _stage(
    session: AsyncSession, conversation: Conversation, fired: Fired, *, due_at: Any, now: datetime
) -> None:
    payload = {
        "conversation_id": conversation.id,
        "profile_id": conversation.profile_id,
        "target": fired.target,
        "priority": conversation.priority,
        "due_at": due_at,
        "team_id": conversation.team_id,
        "assignee_id": conversation.assignee_id,
        "fired_at": now,
    }
    model = SlaWarning if fired.kind == "warning" else SlaBreached
    stage(
        session,
        new_event(
            model.model_validate(payload),
            source=SOURCE,
            tenant_id=conversation.tenant_id,
            subject=conversation.id,
        ),
    )

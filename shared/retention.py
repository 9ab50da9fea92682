"""Retention: per tenant, the posts and messages older than the tenant's period are deleted by a job.

profiles owns a tenant's privacy policy and publishes `privacy.policy.changed` {bases, retention_days};
each service that stores posts or messages (listening, engagement) keeps the period in a small table of
its own (a `TenantRetention` subclass, one row per tenant), written by `apply_policy` from its consumer,
and runs one `RetentionJob`. A tenant without a period (null, or no policy at all) keeps everything.

The job sweeps one tenant at a time. The tenant's row says when its next sweep is due (`sweep_due_at`):
a replica claims the tenant with one conditional UPDATE that moves it a lease ahead, so one replica at a
time sweeps a tenant while the replicas share the tenants; the lease is renewed with every batch, and a
replica that dies mid-sweep leaves the tenant to another once the lease runs out. A new or changed
period makes the tenant due at once (and wakes the job of the process that applied it); a finished
sweep makes it due again `interval_s` later. Each `Step` deletes one kind of record in bounded batches,
one transaction each, until a batch comes back short; progress is logged as counts only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col

from shared.db import UTCDateTime, utcnow
from shared.events.contracts import PrivacyPolicyChanged
from shared.wakeups import CommitWake, work_until_cancelled

log = logging.getLogger("rapport.retention")

# A claimed tenant is left to other replicas for this long after the claim or the last batch.
LEASE_S = 300.0
# With no tenant due, the job looks again at least this often (other replicas' consumers apply policies).
POLL_S = 60.0
# A commit that applied a policy with a period wakes the job of the process that made it.
POLICY_APPLIED = CommitWake("retention.policy")


class TenantRetention(SQLModel):
    """A tenant's retention period as its last `privacy.policy.changed` gave it, and its sweep's clock.

    A service's table subclasses this (`table=True`) and may add its own per-tenant privacy settings.
    """

    tenant_id: str = Field(primary_key=True, max_length=64)
    # Days a post or message is kept; None: kept forever.
    retention_days: int | None = None
    # The `changed_at` of the policy applied: an older policy delivered late changes nothing.
    policy_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the next sweep is due (a claim moves it a lease ahead); None: nothing to sweep.
    sweep_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_swept_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


async def apply_policy(
    session: AsyncSession,
    model: type[TenantRetention],
    *,
    tenant_id: str,
    policy: PrivacyPolicyChanged,
    now: datetime | None = None,
) -> bool:
    """`privacy.policy.changed` → the tenant's period, swept at once (no commit). False: the event is older
    than the policy already applied (redelivered or overtaken), so nothing changed."""
    now = now or utcnow()
    row = await session.get(model, tenant_id)
    if row is not None and row.policy_changed_at is not None and policy.changed_at < row.policy_changed_at:
        return False
    if row is None:
        row = model(tenant_id=tenant_id)
    days = policy.retention_days
    if days is not None and days < 1:
        log.warning("retention.period_ignored", extra={"tenant_id": tenant_id, "retention_days": days})
        days = None
    row.retention_days = days
    row.policy_changed_at = policy.changed_at
    row.sweep_due_at = now if days is not None else None
    row.updated_at = now
    session.add(row)
    if days is not None:
        POLICY_APPLIED.mark(session)
    log.info("retention.policy_applied", extra={"tenant_id": tenant_id, "retention_days": days})
    return True


# One kind of record: delete at most `batch` of the tenant's records older than `cutoff` in the caller's
# transaction (no commit); how many went.
StepFn = Callable[[AsyncSession, str, datetime, int], Awaitable[int]]


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFn


class RetentionJob:
    """Sweeps the tenants whose sweep is due, one at a time, in batches (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        model: type[TenantRetention],
        steps: Sequence[Step],
        interval_s: float,
        batch: int,
        lease_s: float = LEASE_S,
    ) -> None:
        self.sessions = sessions
        self.model = model
        self.steps = tuple(steps)
        self.interval = timedelta(seconds=max(0.01, interval_s))
        self.batch = max(1, batch)
        self.lease = timedelta(seconds=lease_s)
        self.wake = POLICY_APPLIED.of(sessions)

    async def run(self) -> None:
        """Forever: sweep the tenants that are due, else sleep until the next one is (or a policy arrives)."""
        await work_until_cancelled(
            run_once=self.run_once,
            idle_for=self._idle_for,
            wake=self.wake,
            fallback_s=min(POLL_S, self.interval.total_seconds()),
            failed_event="retention.loop_failed",
            log=log,
        )

    async def run_once(self) -> int:
        """Claim one due tenant and sweep it; 1 if one was swept, 0 if none was due."""
        claimed = await self._claim()
        if claimed is None:
            return 0
        tenant_id, days = claimed
        cutoff = utcnow() - timedelta(days=days)
        counts = {step.name: await self._sweep(step, tenant_id, cutoff) for step in self.steps}
        await self._finish(tenant_id)
        log.info("retention.swept", extra={"tenant_id": tenant_id, "retention_days": days, **counts})
        return 1

    async def _idle_for(self) -> float:
        model = self.model
        async with self.sessions() as session:
            stmt = select(col(model.sweep_due_at)).order_by(col(model.sweep_due_at)).limit(1)
            due = (await session.execute(stmt.where(col(model.sweep_due_at).is_not(None)))).scalar()
        wait = self.interval.total_seconds() if due is None else (due - utcnow()).total_seconds()
        return min(POLL_S, self.interval.total_seconds(), max(0.05, wait))

    async def _claim(self) -> tuple[str, int] | None:
        model = self.model
        now = utcnow()
        async with self.sessions() as session:
            stmt = (
                select(col(model.tenant_id), col(model.retention_days), col(model.sweep_due_at))
                .where(col(model.sweep_due_at) <= now, col(model.retention_days).is_not(None))
                .order_by(col(model.sweep_due_at))
                .limit(1)
            )
            row = (await session.execute(stmt)).first()
            if row is None:
                return None
            tenant_id, days, due = row
            # Conditional on the due time read: another replica's claim (or a new policy) in between wins.
            result = await session.execute(
                update(model)
                .where(col(model.tenant_id) == tenant_id, col(model.sweep_due_at) == due)
                .values(sweep_due_at=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        if result.rowcount != 1 or days is None:  # type: ignore[attr-defined]
            return None
        return str(tenant_id), int(days)

    async def _sweep(self, step: Step, tenant_id: str, cutoff: datetime) -> int:
        model = self.model
        total = 0
        while True:
            async with self.sessions() as session:
                done = await step.run(session, tenant_id, cutoff, self.batch)
                now = utcnow()
                # Still ours (not made due again by a new policy): the lease runs on.
                await session.execute(
                    update(model)
                    .where(col(model.tenant_id) == tenant_id, col(model.sweep_due_at) > now)
                    .values(sweep_due_at=now + self.lease)
                    .execution_options(synchronize_session=False)
                )
                await session.commit()
            total += done
            if done:
                log.info(
                    "retention.batch",
                    extra={"tenant_id": tenant_id, "kind": step.name, "deleted": done, "total": total},
                )
            if done < self.batch:
                return total

    async def _finish(self, tenant_id: str) -> None:
        model = self.model
        now = utcnow()
        async with self.sessions() as session:
            # A policy applied during the sweep made the tenant due at once: that stays.
            await session.execute(
                update(model)
                .where(col(model.tenant_id) == tenant_id, col(model.sweep_due_at) > now)
                .values(sweep_due_at=now + self.interval, last_swept_at=now)
                .execution_options(synchronize_session=False)
            )
            await session.commit()

"""The delivery worker: claims due deliveries with a lease, sends them signed, records each outcome.

Claiming moves a row's `next_attempt_at` past the attempt's timeout (the lease) in one conditional
UPDATE, so two processes never send the same attempt, and a process killed mid-attempt leaves the row to
come due again when its lease ends: it is sent once more (same `webhook-id`), never lost. A row recorded
as succeeded is never claimed again. Should the process die between the partner's 2xx and the record,
the partner gets the delivery twice under one `webhook-id` (at-least-once, as the spec expects).

Fairness: each subscription has at most `webhook_endpoint_concurrency` attempts in flight in this
process and starts at most `webhook_endpoint_rate_per_s` attempts a second (a partner is not flooded
when a backlog drains), and the claim takes due rows per subscription (a window over each one's oldest),
so a slow or backlogged partner fills its own slots and never those of another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Table, and_, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.engagement.outbound.deliveries import RECORDED
from services.engagement.outbound.models import WebhookDelivery, WebhookSubscription
from services.engagement.outbound.signing import signature
from shared.db import utcnow
from shared.egress import UnsafeURL, guarded_client
from shared.events.contracts import WebhookDisabled
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.prometheus import Metrics
from shared.reads import Reader
from shared.secrets import SecretBox, SecretKeyError

log = logging.getLogger("rapport.engagement.webhooks")

USER_AGENT = "Rapport-Webhooks/1.0"
# The most of a partner's answer read (and then dropped): its status is what counts.
RESPONSE_CAP_BYTES = 4096
# A lease lasts the attempt's timeout and this margin.
LEASE_MARGIN_S = 5.0
JITTER = 0.1
# How often the worker drops finished deliveries past the retention.
PRUNE_EVERY_S = 3600.0
# An attempt's recorded status → its outcome in the metrics (`rapport_webhook_deliveries_total`).
_OUTCOMES = {"succeeded": "delivered", "pending": "retrying", "failed": "failed", "dead": "gave_up"}
# Waits before writing an attempt's outcome again; None: give up (the lease then ends).
RECORD_RETRY_S = (0.2, 1.0, None)


# Statements built once, of a fixed shape (compiled once, lists as expanding parameters), on the tables:
# the worker runs them per delivery, where the ORM's bulk-update machinery cost more than the sending.
_D: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
_S: Table = WebhookSubscription.__table__  # type: ignore[attr-defined]
_AT = _D.c.next_attempt_at.type
_RANK = (
    func.row_number()
    .over(partition_by=_D.c.subscription_id, order_by=(_D.c.next_attempt_at, _D.c.id))
    .label("rank")
)
_DUE = (
    select(_D.c.id, _D.c.subscription_id, _RANK)
    .join(_S, and_(_S.c.id == _D.c.subscription_id, _S.c.status == "active"))
    .where(
        _D.c.status == "pending",
        _D.c.next_attempt_at <= bindparam("now", type_=_AT),
        _D.c.subscription_id.not_in(bindparam("full", expanding=True)),
    )
    .subquery()
)
# Each subscription's oldest due rows first (rank 1 of every subscription before any rank 2).
_CANDIDATES = (
    select(_DUE.c.id, _DUE.c.subscription_id)
    .where(_DUE.c.rank <= bindparam("cap"))
    .order_by(_DUE.c.rank, _DUE.c.id)
    .limit(bindparam("room"))
)
# Conditional: a row another process leased meanwhile no longer matches and is not returned.
_LEASE = (
    update(_D)
    .where(
        _D.c.id.in_(bindparam("ids", expanding=True)),
        _D.c.status == "pending",
        _D.c.next_attempt_at <= bindparam("now", type_=_AT),
    )
    .values(
        next_attempt_at=bindparam("lease_until", type_=_AT),
        attempts=_D.c.attempts + 1,
        round_attempts=_D.c.round_attempts + 1,
        last_attempt_at=bindparam("now", type_=_AT),
    )
    .returning(_D.c.id, _D.c.tenant_id, _D.c.subscription_id, _D.c.body, _D.c.round_attempts)
)
_SECRETS = select(
    _S.c.id, _S.c.url, _S.c.secret, _S.c.previous_secret, _S.c.previous_secret_expires_at
).where(_S.c.id.in_(bindparam("subs", expanding=True)))
# Only a pending row takes an outcome: one recorded as succeeded (or replayed meanwhile) stays as it is.
_RECORD = (
    update(_D)
    .where(_D.c.id == bindparam("delivery_id"), _D.c.status == "pending")
    .values(
        status=bindparam("new_status"),
        next_attempt_at=bindparam("next_at", type_=_AT),
        succeeded_at=bindparam("succeeded_at", type_=_AT),
        last_status_code=bindparam("code"),
        last_error=bindparam("error"),
        last_latency_ms=bindparam("latency"),
    )
)
_RESET_FAILURES = (
    update(_S)
    .where(_S.c.id == bindparam("sub_id"), _S.c.consecutive_failures != 0)
    .values(consecutive_failures=0)
)
_COUNT_FAILURE = (
    update(_S)
    .where(_S.c.id == bindparam("sub_id"))
    .values(consecutive_failures=_S.c.consecutive_failures + 1)
    .returning(_S.c.consecutive_failures)
)
_DISABLE = (
    update(_S)
    .where(_S.c.id == bindparam("sub_id"), _S.c.status == "active")
    .values(status="disabled", disabled_at=bindparam("at", type_=_AT), updated_at=bindparam("at", type_=_AT))
)

_PRUNE = delete(_D).where(
    _D.c.status.in_(("succeeded", "failed", "dead")), _D.c.created_at < bindparam("before", type_=_AT)
)


@dataclass(frozen=True)
class Claimed:
    """One attempt to make: the delivery and what signing and sending it needs."""

    id: str
    tenant_id: str
    subscription_id: str
    body: bytes
    round_attempts: int
    url: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: a status code, or an error (`timeout`, `connect`, `unsafe_address`)."""

    status_code: int | None
    error: str | None
    latency_ms: float

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        if self.status_code is None:
            return True
        return self.status_code >= 500 or self.status_code in (408, 429)


class DeliveryWorker:
    """Sends due deliveries until cancelled (one per service process)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        reader: Reader,
        box: SecretBox,
        source: str,
        allow_private: bool,
        schedule: list[float],
        timeout_s: float,
        endpoint_concurrency: int,
        endpoint_rate_per_s: float,
        max_in_flight: int,
        disable_after: int,
        poll_s: float,
        retention_days: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.reader = reader
        self.box = box
        self.source = source
        self.allow_private = allow_private
        self.schedule = schedule or [0.0]
        self.timeout_s = timeout_s
        self.endpoint_concurrency = max(1, endpoint_concurrency)
        self.endpoint_rate_per_s = endpoint_rate_per_s
        # Per subscription: the monotonic time before which it starts no attempt (its rate).
        self.not_before: dict[str, float] = {}
        self.max_in_flight = max(1, max_in_flight)
        self.disable_after = max(1, disable_after)
        self.poll_s = poll_s
        self.retention_days = retention_days
        self.metrics = metrics
        self.in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = RECORDED.of(sessions)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before the `attempt`-th attempt of a round (0-based), jittered ±10 %."""
        base = self.schedule[attempt]
        return base * random.uniform(1 - JITTER, 1 + JITTER)

    async def run(self) -> None:
        """Claim and send until cancelled."""
        client = guarded_client(
            allow_private=self.allow_private,
            timeout=httpx.Timeout(self.timeout_s),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        pruned_at = time.monotonic()
        try:
            while True:
                self._wake.clear()
                if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    try:
                        await self.prune()
                    except Exception:
                        log.warning("webhook.prune_failed", exc_info=True)
                try:
                    claimed = await self.claim()
                except Exception:
                    log.warning("webhook.claim_failed", exc_info=True)
                    claimed = []
                for item in claimed:
                    self.in_flight[item.subscription_id] += 1
                    task = asyncio.create_task(self._attempt(client, item), name=f"webhook-{item.id}")
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
                if claimed and sum(self.in_flight.values()) < self.max_in_flight:
                    continue  # more may be due (another subscription's, a backlog)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._next_wait())
        finally:
            for task in list(self._tasks):
                task.cancel()
            await client.aclose()

    async def prune(self) -> int:
        """Drop the log's finished deliveries (succeeded, failed, dead) older than the retention."""
        before = utcnow() - timedelta(days=self.retention_days)
        async with self.sessions() as session, session.begin():
            result = await session.execute(_PRUNE, {"before": before})
        pruned = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if pruned:
            log.info("webhook.log_pruned", extra={"deliveries": pruned})
        return pruned

    def _next_wait(self) -> float:
        """Until the next poll, or sooner when a subscription held back by its rate may start again."""
        now = time.monotonic()
        held = [at - now for at in self.not_before.values() if at > now]
        return min([self.poll_s, *held])

    def _pace(self, taken: Counter[str]) -> None:
        """Push each subscription's next start back by the attempts it just took, at its rate."""
        now = time.monotonic()
        self.not_before = {sub: at for sub, at in self.not_before.items() if at > now}
        for sub, n in taken.items():
            self.not_before[sub] = max(now, self.not_before.get(sub, now)) + n / self.endpoint_rate_per_s

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # A slot came free: look for due work at once.
        self._wake.set()

    async def claim(self) -> list[Claimed]:
        """Lease due deliveries of active subscriptions, within each subscription's free slots."""
        room = self.max_in_flight - sum(self.in_flight.values())
        if room <= 0:
            return []
        mono = time.monotonic()
        full = [sub for sub, n in self.in_flight.items() if n >= self.endpoint_concurrency]
        full += [sub for sub, at in self.not_before.items() if at > mono]
        now = utcnow()
        # Read on the reader (no session, no transaction: most rounds find nothing due); the lease below
        # re-checks each row, so a row another process took meanwhile is simply not returned.
        candidates = await self.reader.all(
            _CANDIDATES, {"now": now, "full": full, "cap": self.endpoint_concurrency, "room": room}
        )
        taken: Counter[str] = Counter()
        ids: list[str] = []
        for delivery_id, sub_id in candidates:
            if self.in_flight[sub_id] + taken[sub_id] < self.endpoint_concurrency:
                taken[sub_id] += 1
                ids.append(delivery_id)
        if not ids:
            return []
        self._pace(taken)
        async with self.sessions() as session, session.begin():
            lease_until = now + timedelta(seconds=self.timeout_s + LEASE_MARGIN_S)
            leased = (
                await session.execute(_LEASE, {"ids": ids, "now": now, "lease_until": lease_until})
            ).all()
            if not leased:
                return []
            subs = {
                row.id: row
                for row in (
                    await session.execute(_SECRETS, {"subs": list({r.subscription_id for r in leased})})
                )
            }
        return [self._claimed(row, subs[row.subscription_id], now) for row in leased]

    def _claimed(self, row: Any, sub: Any, now: datetime) -> Claimed:
        secrets = [self._open(sub.secret)]
        expires = sub.previous_secret_expires_at
        if sub.previous_secret and expires is not None and expires > now:
            secrets.append(self._open(sub.previous_secret))
        return Claimed(
            id=row.id,
            tenant_id=row.tenant_id,
            subscription_id=row.subscription_id,
            body=bytes(row.body),
            round_attempts=row.round_attempts,
            url=sub.url,
            secrets=tuple(s for s in secrets if s),
        )

    def _open(self, token: str) -> str:
        try:
            return str(self.box.open(token).get("secret", ""))
        except SecretKeyError:
            log.error("webhook.secret_undecryptable")
            return ""

    async def _attempt(self, client: httpx.AsyncClient, item: Claimed) -> None:
        try:
            outcome = await self.send(client, item)
            # An outcome not recorded would be sent again when the lease ends (a success twice): the
            # write is retried a little first (a busy database).
            for wait in RECORD_RETRY_S:
                try:
                    await self.record(item, outcome)
                    break
                except Exception:
                    if wait is None:
                        raise
                    log.warning("webhook.record_retry", extra={"delivery_id": item.id})
                    await asyncio.sleep(wait)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease ends and the delivery comes due again: logged, never lost.
            log.exception("webhook.attempt_failed", extra={"delivery_id": item.id})
        finally:
            self.in_flight[item.subscription_id] -= 1
            if self.in_flight[item.subscription_id] <= 0:
                del self.in_flight[item.subscription_id]

    async def send(self, client: httpx.AsyncClient, item: Claimed) -> Outcome:
        """POST the stored body, signed now; read at most `RESPONSE_CAP_BYTES` of the answer."""
        if not item.secrets:
            return Outcome(status_code=None, error="secret_unavailable", latency_ms=0.0)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": item.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(item.secrets, msg_id=item.id, timestamp=timestamp, body=item.body),
        }
        started = time.monotonic()
        try:
            # One deadline for the whole attempt (httpx's applies per read): it must end within its lease.
            async with (
                asyncio.timeout(self.timeout_s),
                client.stream("POST", item.url, content=item.body, headers=headers) as response,
            ):
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= RESPONSE_CAP_BYTES:
                        break
                code = response.status_code
        except (httpx.TimeoutException, TimeoutError):
            return Outcome(None, "timeout", _ms(started))
        except UnsafeURL:
            return Outcome(None, "unsafe_address", _ms(started))
        except httpx.HTTPError:
            return Outcome(None, "connection", _ms(started))
        return Outcome(code, None, _ms(started))

    async def record(self, item: Claimed, outcome: Outcome) -> None:
        """Write the attempt's outcome: succeeded, retried on the schedule, failed, or dead."""
        now = utcnow()
        values: dict[str, Any] = {}
        if outcome.succeeded:
            values |= {"status": "succeeded", "succeeded_at": now}
        elif outcome.retryable and item.round_attempts < len(self.schedule):
            values |= {
                "status": "pending",
                "next_attempt_at": now + timedelta(seconds=self.delay(item.round_attempts)),
            }
        else:
            values["status"] = "dead" if outcome.retryable else "failed"
        async with self.sessions() as session, session.begin():
            await session.execute(
                _RECORD,
                {
                    "delivery_id": item.id,
                    "new_status": values["status"],
                    "next_at": values.get("next_attempt_at", now),
                    "succeeded_at": values.get("succeeded_at"),
                    "code": outcome.status_code,
                    "error": outcome.error,
                    "latency": round(outcome.latency_ms, 1),
                },
            )
            await self._count(session, item, outcome, now)
            if values["status"] == "pending":
                RECORDED.mark(session)
        if self.metrics is not None:
            self.metrics.webhook(_OUTCOMES[values["status"]])
        log.info(
            "webhook.attempted",
            extra={
                "delivery_id": item.id,
                "subscription_id": item.subscription_id,
                "status": values["status"],
                "status_code": outcome.status_code,
                "error": outcome.error,
            },
        )

    async def _count(self, session: AsyncSession, item: Claimed, outcome: Outcome, now: datetime) -> None:
        """Reset the subscription's failures in a row on success; past the limit, disable it and say so."""
        if outcome.succeeded:
            await session.execute(_RESET_FAILURES, {"sub_id": item.subscription_id})
            return
        failures = (
            await session.execute(_COUNT_FAILURE, {"sub_id": item.subscription_id})
        ).scalar_one_or_none()
        if failures is None or failures < self.disable_after:
            return
        disabled = await session.execute(_DISABLE, {"sub_id": item.subscription_id, "at": now})
        if not disabled.rowcount:  # type: ignore[attr-defined]
            return  # already disabled or paused
        stage(
            session,
            new_event(
                WebhookDisabled(
                    subscription_id=item.subscription_id,
                    consecutive_failures=failures,
                    last_status_code=outcome.status_code,
                    last_error=outcome.error,
                    disabled_at=now,
                ),
                source=self.source,
                tenant_id=item.tenant_id,
                subject=item.subscription_id,
            ),
        )
        log.warning(
            "webhook.subscription_disabled",
            extra={
                "tenant_id": item.tenant_id,
                "subscription_id": item.subscription_id,
                "failures": failures,
            },
        )


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000

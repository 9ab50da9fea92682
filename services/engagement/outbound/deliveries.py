"""Deliveries: recorded from events in the consumer's transaction, listed per subscription, replayed.

A delivery's body is serialised once, here, and stored: every attempt sends those very bytes (the
signature covers them), so a retry or a replay can never differ from the first attempt.

A subscription declares the purpose it processes what it receives for. An event about a person who has
no lawful basis for that purpose (`shared.consent`: no consent where the tenant's policy needs it, a
withdrawal, an objection, a restriction) is delivered with ids only: its data keeps the identifiers
(`…_id`, `…_ids`, `id`) and nothing else, and `withheld` names the purpose.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import String, Table, bindparam, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.models import ErasedProfile
from services.engagement.outbound.errors import (
    DeliveryNotFound,
    NotReplayable,
    SubscriptionInactive,
    SubscriptionNotFound,
)
from services.engagement.outbound.models import WebhookDelivery, WebhookSubscription
from services.engagement.outbound.schemas import DeliveryPage, DeliveryRead, DeliveryStatus, ReplayResult
from services.engagement.outbound.subscriptions import load_subscription, wants
from shared.db import utcnow
from shared.events.contracts import Contract
from shared.events.envelope import Event
from shared.ids import uuid4_str
from shared.pagination import keyset_bound, page_of, paginate
from shared.reads import Reader, columns_of
from shared.tenancy import get_row_scoped, get_scoped
from shared.wakeups import CommitWake

log = logging.getLogger("rapport.engagement.webhooks")

TEST_EVENT_TYPE = "engagement.webhook.test"
# Keys whose values are profile ids, wherever they sit in an event's data.
PROFILE_KEYS = frozenset({"profile_id", "survivor_id", "merged_id", "restored_profile_id"})
# Set in a session's info when it recorded deliveries: its commit wakes the delivery worker.
RECORDED = CommitWake("rapport.webhooks")


def body_of(
    *, event_id: str, event_type: str, time: datetime, data: dict[str, Any], withheld: str | None = None
) -> bytes:
    """The JSON body partners receive: the event's type, id, time and data (ids and facts, no secrets);
    with `withheld` (a purpose) the data is already reduced to ids (`ids_only`) and the body says so."""
    payload: dict[str, Any] = {
        "type": event_type,
        "id": event_id,
        "timestamp": time.isoformat(),
        "data": data,
    }
    if withheld is not None:
        payload["withheld"] = {"purpose": withheld, "reason": "no lawful basis for this purpose"}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _is_id_key(key: str) -> bool:
    """Rapport's own ids; not the ids that name the person elsewhere (a platform's, a partner's)."""
    if key.startswith(("platform_", "external_")):
        return False
    return key == "id" or key.endswith(("_id", "_ids")) or key in PROFILE_KEYS


def ids_only(data: Any) -> Any:
    """The data with only Rapport's identifiers kept (keys `id`, `…_id`, `…_ids`, at any depth; not a
    platform's or a partner's ids of the person): what a delivery about a person who has no lawful basis
    for the subscription's purpose may carry."""
    if isinstance(data, dict):
        kept: dict[str, Any] = {}
        for key, value in data.items():
            if _is_id_key(key) and (
                value is None
                or isinstance(value, str)
                or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                kept[key] = value
            elif isinstance(value, (dict, list)):
                inner = ids_only(value)
                if inner:
                    kept[key] = inner
        return kept
    if isinstance(data, list):
        return [inner for inner in (ids_only(item) for item in data) if inner]
    return None


def profile_ids(data: Any) -> list[str]:
    """The profile ids an event's data carries (any depth), sorted."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in PROFILE_KEYS and isinstance(item, str):
                    found.add(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return sorted(found)


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# The profiles among these without a lawful basis for a purpose, in a tenant (`shared.consent`).
Refused = Callable[[str, str, Sequence[str]], Awaitable[set[str]]]


async def record_deliveries(
    session: AsyncSession, events: Sequence[Event[Contract]], refused: Refused | None = None
) -> None:
    """For each event, a delivery per active subscription of its tenant that wants its type (and was
    created before it happened); an event recorded twice for a subscription stays one delivery. With
    `refused`, an event naming a person who has no lawful basis for a subscription's purpose reaches
    that subscription with ids only (one consent read per tenant and purpose for the whole batch)."""
    tenants = {event.tenantid for event in events}
    subs = (
        await session.execute(
            select(
                col(WebhookSubscription.id),
                col(WebhookSubscription.tenant_id),
                col(WebhookSubscription.event_types),
                col(WebhookSubscription.created_at),
                col(WebhookSubscription.purpose),
            ).where(
                col(WebhookSubscription.tenant_id).in_(tenants), col(WebhookSubscription.status) == "active"
            )
        )
    ).all()
    if not subs:
        return
    by_tenant: dict[str, list[tuple[str, list[str], datetime, str]]] = {}
    for sub_id, tenant_id, patterns, created_at, purpose in subs:
        by_tenant.setdefault(tenant_id, []).append((sub_id, json.loads(patterns), created_at, purpose))
    now = utcnow()
    wanted: list[tuple[Event[Contract], list[tuple[str, str]], dict[str, Any], list[str]]] = []
    for event in events:
        targets = [
            (sub_id, purpose)
            for sub_id, patterns, created_at, purpose in by_tenant.get(event.tenantid, [])
            if event.time >= created_at and wants(patterns, event.type)
        ]
        if targets:
            data = event.data.model_dump(mode="json")
            wanted.append((event, targets, data, profile_ids(data)))
    # An event about an erased person that was still in transit goes to no partner.
    gone = await _erased(session, [(e.tenantid, p) for e, _, _, people in wanted for p in people])
    wanted = [w for w in wanted if not any((w[0].tenantid, p) in gone for p in w[3])]
    asked: dict[tuple[str, str], set[str]] = {}
    for event, targets, _, people in wanted:
        for _, purpose in targets if people else ():
            asked.setdefault((event.tenantid, purpose), set()).update(people)
    refusing: dict[tuple[str, str], set[str]] = {}
    if refused is not None:
        for (tenant_id, purpose), ids in asked.items():
            refusing[(tenant_id, purpose)] = await refused(tenant_id, purpose, sorted(ids))
    rows: list[dict[str, Any]] = []
    for event, targets, data, people in wanted:
        full = body_of(event_id=event.id, event_type=event.type, time=event.time, data=data)
        named = json.dumps(people)
        for sub_id, purpose in targets:
            body = full
            if refusing.get((event.tenantid, purpose), set()).intersection(people):
                body = body_of(
                    event_id=event.id,
                    event_type=event.type,
                    time=event.time,
                    data=ids_only(data),
                    withheld=purpose,
                )
            rows.append(_row(event.tenantid, sub_id, event.id, event.type, body, named, now))
    if not rows:
        return
    insert = _insert(session)
    await session.execute(
        insert(WebhookDelivery.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
            index_elements=["subscription_id", "event_id"]
        ),
        rows,
    )
    RECORDED.mark(session)


async def _erased(session: AsyncSession, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (tenant, profile id) pairs are of erased people (`erased_profile`): one statement."""
    if not keys:
        return set()
    table = ErasedProfile.__table__  # type: ignore[attr-defined]
    rows = await session.execute(
        select(table.c.tenant_id, table.c.profile_id).where(
            tuple_(table.c.tenant_id, table.c.profile_id).in_(sorted(set(keys)))
        )
    )
    return {(tenant_id, profile_id) for tenant_id, profile_id in rows.all()}


def _row(
    tenant_id: str, sub_id: str, event_id: str, event_type: str, body: bytes, people: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": uuid4_str(),
        "tenant_id": tenant_id,
        "subscription_id": sub_id,
        "event_id": event_id,
        "event_type": event_type,
        "body": body,
        "profile_ids": people,
        "status": "pending",
        "attempts": 0,
        "round_attempts": 0,
        # The schedule's first wait is the worker's to add (it holds the settings): due at once here.
        "next_attempt_at": now,
        "created_at": now,
    }


def to_read(row: Any) -> DeliveryRead:
    """The API view of a delivery row."""
    return DeliveryRead(
        id=row.id,
        subscription_id=row.subscription_id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        last_latency_ms=row.last_latency_ms,
        succeeded_at=row.succeeded_at,
        profile_ids=json.loads(row.profile_ids),
        created_at=row.created_at,
    )


class _Shown(DeliveryRead):
    profile_ids: str  # type: ignore[assignment]


async def list_deliveries(
    reader: Reader,
    *,
    tenant_id: str,
    subscription_id: str,
    status: DeliveryStatus | None,
    profile_id: str | None = None,
    limit: int,
    cursor: str | None,
) -> DeliveryPage:
    """A subscription's delivery log, newest first (`status=dead`: its dead letters; `profile_id`: those
    whose payload carried that profile, for a privacy request)."""
    await _check_subscription(reader, tenant_id=tenant_id, subscription_id=subscription_id)
    if profile_id is not None:
        params = {
            "tenant_id": tenant_id,
            "subscription_id": subscription_id,
            "status": status,
            "carried": f'%"{_escape_like(profile_id)}"%',
        }
        stmt = _carrying(after=bool(cursor))
        rows, next_cursor = await paginate(reader, stmt, params, limit=limit, cursor=cursor)
        return DeliveryPage(items=[to_read(row) for row in rows], next_cursor=next_cursor)
    rows, next_cursor = await page_of(
        reader,
        WebhookDelivery,
        tenant_id=tenant_id,
        limit=limit,
        cursor=cursor,
        shape=_Shown,
        subscription_id=subscription_id,
        status=status,
    )
    return DeliveryPage(items=[to_read(row) for row in rows], next_cursor=next_cursor)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@functools.cache
def _carrying(*, after: bool) -> Any:
    """A page of a subscription's deliveries whose payload carried a profile id (`status` optional)."""
    table: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
    stmt = select(*columns_of(table, _Shown)).where(
        table.c.tenant_id == bindparam("tenant_id"),
        table.c.subscription_id == bindparam("subscription_id"),
        or_(bindparam("status", type_=String) == None, table.c.status == bindparam("status")),  # noqa: E711
        table.c.profile_ids.like(bindparam("carried"), escape="\\"),
    )
    return keyset_bound(stmt, table.c.created_at, table.c.id, after=after)


async def _check_subscription(reader: Reader, *, tenant_id: str, subscription_id: str) -> None:
    await get_row_scoped(
        reader,
        WebhookSubscription,
        tenant_id=tenant_id,
        id=subscription_id,
        error=SubscriptionNotFound,
        shape=_IdOnly,
    )


class _IdOnly(BaseModel):
    id: str


async def get_delivery(
    session: AsyncSession, *, tenant_id: str, subscription_id: str, delivery_id: str
) -> WebhookDelivery:
    """One delivery of the tenant's subscription."""
    row = await get_scoped(
        session, WebhookDelivery, tenant_id=tenant_id, id=delivery_id, error=DeliveryNotFound
    )
    if row.subscription_id != subscription_id:
        raise DeliveryNotFound(f"WebhookDelivery {delivery_id} was not found.")
    return row


async def replay_delivery(
    session: AsyncSession, *, tenant_id: str, subscription_id: str, delivery_id: str
) -> DeliveryRead:
    """Send a failed or dead delivery again: a new round of attempts, the same `webhook-id` and body."""
    row = await get_delivery(
        session, tenant_id=tenant_id, subscription_id=subscription_id, delivery_id=delivery_id
    )
    if row.status not in ("failed", "dead"):
        raise NotReplayable(f"A {row.status} delivery is not replayed (only failed and dead ones are).")
    row.status, row.round_attempts, row.next_attempt_at = "pending", 0, utcnow()
    session.add(row)
    RECORDED.mark(session)
    await session.commit()
    log.info("webhook.delivery_replayed", extra={"tenant_id": tenant_id, "delivery_id": row.id})
    return to_read(row)


async def replay_dead(session: AsyncSession, *, tenant_id: str, subscription_id: str) -> ReplayResult:
    """Send every dead delivery of a subscription again (a new round of attempts each)."""
    sub = await load_subscription(session, tenant_id=tenant_id, subscription_id=subscription_id)
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.tenant_id) == tenant_id,
            col(WebhookDelivery.subscription_id) == sub.id,
            col(WebhookDelivery.status) == "dead",
        )
        .values(status="pending", round_attempts=0, next_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    RECORDED.mark(session)
    await session.commit()
    replayed = int(result.rowcount or 0)  # type: ignore[attr-defined]
    log.info(
        "webhook.dead_replayed", extra={"tenant_id": tenant_id, "subscription_id": sub.id, "count": replayed}
    )
    return ReplayResult(replayed=replayed)


async def send_test(session: AsyncSession, *, tenant_id: str, subscription_id: str) -> DeliveryRead:
    """Queue a test event (`engagement.webhook.test`) to an active subscription."""
    sub = await load_subscription(session, tenant_id=tenant_id, subscription_id=subscription_id)
    if sub.status != "active":
        raise SubscriptionInactive(f"The subscription is {sub.status}; resume it first.")
    now = utcnow()
    event_id = uuid4_str()
    data = {"subscription_id": sub.id, "message": "A test event from Rapport."}
    row = WebhookDelivery(
        tenant_id=tenant_id,
        subscription_id=sub.id,
        event_id=event_id,
        event_type=TEST_EVENT_TYPE,
        body=body_of(event_id=event_id, event_type=TEST_EVENT_TYPE, time=now, data=data),
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    RECORDED.mark(session)
    await session.commit()
    return to_read(row)

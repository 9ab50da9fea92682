"""Webhook subscriptions: create, change, pause, rotate the secret; which event types may be named."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.engagement.outbound.errors import SubscriptionNotFound
from services.engagement.outbound.models import WebhookDelivery, WebhookSubscription
from services.engagement.outbound.schemas import (
    EventTypeList,
    EventTypeRead,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPage,
    SubscriptionRead,
    SubscriptionUpdate,
)
from services.engagement.outbound.signing import new_secret
from shared.db import utcnow
from shared.egress import UnsafeURL, check_public_url
from shared.errors import Unprocessable
from shared.events.catalog import SPECS, EventSpec
from shared.events.contracts import Contract
from shared.pagination import page_of
from shared.reads import Reader
from shared.secrets import SecretBox
from shared.tenancy import get_row_scoped, get_scoped

log = logging.getLogger("rapport.engagement.webhooks")

# The public streams a partner may subscribe to (identity's and the dead letters are internal).
SUBSCRIBABLE_DOMAINS = ("listening", "profiles", "engagement")
# Single types of internal streams a partner may subscribe to too (they carry no personal data).
SUBSCRIBABLE_TYPES = ("privacy.subject.erased",)
# Makes the durables of the types that patterns name exist, each new one reading from a time
# (`WebhookConsumers.ensure`); raises when it cannot.
Ensure = Callable[[Sequence[str], datetime], Awaitable[None]]


def subscribable() -> list[EventSpec[Contract]]:
    """The catalog's event types a subscription may name."""
    return [spec for spec in SPECS if spec.domain in SUBSCRIBABLE_DOMAINS or spec.name in SUBSCRIBABLE_TYPES]


def matches(pattern: str, event_type: str) -> bool:
    """An exact type, `*` (everything), or a prefix wildcard: `engagement.*`, `engagement.conversation.*`."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def wants(patterns: Sequence[str], event_type: str) -> bool:
    """Whether a subscription naming `patterns` receives `event_type`."""
    return any(matches(p, event_type) for p in patterns)


def check_patterns(patterns: list[str]) -> list[str]:
    """The patterns, de-duplicated in order; Unprocessable for one that names no subscribable type."""
    known = [spec.name for spec in subscribable()]
    unknown = [p for p in patterns if not any(matches(p, name) for name in known)]
    if unknown:
        raise Unprocessable(
            "event_types: not subscribable event types (see GET /v1/webhooks/event-types)",
            errors=[{"loc": ["body", "event_types"], "msg": f"unknown event type {p!r}"} for p in unknown],
        )
    return list(dict.fromkeys(patterns))


async def check_url(url: str, *, allow_private: bool) -> None:
    """Unprocessable unless the URL's host resolves to public addresses only (or private ones are allowed)."""
    if allow_private:
        return
    try:
        await check_public_url(url)
    except UnsafeURL as exc:
        raise Unprocessable(f"url: {exc}") from None


def to_read(row: Any) -> SubscriptionRead:
    """The API view of a subscription row (its JSON column parsed)."""
    return SubscriptionRead(
        id=row.id,
        url=row.url,
        event_types=json.loads(row.event_types),
        description=row.description,
        purpose=row.purpose,
        status=row.status,
        consecutive_failures=row.consecutive_failures,
        previous_secret_expires_at=row.previous_secret_expires_at,
        disabled_at=row.disabled_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def create_subscription(
    session: AsyncSession,
    *,
    tenant_id: str,
    subscription_in: SubscriptionCreate,
    box: SecretBox,
    allow_private: bool,
    ensure: Ensure,
) -> SubscriptionCreated:
    """Create a subscription; its secret is returned this once and kept encrypted. Its types' durables
    exist before it commits (`ensure`)."""
    patterns = check_patterns(subscription_in.event_types)
    await check_url(subscription_in.url, allow_private=allow_private)
    secret = new_secret()
    row = WebhookSubscription(
        tenant_id=tenant_id,
        url=subscription_in.url,
        event_types=json.dumps(patterns),
        description=subscription_in.description,
        purpose=subscription_in.purpose,
        secret=box.seal({"secret": secret}),
    )
    await ensure(patterns, row.created_at)
    session.add(row)
    await session.commit()
    log.info("webhook.subscription_created", extra={"tenant_id": tenant_id, "subscription_id": row.id})
    return SubscriptionCreated(**to_read(row).model_dump(), secret=secret)


async def list_subscriptions(
    reader: Reader, *, tenant_id: str, limit: int, cursor: str | None
) -> SubscriptionPage:
    """The tenant's subscriptions, newest first."""
    rows, next_cursor = await page_of(
        reader, WebhookSubscription, tenant_id=tenant_id, limit=limit, cursor=cursor, shape=_Shown
    )
    return SubscriptionPage(items=[to_read(row) for row in rows], next_cursor=next_cursor)


class _Shown(SubscriptionRead):
    """The columns a read needs (`event_types` as stored)."""

    event_types: str  # type: ignore[assignment]


async def get_subscription(reader: Reader, *, tenant_id: str, subscription_id: str) -> SubscriptionRead:
    """One subscription of the tenant."""
    row = await get_row_scoped(
        reader,
        WebhookSubscription,
        tenant_id=tenant_id,
        id=subscription_id,
        error=SubscriptionNotFound,
        shape=_Shown,
    )
    return to_read(row)


async def load_subscription(
    session: AsyncSession, *, tenant_id: str, subscription_id: str
) -> WebhookSubscription:
    """One subscription of the tenant, to change it (404 for another tenant's)."""
    return await get_scoped(
        session, WebhookSubscription, tenant_id=tenant_id, id=subscription_id, error=SubscriptionNotFound
    )


async def update_subscription(
    session: AsyncSession,
    *,
    tenant_id: str,
    subscription_id: str,
    subscription_in: SubscriptionUpdate,
    allow_private: bool,
    ensure: Ensure,
) -> SubscriptionRead:
    """Change the fields given (new types' durables exist before the change commits: `ensure`)."""
    row = await load_subscription(session, tenant_id=tenant_id, subscription_id=subscription_id)
    given = subscription_in.model_fields_set
    now = utcnow()
    patterns = None if subscription_in.event_types is None else check_patterns(subscription_in.event_types)
    if subscription_in.url is not None:
        await check_url(subscription_in.url, allow_private=allow_private)
        row.url = subscription_in.url
    if patterns is not None:
        await ensure(patterns, now)
        row.event_types = json.dumps(patterns)
    if "description" in given:
        row.description = subscription_in.description
    if subscription_in.purpose is not None:
        row.purpose = subscription_in.purpose
    row.updated_at = now
    session.add(row)
    await session.commit()
    return to_read(row)


async def set_status(
    session: AsyncSession, *, tenant_id: str, subscription_id: str, active: bool
) -> SubscriptionRead:
    """Pause (no new deliveries are recorded, pending ones wait) or resume (a disabled one too)."""
    row = await load_subscription(session, tenant_id=tenant_id, subscription_id=subscription_id)
    row.status = "active" if active else "paused"
    if active:
        row.consecutive_failures = 0
        row.disabled_at = None
    row.updated_at = utcnow()
    session.add(row)
    await session.commit()
    log.info(
        "webhook.subscription_status",
        extra={"tenant_id": tenant_id, "subscription_id": row.id, "status": row.status},
    )
    return to_read(row)


async def delete_subscription(session: AsyncSession, *, tenant_id: str, subscription_id: str) -> None:
    """Delete a subscription and its delivery log."""
    row = await load_subscription(session, tenant_id=tenant_id, subscription_id=subscription_id)
    await session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == row.id))
    await session.delete(row)
    await session.commit()
    log.info("webhook.subscription_deleted", extra={"tenant_id": tenant_id, "subscription_id": row.id})


async def rotate_secret(
    session: AsyncSession, *, tenant_id: str, subscription_id: str, box: SecretBox, grace_s: float
) -> SecretRotated:
    """A new secret (returned this once); the current one keeps signing too for `grace_s` seconds."""
    row = await load_subscription(session, tenant_id=tenant_id, subscription_id=subscription_id)
    secret = new_secret()
    now = utcnow()
    row.previous_secret = row.secret
    row.previous_secret_expires_at = now + timedelta(seconds=grace_s)
    row.secret = box.seal({"secret": secret})
    row.updated_at = now
    session.add(row)
    await session.commit()
    log.info("webhook.secret_rotated", extra={"tenant_id": tenant_id, "subscription_id": row.id})
    return SecretRotated(secret=secret, previous_secret_expires_at=row.previous_secret_expires_at)


def event_types() -> EventTypeList:
    """Every subscribable event type with the JSON schema of its `data`."""
    return EventTypeList(
        items=[
            EventTypeRead(
                type=spec.name, description=spec.description, data_schema=spec.model.model_json_schema()
            )
            for spec in subscribable()
        ]
    )

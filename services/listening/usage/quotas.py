"""Per-tenant quotas, so that one tenant cannot starve the others: channels and queries are count caps
(a 409 `quota-exceeded`: only deleting frees one), posts through the ingest API a rate quota per clock
hour (a 429 with `Retry-After`: the turn of the hour frees it).

Posts are counted in `listening_tenant_usage` (tenant, hour) by an upsert in the transaction that stores
them — one per tenant per group commit or import batch. The check runs before a post is queued, against
what this process last saw counted (the upsert returns the new total) plus the posts it admitted and has
not answered yet, so a request is refused whole and the hot path reads nothing: the database is read
only the first time a tenant is seen in an hour. With several replicas, each learns the others' counts
at its next write for the tenant, so together they may pass the quota by about one batch each. Every post
sent is counted, duplicates included (each still costs a look-up). Platform deliveries (webhooks, pulled
and fetched posts) are counted by `count_posts` but never refused: the platform would only retry them.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from services.listening.errors import IngestQuotaExceeded, QuotaExceeded
from services.listening.models import Channel, ListeningQuery, TenantUsage
from services.listening.usage.schemas import HourlyQuotaUse, QuotaUse, TenantUsageRead
from shared.db import utcnow
from shared.reads import Reader

log = logging.getLogger("rapport.listening.quotas")

HOUR = timedelta(hours=1)
# Usage rows older than this are deleted when a process first counts in a new hour.
KEEP_USAGE = timedelta(days=2)
# Tenants whose hourly count one app remembers (`IngestQuota.known`): only this hour's, and at most this
# many (the longest-remembered dropped first); a tenant forgotten is read from the database again.
KNOWN_TENANTS = 10_000


def hour_of(moment: datetime) -> datetime:
    """The start of the clock hour (UTC) holding `moment`."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


class IngestQuota:
    """Posts per tenant per clock hour through the ingest API; one per listening app.

    `limit` 0 means no quota (posts are still counted, for the usage read).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        limit: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.limit = limit
        self.clock = clock
        # tenant → (hour, posts counted in the database as this process last saw it); bounded by
        # `_remember` (this hour's only, at most KNOWN_TENANTS).
        self.known: dict[str, tuple[datetime, int]] = {}
        self._known_hour: datetime | None = None
        # tenant → posts admitted by this process and not answered yet
        self.reserved: collections.Counter[str] = collections.Counter()
        self.pruned_hour: datetime | None = None

    def retry_after(self) -> int:
        """Whole seconds until the current hour ends (at least 1)."""
        now = self.clock()
        return max(1, int((hour_of(now) + HOUR - now).total_seconds() + 0.999))

    async def used(self, tenant_id: str) -> int:
        """Posts counted for the tenant this hour (as last seen here), plus those admitted and not stored."""
        hour = hour_of(self.clock())
        seen = self.known.get(tenant_id)
        if seen is None or seen[0] != hour:
            async with self.sessions() as session:
                posts = await session.scalar(
                    select(col(TenantUsage.posts)).where(
                        col(TenantUsage.tenant_id) == tenant_id, col(TenantUsage.hour) == hour
                    )
                )
            seen = self.known.get(tenant_id)
            if seen is None or seen[0] != hour:  # a write may have told us meanwhile
                seen = self._remember(tenant_id, hour, int(posts or 0))
        return seen[1] + self.reserved[tenant_id]

    def _remember(self, tenant_id: str, hour: datetime, posts: int) -> tuple[datetime, int]:
        """Note the tenant's count this hour, forgetting past hours' and the oldest beyond KNOWN_TENANTS."""
        if hour != self._known_hour:
            self.known.clear()
            self._known_hour = hour
        self.known.pop(tenant_id, None)
        while len(self.known) >= KNOWN_TENANTS:
            del self.known[next(iter(self.known))]
        self.known[tenant_id] = (hour, posts)
        return self.known[tenant_id]

    async def available(self, tenant_id: str) -> int:
        """How many more posts the tenant may send this hour (a large number without a quota)."""
        if self.limit <= 0:
            return 1 << 62
        return max(0, self.limit - await self.used(tenant_id))

    def exceeded(self, tenant_id: str, *, used: int, posts: int) -> IngestQuotaExceeded:
        """The 429 for a request of `posts` when `used` are counted this hour."""
        log.info("quota.ingest_exceeded", extra={"tenant_id": tenant_id, "posts": posts})
        remaining = max(0, self.limit - used)
        return IngestQuotaExceeded(
            f"This would pass the tenant's quota of {self.limit} posts an hour ({remaining} left this hour).",
            headers={"Retry-After": str(self.retry_after())},
            limit=self.limit,
            remaining=remaining,
        )

    async def admit(self, tenant_id: str, posts: int) -> None:
        """Reserve room for `posts`, or refuse them all (IngestQuotaExceeded, 429). `release` after."""
        if self.limit > 0:
            used = await self.used(tenant_id)  # no await between this check and the reservation
            if used + posts > self.limit:
                raise self.exceeded(tenant_id, used=used, posts=posts)
        self.reserved[tenant_id] += posts

    async def take(self, tenant_id: str, posts: int) -> int:
        """Reserve room for as many of `posts` as the quota allows; how many. `release` them after."""
        room = posts if self.limit <= 0 else max(0, min(posts, self.limit - await self.used(tenant_id)))
        if room:
            self.reserved[tenant_id] += room
        return room

    def release(self, tenant_id: str, posts: int) -> None:
        """The admitted posts were answered (stored and counted, or failed)."""
        self.reserved[tenant_id] -= posts
        if self.reserved[tenant_id] <= 0:
            del self.reserved[tenant_id]

    async def count(self, session: AsyncSession, posts: Mapping[str, int]) -> None:
        """Add posts per tenant to this hour's usage in the caller's transaction; learn the new totals."""
        hour = hour_of(self.clock())
        totals = await count_posts(session, posts, hour=hour)
        for tenant_id, total in totals.items():
            self._remember(tenant_id, hour, total)
        if self.pruned_hour != hour:
            self.pruned_hour = hour
            await session.execute(delete(TenantUsage).where(col(TenantUsage.hour) < hour - KEEP_USAGE))


async def count_posts(
    session: AsyncSession, posts: Mapping[str, int], *, hour: datetime | None = None
) -> dict[str, int]:
    """Add posts per tenant to the hour's usage (caller's transaction); the new totals. One upsert per
    tenant, in tenant order (one lock order for concurrent writers)."""
    hour = hour or hour_of(utcnow())
    totals: dict[str, int] = {}
    stmt = _COUNT_POSTS[_insert(session)]
    for tenant_id, n in sorted(posts.items()):
        if n <= 0:
            continue
        params = {"tenant_id": tenant_id, "hour": hour, "posts": n}
        totals[tenant_id] = int((await session.execute(stmt, params)).scalar_one())
    return totals


def _count_posts(insert: Any) -> Any:
    """The usage upsert of `count_posts`, built once per dialect (its values are parameters)."""
    return (
        insert(TenantUsage)
        .values(tenant_id=bindparam("tenant_id"), hour=bindparam("hour"), posts=bindparam("posts"))
        .on_conflict_do_update(
            index_elements=["tenant_id", "hour"],
            set_={"posts": col(TenantUsage.posts) + bindparam("posts")},
        )
        .returning(col(TenantUsage.posts))
    )


# by the dialect's insert (`_insert`)
_COUNT_POSTS = {insert: _count_posts(insert) for insert in (sqlite_insert, pg_insert)}


async def check_channel_quota(session: AsyncSession, *, tenant_id: str, limit: int) -> None:
    """QuotaExceeded (409) when the tenant already has `limit` channels (0: no cap)."""
    if limit <= 0:
        return
    used = await _count(session, Channel, tenant_id)
    if used >= limit:
        log.info("quota.channels_exceeded", extra={"tenant_id": tenant_id})
        raise QuotaExceeded(
            f"The tenant has its quota of {limit} channels; delete one to connect another.",
            quota="channels",
            limit=limit,
            used=used,
        )


async def _count(session: AsyncSession, table: Any, tenant_id: str) -> int:
    stmt = select(func.count()).select_from(table).where(table.tenant_id == tenant_id)
    return int(await session.scalar(stmt) or 0)


# The tenant's channels, its queries, and its posts counted in an hour: one read.
_USAGE = select(
    select(func.count())
    .select_from(Channel)
    .where(col(Channel.tenant_id) == bindparam("tenant_id"))
    .scalar_subquery()
    .label("channels"),
    select(func.count())
    .select_from(ListeningQuery)
    .where(col(ListeningQuery.tenant_id) == bindparam("tenant_id"))
    .scalar_subquery()
    .label("queries"),
    select(col(TenantUsage.posts))
    .where(col(TenantUsage.tenant_id) == bindparam("tenant_id"), col(TenantUsage.hour) == bindparam("hour"))
    .scalar_subquery()
    .label("posts"),
)


async def read_usage(
    reader: Reader,
    *,
    tenant_id: str,
    max_channels: int,
    max_queries: int,
    posts_per_hour: int,
) -> TenantUsageRead:
    """Channels and queries the tenant has, and posts it sent this hour, each with its cap."""
    hour = hour_of(utcnow())
    usage = await reader.first(_USAGE, {"tenant_id": tenant_id, "hour": hour})
    channels, queries, posts = usage or (0, 0, 0)
    return TenantUsageRead(
        channels=QuotaUse(used=int(channels or 0), limit=max_channels or None),
        queries=QuotaUse(used=int(queries or 0), limit=max_queries or None),
        posts_this_hour=HourlyQuotaUse(
            used=int(posts or 0), limit=posts_per_hour or None, resets_at=hour + HOUR
        ),
    )

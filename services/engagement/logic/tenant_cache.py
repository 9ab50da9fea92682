"""Per-process caches of a tenant's routing configuration: its rules, its teams and its SLA policies.

Every conversation opening reads all three, so reading them from the database each time would cost
three queries per opening. Instead each edit of any of them bumps the tenant's `routing_version` row in
its own transaction (`bump_version`); a cache looks at that row at most every `refresh_s` per tenant and
reloads its value only when the version moved. Edits therefore reach every replica within about
`refresh_s` (`RAPPORT_ROUTING_RULES_REFRESH_S`), and the process that made the edit forgets its cached
values as soon as the edit commits.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from sqlalchemy import bindparam, event, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col

from services.engagement.models import RoutingVersion

T = TypeVar("T")

_BUMP = text(
    "INSERT INTO routing_version (tenant_id, version) VALUES (:tenant_id, 1) "
    "ON CONFLICT (tenant_id) DO UPDATE SET version = routing_version.version + 1"
)
_VERSION = select(col(RoutingVersion.version)).where(col(RoutingVersion.tenant_id) == bindparam("tenant_id"))
_EDITED = "rapport.engagement.routing_edited"  # the tenants a transaction's edits bumped (Session.info)


async def bump_version(session: AsyncSession, tenant_id: str) -> None:
    """The tenant's routing configuration changed in this transaction: every cache reloads it."""
    await session.execute(_BUMP, {"tenant_id": tenant_id})
    session.sync_session.info.setdefault(_EDITED, set()).add(tenant_id)


@dataclass
class Held(Generic[T]):
    version: int
    checked: float
    value: T


class TenantCache(Generic[T]):
    """One kind of a tenant's configuration, loaded by `load` and held until the tenant's version moves."""

    every: ClassVar[list[TenantCache[object]]] = []

    def __init__(self, load: Callable[[AsyncSession, str], Awaitable[T]], refresh_s: float = 1.0) -> None:
        self.load = load
        self.refresh_s = refresh_s
        self.entries: dict[str, Held[T]] = {}
        TenantCache.every.append(self)  # type: ignore[arg-type]

    async def get(self, session: AsyncSession, tenant_id: str) -> T:
        if tenant_id in session.sync_session.info.get(_EDITED, ()):
            return await self.load(session, tenant_id)  # this transaction's own edits, not yet committed
        held = self.entries.get(tenant_id)
        clock = time.monotonic()
        if held is not None and clock - held.checked < self.refresh_s:
            return held.value
        version = (await session.execute(_VERSION, {"tenant_id": tenant_id})).scalar() or 0
        if held is not None and held.version == version:
            held.checked = clock
            return held.value
        held = Held(version=version, checked=clock, value=await self.load(session, tenant_id))
        self.entries[tenant_id] = held
        return held.value

    @classmethod
    def set_refresh(cls, refresh_s: float) -> None:
        for cache in cls.every:
            cache.refresh_s = refresh_s

    @classmethod
    def forget(cls, tenant_id: str) -> None:
        for cache in cls.every:
            cache.entries.pop(tenant_id, None)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for tenant_id in session.info.pop(_EDITED, ()):
        TenantCache.forget(tenant_id)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_EDITED, None)

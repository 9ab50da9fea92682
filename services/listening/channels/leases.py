"""Puller leases: each pull channel is pulled by one listening replica at a time.

A replica renews the leases it holds every `RENEW_S` and takes the free or run-out ones; a lease lasts
`LEASE_S`, so the pullers of a replica that stops or hangs move to another within that time. The take is
one conditional UPDATE per round, so two replicas never both hold a channel (PostgreSQL re-checks the
condition on the row it waited for; SQLite has one writer).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.listening.models import PullerLease

LEASE_S = 30.0
RENEW_S = 10.0


async def claim(session: AsyncSession, *, channel_ids: list[str], owner: str, now: datetime) -> set[str]:
    """Renew this owner's leases among `channel_ids` and take the free or run-out ones; commit; return the
    channels the owner now holds."""
    if not channel_ids:
        return set()
    until = now + timedelta(seconds=LEASE_S)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(PullerLease)
        .values([{"channel_id": cid, "owner": owner, "expires_at": until} for cid in channel_ids])
        .on_conflict_do_nothing(index_elements=["channel_id"])
    )
    await session.execute(
        update(PullerLease)
        .where(
            col(PullerLease.channel_id).in_(channel_ids),
            or_(col(PullerLease.owner) == owner, col(PullerLease.expires_at) < now),
        )
        .values(owner=owner, expires_at=until)
    )
    held = await session.scalars(
        select(col(PullerLease.channel_id)).where(
            col(PullerLease.channel_id).in_(channel_ids), col(PullerLease.owner) == owner
        )
    )
    owned = set(held)
    await session.commit()
    return owned


# The channels among some (`channel_ids`) whose puller runs somewhere: an unexpired lease at `now`.
HELD = select(col(PullerLease.channel_id)).where(
    col(PullerLease.channel_id).in_(bindparam("channel_ids", expanding=True)),
    col(PullerLease.expires_at) >= bindparam("now"),
)


async def held(session: AsyncSession, *, channel_ids: list[str], now: datetime) -> set[str]:
    """The channels among these whose puller runs somewhere (an unexpired lease)."""
    if not channel_ids:
        return set()
    return set(await session.scalars(HELD, {"channel_ids": channel_ids, "now": now}))


async def release(session: AsyncSession, *, owner: str, channel_ids: list[str] | None = None) -> None:
    """Give up this owner's leases (all, or these), so another replica takes them at once; commit."""
    stmt = delete(PullerLease).where(col(PullerLease.owner) == owner)
    if channel_ids is not None:
        stmt = stmt.where(col(PullerLease.channel_id).in_(channel_ids))
    await session.execute(stmt)
    await session.commit()

"""Writes to the revocation deny-list that the gateway mirrors (see `shared/revocation.py`).

The database stays the authority (revoked refresh families and API keys, user versions). A write that
fails here is logged, and `keep_in_sync` rewrites every entry still within one access-token TTL every
`denylist_resync_s`, so a write lost to a Redis outage or restart comes back within that.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.identity.models import ApiKey, RefreshToken, User
from services.identity.settings import IdentitySettings
from shared.db import utcnow
from shared.revocation import restore, revoke_session, revoke_user_tokens

log = logging.getLogger("rapport.identity.denylist")


async def deny_session(redis: Redis | None, *, settings: IdentitySettings, family_id: str) -> None:
    """Put a revoked family on the gateway's deny-list (its access tokens stop working within a second)."""
    if redis is None:
        return
    try:
        await revoke_session(redis, session_id=family_id, ttl_s=settings.access_token_ttl_s)
    except (RedisError, OSError) as exc:
        log.error("auth.denylist_failed", extra={"family_id": family_id, "error": type(exc).__name__})


async def deny_user_tokens(redis: Redis | None, *, settings: IdentitySettings, user: User) -> None:
    """Put the user's access tokens older than their current version on the deny-list."""
    if redis is None:
        return
    try:
        await revoke_user_tokens(
            redis, user_id=user.id, min_version=user.token_version, ttl_s=settings.access_token_ttl_s
        )
    except (RedisError, OSError) as exc:
        log.error("auth.denylist_failed", extra={"user_id": user.id, "error": type(exc).__name__})


async def resync(session: AsyncSession, redis: Redis, *, settings: IdentitySettings) -> int:
    """Rewrite the deny-list entries of the last access-token TTL from the database; how many were missing."""
    ttl = timedelta(seconds=settings.access_token_ttl_s)
    since = utcnow() - ttl
    families = await session.execute(
        select(RefreshToken.family_id, func.max(RefreshToken.revoked_at))
        .where(col(RefreshToken.revoked_at) > since)
        .group_by(col(RefreshToken.family_id))
    )
    keys = await session.execute(select(ApiKey.id, ApiKey.revoked_at).where(col(ApiKey.revoked_at) > since))
    users = await session.execute(
        select(User.id, User.token_version, User.tokens_revoked_at).where(col(User.tokens_revoked_at) > since)
    )
    await session.rollback()

    def expiry(at: datetime) -> int:
        return int((at + ttl).timestamp())

    return await restore(
        redis,
        sessions={
            **{fid: expiry(at) for fid, at in families if at is not None},
            **{key_id: expiry(at) for key_id, at in keys if at is not None},
        },
        users={uid: (version, expiry(at)) for uid, version, at in users if at is not None},
    )


async def keep_in_sync(
    sessions: async_sessionmaker[AsyncSession], redis: Redis, *, settings: IdentitySettings
) -> None:
    """Run `resync` every `denylist_resync_s` until cancelled (failures are logged and retried)."""
    while True:
        try:
            async with sessions() as session:
                missing = await resync(session, redis, settings=settings)
            if missing:
                log.warning("auth.denylist_restored", extra={"entries": missing})
        except (RedisError, OSError) as exc:
            log.warning("auth.denylist_resync_failed", extra={"error": type(exc).__name__})
        except Exception:
            # A database hiccup must not end the loop: the next round tries again.
            log.exception("auth.denylist_resync_failed")
        await asyncio.sleep(settings.denylist_resync_s)

"""Writes to the revocation deny-list that the gateway mirrors (see `shared/revocation.py`).

The database stays the authority (revoked refresh families, user versions); a failed write here is
logged, and the tokens concerned then live out their short TTL as before.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.identity.models import User
from services.identity.settings import IdentitySettings
from shared.revocation import revoke_session, revoke_user_tokens

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

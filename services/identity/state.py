"""What a running identity app holds: one typed object, built by its app factory's `start`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from services.identity.logic import keys
from services.identity.logic.denylist import keep_in_sync
from services.identity.logic.keys import Signer
from services.identity.logic.passwords import Passwords
from services.identity.settings import IdentitySettings
from shared.service import Runtime


@dataclass(frozen=True)
class IdentityState:
    """identity's signing key, its Redis (the revocation deny-list the gateway and services mirror) and
    hashing."""

    runtime: Runtime[IdentitySettings]
    signer: Signer
    redis: Redis
    passwords: Passwords

    @property
    def settings(self) -> IdentitySettings:
        return self.runtime.settings


@asynccontextmanager
async def identity_state(rt: Runtime[IdentitySettings]) -> AsyncIterator[IdentityState]:
    """The signing key (made on first start), Redis and the deny-list re-sync task; Redis closes after."""
    signer = await keys.ensure_signing_key(rt.sessions)
    redis = Redis.from_url(
        rt.settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30
    )
    try:
        # The revocation deny-list the gateway and services mirror (written on logout, re-use,
        # deactivation, a revoked API key).
        rt.spawn(keep_in_sync(rt.sessions, redis, settings=rt.settings), name="denylist-resync")
        yield IdentityState(runtime=rt, signer=signer, redis=redis, passwords=Passwords())
    finally:
        await redis.aclose()

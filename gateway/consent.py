"""Consent at the gateway: `shared.consent`'s decision, its reads joined to the rate limiter's call.

The rule is `shared.consent.decide`, on the keys `shared.consent` names; only the transport differs from
`shared.consent.check`: the reads go into the rate limiter's script call of the same event-loop turn
(`RateLimiter.read_consent`), so a request that names a person gets its rate-limit decision and that
person's state in the one Redis round trip it already waited for (shared, under load, with the other
requests of that turn). Every read goes to Redis: a change of the projection applies from the very next
request.
"""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError

from gateway.ratelimit import ConsentFields, RateLimiter
from shared import consent


class ConsentUnreadable(Exception):
    """Redis did not answer."""


class ConsentReader:
    """Queue a read now (`queue`), decide from its answer (`decided`); or both at once (`read`)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    def queue(self, tenant_id: str, profile_id: str, purpose: str) -> asyncio.Future[ConsentFields]:
        """Queue the read of one person's state for `purpose` into the loop turn's Redis call."""
        if purpose not in consent.PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}")
        person, policy = consent.person_key(tenant_id, profile_id), consent.policy_key(tenant_id)
        return self._limiter.read_consent(person, policy, consent.READY_KEY, purpose)

    @staticmethod
    async def decided(read: asyncio.Future[ConsentFields], purpose: str) -> consent.Decision | None:
        """The decision once the read answers; None while the projection is not ready."""
        try:
            ready, status, objections, restricted, basis = await read
        except (RedisError, OSError) as exc:
            raise ConsentUnreadable() from exc
        if not ready:
            return None
        return consent.decide(
            purpose,
            _text(basis) or consent.DEFAULT_BASES[purpose],
            _text(status),
            _text(objections),
            _text(restricted) == "1",
        )

    async def read(self, tenant_id: str, profile_id: str, purpose: str) -> consent.Decision | None:
        """The decision for one person (None: the projection is not ready)."""
        return await self.decided(self.queue(tenant_id, profile_id, purpose), purpose)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value

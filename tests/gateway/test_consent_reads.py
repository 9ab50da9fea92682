"""The gateway's consent reads (joined to the rate limiter's Redis call) decide exactly as
`shared.consent.check`, for every state a person and a policy can be in, in one batch or alone."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest
from redis.asyncio import Redis

from gateway.consent import ConsentReader, ConsentUnreadable
from gateway.ratelimit import RateLimiter
from rapport.stack import Stack, free_port
from shared import consent

STATES = [
    # (projected purposes, objections, restricted)
    ({}, (), False),
    ({"marketing": "granted", "profiling": "granted"}, (), False),
    ({"marketing": "withdrawn", "profiling": "withdrawn"}, (), False),
    ({"profiling": "granted"}, ("profiling", "marketing"), False),
    ({"marketing": "granted"}, (), True),
]
POLICIES = [{}, {"profiling": "consent", "marketing": "legitimate_interest", "analytics": "contract"}]


@pytest.mark.anyio
async def test_reads_decide_as_shared_consent_does(stack: Stack) -> None:
    redis = Redis.from_url(stack.redis_url)
    try:
        reader = ConsentReader(RateLimiter(redis, prefix=f"test:{uuid.uuid4().hex}"))
        cases = []
        for (purposes, objections, restricted), bases in itertools.product(STATES, POLICIES):
            tenant, person = uuid.uuid4().hex, uuid.uuid4().hex
            await consent.project_person(redis, tenant, person, purposes, objections, restricted)  # type: ignore[arg-type]
            await consent.project_policy(redis, tenant, bases)  # type: ignore[arg-type]
            cases += [(tenant, person, purpose) for purpose in consent.PURPOSES]
        expected = [await consent.check(redis, *case) for case in cases]
        # One by one, and all of them in one loop turn (one script call), beside rate-limit hits.
        alone = [await reader.read(*case) for case in cases]
        limiter_hits = [reader._limiter.hit("t:x", limit=10**6, window_s=10) for _ in range(3)]
        together = await asyncio.gather(*(reader.read(*case) for case in cases), *limiter_hits)
    finally:
        await redis.aclose()
    assert all(decision is not None for decision in expected)
    assert alone == expected
    assert list(together[: len(cases)]) == expected
    assert {d.reason for d in expected if d is not None} >= {
        "granted",
        "no_consent",
        "withdrawn",
        "objected",
        "restricted",
        "legitimate_interest",
        "contract",
    }


@pytest.mark.anyio
async def test_not_ready_and_unreachable(stack: Stack) -> None:
    empty = Redis.from_url(stack.redis_url.rsplit("/", 1)[0] + "/9")
    try:
        reader = ConsentReader(RateLimiter(empty, prefix=f"test:{uuid.uuid4().hex}"))
        assert await reader.read("t", "p", "profiling") is None
        assert await consent.check(empty, "t", "p", "profiling") is None
    finally:
        await empty.aclose()
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        with pytest.raises(ConsentUnreadable):
            await ConsentReader(RateLimiter(down)).read("t", "p", "profiling")
    finally:
        await down.aclose()

"""Body size and rate limits: 413 and 429 problems, and the sliding-window limiter on a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from redis.asyncio import Redis

from gateway.errors import RateLimiterUnavailable
from gateway.ratelimit import RateLimiter
from rapport.stack import Stack, free_port
from tests.gateway.helpers import Recorder, SigningKey, SpawnGateway, assert_problem, bearer, claims_for
from tests.helpers import Tenant, mention_payload

MIB = 1024 * 1024


def mention_ids(client: httpx.Client, tenant: Tenant) -> list[str]:
    response = client.get("/v1/mentions", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()["items"]]


def test_body_over_one_mib_is_413_and_creates_nothing(client: httpx.Client, tenant: Tenant) -> None:
    payload = mention_payload()
    payload["text"] = "x" * MIB
    response = client.post("/v1/mentions", json=payload, headers=tenant.headers)
    assert_problem(response, 413)
    assert mention_ids(client, tenant) == []


def test_chunked_body_over_one_mib_is_413(client: httpx.Client, tenant: Tenant) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(17):
            yield b"y" * 65536
        yield b'"}'

    response = client.post("/v1/mentions", content=chunks(), headers=tenant.headers)
    assert_problem(response, 413)
    assert mention_ids(client, tenant) == []


def test_body_of_exactly_one_mib_is_forwarded(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey
) -> None:
    token = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4())))
    response = gw.post(
        "/v1/mentions", content=b"z" * MIB, headers={**bearer(token), "X-Request-ID": "one-mib"}
    )
    assert response.status_code == 200, response.text
    (seen,) = recorder.seen("one-mib")
    assert seen["body_length"] == MIB


def test_tenant_over_its_limit_gets_429_with_retry_after(
    spawn_gateway: SpawnGateway, recorder: Recorder, recorder_key: SigningKey
) -> None:
    url = spawn_gateway(RAPPORT_RATE_LIMIT_PER_WINDOW="3", RAPPORT_RATE_LIMIT_WINDOW_S="60")
    busy = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4()), role="agent"))
    colleague = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4()), role="agent"))
    with httpx.Client(base_url=url) as gw:
        remaining = []
        for _ in range(3):
            ok = gw.get("/v1/profiles", headers=bearer(busy))
            assert ok.status_code == 200, ok.text
            assert ok.headers["ratelimit-limit"] == "3"
            remaining.append(int(ok.headers["ratelimit-remaining"]))
        assert remaining == [2, 1, 0]

        before = recorder.count()
        refused = gw.get("/v1/profiles", headers=bearer(busy))
        problem = assert_problem(refused, 429)
        assert problem["type"] == "https://rapport.dev/problems/rate-limited"
        # A full window: its end, then until 3 old hits weigh less than 2 (60 s / 3 later) at most.
        assert 1 <= int(refused.headers["retry-after"]) <= 60 + 20
        assert refused.headers["ratelimit-remaining"] == "0"
        assert recorder.count() == before

        # Another tenant (another counter) is not affected.
        assert gw.get("/v1/profiles", headers=bearer(colleague)).status_code == 200


def test_anonymous_public_calls_are_limited_per_ip(spawn_gateway: SpawnGateway) -> None:
    url = spawn_gateway(RAPPORT_LOGIN_RATE_LIMIT_PER_WINDOW="2")
    with httpx.Client(base_url=url) as gw:
        for _ in range(2):
            assert gw.post("/v1/auth/token", json={}).status_code == 200
        refused = gw.post("/v1/auth/token", json={})
        assert_problem(refused, 429)
        assert int(refused.headers["retry-after"]) >= 1


def test_redis_down_fails_closed_with_503(
    spawn_gateway: SpawnGateway, recorder: Recorder, recorder_key: SigningKey
) -> None:
    url = spawn_gateway(RAPPORT_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    token = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4())))
    with httpx.Client(base_url=url) as gw:
        before = recorder.count()
        assert_problem(gw.get("/v1/profiles", headers=bearer(token)), 503)
        assert_problem(gw.post("/v1/auth/token", json={}), 503)
        assert recorder.count() == before
        ready = gw.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"] == "down"


# The limiter on its own, against the stack's Redis, with a controlled clock.


async def run_hits(
    redis_url: str, key: str, times: list[float], *, limit: int, window_s: int
) -> list[tuple[bool, int, int]]:
    redis = Redis.from_url(redis_url)
    try:
        limiter = RateLimiter(redis, prefix=f"test:{uuid.uuid4().hex}")
        out = []
        for now in times:
            d = await limiter.hit(key, limit=limit, window_s=window_s, now=now)
            out.append((d.allowed, d.remaining, d.retry_after))
        return out
    finally:
        await redis.aclose()


WINDOW_START = 1_700_000_000.0  # a multiple of 10 s


@pytest.mark.anyio
async def test_limiter_admits_up_to_the_limit_then_refuses(stack: Stack) -> None:
    results = await run_hits(stack.redis_url, "t:a", [WINDOW_START + 2.0] * 6, limit=5, window_s=10)
    assert [r[0] for r in results] == [True] * 5 + [False]
    assert [r[1] for r in results[:5]] == [4, 3, 2, 1, 0]
    # Full window: wait 8 s for it to end, then 2 s until 5 old hits weigh less than 4.
    assert results[5][2] == 10


@pytest.mark.anyio
async def test_limiter_window_slides(stack: Stack) -> None:
    full = [WINDOW_START + 2.0] * 5
    # Halfway into the next window the previous five weigh 2.5: two more fit, the third does not.
    halfway = [WINDOW_START + 15.0] * 3
    results = await run_hits(stack.redis_url, "t:b", full + halfway, limit=5, window_s=10)
    assert [r[0] for r in results[5:]] == [True, True, False]
    assert results[7][2] == 1
    # A full window later the old hits no longer count.
    later = await run_hits(stack.redis_url, "t:b2", [*full, WINDOW_START + 20.0], limit=5, window_s=10)
    assert later[-1][:2] == (True, 4)


@pytest.mark.anyio
async def test_limiter_counts_each_key_apart(stack: Stack) -> None:
    redis = Redis.from_url(stack.redis_url)
    try:
        limiter = RateLimiter(redis, prefix=f"test:{uuid.uuid4().hex}")
        allowed = []
        for key in ("t:one", "t:one", "t:two", "ip:127.0.0.1"):
            decision = await limiter.hit(key, limit=1, window_s=10, now=WINDOW_START + 1.0)
            allowed.append(decision.allowed)
    finally:
        await redis.aclose()
    assert allowed == [True, False, True, True]


@pytest.mark.anyio
async def test_limiter_raises_when_redis_is_down() -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        with pytest.raises(RateLimiterUnavailable):
            await RateLimiter(redis).hit("t:x", limit=5, window_s=10)
    finally:
        await redis.aclose()


@pytest.mark.anyio
async def test_limiter_admits_exactly_the_limit_of_concurrent_hits(stack: Stack) -> None:
    redis = Redis.from_url(stack.redis_url)
    try:
        limiter = RateLimiter(redis, prefix=f"test:{uuid.uuid4().hex}")
        # Hits of one loop turn travel as one batch; the script still counts them one by one.
        decisions = await asyncio.gather(
            *(
                limiter.hit(key, limit=7, window_s=10, now=WINDOW_START + 1.0)
                for key in ["t:c"] * 20 + ["t:d"]
            )
        )
    finally:
        await redis.aclose()
    assert [d.allowed for d in decisions] == [True] * 7 + [False] * 13 + [True]

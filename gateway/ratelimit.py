"""Sliding-window rate limits in Redis: one Lua script call per batch of concurrent requests.

Hits that arrive in the same event-loop turn are sent together as one `EVALSHA` (a Redis GET+INCR
pair per request would cost more than half the gateway's throughput; one script call per request still
about a third). Every request therefore waits for at most one round trip, usually shared.
The keys of one batch span many tenants: this needs one Redis (or a primary with replicas), not a
Redis Cluster.

The same call carries the consent reads of the loop turn (`read_consent`, used by `gateway/consent.py`):
a request that names a person gets its rate-limit decision and that person's consent state in the one
round trip it already waited for.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.errors import RateLimiterUnavailable

log = logging.getLogger("rapport.gateway.ratelimit")

# For each i: KEYS[2i-1] = counter of the current window, KEYS[2i] = counter of the previous one;
# ARGV[3i-2] = limit, ARGV[3i-1] = weight of the previous window (its share still inside the sliding
# window), ARGV[3i] = TTL of the current counter in ms (two windows: it becomes the next one's previous).
# Returns allowed, current count, previous count for each hit, in order. A refused hit is not counted,
# so a client that keeps retrying is admitted again on time.
# After the hits (ARGV[#ARGV] = their number h): consent reads (`shared/consent.py`'s keys), each
# KEYS[2h + 3j - 2] = the person's hash, KEYS[2h + 3j - 1] = the tenant's policy, KEYS[2h + 3j] = the
# ready flag, ARGV[3h + j] = the purpose. Each returns the flag's existence, the person's status for the
# purpose, objections and restriction, and the policy's basis for it (false where absent).
SLIDING_WINDOW = """
local hits = tonumber(ARGV[#ARGV])
local out = {}
for i = 1, hits do
  local curr = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local prev = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  local allowed = 0
  if prev * tonumber(ARGV[3 * i - 1]) + curr + 1 <= tonumber(ARGV[3 * i - 2]) then
    curr = redis.call('INCR', KEYS[2 * i - 1])
    if curr == 1 then
      redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[3 * i])
    end
    allowed = 1
  end
  out[#out + 1] = allowed
  out[#out + 1] = curr
  out[#out + 1] = prev
end
for j = 1, (#KEYS - 2 * hits) / 3 do
  local at, purpose = 2 * hits + 3 * j, ARGV[3 * hits + j]
  out[#out + 1] = redis.call('EXISTS', KEYS[at])
  local person = redis.call('HMGET', KEYS[at - 2], purpose, 'objections', 'restricted')
  out[#out + 1] = person[1]
  out[#out + 1] = person[2]
  out[#out + 1] = person[3]
  out[#out + 1] = redis.call('HGET', KEYS[at - 1], purpose)
end
return out
"""


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit; `retry_after` is whole seconds (0 when allowed)."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int


@dataclass(slots=True)
class _Hit:
    keys: tuple[str, str]
    args: tuple[int, str, int]
    future: asyncio.Future[tuple[int, int, int]]


# A consent read's answer: ready, status, objections, restricted, basis (raw, None where absent).
ConsentFields = tuple[int, bytes | None, bytes | None, bytes | None, bytes | None]


@dataclass(slots=True)
class _Read:
    keys: tuple[str, str, str]
    purpose: str
    future: asyncio.Future[ConsentFields]


class RateLimiter:
    """Counts hits per key (`t:<tenant>` or `ip:<address>`) in a sliding window of `window_s` seconds."""

    def __init__(self, redis: Redis, *, prefix: str = "rapport:rl", max_batch: int = 512) -> None:
        self._prefix = prefix
        self._script = redis.register_script(SLIDING_WINDOW)
        self._max_batch = max_batch
        self._pending: list[_Hit] = []
        self._reads: list[_Read] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def hit(self, key: str, *, limit: int, window_s: int, now: float | None = None) -> Decision:
        """Count one request for `key`, or refuse it; raises `RateLimiterUnavailable` if Redis is down."""
        now = time.time() if now is None else now
        index = int(now // window_s)
        elapsed = now - index * window_s
        weight = 1.0 - elapsed / window_s
        base = f"{self._prefix}:{key}:{window_s}:"
        loop = asyncio.get_running_loop()
        hit = _Hit(
            keys=(f"{base}{index}", f"{base}{index - 1}"),
            args=(limit, f"{weight:.6f}", window_s * 2000),
            future=loop.create_future(),
        )
        self._pending.append(hit)
        self._queued(loop)
        allowed, curr, prev = await hit.future
        used = prev * weight + curr
        if allowed:
            return Decision(True, limit, max(0, limit - math.ceil(used)), 0)
        return Decision(False, limit, 0, _retry_after(curr, prev, limit, window_s, elapsed))

    def read_consent(
        self, person_key: str, policy_key: str, ready_key: str, purpose: str
    ) -> asyncio.Future[ConsentFields]:
        """A person's projected consent fields for `purpose` and the policy's basis, in the loop turn's
        script call: queued now, the future resolves with the batch (`RedisError` if Redis is down)."""
        loop = asyncio.get_running_loop()
        read = _Read(keys=(person_key, policy_key, ready_key), purpose=purpose, future=loop.create_future())
        # A request refused before it looks at its read (its rate limit) leaves no unretrieved error.
        read.future.add_done_callback(_retrieve)
        self._reads.append(read)
        self._queued(loop)
        return read.future

    def _queued(self, loop: asyncio.AbstractEventLoop) -> None:
        if len(self._pending) + len(self._reads) == 1:
            # First of this loop turn: send the batch once everything runnable has queued its own.
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        while self._pending or self._reads:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            reads, self._reads = self._reads[: self._max_batch], self._reads[self._max_batch :]
            task = asyncio.ensure_future(self._send(batch, reads))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Hit], reads: list[_Read]) -> None:
        keys = [k for hit in batch for k in hit.keys]
        args: list[int | str] = [a for hit in batch for a in hit.args]
        for read in reads:
            keys.extend(read.keys)
            args.append(read.purpose)
        args.append(len(batch))
        try:
            flat = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            log.warning("gateway.rate_limiter_unavailable", extra={"error": type(exc).__name__})
            for hit in batch:
                if not hit.future.done():
                    hit.future.set_exception(
                        RateLimiterUnavailable("The rate limiter is unavailable; try again shortly.")
                    )
            for read in reads:
                if not read.future.done():
                    read.future.set_exception(RedisError(type(exc).__name__))
            return
        for i, hit in enumerate(batch):
            if not hit.future.done():
                hit.future.set_result((int(flat[3 * i]), int(flat[3 * i + 1]), int(flat[3 * i + 2])))
        at = 3 * len(batch)
        for read in reads:
            if not read.future.done():
                read.future.set_result((flat[at], flat[at + 1], flat[at + 2], flat[at + 3], flat[at + 4]))
            at += 5


def _retrieve(future: asyncio.Future[ConsentFields]) -> None:
    if not future.cancelled():
        future.exception()


def _retry_after(curr: int, prev: int, limit: int, window_s: int, elapsed: float) -> int:
    """Seconds until one more request fits: solve prev*(1 - t/w) + curr + 1 <= limit for t."""
    if curr + 1 > limit:
        # The current window alone is full: wait for the next one, then for `curr` to decay enough.
        decay = window_s * (1 - (limit - 1) / curr) if curr else 0.0
        wait = (window_s - elapsed) + max(0.0, decay)
    else:
        # The previous window's share decays; at the next window's start the request fits anyway.
        wait = window_s * (1 - (limit - curr - 1) / prev) - elapsed if prev else 0.0
        wait = min(wait, window_s - elapsed)
    return max(1, math.ceil(wait))

"""The deny-list of revoked sessions and users, kept in Redis and mirrored in memory by verifiers.

Access tokens are verified offline (cached RS256 claims), so ending a session early needs a list the
verifier can consult without a network round trip per request. identity writes an entry when a refresh
family is revoked (re-use detected, logout) or a user is deactivated or changes role; each entry lives as
long as an access token issued before it could (the access-token TTL). Entries sit in one Redis hash next
to a version counter; every write also announces itself on the channel `<key>:changed` (PUBLISH, in the
write's transaction). A verifier follows that channel and reloads the hash when told, so a revoked token
is refused at once; it also reads the counter (one GET) every `check_s` in case an announcement was lost
(a writer that does not announce, a subscription that broke), and every `poll_s` while it cannot
subscribe at all. It no longer polls the counter four times a second in every process.

Hash fields: `s:<session id>` → expiry (epoch seconds); `u:<user id>` → `<min token version>:<expiry>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from shared.auth import Principal

log = logging.getLogger("rapport.revocation")

DEFAULT_KEY = "rapport:revoked"
# How often a verifier that follows the announcements reads the version counter anyway.
CHECK_S = 5.0


def changes_channel(key: str = DEFAULT_KEY) -> str:
    """Where every write to the deny-list is announced."""
    return f"{key}:changed"


async def revoke_session(redis: Redis, *, session_id: str, ttl_s: int, key: str = DEFAULT_KEY) -> None:
    """Deny every access token of one session (refresh family) for the next `ttl_s` seconds."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, f"s:{session_id}", str(int(time.time()) + ttl_s))
        pipe.incr(f"{key}:v")
        pipe.publish(changes_channel(key), "")
        await pipe.execute()


async def revoke_user_tokens(
    redis: Redis, *, user_id: str, min_version: int, ttl_s: int, key: str = DEFAULT_KEY
) -> None:
    """Deny the user's access tokens whose version is below `min_version` for the next `ttl_s` seconds."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, f"u:{user_id}", f"{min_version}:{int(time.time()) + ttl_s}")
        pipe.incr(f"{key}:v")
        pipe.publish(changes_channel(key), "")
        await pipe.execute()


async def restore(
    redis: Redis,
    *,
    sessions: dict[str, int],
    users: dict[str, tuple[int, int]],
    key: str = DEFAULT_KEY,
) -> int:
    """Write again the entries that are missing (or name an older user version) from their authority.

    `sessions` maps session id → expiry, `users` user id → (min version, expiry). The version counter
    moves only when something was written, so gateways reload only then. Returns how many were written.
    """
    wanted: dict[str, tuple[str, int | None]] = {
        f"s:{sid}": (str(exp), None) for sid, exp in sessions.items()
    }
    wanted.update({f"u:{uid}": (f"{ver}:{exp}", ver) for uid, (ver, exp) in users.items()})
    if not wanted:
        return 0
    fields = list(wanted)
    current: list[bytes | str | None] = await redis.hmget(key, fields)
    mapping: dict[FieldT, EncodableT] = {}
    for name, now_value in zip(fields, current, strict=True):
        value, version = wanted[name]
        text = now_value.decode() if isinstance(now_value, bytes) else now_value
        if text is None or (version is not None and int(text.partition(":")[0]) < version):
            mapping[name] = value
    if not mapping:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=mapping)
        pipe.incr(f"{key}:v")
        pipe.publish(changes_channel(key), "")
        await pipe.execute()
    return len(mapping)


class RevocationList:
    """An in-memory mirror of the deny-list, refreshed by `run()` when a write is announced, every
    `check_s` seconds in any case, and every `poll_s` seconds while announcements cannot be followed."""

    def __init__(
        self, redis: Redis, *, key: str = DEFAULT_KEY, poll_s: float = 0.25, check_s: float = CHECK_S
    ) -> None:
        self._redis = redis
        self._key = key
        self.poll_s = poll_s
        self.check_s = max(check_s, poll_s)
        self._version: bytes | str | None = None
        self.sessions: dict[str, int] = {}
        self.users: dict[str, tuple[int, int]] = {}
        self.synced_at = 0.0

    def revoked(self, principal: Principal) -> bool:
        """Whether the principal's token was revoked (a set lookup or two: cheap on the hot path)."""
        if principal.session_id is not None and principal.session_id in self.sessions:
            return True
        entry = self.users.get(principal.user_id)
        return entry is not None and principal.token_version < entry[0]

    async def sync(self) -> None:
        """Reload the list if its version moved; drop (and prune in Redis) entries that expired."""
        version = await self._redis.get(f"{self._key}:v")
        if version == self._version:
            self.synced_at = time.monotonic()
            return
        raw: dict[bytes | str, bytes | str] = await self._redis.hgetall(self._key)
        now = int(time.time())
        sessions: dict[str, int] = {}
        users: dict[str, tuple[int, int]] = {}
        expired: list[bytes | str] = []
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else field
            text = value.decode() if isinstance(value, bytes) else value
            if name.startswith("s:"):
                expires = int(text)
                if expires > now:
                    sessions[name[2:]] = expires
                    continue
            elif name.startswith("u:"):
                min_version, _, expires_text = text.partition(":")
                expires = int(expires_text)
                if expires > now:
                    users[name[2:]] = (int(min_version), expires)
                    continue
            expired.append(field)
        if expired:
            await self._redis.hdel(self._key, *expired)
        self.sessions, self.users, self._version = sessions, users, version
        self.synced_at = time.monotonic()

    async def run(self) -> None:
        """Follow the list until cancelled; a Redis outage keeps the last known list (and is logged once).

        Each announcement, or `check_s` without one, syncs again; so does a fresh subscription at once
        (a write between the last sync and the subscription is seen then). Without a subscription (Redis
        down, or refusing it) the counter is read every `poll_s` and subscribing is tried again."""
        failing = False
        pubsub: PubSub | None = None
        try:
            while True:
                try:
                    await self.sync()
                    failing = False
                except (RedisError, OSError, ValueError) as exc:
                    if not failing:
                        log.warning("revocation.sync_failed", extra={"error": type(exc).__name__})
                    failing = True
                try:
                    if pubsub is None:
                        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                        await pubsub.subscribe(changes_channel(self._key))
                        continue
                    # An announcement, or nothing within `check_s` (None either way: the sync tells).
                    await pubsub.get_message(timeout=self.check_s)
                except (RedisError, OSError, ValueError):
                    await _close(pubsub)
                    pubsub = None
                    await asyncio.sleep(self.poll_s)
        finally:
            await _close(pubsub)


async def _close(pubsub: PubSub | None) -> None:
    if pubsub is not None:
        with contextlib.suppress(Exception):
            await pubsub.aclose()  # type: ignore[no-untyped-call]

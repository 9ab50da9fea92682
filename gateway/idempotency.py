"""`Idempotency-Key` on POSTs, kept by the gateway for every service.

A client that retries a create (a timeout, a dropped connection) sends the same `Idempotency-Key`: the
first request is forwarded, its answer stored in Redis for `ttl_s`; a repeat with the same method, path
and body gets that answer again (`Idempotent-Replayed: true`) and the service never sees it. The same key
with another request is a 422; a repeat while the first is still running is a 409 (`Retry-After: 1`).

Keys are scoped by tenant and caller, so two callers never share one. Answers of 500 and above, and those
the gateway could not forward, are not kept (the key is released: the client may retry). Streamed uploads
(bulk imports) are not covered: their body is not in hand to compare; the import routes answer per line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.auth import Principal
from shared.errors import PROBLEMS, BadRequest, Conflict, ProblemError, ServiceUnavailable
from shared.telemetry import Send

HEADER = b"idempotency-key"
# What a key may be: printable ASCII without spaces, as in the IETF Idempotency-Key draft's examples.
_VALID_KEY = re.compile(rb"[\x21-\x7e]{1,255}")
# Answers larger than this are passed through but not kept (the key is released).
MAX_STORED_BODY = 256 * 1024
# Headers of the first answer that a replay repeats (the rest are per request: ids, limits, dates).
_REPLAYED = frozenset({b"content-type", b"location", b"etag", b"content-location", b"cache-control"})


class IdempotencyKeyReused(ProblemError):
    """The key was used for another request (method, path or body differ)."""

    status = 422
    type = PROBLEMS + "idempotency-key-reused"


class IdempotencyKeyInUse(Conflict):
    """The first request with this key is still being answered."""

    type = PROBLEMS + "idempotency-key-in-use"


@dataclass(frozen=True)
class Stored:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def parse_key(value: bytes) -> bytes:
    """The client's key, or a 400 naming what a key may be."""
    if not _VALID_KEY.fullmatch(value):
        raise BadRequest("Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.")
    return value


def fingerprint(method: str, target: str, body: bytes) -> str:
    """What makes two requests "the same": method, path with query, and the exact body bytes."""
    digest = hashlib.sha256(f"{method} {target}\n".encode())
    digest.update(body)
    return digest.hexdigest()


class IdempotencyStore:
    """Keys and the answers they got, in Redis (one SET NX to claim, one GET on a repeat)."""

    def __init__(self, redis: Redis, *, ttl_s: int, prefix: str = "rapport:idem") -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.prefix = prefix

    def key_of(self, principal: Principal, key: bytes) -> str:
        # Hashed: the client's key is not ours to put in Redis key names verbatim.
        scoped = hashlib.sha256(key).hexdigest()
        return f"{self.prefix}:{principal.tenant_id}:{principal.user_id}:{scoped}"

    async def claim(self, name: str, fp: str) -> Stored | None:
        """None: the key is this request's now (forward it). Else the stored answer to replay; a 422 if
        the key was used for another request, a 409 while the first is still running."""
        pending = json.dumps({"fp": fp, "state": "pending"})
        try:
            if await self.redis.set(name, pending, nx=True, ex=self.ttl_s):
                return None
            raw = await self.redis.get(name)
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Idempotency keys cannot be checked right now; retry shortly.") from exc
        if raw is None:  # expired between the two calls: claim again
            return await self.claim(name, fp)
        entry: dict[str, Any] = json.loads(raw)
        if entry["fp"] != fp:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used for another request (method, path or body differ)."
            )
        if entry["state"] == "pending":
            raise IdempotencyKeyInUse(
                "The first request with this Idempotency-Key is still being answered.",
                headers={"Retry-After": "1"},
            )
        return Stored(
            status=entry["status"],
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in entry["headers"]],
            body=base64.b64decode(entry["body"]),
        )

    async def keep(self, name: str, fp: str, answer: Recorded) -> None:
        """Store the answer for later repeats, or release the key when it should not be kept."""
        if answer.status is None or answer.status >= 500 or answer.overflow:
            await self.release(name)
            return
        entry = {
            "fp": fp,
            "state": "done",
            "status": answer.status,
            "headers": [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.headers],
            "body": base64.b64encode(b"".join(answer.chunks)).decode("ascii"),
        }
        await self.redis.set(name, json.dumps(entry), ex=self.ttl_s)

    async def release(self, name: str) -> None:
        await self.redis.delete(name)


class Recorded:
    """A `send` that passes the upstream's answer through and keeps a copy (up to MAX_STORED_BODY)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [(k, v) for k, v in message.get("headers", []) if k.lower() in _REPLAYED]
        elif message["type"] == "http.response.body" and not self.overflow:
            chunk: bytes = message.get("body", b"")
            self.size += len(chunk)
            if self.size > MAX_STORED_BODY:
                self.overflow = True
                self.chunks = []
            else:
                self.chunks.append(chunk)
        await self._send(message)


async def replay(send: Send, stored: Stored, reply: list[tuple[bytes, bytes]], *, head: bool) -> None:
    """Answer with a stored answer (the gateway's per-request headers are this request's own)."""
    headers = [
        *stored.headers,
        (b"content-length", str(len(stored.body)).encode()),
        (b"idempotent-replayed", b"true"),
        *reply,
    ]
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else stored.body})

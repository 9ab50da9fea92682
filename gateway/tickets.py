"""Single-use tickets for the event streams a browser opens with `EventSource`, which sends no headers.

`POST /v1/conversations/stream/tickets`, authenticated as usual, answers `{ticket, expires_at}`; then
`GET /v1/conversations/stream?ticket=…` is admitted without an `Authorization` header, once. The gateway
checks tickets because it is the one place that authenticates every request and holds Redis.

A ticket is 256 random bits. Redis keeps, under the ticket's SHA-256 (never the ticket itself), the
access token that asked for it and the path it opens, for `stream_ticket_ttl_s` and never past the
token's own expiry. Redeeming is one `GETDEL`: a second use, an expired or an unknown ticket finds
nothing and is a 401. The token found is then verified again exactly as if the client had sent it (a
session ended meanwhile is refused) and forwarded as the `Authorization` header, so the service checks
the caller as it checks any other; the `ticket` parameter itself never reaches the service, and is never
logged. A leaked ticket is worth at most one stream of its path within its short life.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.auth import Principal
from shared.errors import PROBLEMS, ServiceUnavailable, Unauthorized

PARAMETER = b"ticket"
# What `secrets.token_urlsafe(32)` makes; anything else is refused without asking Redis.
_VALID = re.compile(r"[A-Za-z0-9_-]{43}")


class TicketInvalid(Unauthorized):
    """The ticket is unknown, expired, used already, or for another path."""

    type = PROBLEMS + "ticket-invalid"


def take_ticket(query: bytes) -> tuple[bytes, str | None]:
    """The query string without its `ticket` parameters, and the (last) ticket it carried."""
    ticket: str | None = None
    kept: list[bytes] = []
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if name == PARAMETER:
            ticket = unquote(value.decode("latin-1"))
        elif part:
            kept.append(part)
    return b"&".join(kept), ticket


class TicketStore:
    """Issues and redeems tickets in Redis (one SET to issue, one GETDEL to redeem)."""

    def __init__(self, redis: Redis, *, ttl_s: int, prefix: str = "rapport:ticket") -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.prefix = prefix

    def _key(self, ticket: str) -> str:
        return f"{self.prefix}:{hashlib.sha256(ticket.encode()).hexdigest()}"

    async def issue(self, *, token: str, principal: Principal, path: str) -> tuple[str, datetime]:
        """A new ticket opening `path` once as the bearer of `token`, and when it expires."""
        now = time.time()
        ttl = min(self.ttl_s, int(principal.expires_at - now))
        if ttl < 1:
            raise Unauthorized("The token is about to expire; refresh it first.")
        ticket = secrets.token_urlsafe(32)
        entry = json.dumps({"token": token, "path": path})
        try:
            await self.redis.set(self._key(ticket), entry, ex=ttl)
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Tickets cannot be issued right now; retry shortly.") from exc
        return ticket, datetime.fromtimestamp(now + ttl, UTC)

    async def redeem(self, ticket: str, *, path: str) -> str:
        """The access token a ticket stands for, the ticket used up; `TicketInvalid` if there is none."""
        if not _VALID.fullmatch(ticket):
            raise TicketInvalid("The ticket is not valid.")
        try:
            raw = await self.redis.getdel(self._key(ticket))
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Tickets cannot be checked right now; retry shortly.") from exc
        if raw is None:
            raise TicketInvalid("The ticket is unknown, expired or used already.")
        entry = json.loads(raw)
        if entry.get("path") != path:
            raise TicketInvalid("The ticket does not open this path.")
        token: str = entry["token"]
        return token

"""identity's JWKS, cached in the gateway: served to clients and used by the token verifier.

Public JWKS fetches are answered from memory (at most one request to identity per `ttl_s`), so a burst
of them costs identity nothing; the verifier's refreshes (on an unknown `kid`, or every few minutes)
go to identity and refresh the served copy too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from gateway.errors import BadGateway
from gateway.proxy import Upstreams

log = logging.getLogger("rapport.gateway.jwks")


class JWKSCache:
    """The last JWKS document identity served, and when it was fetched."""

    def __init__(self, upstreams: Upstreams, *, ttl_s: float, timeout_s: float) -> None:
        self._upstreams = upstreams
        self._url = f"{upstreams.bases['identity']}/.well-known/jwks.json"
        self.ttl_s = ttl_s
        self._timeout_s = timeout_s
        self.body: bytes | None = None
        self.keys: list[Any] = []
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def fetch(self) -> dict[str, Any]:
        """Fetch the key set from identity now (the verifier's JWKS source); raises if identity fails."""
        status, body = await self._upstreams.get(self._url, within_s=self._timeout_s)
        if status != 200:
            raise BadGateway(f"identity answered {status} for its key set.")
        data: dict[str, Any] = json.loads(body)
        keys = data.get("keys")
        if not isinstance(keys, list):
            raise BadGateway("identity's key set is malformed.")
        self.body, self.keys, self._fetched_at = body, keys, time.monotonic()
        return data

    def fresh(self) -> bool:
        return self.body is not None and time.monotonic() - self._fetched_at < self.ttl_s

    async def document(self) -> bytes:
        """The cached document, refetched once it is older than `ttl_s` (a stale copy if identity fails)."""
        if not self.fresh():
            async with self._lock:
                if not self.fresh():
                    try:
                        await self.fetch()
                    except Exception as exc:
                        if self.body is None:
                            raise BadGateway("identity's key set is unavailable.") from exc
                        log.warning("gateway.jwks_stale", extra={"error": type(exc).__name__})
        assert self.body is not None
        return self.body

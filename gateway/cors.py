"""CORS for browser apps on other origins: preflights answered before any token or rate limit.

Only configured origins (`RAPPORT_CORS_ORIGINS`, none by default) get CORS headers; a request from any
other origin passes on untouched, so its preflight meets the route's usual answer (a 401 or 404) with no
`Access-Control-*` header, and the browser refuses. Tokens travel in `Authorization`, never in cookies,
so credentials are not allowed.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from shared.telemetry import ASGIApp, Receive, Scope, Send

METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
# What a browser app may send, and the response headers it may read besides the CORS-safelisted ones.
ALLOW_HEADERS = frozenset({b"authorization", b"content-type", b"x-request-id", b"traceparent", b"tracestate"})
EXPOSE_HEADERS = (
    b"Location, Retry-After, X-Request-Id, RateLimit-Limit, RateLimit-Remaining, WWW-Authenticate"
)
MAX_AGE = b"600"


class CORSMiddleware:
    """Pure-ASGI CORS for `origins` (`*` admits any origin); a no-op on requests without `Origin`."""

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(o.rstrip("/").encode("latin-1") for o in origins if o != "*")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = _header(scope, b"origin") if scope["type"] == "http" else None
        if origin is None or not (self.any_origin or origin in self.origins):
            await self.app(scope, receive, send)
            return
        requested = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested is not None:
            await self._preflight(scope, send, origin)
            return
        cors = [
            (b"access-control-allow-origin", origin),
            (b"access-control-expose-headers", EXPOSE_HEADERS),
            (b"vary", b"Origin"),
        ]

        async def with_cors(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *cors]
            await send(message)

        await self.app(scope, receive, with_cors)

    async def _preflight(self, scope: Scope, send: Send, origin: bytes) -> None:
        asked = _header(scope, b"access-control-request-headers") or b""
        names = [n.strip().lower() for n in asked.split(b",") if n.strip()]
        allowed = b", ".join(n for n in names if n in ALLOW_HEADERS)
        headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", METHODS),
            *([(b"access-control-allow-headers", allowed)] if allowed else []),
            (b"access-control-max-age", MAX_AGE),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None

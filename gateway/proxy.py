"""Forwarding to the services over one pooled aiohttp session (a plain httpx pool is ~10x slower)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import Any

import aiohttp
from yarl import URL

from gateway.errors import BadGateway, GatewayTimeout
from gateway.settings import GatewaySettings
from shared.telemetry import Send

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Upstream responses bigger than this (or of unknown length) are streamed instead of buffered.
BUFFER_LIMIT = 1024 * 1024
# uvicorn writes its own Date and Server; the gateway sets the request id itself.
_DROP_RESPONSE = HOP_BY_HOP | {b"date", b"server", b"x-request-id"}


def create_session(settings: GatewaySettings) -> aiohttp.ClientSession:
    """The one pooled client session of the process (created in the lifespan, closed with it)."""
    connector = aiohttp.TCPConnector(
        limit=settings.upstream_pool_size,
        limit_per_host=0,
        keepalive_timeout=settings.upstream_keepalive_s,
        ttl_dns_cache=300,
    )
    return aiohttp.ClientSession(
        connector=connector,
        # No total deadline (a long download may stream for minutes), but the upstream must answer and
        # keep sending within `upstream_timeout_s`, else the client gets a 504.
        timeout=aiohttp.ClientTimeout(
            total=None, connect=settings.upstream_connect_timeout_s, sock_read=settings.upstream_timeout_s
        ),
        # Never keep cookies between clients, never add headers the client did not send, pass bodies
        # through byte for byte (a compressed answer stays compressed, with its Content-Encoding).
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        auto_decompress=False,
        trust_env=False,
    )


class ResponseAborted(Exception):
    """The upstream failed after its response had started streaming to the client."""


class Upstreams:
    """Sends one request to a service and streams its answer back to the ASGI client."""

    def __init__(self, session: aiohttp.ClientSession, bases: dict[str, str]) -> None:
        self.session = session
        self.bases = bases

    async def forward(
        self,
        send: Send,
        *,
        service: str,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | AsyncIterable[bytes] | None,
        extra_headers: list[tuple[bytes, bytes]],
        timeout_s: float | None = None,
    ) -> int:
        """Proxy the request; returns the upstream status. Raises `BadGateway`/`GatewayTimeout` before
        anything was sent to the client (afterwards a failure can only cut the connection)."""
        url = URL(self.bases[service] + target, encoded=True)
        # A route's own (longer) wait for the answer; else the session's default (an explicit None
        # would mean no limit at all).
        options: dict[str, Any] = {}
        if timeout_s:
            options["timeout"] = aiohttp.ClientTimeout(
                total=None, connect=self.session.timeout.connect, sock_read=timeout_s
            )
        try:
            async with self.session.request(
                method, url, headers=headers, data=body, allow_redirects=False, **options
            ) as resp:
                out = [(k.lower(), v) for k, v in resp.raw_headers if k.lower() not in _DROP_RESPONSE]
                out.extend(extra_headers)
                length = resp.content_length
                if method == "HEAD" or (length is not None and length <= BUFFER_LIMIT):
                    data = await resp.read()
                    await send({"type": "http.response.start", "status": resp.status, "headers": out})
                    await send({"type": "http.response.body", "body": data})
                    return resp.status
                await send({"type": "http.response.start", "status": resp.status, "headers": out})
                try:
                    async for chunk in resp.content.iter_any():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    # Too late for a problem document: cutting the connection tells the client.
                    raise ResponseAborted(service) from exc
                await send({"type": "http.response.body", "body": b""})
                return resp.status
        except TimeoutError as exc:
            raise GatewayTimeout(f"The {service} service did not answer in time.") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise BadGateway(f"The {service} service is unreachable.") from exc

    async def get(self, url: str, *, within_s: float) -> tuple[int, bytes]:
        """A small internal GET (readiness, OpenAPI, JWKS)."""
        async with asyncio.timeout(within_s), self.session.get(url) as resp:
            return resp.status, await resp.read()

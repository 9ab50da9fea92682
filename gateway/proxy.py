"""Forwarding to the services over one pooled aiohttp session (a plain httpx pool is ~10x slower)."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterable, Awaitable
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp.client_reqrep import ClientRequest, ConnectionKey
from aiohttp.tracing import Trace
from yarl import URL

from gateway.errors import BadGateway, GatewayTimeout
from gateway.settings import GatewaySettings
from shared.telemetry import Receive, Send

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
# uvicorn writes its own Date and Server, and the gateway's uvicorn adds the security headers to every
# answer (shared/runner.py); the gateway sets the request id itself.
_DROP_RESPONSE = HOP_BY_HOP | {
    b"date",
    b"server",
    b"x-request-id",
    b"x-content-type-options",
    b"referrer-policy",
}


# Whether the connection the current request went out on came from the pool (set by `_PoolConnector`).
_reused: ContextVar[bool] = ContextVar("upstream_connection_reused", default=False)
# RFC 9110 9.2.2 (aiohttp retries these itself, once, on any connection).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class _PoolConnector(aiohttp.TCPConnector):
    """A TCPConnector that records whether each request got a pooled (already used) connection."""

    async def connect(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109
    ) -> aiohttp.connector.Connection:
        _reused.set(False)
        return await super().connect(req, traces, timeout)

    async def _get(self, key: ConnectionKey, traces: list[Trace]) -> aiohttp.connector.Connection | None:
        conn = await super()._get(key, traces)
        if conn is not None:
            _reused.set(True)
        return conn


def create_session(settings: GatewaySettings) -> aiohttp.ClientSession:
    """The one pooled client session of the process (created in the lifespan, closed with it)."""
    connector = _PoolConnector(
        limit=settings.upstream_pool_size,
        limit_per_host=0,
        keepalive_timeout=settings.upstream_keepalive_s,
        ttl_dns_cache=300,
    )
    # No total deadline (a long download may stream for minutes), but the upstream must answer and keep
    # sending within `upstream_timeout_s`, else the client gets a 504.
    timeout = aiohttp.ClientTimeout(
        total=None, connect=settings.upstream_connect_timeout_s, sock_read=settings.upstream_timeout_s
    )
    return _client_session(connector, timeout)


def _client_session(
    connector: aiohttp.BaseConnector, timeout: aiohttp.ClientTimeout
) -> aiohttp.ClientSession:
    """A client session that passes requests and answers through as they are: no cookies kept between
    clients, no headers the client did not send, bodies byte for byte (a compressed answer stays
    compressed, with its Content-Encoding)."""
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        auto_decompress=False,
        trust_env=False,
    )


class ResponseAborted(Exception):
    """The upstream failed after its response had started streaming to the client."""


class _NotAnswered(Exception):
    """The upstream failed before any byte of its answer arrived (the request may be tried again)."""

    def __init__(self, cause: BaseException, *, reused: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.reused = reused


def _may_retry(method: str, body: object, failure: _NotAnswered) -> bool:
    """Whether a request that got no answer is sent once more, on a new connection.

    Only a connection taken from the pool qualifies, and only when not one byte of answer arrived: the
    service may have closed it while the gateway was taking it and writing to it — its keep-alive ran out,
    or (before services rendered their own 500s) uvicorn closed it after a request whose app raised. Our
    request then lands on a closed socket and the service's kernel answers with a reset (measured: a
    POST right after a service's 500 got `ClientOSError(ECONNRESET)` on a reused connection), or its FIN
    arrives first (`ServerDisconnectedError`). Either way the application never read the request.
    A service that reads a request and dies while processing it closes with nothing unread, which is a
    FIN: that case cannot be told from the keep-alive race, so a POST or PATCH may, rarely, be processed
    twice. That is the risk every keep-alive client takes (RFC 9112 9.3.1); ingest de-duplicates on
    (platform, external id), so a resent post is a duplicate, not a second post. aiohttp itself resends
    idempotent methods once on these errors; a stream body was consumed by the first try and is never
    sent again.
    """
    if not failure.reused or not (body is None or isinstance(body, bytes)):
        return False
    cause = failure.cause
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return True
    if method in IDEMPOTENT:
        return isinstance(cause, aiohttp.ClientOSError)
    return isinstance(cause, aiohttp.ClientOSError) and cause.errno in (errno.ECONNRESET, errno.EPIPE)


async def _copy(resp: aiohttp.ClientResponse, send: Send, service: str) -> None:
    """Stream the upstream's body to the client, chunk by chunk as it arrives."""
    try:
        async for chunk in resp.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        # Too late for a problem document: cutting the connection tells the client.
        raise ResponseAborted(service) from exc


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(work: Awaitable[None], receive: Receive) -> bool:
    """Run `work` to its end (True; its error raised) unless the client disconnects first (False)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
    if not task.done() or task.cancelled():
        return False
    task.result()
    return True


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
        receive: Receive | None = None,
    ) -> int:
        """Proxy the request; returns the upstream status. Raises `BadGateway`/`GatewayTimeout` before
        anything was sent to the client (afterwards a failure can only cut the connection).

        With `receive` (the client's, its body already read), a streamed answer stops as soon as the
        client disconnects, and the upstream connection is closed: an endless answer (an event stream)
        would otherwise be read for nobody, its sends dropped, for as long as the service keeps writing."""
        url = URL(self.bases[service] + target, encoded=True)
        # A route's own (longer) wait for the answer; else the session's default (an explicit None
        # would mean no limit at all).
        options: dict[str, Any] = {}
        if timeout_s:
            options["timeout"] = aiohttp.ClientTimeout(
                total=None, connect=self.session.timeout.connect, sock_read=timeout_s
            )
        request = (method, url, headers, body, extra_headers, options, service, receive)
        try:
            try:
                return await self._send(self.session, send, *request)
            except _NotAnswered as failure:
                if not _may_retry(method, body, failure):
                    raise failure.cause from failure
            # A session of its own, whose one connection is new and closed afterwards: the pool may hold
            # more connections the service closed.
            async with _client_session(aiohttp.TCPConnector(force_close=True), self.session.timeout) as fresh:
                try:
                    return await self._send(fresh, send, *request)
                except _NotAnswered as failure:
                    raise failure.cause from failure
        except TimeoutError as exc:
            raise GatewayTimeout(f"The {service} service did not answer in time.") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise BadGateway(f"The {service} service is unreachable.") from exc

    async def _send(
        self,
        session: aiohttp.ClientSession,
        send: Send,
        method: str,
        url: URL,
        headers: list[tuple[str, str]],
        body: bytes | AsyncIterable[bytes] | None,
        extra_headers: list[tuple[bytes, bytes]],
        options: dict[str, Any],
        service: str,
        receive: Receive | None,
    ) -> int:
        try:
            resp = await session.request(
                method, url, headers=headers, data=body, allow_redirects=False, **options
            )
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            raise _NotAnswered(exc, reused=_reused.get()) from exc
        async with resp:
            out = [(k.lower(), v) for k, v in resp.raw_headers if k.lower() not in _DROP_RESPONSE]
            out.extend(extra_headers)
            length = resp.content_length
            if method == "HEAD" or (length is not None and length <= BUFFER_LIMIT):
                data = await resp.read()
                await send({"type": "http.response.start", "status": resp.status, "headers": out})
                await send({"type": "http.response.body", "body": data})
                return resp.status
            await send({"type": "http.response.start", "status": resp.status, "headers": out})
            copying = _copy(resp, send, service)
            if receive is not None and not await _unless_disconnected(copying, receive):
                resp.close()
                raise ResponseAborted(service)
            if receive is None:
                await copying
            await send({"type": "http.response.body", "body": b""})
            return resp.status

    async def get(self, url: str, *, within_s: float) -> tuple[int, bytes]:
        """A small internal GET (readiness, OpenAPI, JWKS)."""
        async with asyncio.timeout(within_s), self.session.get(url) as resp:
            return resp.status, await resp.read()

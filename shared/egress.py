"""Outbound HTTP to tenant-given URLs, public addresses only (SSRF guard).

A URL a tenant gives (a feed, a platform's base URL, a webhook endpoint) is checked when it is saved
(`check_public_url`) and again on every connection: `public_transport` dials the very address it vetted,
so a DNS answer that changes between the check and the connection (rebinding) cannot move it to a
private, loopback, link-local or metadata address. `guarded_client` is the client built on it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx


class UnsafeURL(ValueError):
    """A tenant-given URL names a private, loopback, link-local or otherwise non-public address."""


# IPv6 forms that carry an IPv4 address a gateway or the kernel may deliver to: judged by that address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")  # IPv4-mapped: the last 32 bits
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # RFC 3056: bits 16-48
# Never dialled: local-use NAT64 (RFC 8215), deprecated IPv4-compatible (::a.b.c.d, also :: and ::1),
# Teredo (its client address is obfuscated and it reaches hosts through relays we do not choose).
_REFUSED_V6 = (
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("2001::/32"),
)


def _public(address: str) -> bool:
    """Whether an address (IPv4 or IPv6, a zone id allowed) is public; a transition form is judged by
    the IPv4 address it embeds."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _MAPPED or ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip in _SIX_TO_FOUR:
            ip = ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
        elif any(ip in net for net in _REFUSED_V6) or ip.is_site_local:
            return False
    return ip.is_global and not ip.is_multicast


async def resolve_public(host: str, port: int | None) -> list[tuple[Any, ...]]:
    """The host's addresses (`getaddrinfo` entries), resolved once; UnsafeURL unless all are public.

    Callers connect to exactly these, never to the name again, so a DNS answer that changes between the
    check and the connection (rebinding) cannot move the connection to a private address.
    """
    host = host.strip("[]")
    if not host:
        raise UnsafeURL("the URL has no host")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeURL("the URL's host does not resolve") from exc
    if not infos or not all(_public(str(info[4][0])) for info in infos):
        raise UnsafeURL("the URL's host is not a public address")
    return list(infos)


async def check_public_url(url: str) -> None:
    """Raise UnsafeURL unless every address the URL's host resolves to is a public one (SSRF guard)."""
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:
        raise UnsafeURL("the URL is not valid") from exc
    if not host:
        raise UnsafeURL("the URL has no host")
    await resolve_public(host, None)


async def connect_public(host: str, port: int) -> socket.socket:
    """A TCP connection (websockets) to an address of the host vetted by `resolve_public`."""
    loop = asyncio.get_running_loop()
    error: OSError | None = None
    for family, kind, proto, _, address in await resolve_public(host, port):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError("no address to connect to")


class PublicNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's TCP dialler for pullers: each connection (redirects included) goes to an address of the
    host vetted by `resolve_public`; TLS still names the host (SNI, certificate) and so does `Host`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        async with asyncio.timeout(timeout):
            infos = await resolve_public(host, port)
        error: Exception | None = None
        for info in infos:
            try:
                return await self.inner.connect_tcp(
                    str(info[4][0]),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError("no address to connect to")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeURL("unix sockets are not dialled")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def public_transport(backend: httpcore.AsyncNetworkBackend | None = None) -> httpx.AsyncHTTPTransport:
    """An httpx transport that dials through `PublicNetworkBackend` and ignores proxy settings."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx takes no network backend argument: its pool gets ours (tests prove it is the one dialling).
    pool = transport._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    pool._network_backend = backend or PublicNetworkBackend()
    return transport


def guarded_client(
    *,
    allow_private: bool,
    timeout: httpx.Timeout | float,
    follow_redirects: bool,
    headers: Mapping[str, str] | None = None,
    max_redirects: int = 5,
) -> httpx.AsyncClient:
    """An HTTP client for tenant-given URLs; unless `allow_private` (self-hosted setups, tests), every
    connection (redirects too) is dialled to an address vetted as public when it is made
    (`public_transport`), and proxy settings from the environment are ignored (a proxy would resolve
    the name again)."""
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        headers=dict(headers or {}),
        transport=None if allow_private else public_transport(),
        trust_env=allow_private,
    )

"""API7 SSRF: tenant-given URLs (feeds, Mastodon, Bluesky, Graph API base) reach public addresses only.

IPv6 forms that embed an IPv4 address (NAT64, 6to4, Teredo, IPv4-mapped and -compatible) are judged by
that address, and pullers dial the very address they vetted, so a DNS answer that changes between the
check and the connection (rebinding) cannot move them to a private one. The test stack allows private
URLs (its stand-in platforms listen on 127.0.0.1): the HTTP tests run a listening replica without that.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx
import pytest

from rapport.stack import Stack
from shared.egress import (
    PublicNetworkBackend,
    UnsafeURL,
    check_public_url,
    public_transport,
)
from tests.helpers import Tenant, assert_problem, replica

TRANSITION_URLS = [
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254 (cloud metadata)
    "http://[::127.0.0.1]:8001/",  # IPv4-compatible loopback
    "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
    "http://[64:ff9b:1::a00:1]/",  # local-use NAT64 of 10.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
    "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped, hex form
    "http://[::]/",
]
CLASSIC_URLS = [
    "http://127.0.0.1:8000/feed",
    "http://localhost/feed",
    "http://10.1.2.3/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
]


@pytest.mark.parametrize("url", TRANSITION_URLS + CLASSIC_URLS)
@pytest.mark.anyio
async def test_transition_and_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        await check_public_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::808:808]/",  # NAT64 of a public address (DNS64 networks answer like this)
        "http://[2002:808:808::1]/",  # 6to4 of a public address
        "http://[::ffff:8.8.8.8]/",
        "https://93.184.215.14/feed.xml",
    ],
)
@pytest.mark.anyio
async def test_transition_forms_of_public_addresses_pass(url: str) -> None:
    await check_public_url(url)


OK_RESPONSE = [b"HTTP/1.1 200 OK\r\n", b"Content-Length: 2\r\n", b"\r\n", b"ok"]


class RecordingBackend(httpcore.AsyncMockBackend):
    """Answers every connection with canned bytes and records the address it was asked to dial."""

    def __init__(self, buffer: list[bytes]) -> None:
        super().__init__(buffer)
        self.dialled: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        return await super().connect_tcp(host, port, timeout, local_address, socket_options)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Names answered from a script: each lookup of a name takes the next answer (the last repeats)."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        script = answers[host]
        addresses = script.pop(0) if len(script) > 1 else script[0]
        return [
            real(address, port, type=socket.SOCK_STREAM)[0] for address in addresses
        ]  # numeric: no lookup

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.anyio
async def test_connection_goes_to_the_address_that_was_vetted(resolver: dict[str, list[list[str]]]) -> None:
    # Public at the first lookup, loopback afterwards: a check followed by a second lookup would dial
    # 127.0.0.1; the backend resolves once per connection and dials what it vetted.
    resolver["rebind.example"] = [["93.184.215.14"], ["127.0.0.1"]]
    inner = RecordingBackend(OK_RESPONSE)

    async with httpx.AsyncClient(transport=public_transport(PublicNetworkBackend(inner))) as client:
        response = await client.get("http://rebind.example:8080/feed.xml")
        assert response.status_code == 200 and response.text == "ok"
        assert response.request.headers["Host"] == "rebind.example:8080"
        # The next connection (a new client: no pooled connection) gets the loopback answer.
    async with httpx.AsyncClient(transport=public_transport(PublicNetworkBackend(inner))) as client:
        with pytest.raises(UnsafeURL):
            await client.get("http://rebind.example:8080/feed.xml")

    assert inner.dialled == ["93.184.215.14"]


@pytest.mark.anyio
async def test_a_name_with_any_private_answer_is_not_dialled(resolver: dict[str, list[list[str]]]) -> None:
    resolver["mixed.example"] = [["93.184.215.14", "10.0.0.7"]]
    resolver["nat64.example"] = [["64:ff9b::a9fe:a9fe"]]
    inner = RecordingBackend(OK_RESPONSE)

    async with httpx.AsyncClient(transport=public_transport(PublicNetworkBackend(inner))) as client:
        for url in ("http://mixed.example/", "https://nat64.example/", "http://[::127.0.0.1]:8001/"):
            with pytest.raises(UnsafeURL):
                await client.get(url)

    assert inner.dialled == []


@pytest.mark.anyio
async def test_redirects_are_vetted_when_dialled(resolver: dict[str, list[list[str]]]) -> None:
    resolver["feeds.example"] = [["93.184.215.14"]]
    resolver["internal.example"] = [["169.254.169.254"]]
    redirect = [
        b"HTTP/1.1 302 Found\r\n",
        b"Location: http://internal.example/latest/meta-data/\r\n",
        b"Content-Length: 0\r\n",
        b"\r\n",
    ]
    inner = RecordingBackend(redirect)

    transport = public_transport(PublicNetworkBackend(inner))
    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as client:
        with pytest.raises(UnsafeURL):
            await client.get("http://feeds.example/rss")

    assert inner.dialled == ["93.184.215.14"]


@pytest.mark.anyio
async def test_pullers_client_refuses_a_private_address_in_production() -> None:
    from services.listening.channels.pullers import _guarded_client

    async with _guarded_client(False) as client:
        with pytest.raises(UnsafeURL):
            await client.get("http://127.0.0.1:9/")


# --- through HTTP, against a listening replica started without RAPPORT_CONNECTOR_ALLOW_PRIVATE_URLS ---


@pytest.fixture(scope="module")
def production(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A client on a listening replica (the stack's database and NATS) that refuses private URLs."""
    env = {"RAPPORT_CONNECTOR_ALLOW_PRIVATE_URLS": "false", "RAPPORT_CONNECTOR_PULLERS": "false"}
    with (
        replica(stack, "listening", tmp_path_factory.mktemp("ssrf"), env=env) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


@pytest.mark.slow
def test_channel_urls_naming_transition_addresses_are_refused(
    production: httpx.Client, tenant: Tenant
) -> None:
    meta = {"app_secret": "whsec-1", "verify_token": "vt-1"}
    for url in TRANSITION_URLS[:3] + CLASSIC_URLS[:4]:
        feed = {"platform": "rss", "name": "feed", "settings": {"url": url}}
        refused = assert_problem(production.post("/v1/channels", json=feed, headers=tenant.headers), 422)
        assert refused["detail"].startswith("settings.url:")
        graph = {"platform": "meta", "name": "page", "settings": {"graph_base_url": url}, "credentials": meta}
        refused = assert_problem(production.post("/v1/channels", json=graph, headers=tenant.headers), 422)
        assert refused["detail"].startswith("settings.graph_base_url:")
        # Where replies are sent: X's API base is the tenant's to set, so it is vetted the same way.
        x = {
            "platform": "x",
            "name": "x",
            "settings": {"api_base_url": url},
            "credentials": {"consumer_secret": "c"},
        }
        refused = assert_problem(production.post("/v1/channels", json=x, headers=tenant.headers), 422)
        assert refused["detail"].startswith("settings.api_base_url:")
    listed = production.get("/v1/channels", headers=tenant.headers)
    assert listed.status_code == 200 and listed.json()["items"] == []

    # A push channel (nothing pulls it) whose Graph API base is then changed.
    page = {"platform": "meta", "name": "page", "credentials": meta}
    created = production.post("/v1/channels", json=page, headers=tenant.headers)
    assert created.status_code == 201, created.text
    channel = created.json()
    for url in TRANSITION_URLS[:3]:
        patched = production.patch(
            f"/v1/channels/{channel['id']}",
            json={"settings": {"graph_base_url": url}},
            headers=tenant.headers,
        )
        assert assert_problem(patched, 422)["detail"].startswith("settings.graph_base_url:")
    after = production.get(f"/v1/channels/{channel['id']}", headers=tenant.headers)
    assert after.status_code == 200 and after.json()["settings"] == channel["settings"]

"""API8: input a schema allows but the code cannot handle never answers 500, and a service's error never
costs another client's request its answer (the gateway once answered 502 to the next tenant after a 500).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from gateway.errors import BadGateway
from gateway.proxy import Upstreams, create_session
from gateway.settings import GatewaySettings
from rapport.stack import Stack, free_port
from shared.errors import install_error_handlers
from tests.helpers import Tenant, assert_problem, mention_payload, signup, unique, wait_until

# UTC conversion of these overflows Python's datetime range (year 1 at +14:00, year 9999 at -14:00).
OVERFLOWING_DATES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
# Far outside any post's lifetime, though representable.
OUT_OF_RANGE_DATES = [*OVERFLOWING_DATES, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]


@pytest.fixture(scope="module")
def tenants(stack: Stack) -> list[Tenant]:
    """Two tenants for the whole module: refused requests change nothing, so they can be shared."""
    with httpx.Client(base_url=stack.url("identity"), timeout=30) as accounts:
        return [signup(accounts), signup(accounts)]


@pytest.fixture
def tenant(tenants: list[Tenant]) -> Tenant:
    return tenants[0]


@pytest.fixture
def other_tenant(tenants: list[Tenant]) -> Tenant:
    return tenants[1]


def _author(**overrides: Any) -> dict[str, Any]:
    return {"handle": unique("user"), "followers": 10, **overrides}


@pytest.mark.parametrize("followers", [2**63, 2**64, 10**30])
def test_huge_follower_count_is_422_and_the_next_tenant_is_answered(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant, followers: int
) -> None:
    body = mention_payload(author=_author(followers=followers))
    problem = assert_problem(client.post("/v1/mentions", json=body, headers=tenant.headers), 422)
    assert str(followers) not in json.dumps(problem)
    # The very next request, from another tenant, gets its own answer.
    response = client.post("/v1/mentions", json=mention_payload(), headers=other_tenant.headers)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("field", ["likes", "reposts", "replies"])
def test_huge_engagement_count_is_422(client: httpx.Client, tenant: Tenant, field: str) -> None:
    body = mention_payload(engagement={field: 2**63})
    assert_problem(client.post("/v1/mentions", json=body, headers=tenant.headers), 422)


@pytest.mark.parametrize("created_at", OUT_OF_RANGE_DATES)
def test_created_at_out_of_range_is_422(client: httpx.Client, tenant: Tenant, created_at: str) -> None:
    body = mention_payload(created_at=created_at)
    assert_problem(client.post("/v1/mentions", json=body, headers=tenant.headers), 422)
    batch = {"mentions": [mention_payload(), body]}
    assert_problem(client.post("/v1/mentions/batch", json=batch, headers=tenant.headers), 422)


def test_usual_dates_are_still_accepted(client: httpx.Client, tenant: Tenant) -> None:
    usual = ("1970-01-01T00:00:00Z", "2024-02-29T23:59:59.999999-12:00", "2999-12-31T10:00:00+14:00")
    for created_at in usual:
        body = mention_payload(created_at=created_at)
        response = client.post("/v1/mentions", json=body, headers=tenant.headers)
        assert response.status_code == 202, (created_at, response.text)


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", OUT_OF_RANGE_DATES)
def test_mentions_time_filter_out_of_range_is_422(
    client: httpx.Client, tenant: Tenant, name: str, value: str
) -> None:
    response = client.get("/v1/mentions", params={name: value}, headers=tenant.headers)
    assert_problem(response, 422)


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", OVERFLOWING_DATES)
def test_volume_and_share_of_voice_time_filters_out_of_range_are_422(
    client: httpx.Client, tenant: Tenant, name: str, value: str
) -> None:
    created = client.post(
        "/v1/listening/queries",
        json={"name": "acme", "kind": "brand", "expression": "acme"},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    volume = f"/v1/listening/queries/{created.json()['id']}/volume"
    assert_problem(client.get(volume, params={name: value}, headers=tenant.headers), 422)
    sov = client.get("/v1/listening/share-of-voice", params={name: value}, headers=tenant.headers)
    assert_problem(sov, 422)


@pytest.mark.parametrize(
    "overrides",
    [
        {"text": "broken\x00order"},
        {"external_id": "id\x00x"},
        {"in_reply_to": "id\x00x"},
        {"author": {"handle": "sam\x00doe"}},
        {"author": {"handle": "samdoe", "display_name": "Sam\x00"}},
        {"author": {"handle": "samdoe", "id": "u\x001"}},
        {"url": "https://example.com/\x00"},
    ],
)
def test_nul_in_text_handles_and_ids_is_422(
    client: httpx.Client, tenant: Tenant, overrides: dict[str, Any]
) -> None:
    body = mention_payload(**overrides)
    assert_problem(client.post("/v1/mentions", json=body, headers=tenant.headers), 422)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/mentions", {"platform": "x\x00"}),
        ("/v1/mentions", {"query_id": "q\x00"}),
        ("/v1/mentions", {"cursor": "c\x00"}),
        ("/v1/profiles", {"handle": "sam\x00"}),
    ],
)
def test_nul_in_query_parameters_is_422(
    client: httpx.Client, tenant: Tenant, path: str, params: dict[str, str]
) -> None:
    assert_problem(client.get(path, params=params, headers=tenant.headers), 422)


def test_nul_in_a_listening_query_is_422(client: httpx.Client, tenant: Tenant) -> None:
    for body in (
        {"name": "a\x00", "kind": "brand", "expression": "acme"},
        {"name": "acme", "kind": "brand", "expression": "acme\x00"},
    ):
        response = client.post("/v1/listening/queries", json=body, headers=tenant.headers)
        assert_problem(response, 422)


def test_connectors_cap_counts_drop_nul_in_ids_and_refuse_out_of_range_dates() -> None:
    from pydantic import ValidationError

    from services.listening.channels.connectors.models import Author, Engagement, InboundMention
    from shared.validation import MAX_COUNT

    assert Author(handle="big", followers=2**70).followers == MAX_COUNT
    assert Engagement(likes=2**64, reposts=3).likes == MAX_COUNT
    base = {
        "platform": "x",
        "kind": "post",
        "external_id": "12\x0034",
        "text": "hello\x00 there",
        "created_at": "2025-01-01T00:00:00Z",
        "author": {"handle": "sam\x00", "id": "u\x001"},
    }
    mention = InboundMention.model_validate(base)
    assert (mention.external_id, mention.text, mention.author.handle, mention.author.id) == (
        "1234",
        "hello there",
        "sam",
        "u1",
    )
    for created_at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        with pytest.raises(ValidationError):
            InboundMention.model_validate({**base, "created_at": created_at})


# A service's unexpected error (a bug) is a problem+json 500 on a connection that stays open.


def _failing_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("a bug")

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture(scope="module")
def failing_service() -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_failing_app(), port=port, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or None, timeout=10, what="stand-in service up")
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def test_unexpected_error_is_a_problem_500_and_keeps_the_connection(failing_service: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", failing_service, timeout=10)
    try:
        conn.request("GET", "/boom")
        failed = conn.getresponse()
        body = json.loads(failed.read())
        assert failed.status == 500
        assert failed.getheader("content-type", "").startswith("application/problem+json")
        assert body["status"] == 500 and "a bug" not in json.dumps(body)
        assert (failed.getheader("connection") or "").lower() != "close"
        # The same keep-alive connection answers the next request.
        conn.request("GET", "/ok")
        ok = conn.getresponse()
        assert ok.status == 200 and json.loads(ok.read()) == {"status": "ok"}
    finally:
        conn.close()


# The gateway side: a pooled connection the service closed is not another client's 502.


class ClosingUpstream:
    """A stand-in service on a raw socket that answers each request with a small JSON body.

    After answering `/fail` (a 500) it closes that connection the way uvicorn did after an app raised,
    but only once the next request arrived on it, so the client's reuse of the connection loses the race
    every time: with a reset (`reset=True`: the request hit a closed socket, as measured on the stack) or
    a plain close. `/drop` is closed without an answer on a new connection (a service that died
    mid-request).
    """

    def __init__(self, *, reset: bool = False) -> None:
        self.reset = reset
        self.connections = 0
        self.requests: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        close_on_next = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if close_on_next:
                    if self.reset:
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                request_line, *lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                if length:
                    await reader.readexactly(length)
                path = request_line.split(" ")[1]
                self.requests.append(path)
                if path == "/drop":
                    return
                status = "500 Internal Server Error" if path == "/fail" else "200 OK"
                data = json.dumps({"path": path}).encode()
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
                close_on_next = path == "/fail"
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


async def _forward(upstreams: Upstreams, method: str, target: str, body: Any) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    status = await upstreams.forward(
        send,
        service="listening",
        method=method,
        target=target,
        headers=[("content-type", "application/json")],
        body=body,
        extra_headers=[],
    )
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@asynccontextmanager
async def _against_upstream(*, reset: bool = False) -> AsyncIterator[tuple[Upstreams, ClosingUpstream]]:
    """The gateway's upstream pool in front of a service that closes (or resets) after a 500."""
    upstream = ClosingUpstream(reset=reset)
    base = await upstream.start()
    session = create_session(GatewaySettings())
    try:
        yield Upstreams(session, {"listening": base}), upstream
    finally:
        await session.close()
        await upstream.stop()


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "closed"])
@pytest.mark.parametrize("method", ["POST", "PATCH", "GET", "DELETE"])
@pytest.mark.anyio
async def test_next_request_after_a_service_500_gets_its_answer(method: str, reset: bool) -> None:
    async with _against_upstream(reset=reset) as (upstreams, upstream):
        assert (await _forward(upstreams, "POST", "/fail", b"{}"))[0] == 500
        body = b'{"tenant": "other"}' if method in ("POST", "PATCH") else None
        status, data = await _forward(upstreams, method, "/v1/mentions", body)
        assert status == 200 and json.loads(data) == {"path": "/v1/mentions"}
        # Sent once more, on a new connection (the service never saw the first try).
        assert upstream.requests == ["/fail", "/v1/mentions"] and upstream.connections == 2
        assert (await _forward(upstreams, method, "/v1/mentions", body))[0] == 200


@pytest.mark.anyio
async def test_a_streamed_body_is_not_sent_twice() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"a": 1}'

    async with _against_upstream() as (upstreams, _):
        assert (await _forward(upstreams, "POST", "/fail", b"{}"))[0] == 500
        with pytest.raises(BadGateway):
            await _forward(upstreams, "POST", "/v1/mentions/import", chunks())


@pytest.mark.anyio
async def test_a_post_dropped_on_a_new_connection_is_not_repeated() -> None:
    async with _against_upstream() as (upstreams, upstream):
        with pytest.raises(BadGateway):
            await _forward(upstreams, "POST", "/drop", b"{}")
        assert upstream.requests == ["/drop"]

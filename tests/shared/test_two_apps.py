"""Two apps of one service in one process, one event loop, one NATS or Redis: they share no state.

Each app's lifespan runs here (as uvicorn would run it), with settings of its own (and for listening a
SQLite file of its own); requests go through httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from gateway.state import GatewayState
from rapport.stack import Proc, free_port, port_open, redis_server_binary
from services.listening.app import create_app
from services.listening.settings import ListeningSettings
from services.listening.state import ListeningState
from shared.migrations import upgrade_head
from shared.secrets import SecretKeyError
from tests.helpers import mention_payload, wait_until

T = TypeVar("T")
ISSUER, AUDIENCE, KID = "rapport-identity", "rapport", "two-apps"

pytestmark = pytest.mark.anyio


class Keys:
    """A signing key of the test's own: tokens for both apps, and the JWKS both verify against."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        self.document = {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

    async def jwks(self) -> dict[str, Any]:
        return self.document

    def token(self, tenant_id: str) -> str:
        now = int(time.time())
        claims = {
            "sub": "user-1",
            "tid": tenant_id,
            "role": "owner",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": KID})


async def eventually(probe: Callable[[], Awaitable[T | None]], *, what: str, timeout: float = 30) -> T:
    """Poll `probe` on the event loop (the apps run on it too) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def settings_in(folder: Path, nats_url: str, **overrides: Any) -> ListeningSettings:
    """Settings of one app with its own SQLite file (migrated by `migrated`)."""
    settings = ListeningSettings(
        nats_url=nats_url,
        var_dir=folder,
        database_url="",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        connector_pullers=False,
        log_level="WARNING",
        **overrides,
    )
    return settings


async def migrated(settings: ListeningSettings) -> ListeningSettings:
    """The app's database upgraded to head first, as `rapport migrate` does before a service starts."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    # Alembic's environment runs its own event loop: in a thread, not inside the test's.
    await asyncio.to_thread(upgrade_head, "listening", settings.resolved_database_url())
    return settings


@pytest.fixture
async def two_listening_apps(
    tmp_path: Path, nats_url: str, keys: Keys
) -> AsyncIterator[tuple[tuple[FastAPI, httpx.AsyncClient], tuple[FastAPI, httpx.AsyncClient], Keys]]:
    one = create_app(
        await migrated(
            settings_in(tmp_path / "one", nats_url, max_queries_per_tenant=1, query_match_budget_ms=20)
        ),
        jwks=keys.jwks,
    )
    two = create_app(
        await migrated(
            settings_in(tmp_path / "two", nats_url, max_queries_per_tenant=5, query_match_budget_ms=80)
        ),
        jwks=keys.jwks,
    )
    async with AsyncExitStack() as stack:
        client_one = await running(stack, one, "http://one")
        client_two = await running(stack, two, "http://two")
        yield (one, client_one), (two, client_two), keys


async def running(stack: AsyncExitStack, app: FastAPI, base_url: str) -> httpx.AsyncClient:
    """Run the app's lifespan until `stack` closes; a client on the app."""
    await stack.enter_async_context(app.router.lifespan_context(app))
    transport = httpx.ASGITransport(app=app)
    return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=base_url))


def state_of(app: FastAPI) -> ListeningState:
    state = app.state.service
    assert isinstance(state, ListeningState)
    return state


async def test_two_listening_apps_in_one_process_share_nothing(
    tmp_path: Path,
    two_listening_apps: tuple[tuple[FastAPI, httpx.AsyncClient], tuple[FastAPI, httpx.AsyncClient], Keys],
) -> None:
    (app_one, one), (app_two, two), keys = two_listening_apps
    tenant_id = f"t-{uuid.uuid4().hex[:8]}"
    auth = {"authorization": f"Bearer {keys.token(tenant_id)}"}
    state_one, state_two = state_of(app_one), state_of(app_two)

    # Every part of the runtime state is the app's own.
    for part in ("runtime", "wakeups", "traffic", "matcher", "quota", "batcher", "worker", "box", "pullers"):
        assert getattr(state_one, part) is not getattr(state_two, part), part
    assert state_one.traffic.write_lock is not state_two.traffic.write_lock
    assert state_one.wakeups.analysis is not state_two.wakeups.analysis
    assert set(state_one.runtime.tasks).isdisjoint(state_two.runtime.tasks)

    # Each app honours its own settings: a cap of 1 query against 5, a 20 ms matching budget against 80.
    query = {"name": "acme", "kind": "brand", "expression": "acme"}
    for client in (one, two):
        created = await client.post("/v1/listening/queries", json=query, headers=auth)
        assert created.status_code == 201, created.text
    refused = await one.post("/v1/listening/queries", json={**query, "name": "more"}, headers=auth)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("quota-exceeded")
    second = await two.post("/v1/listening/queries", json={**query, "name": "more"}, headers=auth)
    assert second.status_code == 201
    usage_one = (await one.get("/v1/listening/queries/usage", headers=auth)).json()
    usage_two = (await two.get("/v1/listening/queries/usage", headers=auth)).json()
    assert (usage_one["match_budget_ms"], usage_one["queries"]) == (20, 1)
    assert (usage_two["match_budget_ms"], usage_two["queries"]) == (80, 2)

    # Each its own database: its own SQLite file under its own var_dir.
    assert (tmp_path / "one" / "listening.db").exists() and (tmp_path / "two" / "listening.db").exists()

    # A post ingested by one is batched, analysed and matched there (its compiled queries cached
    # there); the other app's batcher, worker and cache never see it.
    accepted = await one.post("/v1/mentions", json=mention_payload(text="Acme broke my kettle"), headers=auth)
    assert accepted.status_code == 202
    mention_id = accepted.json()["id"]

    async def analysed() -> dict[str, Any] | None:
        read = (await one.get(f"/v1/mentions/{mention_id}", headers=auth)).json()
        return read if read["analysis_status"] == "analysed" else None

    read = await eventually(analysed, what="the mention analysed by the first app")
    assert len(read["matched_query_ids"]) == 1
    assert tenant_id in state_one.matcher and tenant_id not in state_two.matcher
    assert state_one.worker.analysed == 1 and state_two.worker.analysed == 0
    assert state_one.traffic.last_write > 0 and state_two.traffic.last_write == 0
    assert (await two.get(f"/v1/mentions/{mention_id}", headers=auth)).status_code == 404
    # Each counts its requests in a registry of its own (`/metrics`): the post only in the first.
    posted = 'rapport_http_requests_total{method="POST",route="/v1/mentions",status="202"} 1.0'
    assert posted in (await one.get("/metrics")).text
    assert posted not in (await two.get("/metrics")).text

    # Each its own secret box (a key file of its own): one cannot open what the other sealed.
    sealed = state_one.box.seal({"token": "s3cret"})
    assert state_one.box.open(sealed) == {"token": "s3cret"}
    with pytest.raises(SecretKeyError):
        state_two.box.open(sealed)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    proc = Proc("redis", argv, port, tmp_path_factory.mktemp("log") / "redis.log")
    proc.spawn()
    wait_until(lambda: port_open(port), timeout=10, what="redis-server to listen")
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


@pytest.fixture
async def identity_stand_in(keys: Keys) -> AsyncIterator[str]:
    """identity as the gateway sees it: its key set, and `/v1/me`."""

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response(keys.document)

    async def me(_: web.Request) -> web.Response:
        return web.json_response({"id": "user-1"})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_get("/v1/me", me)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
def keys() -> Keys:
    return Keys()


def gateway_settings(redis_url: str, identity_url: str, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(
        redis_url=redis_url,
        identity_url=identity_url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        log_level="WARNING",
        **overrides,
    )


async def test_two_gateways_in_one_process_share_nothing(
    redis_url: str, identity_stand_in: str, keys: Keys
) -> None:
    one = create_gateway(
        gateway_settings(redis_url, identity_stand_in, rate_limit_per_window=1, rate_limit_namespace="gw-one")
    )
    two = create_gateway(
        gateway_settings(
            redis_url, identity_stand_in, rate_limit_per_window=100, rate_limit_namespace="gw-two"
        )
    )
    auth = {"authorization": f"Bearer {keys.token(f't-{uuid.uuid4().hex[:8]}')}"}
    async with AsyncExitStack() as stack:
        client_one = await running(stack, one, "http://one")
        client_two = await running(stack, two, "http://two")
        state_one, state_two = one.state.service, two.state.service
        assert isinstance(state_one, GatewayState) and isinstance(state_two, GatewayState)
        for part in (
            "redis",
            "upstreams",
            "limiter",
            "jwks",
            "verifier",
            "revocations",
            "openapi",
            "readiness",
        ):
            assert getattr(state_one, part) is not getattr(state_two, part), part

        # The first gateway verifies a token: identity's key set is fetched into its cache only.
        assert (await client_one.get("/v1/me", headers=auth)).status_code == 200
        assert state_one.jwks.body is not None and state_two.jwks.body is None

        # Each honours its own limit (one request a window against a hundred), counted under its own keys.
        assert (await client_one.get("/v1/me", headers=auth)).status_code == 429
        for _ in range(3):
            assert (await client_two.get("/v1/me", headers=auth)).status_code == 200
        assert state_two.jwks.body is not None

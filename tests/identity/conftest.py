"""Fixtures of the identity tests: a client on identity's own URL and extra identity replicas."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from rapport.stack import Proc, Stack, free_port
from tests.helpers import Tenant, signup, wait_until

SpawnIdentity = Callable[..., str]


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client talking to identity directly (not through the gateway)."""
    with httpx.Client(base_url=stack.url("identity"), timeout=30) as c:
        yield c


@pytest.fixture
def tenant(api: httpx.Client) -> Tenant:
    """A fresh tenant with its owner logged in."""
    return signup(api)


@pytest.fixture
def other_tenant(api: httpx.Client) -> Tenant:
    """A second, unrelated tenant."""
    return signup(api)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


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
        wait_until(lambda: _ready(proc.url) or not proc.alive(), timeout=30, what="identity replica ready")
        assert proc.alive(), proc.log_path.read_text(errors="replace")
        return proc.url

    yield spawn
    for proc in procs:
        proc.stop()

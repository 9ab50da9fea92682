"""Fixtures of the gateway tests: one extra gateway in front of a recording upstream, a fresh tenant."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rapport.stack import Stack
from tests.gateway.helpers import Recorder, spawn_recorded_gateway
from tests.helpers import Tenant, signup


@pytest.fixture(scope="session")
def recorded_gateway(
    stack: Stack, recorder: Recorder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One extra gateway in front of `recorder`, shared by the tests that only read what it forwards."""
    proc = spawn_recorded_gateway(stack, recorder, tmp_path_factory.mktemp("gw"), "gateway-recorded", {})
    yield proc.url
    proc.stop()


@pytest.fixture
def gw(recorded_gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=recorded_gateway, timeout=30) as c:
        yield c


@pytest.fixture
def tenant(client: httpx.Client) -> Tenant:
    """A fresh tenant (signed up through the stack's gateway) with its owner logged in."""
    return signup(client)

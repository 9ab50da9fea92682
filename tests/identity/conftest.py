"""Fixtures of the identity tests: a client on identity's own URL and fresh tenants."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import Tenant, signup


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

"""Fixtures of the listening tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rapport.stack import Stack


@pytest.fixture
def direct(stack: Stack) -> Iterator[httpx.Client]:
    """A client on the listening service itself, bypassing the gateway."""
    with httpx.Client(base_url=stack.url("listening"), timeout=30) as c:
        yield c

"""Fixtures of the profiles tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rapport.stack import Stack


@pytest.fixture
def stack_profiles(stack: Stack) -> Iterator[httpx.Client]:
    """A client on the profiles service itself, bypassing the gateway."""
    with httpx.Client(base_url=stack.url("profiles"), timeout=30) as c:
        yield c

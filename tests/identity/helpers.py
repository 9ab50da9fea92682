"""Helpers of the identity tests: extra identity processes (replicas) on the stack's database."""

from __future__ import annotations

from collections.abc import Callable

import httpx

SpawnIdentity = Callable[..., str]


def identity_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

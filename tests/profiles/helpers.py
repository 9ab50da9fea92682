"""Helpers of the profiles tests: profiles are made by ingesting mentions."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Tenant, User, mention_payload, wait_until


def ingest(client: httpx.Client, tenant: Tenant, **overrides: Any) -> str:
    """Post a new mention through the gateway; return its id."""
    response = client.post("/v1/mentions", json=mention_payload(**overrides), headers=tenant.headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    mention_id: str = response.json()["id"]
    return mention_id


def find_profiles(client: httpx.Client, user: User, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/profiles", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def wait_for_profile(
    client: httpx.Client, tenant: Tenant, handle: str, *, mentions: int = 1, platform: str = "x"
) -> dict[str, Any]:
    """Wait until the profile of `handle` counts `mentions` mentions; return it."""

    def ready() -> dict[str, Any] | None:
        found = find_profiles(client, tenant, handle=handle, platform=platform)
        if len(found) == 1 and found[0]["mention_count"] >= mentions:
            return found[0]
        return None

    return wait_until(ready, what=f"a profile with {mentions} mention(s)")


def timeline(client: httpx.Client, user: User, profile_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/profiles/{profile_id}/timeline", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page

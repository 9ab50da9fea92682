"""Helpers of the listening tests: ingest a post, list mentions, wait for an analysis (via the gateway)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Tenant, User, mention_payload, wait_until


def post_mention(client: httpx.Client, tenant: Tenant, **overrides: Any) -> tuple[dict[str, Any], str]:
    """Ingest a new post; return its request body and the stored mention id."""
    body = mention_payload(**overrides)
    response = client.post("/v1/mentions", json=body, headers=tenant.headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    mention_id: str = response.json()["id"]
    return body, mention_id


def list_mentions(client: httpx.Client, user: User, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/mentions", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def analysed(client: httpx.Client, user: User, mention_id: str, *, timeout: float = 20) -> dict[str, Any]:
    """Wait until the analysis worker analysed the mention; return the mention as read back."""

    def read() -> dict[str, Any] | None:
        response = client.get(f"/v1/mentions/{mention_id}", headers=user.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["analysis"] is not None else None

    return wait_until(read, timeout=timeout, what=f"analysis of mention {mention_id}")


def post_analysed(client: httpx.Client, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    """Ingest a new post and wait for its analysis; return the mention as read back."""
    _, mention_id = post_mention(client, tenant, **overrides)
    return analysed(client, tenant, mention_id)

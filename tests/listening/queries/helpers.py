"""Helpers of the listening-query tests: create and read queries, wait for a backfill, read volumes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.helpers import User, wait_until


def create_query(client: httpx.Client, user: User, expression: str, **fields: Any) -> dict[str, Any]:
    """Create a listening query through the gateway; return it as stored."""
    body = {"name": fields.pop("name", "q"), "kind": fields.pop("kind", "brand"), "expression": expression}
    body.update(fields)
    response = client.post("/v1/listening/queries", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def read_query(client: httpx.Client, user: User, query_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/listening/queries/{query_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def backfilled(client: httpx.Client, user: User, query_id: str, *, timeout: float = 30) -> dict[str, Any]:
    """Wait until the query's backfill is done; return its progress."""

    def done() -> dict[str, Any] | None:
        backfill: dict[str, Any] | None = read_query(client, user, query_id)["backfill"]
        return backfill if backfill is not None and backfill["status"] == "done" else None

    return wait_until(done, timeout=timeout, what=f"the backfill of query {query_id}")


def volume(client: httpx.Client, user: User, query_id: str, **params: Any) -> dict[datetime, tuple[int, int]]:
    """The query's hourly buckets: hour → (total, negative)."""
    params.setdefault("since", "2000-01-01T00:00:00Z")
    response = client.get(f"/v1/listening/queries/{query_id}/volume", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    return {
        datetime.fromisoformat(b["bucket_start"]): (b["total"], b["negative"])
        for b in response.json()["items"]
    }


def totals(buckets: dict[datetime, tuple[int, int]]) -> tuple[int, int]:
    """All the buckets' (total, negative) added up."""
    return sum(t for t, _ in buckets.values()), sum(n for _, n in buckets.values())

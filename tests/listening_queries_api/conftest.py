"""Fixtures of the listening-query tests: re-used from tests/listening, plus query helpers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import User
from tests.listening.conftest import direct  # noqa: F401  (fixture)


def create_query(client: httpx.Client, user: User, expression: str, **fields: Any) -> dict[str, Any]:
    """Create a listening query through the gateway; return it as stored."""
    body = {"name": fields.pop("name", "q"), "kind": fields.pop("kind", "brand"), "expression": expression}
    body.update(fields)
    response = client.post("/v1/listening/queries", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created

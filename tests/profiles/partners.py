"""Helpers of the partner tests: customers upserted by a partner's id, orders posted for them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import User, unique


def upsert(
    client: httpx.Client, user: User, external_id: str, system: str = "shop", **body: Any
) -> httpx.Response:
    return client.put(f"/v1/profiles/by-external-id/{system}/{external_id}", json=body, headers=user.headers)


def new_customer(client: httpx.Client, user: User, **body: Any) -> tuple[str, str]:
    """A partner's new customer: (external id, profile id)."""
    external_id = unique("cust")
    response = upsert(client, user, external_id, **body)
    assert response.status_code == 201, response.text
    return external_id, response.json()["id"]


def order(
    order_id: str | None = None, amount: Any = "49.90", currency: str = "EUR", **more: Any
) -> dict[str, Any]:
    return {
        "order_id": order_id or unique("o"),
        "amount": amount,
        "currency": currency,
        "ordered_at": "2026-03-01T12:00:00+00:00",
        **more,
    }


def get_profile(client: httpx.Client, user: User, profile_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/profiles/{profile_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body

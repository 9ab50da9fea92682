"""API3 Broken Object Property Level Authorization: no client can set a property it does not own, and
no answer carries a property the caller must not see.

Every write body is a closed schema (unknown fields are a 422 that creates nothing), so `tenant_id`, `id`,
`role` escalation or analysis fields cannot be smuggled in; secrets (channel credentials, password
hashes) never appear in an answer.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD, Tenant, assert_problem, mention_payload, unique

SMUGGLED: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/mentions", {**mention_payload(), "tenant_id": "00000000-0000-0000-0000-000000000000"}),
    ("POST", "/v1/mentions", {**mention_payload(), "sentiment": "positive", "analysis": {"tier": "human"}}),
    ("POST", "/v1/mentions", {**mention_payload(), "id": "00000000-0000-0000-0000-000000000001"}),
    (
        "POST",
        "/v1/listening/queries",
        {"name": "q", "kind": "brand", "expression": "acme", "tenant_id": "someone-else"},
    ),
    (
        "POST",
        "/v1/channels",
        {
            "platform": "meta",
            "name": "p",
            "credentials": {"app_secret": "s" * 32, "verify_token": "v" * 16},
            "tenant_id": "someone-else",
        },
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), SMUGGLED, ids=[f"{p} {sorted(b)[-1]}" for _, p, b in SMUGGLED]
)
def test_smuggled_property_is_422_and_creates_nothing(
    client: httpx.Client, tenant: Tenant, method: str, path: str, body: dict[str, Any]
) -> None:
    assert_problem(client.request(method, path, json=body, headers=tenant.headers), 422)
    listing = client.get(path, headers=tenant.headers)
    assert listing.status_code == 200, listing.text
    assert listing.json()["items"] == []


def test_user_cannot_be_created_into_another_tenant_or_as_owner(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    base = {"email": f"{unique('u')}@example.com", "password": PASSWORD, "role": "agent"}
    assert_problem(
        client.post("/v1/users", json={**base, "tenant_id": other_tenant.tenant_id}, headers=tenant.headers),
        422,
    )
    assert_problem(client.post("/v1/users", json={**base, "role": "owner"}, headers=tenant.headers), 422)
    emails = {u["email"] for u in client.get("/v1/users", headers=other_tenant.headers).json()["items"]}
    assert base["email"] not in emails


def test_signup_cannot_choose_ids_or_roles(accounts: httpx.Client) -> None:
    body = {
        "name": unique("Acme"),
        "admin_email": f"{unique('o')}@example.com",
        "admin_password": PASSWORD,
    }
    for extra in ({"tenant_id": "fixed"}, {"role": "superuser"}, {"plan": "enterprise"}):
        assert_problem(accounts.post("/v1/tenants", json={**body, **extra}), 422)


def test_answers_never_carry_secrets(client: httpx.Client, tenant: Tenant) -> None:
    secret = "s3cr3t-" + "x" * 32
    created = client.post(
        "/v1/channels",
        json={
            "platform": "meta",
            "name": "p",
            "credentials": {"app_secret": secret, "verify_token": "v" * 16},
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    for response in (
        created,
        client.get(f"/v1/channels/{created.json()['id']}", headers=tenant.headers),
        client.get("/v1/channels", headers=tenant.headers),
    ):
        assert secret not in response.text
        assert "v" * 16 not in response.text
    for response in (
        client.get("/v1/users", headers=tenant.headers),
        client.get("/v1/me", headers=tenant.headers),
    ):
        assert PASSWORD not in response.text
        assert "argon2" not in response.text

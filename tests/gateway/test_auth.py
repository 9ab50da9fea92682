"""The auth matrix through the stack's gateway: forged, broken or missing tokens never get through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.gateway.helpers import (
    SigningKey,
    assert_problem,
    assert_rejected_by_gateway,
    bearer,
    claims_for,
    hs256_token,
    public_pem,
    unsigned_token,
)
from tests.helpers import Tenant, add_user, mention_payload, signup, unique


def user_emails(client: httpx.Client, tenant: Tenant) -> set[str]:
    response = client.get("/v1/users", headers=tenant.headers, params={"limit": 200})
    assert response.status_code == 200, response.text
    return {u["email"] for u in response.json()["items"]}


@pytest.fixture
def real_jwk(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    key: dict[str, Any] = response.json()["keys"][0]
    return key


Forge = Callable[[dict[str, Any], dict[str, Any]], str]
FORGERIES: dict[str, Forge] = {
    "other_rsa_key_with_real_kid": lambda claims, jwk: SigningKey(kid=jwk["kid"]).sign(claims),
    "alg_none": lambda claims, jwk: unsigned_token(claims, kid=jwk["kid"]),
    "hs256_keyed_with_public_key": lambda claims, jwk: hs256_token(
        claims, secret=public_pem(jwk), kid=jwk["kid"]
    ),
    "unknown_kid": lambda claims, jwk: SigningKey().sign(claims),
}


def test_request_without_token_is_401_with_bearer_challenge(client: httpx.Client) -> None:
    assert_rejected_by_gateway(client.get("/v1/me"), 401)
    assert_rejected_by_gateway(client.get("/v1/profiles"), 401)
    assert_rejected_by_gateway(client.post("/v1/mentions", json=mention_payload()), 401)


@pytest.mark.parametrize(
    "authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt", "Bearer a.b.c", "Token abc"]
)
def test_malformed_authorization_is_401(client: httpx.Client, authorization: str) -> None:
    assert_rejected_by_gateway(client.get("/v1/me", headers={"Authorization": authorization}), 401)


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_owner_token_is_401_and_creates_nothing(
    client: httpx.Client, tenant: Tenant, real_jwk: dict[str, Any], forgery: str
) -> None:
    claims = claims_for(tenant_id=tenant.tenant_id, role="owner", user_id=tenant.user_id)
    token = FORGERIES[forgery](claims, real_jwk)
    before = user_emails(client, tenant)
    email = f"{unique('intruder')}@example.com"
    body = {"email": email, "password": "correct horse battery staple", "role": "admin"}

    assert_rejected_by_gateway(client.post("/v1/users", json=body, headers=bearer(token)), 401)
    assert_rejected_by_gateway(client.get("/v1/me", headers=bearer(token)), 401)

    assert user_emails(client, tenant) == before


def test_real_token_passes_the_gateway(client: httpx.Client, tenant: Tenant) -> None:
    response = client.get("/v1/me", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == tenant.user_id
    assert int(response.headers["ratelimit-limit"]) > 0


def test_wrong_role_is_403_at_the_gateway_and_changes_nothing(client: httpx.Client, tenant: Tenant) -> None:
    analyst = add_user(client, tenant, "analyst")
    agent = add_user(client, tenant, "agent")
    before = user_emails(client, tenant)

    refused = client.post("/v1/mentions", json=mention_payload(), headers=analyst.headers)
    assert_rejected_by_gateway(refused, 403)
    new_user = {
        "email": f"{unique('x')}@example.com",
        "password": "correct horse battery staple",
        "role": "agent",
    }
    assert_rejected_by_gateway(client.post("/v1/users", json=new_user, headers=agent.headers), 403)
    assert_rejected_by_gateway(client.get("/v1/users", headers=analyst.headers), 403)

    mentions = client.get("/v1/mentions", headers=tenant.headers)
    assert mentions.status_code == 200, mentions.text
    assert mentions.json()["items"] == []
    assert user_emails(client, tenant) == before


def test_integration_token_reaches_only_ingest_and_me(client: httpx.Client, tenant: Tenant) -> None:
    integration = add_user(client, tenant, "integration")
    assert client.get("/v1/me", headers=integration.headers).status_code == 200
    for path in ("/v1/profiles", "/v1/conversations", "/v1/metrics/scorecard", "/v1/mentions"):
        assert_rejected_by_gateway(client.get(path, headers=integration.headers), 403)


def test_forged_tenant_headers_cannot_reach_another_tenant(client: httpx.Client) -> None:
    alpha, beta = signup(client), signup(client)
    forged = {
        **alpha.headers,
        "X-Tenant-Id": beta.tenant_id,
        "X-Rapport-Tenant": beta.tenant_id,
        "X-Rapport-Tenant-Id": beta.tenant_id,
        "X-User-Id": beta.user_id,
        "X-Rapport-User-Id": beta.user_id,
        "X-Rapport-Role": "owner",
    }

    me = client.get("/v1/me", headers=forged)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == alpha.user_id and me.json()["tenant_id"] == alpha.tenant_id
    assert_problem(client.get(f"/v1/users/{beta.user_id}", headers=forged), 404)
    listed = client.get("/v1/users", headers=forged)
    assert {u["tenant_id"] for u in listed.json()["items"]} == {alpha.tenant_id}

    accepted = client.post("/v1/mentions", json=mention_payload(), headers=forged)
    assert accepted.status_code == 202, accepted.text
    assert client.get("/v1/mentions", headers=beta.headers).json()["items"] == []
    assert [m["id"] for m in client.get("/v1/mentions", headers=alpha.headers).json()["items"]] == [
        accepted.json()["id"]
    ]

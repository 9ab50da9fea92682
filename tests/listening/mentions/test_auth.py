"""Who may ingest and read mentions: anonymous → 401, wrong role → 403, other tenant → 404."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Tenant, add_user, assert_problem, mention_payload
from tests.listening.helpers import list_mentions, post_mention


def test_anonymous_cannot_ingest(client: httpx.Client, tenant: Tenant) -> None:
    response = client.post("/v1/mentions", json=mention_payload())

    assert_problem(response, 401)
    assert list_mentions(client, tenant)["items"] == []


@pytest.mark.parametrize("path", ["/v1/mentions", "/v1/mentions/some-id"])
def test_anonymous_cannot_read(client: httpx.Client, path: str) -> None:
    assert_problem(client.get(path), 401)


def test_analyst_cannot_ingest(client: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    analyst = add_user(accounts, tenant, "analyst")

    response = client.post("/v1/mentions", json=mention_payload(), headers=analyst.headers)

    assert_problem(response, 403)
    assert list_mentions(client, tenant)["items"] == []


@pytest.mark.parametrize("role", ["admin", "agent", "integration"])
def test_ingest_roles_may_ingest(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant, role: str
) -> None:
    user = add_user(accounts, tenant, role)

    response = client.post("/v1/mentions", json=mention_payload(), headers=user.headers)

    assert response.status_code == 202, response.text
    assert [m["id"] for m in list_mentions(client, tenant)["items"]] == [response.json()["id"]]


def test_integration_cannot_read_mentions(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant
) -> None:
    integration = add_user(accounts, tenant, "integration")
    _, mention_id = post_mention(client, tenant)

    assert_problem(client.get("/v1/mentions", headers=integration.headers), 403)
    assert_problem(client.get(f"/v1/mentions/{mention_id}", headers=integration.headers), 403)


@pytest.mark.parametrize("role", ["admin", "agent", "analyst"])
def test_staff_roles_may_read(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant, role: str
) -> None:
    user = add_user(accounts, tenant, role)
    _, mention_id = post_mention(client, tenant)

    assert client.get(f"/v1/mentions/{mention_id}", headers=user.headers).status_code == 200
    assert [m["id"] for m in list_mentions(client, user)["items"]] == [mention_id]


def test_other_tenants_mention_is_not_found(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    _, mention_id = post_mention(client, tenant)

    assert_problem(client.get(f"/v1/mentions/{mention_id}", headers=other_tenant.headers), 404)
    assert list_mentions(client, other_tenant)["items"] == []


def test_unknown_mention_is_not_found(client: httpx.Client, tenant: Tenant) -> None:
    assert_problem(client.get("/v1/mentions/no-such-mention", headers=tenant.headers), 404)


def test_service_verifies_tokens_itself(
    direct: httpx.Client, client: httpx.Client, accounts: httpx.Client, tenant: Tenant
) -> None:
    """Reached without the gateway, listening still demands a valid token and the right role."""
    analyst = add_user(accounts, tenant, "analyst")
    forged = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4Iiwicm9sZSI6Im93bmVyIn0."}

    assert_problem(direct.post("/v1/mentions", json=mention_payload()), 401)
    assert_problem(direct.post("/v1/mentions", json=mention_payload(), headers=forged), 401)
    assert_problem(direct.get("/v1/mentions", headers={"X-Tenant-Id": tenant.tenant_id}), 401)
    assert_problem(direct.post("/v1/mentions", json=mention_payload(), headers=analyst.headers), 403)
    assert direct.post("/v1/mentions", json=mention_payload(), headers=tenant.headers).status_code == 202

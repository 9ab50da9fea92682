"""`/v1/listening/queries`: create, read, list, change and delete; syntax errors with their position."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Tenant, add_user, assert_problem
from tests.listening.queries.helpers import create_query

BASE = "/v1/listening/queries"


def _settled(query: dict[str, object]) -> dict[str, object]:
    """The query without its backfill progress, which moves on its own."""
    return {k: v for k, v in query.items() if k != "backfill"}


def test_owner_creates_reads_lists_changes_and_deletes_a_query(client: httpx.Client, tenant: Tenant) -> None:
    created = create_query(
        client, tenant, '(acme OR "acme corp") AND NOT job*', name="Acme", languages=["EN", "pt_BR"]
    )
    assert created["name"] == "Acme"
    assert created["kind"] == "brand"
    assert created["languages"] == ["en", "pt-br"]
    assert created["active"] is True
    assert "acme" in created["normalised"]
    assert created["backfill"]["status"] == "running"
    assert (created["backfill"]["scanned"], created["backfill"]["matched"]) == (0, 0)

    read = client.get(f"{BASE}/{created['id']}", headers=tenant.headers)
    assert read.status_code == 200, read.text
    assert _settled(read.json()) == _settled(created)

    second = create_query(client, tenant, "rival", kind="competitor")
    page = client.get(BASE, headers=tenant.headers, params={"limit": 1})
    assert page.status_code == 200, page.text
    assert [q["id"] for q in page.json()["items"]] == [second["id"]]
    rest = client.get(BASE, headers=tenant.headers, params={"cursor": page.json()["next_cursor"]})
    assert [q["id"] for q in rest.json()["items"]] == [created["id"]]
    competitors = client.get(BASE, headers=tenant.headers, params={"kind": "competitor"}).json()["items"]
    assert [q["id"] for q in competitors] == [second["id"]]

    patched = client.patch(
        f"{BASE}/{created['id']}",
        headers=tenant.headers,
        json={"expression": "acme NEAR/3 late", "languages": []},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["expression"] == "acme NEAR/3 late"
    assert patched.json()["languages"] == []
    assert patched.json()["updated_at"] > created["updated_at"]

    deleted = client.delete(f"{BASE}/{created['id']}", headers=tenant.headers)
    assert deleted.status_code == 204, deleted.text
    assert_problem(client.get(f"{BASE}/{created['id']}", headers=tenant.headers), 404)


def test_malformed_expression_is_422_with_position_and_pointer(client: httpx.Client, tenant: Tenant) -> None:
    expression = "acme AND (late OR"
    response = client.post(
        BASE, headers=tenant.headers, json={"name": "x", "kind": "topic", "expression": expression}
    )
    body = assert_problem(response, 422)
    [error] = body["errors"]
    assert error["loc"] == ["body", "expression"]
    assert error["position"] == 15
    assert error["msg"]
    assert error["pointer"] == "acme AND (late OR\n" + " " * 15 + "^"
    assert client.get(BASE, headers=tenant.headers).json()["items"] == []


def test_validate_checks_an_expression_and_stores_nothing(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant
) -> None:
    checked = client.post(f"{BASE}/validate", headers=tenant.headers, json={"expression": "acme  or  Acme*"})
    assert checked.status_code == 200, checked.text
    assert checked.json()["valid"] is True
    assert checked.json()["normalised"]
    bad = assert_problem(
        client.post(f"{BASE}/validate", headers=tenant.headers, json={"expression": "acme AND (late OR"}), 422
    )
    [error] = bad["errors"]
    assert (error["position"], error["type"]) == (15, "query_syntax")
    assert error["pointer"] == "acme AND (late OR\n" + " " * 15 + "^"
    assert client.get(BASE, headers=tenant.headers).json()["items"] == []
    agent = add_user(accounts, tenant, "agent")
    assert_problem(client.post(f"{BASE}/validate", headers=agent.headers, json={"expression": "acme"}), 403)


@pytest.mark.parametrize(
    ("expression", "position"),
    [("acme)", 4), ('"unclosed phrase', 0), ("acme AND", 5), ("NOT acme", 0)],
)
def test_each_syntax_error_points_at_its_place(
    client: httpx.Client, tenant: Tenant, expression: str, position: int
) -> None:
    response = client.post(
        BASE, headers=tenant.headers, json={"name": "x", "kind": "topic", "expression": expression}
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["position"] == position, body


def test_patch_revalidates_the_expression_and_changes_nothing_on_error(
    client: httpx.Client, tenant: Tenant
) -> None:
    created = create_query(client, tenant, "acme")
    response = client.patch(
        f"{BASE}/{created['id']}", headers=tenant.headers, json={"expression": "acme OR", "name": "n"}
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["position"] == 5
    assert _settled(client.get(f"{BASE}/{created['id']}", headers=tenant.headers).json()) == _settled(created)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "kind": "person", "expression": "acme"},
        {"name": "x", "kind": "brand", "expression": ""},
        {"name": "", "kind": "brand", "expression": "acme"},
        {"name": "x", "kind": "brand", "expression": "acme", "tenant_id": "someone-else"},
        {"name": "x", "kind": "brand", "expression": "acme", "languages": ["not a code"]},
        {"name": "x", "kind": "brand", "expression": "a" * 4001},
    ],
)
def test_bad_bodies_are_422_and_store_nothing(
    client: httpx.Client, tenant: Tenant, body: dict[str, object]
) -> None:
    assert_problem(client.post(BASE, headers=tenant.headers, json=body), 422)
    assert client.get(BASE, headers=tenant.headers).json()["items"] == []


def test_anonymous_is_401(client: httpx.Client, direct: httpx.Client, tenant: Tenant) -> None:
    created = create_query(client, tenant, "acme")
    for c in (client, direct):
        assert_problem(c.get(BASE), 401)
        assert_problem(c.post(BASE, json={"name": "x", "kind": "brand", "expression": "acme"}), 401)
        assert_problem(c.patch(f"{BASE}/{created['id']}", json={"name": "y"}), 401)
        assert_problem(c.delete(f"{BASE}/{created['id']}"), 401)
        assert_problem(c.get("/v1/listening/alerts"), 401)


def test_roles(client: httpx.Client, direct: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    analyst = add_user(accounts, tenant, "analyst")
    agent = add_user(accounts, tenant, "agent")
    integration = add_user(accounts, tenant, "integration")
    admin = add_user(accounts, tenant, "admin")
    created = create_query(client, analyst, "acme")
    create_query(client, admin, "rival", kind="competitor")
    body = {"name": "x", "kind": "brand", "expression": "acme"}
    for c in (client, direct):
        # Agents read queries but do not edit them; integrations do neither.
        assert c.get(BASE, headers=agent.headers).status_code == 200
        assert c.get(f"{BASE}/{created['id']}", headers=agent.headers).status_code == 200
        assert_problem(c.post(BASE, headers=agent.headers, json=body), 403)
        assert_problem(c.patch(f"{BASE}/{created['id']}", headers=agent.headers, json={"name": "y"}), 403)
        assert_problem(c.delete(f"{BASE}/{created['id']}", headers=agent.headers), 403)
        assert_problem(c.get(BASE, headers=integration.headers), 403)
        assert_problem(c.post(BASE, headers=integration.headers, json=body), 403)
        assert_problem(c.get("/v1/listening/alerts", headers=integration.headers), 403)
    assert len(client.get(BASE, headers=tenant.headers).json()["items"]) == 2


def test_other_tenants_query_is_404(
    client: httpx.Client, direct: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = create_query(client, tenant, "acme")
    for c in (client, direct):
        url = f"{BASE}/{created['id']}"
        assert_problem(c.get(url, headers=other_tenant.headers), 404)
        assert_problem(c.patch(url, headers=other_tenant.headers, json={"name": "stolen"}), 404)
        assert_problem(c.delete(url, headers=other_tenant.headers), 404)
        assert c.get(BASE, headers=other_tenant.headers).json()["items"] == []
    assert _settled(client.get(f"{BASE}/{created['id']}", headers=tenant.headers).json()) == _settled(created)

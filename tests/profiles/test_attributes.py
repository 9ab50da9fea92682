"""Custom attributes and tags: definitions, typed values through PATCH, the update event, segments."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import Tenant, add_user, assert_problem, find_event, unique
from tests.profiles.helpers import ingest, wait_for_profile


def new_profile(client: httpx.Client, tenant: Tenant) -> dict[str, Any]:
    handle = unique("@attr")
    ingest(client, tenant, author={"handle": handle, "display_name": "Sam", "followers": 10})
    return wait_for_profile(client, tenant, handle)


def define(client: httpx.Client, tenant: Tenant, name: str, type_: str, **extra: Any) -> httpx.Response:
    return client.post(
        "/v1/profile-attributes", json={"name": name, "type": type_, **extra}, headers=tenant.headers
    )


def define_all(client: httpx.Client, tenant: Tenant) -> None:
    for name, type_, extra in [
        ("plan", "enum", {"options": ["free", "gold"]}),
        ("seats", "number", {}),
        ("newsletter", "boolean", {}),
        ("renewal", "date", {}),
        ("company", "string", {}),
    ]:
        assert define(client, tenant, name, type_, **extra).status_code == 201


def test_define_list_and_duplicate(client: httpx.Client, tenant: Tenant) -> None:
    created = define(client, tenant, "plan", "enum", options=["free", "gold"])
    assert created.status_code == 201, created.text
    assert created.json()["options"] == ["free", "gold"]
    assert define(client, tenant, "seats", "number").status_code == 201

    assert_problem(define(client, tenant, "plan", "string"), 409)
    listed = client.get("/v1/profile-attributes", headers=tenant.headers).json()["items"]
    assert [(a["name"], a["type"]) for a in listed] == [("seats", "number"), ("plan", "enum")]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Plan", "type": "string"},
        {"name": "plan-b", "type": "string"},
        {"name": "p" * 65, "type": "string"},
        {"name": "plan", "type": "money"},
        {"name": "plan", "type": "enum"},
        {"name": "plan", "type": "enum", "options": ["a", "a"]},
        {"name": "plan", "type": "string", "options": ["a"]},
    ],
)
def test_bad_definitions_are_422(client: httpx.Client, tenant: Tenant, body: dict[str, Any]) -> None:
    assert_problem(client.post("/v1/profile-attributes", json=body, headers=tenant.headers), 422)
    assert client.get("/v1/profile-attributes", headers=tenant.headers).json()["items"] == []


def test_typed_values_tags_and_the_update_event(stack: Stack, client: httpx.Client, tenant: Tenant) -> None:
    define_all(client, tenant)
    profile = new_profile(client, tenant)
    gold = client.post(
        "/v1/segments", json={"name": "gold", "rule": 'attributes.plan = "gold"'}, headers=tenant.headers
    ).json()

    response = client.patch(
        f"/v1/profiles/{profile['id']}",
        json={
            "attributes": {
                "plan": "gold",
                "seats": 12,
                "newsletter": True,
                "renewal": "2027-01-31",
                "company": "ACME",
            },
            "tags": {"add": ["VIP", " vip ", "Beta"]},
            "display_name": "Sam K",
        },
        headers=tenant.headers,
    )

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["attributes"] == {
        "plan": "gold",
        "seats": 12,
        "newsletter": True,
        "renewal": "2027-01-31",
        "company": "ACME",
    }
    assert (updated["tags"], updated["display_name"]) == (["vip", "beta"], "Sam K")
    assert client.get(f"/v1/profiles/{profile['id']}", headers=tenant.headers).json()["tags"] == [
        "vip",
        "beta",
    ]
    event = find_event(
        stack.nats_url, "profiles.profile.updated", lambda e: e.get("subject") == profile["id"]
    )
    assert event["tenantid"] == tenant.tenant_id
    assert sorted(event["data"]["changed"]) == ["attributes", "display_name", "tags"]
    snapshot = event["data"]["profile"]
    assert (snapshot["profile_id"], snapshot["tags"], snapshot["display_name"]) == (
        profile["id"],
        ["vip", "beta"],
        "Sam K",
    )
    assert snapshot["segment_ids"] == [gold["id"]]

    # null removes a value; tags come off by any spelling.
    again = client.patch(
        f"/v1/profiles/{profile['id']}",
        json={"attributes": {"plan": None, "seats": 3.5}, "tags": {"remove": ["BETA"]}},
        headers=tenant.headers,
    ).json()
    assert again["attributes"] == {
        "seats": 3.5,
        "newsletter": True,
        "renewal": "2027-01-31",
        "company": "ACME",
    }
    assert again["tags"] == ["vip"]
    members = client.get(f"/v1/segments/{gold['id']}/members", headers=tenant.headers).json()["items"]
    assert members == []


@pytest.mark.parametrize(
    ("attributes", "bad"),
    [
        ({"plan": "platinum"}, "plan"),
        ({"seats": "12"}, "seats"),
        ({"seats": True}, "seats"),
        ({"newsletter": "yes"}, "newsletter"),
        ({"renewal": "31/01/2027"}, "renewal"),
        ({"renewal": 20270131}, "renewal"),
        ({"company": 7}, "company"),
        ({"company": "ACME", "shoe_size": 44}, "shoe_size"),
    ],
)
def test_ill_typed_or_undefined_attribute_is_422_naming_it(
    client: httpx.Client, tenant: Tenant, attributes: dict[str, Any], bad: str
) -> None:
    define_all(client, tenant)
    profile = new_profile(client, tenant)

    response = client.patch(
        f"/v1/profiles/{profile['id']}", json={"attributes": attributes}, headers=tenant.headers
    )

    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "attributes", bad]
    assert client.get(f"/v1/profiles/{profile['id']}", headers=tenant.headers).json()["attributes"] == {}


@pytest.mark.parametrize(
    "tags",
    [{"add": ["   "]}, {"add": ["x" * 51]}, {"add": [f"t{i}" for i in range(101)]}, {"add": "vip"}],
    ids=["empty", "too_long", "too_many", "not_a_list"],
)
def test_bad_tags_are_422(client: httpx.Client, tenant: Tenant, tags: dict[str, Any]) -> None:
    profile = new_profile(client, tenant)

    assert_problem(
        client.patch(f"/v1/profiles/{profile['id']}", json={"tags": tags}, headers=tenant.headers), 422
    )
    assert client.get(f"/v1/profiles/{profile['id']}", headers=tenant.headers).json()["tags"] == []


def test_a_profile_holds_at_most_100_tags(client: httpx.Client, tenant: Tenant) -> None:
    profile = new_profile(client, tenant)
    path = f"/v1/profiles/{profile['id']}"
    first = client.patch(path, json={"tags": {"add": [f"t{i}" for i in range(100)]}}, headers=tenant.headers)
    assert first.status_code == 200 and len(first.json()["tags"]) == 100

    assert_problem(client.patch(path, json={"tags": {"add": ["one-more"]}}, headers=tenant.headers), 422)
    swapped = client.patch(
        path, json={"tags": {"add": ["one-more"], "remove": ["t0"]}}, headers=tenant.headers
    )
    assert swapped.status_code == 200 and swapped.json()["tags"][-1] == "one-more"


def test_delete_definition_and_roles(client: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    agent = add_user(accounts, tenant, "agent")
    analyst = add_user(accounts, tenant, "analyst")
    define_all(client, tenant)
    profile = new_profile(client, tenant)

    assert_problem(define(client, agent, "tier", "string"), 403)
    assert client.get("/v1/profile-attributes", headers=analyst.headers).status_code == 200
    # Agents edit profiles, analysts only read them.
    body = {"attributes": {"company": "ACME"}}
    assert client.patch(f"/v1/profiles/{profile['id']}", json=body, headers=agent.headers).status_code == 200
    assert_problem(client.patch(f"/v1/profiles/{profile['id']}", json=body, headers=analyst.headers), 403)

    assert client.delete("/v1/profile-attributes/company", headers=tenant.headers).status_code == 204
    assert_problem(client.delete("/v1/profile-attributes/company", headers=tenant.headers), 404)
    # No longer defined: new values are refused, the value held can still be removed.
    assert_problem(client.patch(f"/v1/profiles/{profile['id']}", json=body, headers=agent.headers), 422)
    cleared = client.patch(
        f"/v1/profiles/{profile['id']}", json={"attributes": {"company": None}}, headers=agent.headers
    )
    assert cleared.status_code == 200 and cleared.json()["attributes"] == {}


def test_other_tenants_definitions_are_theirs(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    define_all(client, tenant)
    profile = new_profile(client, other_tenant)

    assert client.get("/v1/profile-attributes", headers=other_tenant.headers).json()["items"] == []
    assert_problem(client.delete("/v1/profile-attributes/plan", headers=other_tenant.headers), 404)
    response = client.patch(
        f"/v1/profiles/{profile['id']}", json={"attributes": {"plan": "gold"}}, headers=other_tenant.headers
    )
    assert_problem(response, 422)
    assert define(client, other_tenant, "plan", "string").status_code == 201


def test_unknown_profile_is_404(client: httpx.Client, tenant: Tenant) -> None:
    assert_problem(
        client.patch("/v1/profiles/nope", json={"tags": {"add": ["x"]}}, headers=tenant.headers), 404
    )

"""Notes on profiles: written by staff (the caller is the author), listed newest first in pages."""

from __future__ import annotations

import httpx

from tests.helpers import Tenant, add_user, assert_problem, unique
from tests.profiles.helpers import ingest, wait_for_profile


def new_profile_id(client: httpx.Client, tenant: Tenant) -> str:
    handle = unique("@note")
    ingest(client, tenant, author={"handle": handle})
    profile_id: str = wait_for_profile(client, tenant, handle)["id"]
    return profile_id


def test_notes_are_listed_newest_first_with_their_author(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant
) -> None:
    agent = add_user(accounts, tenant, "agent")
    profile_id = new_profile_id(client, tenant)
    path = f"/v1/profiles/{profile_id}/notes"

    first = client.post(path, json={"body": "Called about the refund."}, headers=tenant.headers)
    second = client.post(path, json={"body": "Refund sent."}, headers=agent.headers)
    assert first.status_code == second.status_code == 201, first.text
    assert (first.json()["author_id"], second.json()["author_id"]) == (tenant.user_id, agent.user_id)

    page1 = client.get(path, headers=tenant.headers, params={"limit": 1}).json()
    page2 = client.get(
        path, headers=tenant.headers, params={"limit": 1, "cursor": page1["next_cursor"]}
    ).json()
    assert [n["body"] for n in page1["items"] + page2["items"]] == [
        "Refund sent.",
        "Called about the refund.",
    ]
    assert page2["next_cursor"] is None
    assert page1["items"][0]["profile_id"] == profile_id


def test_bad_notes_and_roles(client: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    analyst = add_user(accounts, tenant, "analyst")
    profile_id = new_profile_id(client, tenant)
    path = f"/v1/profiles/{profile_id}/notes"

    assert_problem(client.post(path, json={"body": ""}, headers=tenant.headers), 422)
    assert_problem(client.post(path, json={"body": "x" * 5001}, headers=tenant.headers), 422)
    assert_problem(client.post(path, json={"body": "hi", "pinned": True}, headers=tenant.headers), 422)
    assert_problem(client.post(path, json={"body": "hi"}, headers=analyst.headers), 403)
    assert client.get(path, headers=analyst.headers).json()["items"] == []
    assert client.post(path, json={"body": "x" * 5000}, headers=tenant.headers).status_code == 201


def test_unknown_or_other_tenants_profile_is_404(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    profile_id = new_profile_id(client, tenant)
    client.post(f"/v1/profiles/{profile_id}/notes", json={"body": "private"}, headers=tenant.headers)

    for path in (f"/v1/profiles/{profile_id}/notes", "/v1/profiles/nope/notes"):
        assert_problem(client.get(path, headers=other_tenant.headers), 404)
        assert_problem(client.post(path, json={"body": "x"}, headers=other_tenant.headers), 404)
    assert_problem(client.get("/v1/profiles/nope/notes", headers=tenant.headers), 404)

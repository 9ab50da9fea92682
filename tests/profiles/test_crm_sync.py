"""Partner (CRM) sync: a customer upserted by the partner's own id, idempotently."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, add_user, assert_problem, find_event_async, unique
from tests.profiles.helpers import find_profiles, ingest, wait_for_profile
from tests.profiles.partners import get_profile, upsert


def _updates_until(stack: Stack, profile_id: str, marker: str) -> list[dict[str, Any]]:
    """The `profiles.profile.updated` events of the profile, up to the one whose snapshot has `marker`
    as its display name (events of one profile are published in the order they were staged)."""
    seen: list[dict[str, Any]] = []

    def match(event: dict[str, Any]) -> bool:
        if event["data"]["profile_id"] != profile_id:
            return False
        seen.append(event)
        return bool(event["data"]["profile"]["display_name"] == marker)

    found = asyncio.run(find_event_async(stack.nats_url, "profiles.profile.updated", match, timeout=15))
    assert found is not None, f"no update with {marker!r}"
    return seen


def test_upsert_creates_then_updates_and_a_repeat_changes_nothing(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    external_id = unique("cust")
    handle = unique("@sam")
    body = {
        "display_name": "Sam Kay",
        "email": "Sam.Kay@Example.com",
        "phone": "+49 151 23456789",
        "website": "https://www.sam.example/",
        "handles": [{"platform": "instagram", "handle": handle}],
        "attributes": {"plan": "gold", "seats": 3},
        "tags": ["vip", "newsletter"],
    }

    created = upsert(client, tenant, external_id, **body)
    repeated = upsert(client, tenant, external_id, **body)
    changed = upsert(
        client, tenant, external_id, display_name="Sam K.", tags=["vip", "b2b"], attributes={"seats": None}
    )

    assert created.status_code == 201, created.text
    assert repeated.status_code == 200 and changed.status_code == 200, repeated.text + changed.text
    profile_id = created.json()["id"]
    assert repeated.json()["id"] == changed.json()["id"] == profile_id
    assert repeated.json()["updated_at"] == created.json()["updated_at"]
    profile = get_profile(client, tenant, profile_id)
    assert profile["display_name"] == "Sam K."
    assert profile["tags"] == ["vip", "newsletter", "b2b"]
    assert profile["attributes"] == {"plan": "gold"}
    assert profile["handles"] == [{"platform": "instagram", "handle": handle}]
    assert [p["id"] for p in find_profiles(client, tenant, handle=handle.upper(), platform="instagram")] == [
        profile_id
    ]
    # The repeat announced nothing: the updates are the creation's and the change's.
    updates = _updates_until(stack, profile_id, "Sam K.")
    assert [u["data"]["profile"]["display_name"] for u in updates] == ["Sam Kay", "Sam K."]
    assert updates[1]["data"]["changed"] == ["display_name", "attributes", "tags"]


def test_identifier_of_another_profile_is_not_taken_over(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@ahmed")
    ingest(client, tenant, author={"handle": handle, "display_name": "Ahmed"})
    from_mention = wait_for_profile(client, tenant, handle)

    response = upsert(client, tenant, unique("cust"), handles=[{"platform": "x", "handle": handle.upper()}])

    assert response.status_code == 201, response.text
    assert response.json()["id"] != from_mention["id"]
    assert response.json()["handles"] == []
    assert [p["id"] for p in find_profiles(client, tenant, handle=handle, platform="x")] == [
        from_mention["id"]
    ]
    assert get_profile(client, tenant, from_mention["id"])["merged_into"] is None


def test_bad_upserts_are_refused(client: httpx.Client, tenant: Tenant) -> None:
    for bad in [
        {"email": "not-an-email"},
        {"phone": "12"},
        {"phone": "call me"},
        {"handles": [{"platform": "x", "handle": "@"}]},
        {"attributes": {"Bad Name": 1}},
        {"attributes": {"nested": {"a": 1}}},
        {"unknown": 1},
    ]:
        assert_problem(upsert(client, tenant, unique("cust"), **bad), 422)
    assert_problem(upsert(client, tenant, "x", system="bad system"), 422)
    assert find_profiles(client, tenant) == []


def test_roles_and_tenants(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    partner = add_user(accounts, tenant, "integration")
    analyst = add_user(accounts, tenant, "analyst")
    external_id = unique("cust")

    mine = upsert(client, partner, external_id, display_name="Mine")
    theirs = upsert(client, other_tenant, external_id, display_name="Theirs")

    assert (mine.status_code, theirs.status_code) == (201, 201), mine.text + theirs.text
    assert mine.json()["id"] != theirs.json()["id"]
    assert_problem(upsert(client, analyst, external_id, display_name="No"), 403)
    assert get_profile(client, tenant, mine.json()["id"])["display_name"] == "Mine"
    assert_problem(client.get(f"/v1/profiles/{mine.json()['id']}", headers=other_tenant.headers), 404)

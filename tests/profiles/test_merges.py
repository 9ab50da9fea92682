"""Merging profiles and undoing merges: one customer across handles, history kept, reversible exactly."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import Tenant, add_user, assert_problem, find_event, unique, wait_until
from tests.profiles.helpers import find_profiles, ingest, timeline, wait_for_profile


def get_profile(client: httpx.Client, tenant: Tenant, profile_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/profiles/{profile_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def identifiers(client: httpx.Client, tenant: Tenant, profile_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/profiles/{profile_id}/identifiers", headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def merge(client: httpx.Client, tenant: Tenant, survivor: str, other: str) -> httpx.Response:
    return client.post(f"/v1/profiles/{survivor}/merge", json={"other_id": other}, headers=tenant.headers)


def sam_on_two_platforms(client: httpx.Client, tenant: Tenant) -> tuple[dict[str, Any], dict[str, Any]]:
    """ "Sam K" on X (two posts) and on Instagram (one): two profiles, as resolution alone sees them."""
    on_x, on_instagram = unique("@samk"), unique("sam.k")
    ingest(
        client, tenant, text="How do I reset my password?", author={"handle": on_x, "display_name": "Sam K"}
    )
    wait_for_profile(client, tenant, on_x)
    ingest(client, tenant, text="Thanks, that was great!", author={"handle": on_x, "display_name": "Sam K"})
    ingest(
        client,
        tenant,
        platform="instagram",
        text="The update is terrible, it broke my phone.",
        author={"handle": on_instagram, "display_name": "Sam K.", "followers": 900},
    )
    return (
        wait_for_profile(client, tenant, on_x, mentions=2),
        wait_for_profile(client, tenant, on_instagram, platform="instagram"),
    )


def test_the_person_behind_two_handles_ends_as_one_profile(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    x, instagram = sam_on_two_platforms(client, tenant)
    assert x["id"] != instagram["id"]

    response = merge(client, tenant, x["id"], instagram["id"])

    assert response.status_code == 200, response.text
    merged = response.json()["profile"]
    assert merged["id"] == x["id"]
    assert {(h["platform"], h["handle"]) for h in merged["handles"]} == {
        ("x", x["handles"][0]["handle"]),
        ("instagram", instagram["handles"][0]["handle"]),
    }
    assert merged["mention_count"] == 3
    assert merged["display_name"] == "Sam K"  # the survivor's own name stays
    assert merged["followers"] == 900  # known only to the merged profile
    assert len(timeline(client, tenant, x["id"])["items"]) == 3
    gone = get_profile(client, tenant, instagram["id"])
    assert gone["merged_into"] == x["id"]
    assert [p["id"] for p in find_profiles(client, tenant, handle=instagram["handles"][0]["handle"])] == [
        x["id"]
    ]
    event = find_event(stack.nats_url, "profiles.profile.merged", lambda e: e.get("subject") == x["id"])
    assert event["data"] == {
        "survivor_id": x["id"],
        "merged_id": instagram["id"],
        "reason": "agent",
        "merge_id": response.json()["merge_id"],
    }


def test_merge_then_unmerge_restores_both_profiles_and_timelines_exactly(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    x, instagram = sam_on_two_platforms(client, tenant)
    before = {p["id"]: get_profile(client, tenant, p["id"]) for p in (x, instagram)}
    timelines = {pid: timeline(client, tenant, pid)["items"] for pid in before}
    links = {pid: identifiers(client, tenant, pid) for pid in before}
    assert merge(client, tenant, x["id"], instagram["id"]).status_code == 200

    response = client.post(
        f"/v1/profiles/{x['id']}/unmerge",
        json={"identifier_ids": [i["id"] for i in links[instagram["id"]]]},
        headers=tenant.headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["restored"]["id"] == instagram["id"]
    for profile_id, was in before.items():
        now = get_profile(client, tenant, profile_id)
        for name, value in was.items():
            if name != "updated_at":
                assert now[name] == value, (profile_id, name)
        assert timeline(client, tenant, profile_id)["items"] == timelines[profile_id]
        assert identifiers(client, tenant, profile_id) == links[profile_id]
    event = find_event(stack.nats_url, "profiles.profile.unmerged", lambda e: e.get("subject") == x["id"])
    assert event["data"]["restored_profile_id"] == instagram["id"]
    # Undone, the merge can be made again.
    assert merge(client, tenant, x["id"], instagram["id"]).status_code == 200


def test_an_attested_platform_user_id_merges_the_profiles_it_joins(
    client: httpx.Client, tenant: Tenant
) -> None:
    old, new, user_id = unique("@sam"), unique("@sam_new"), unique("uid")
    ingest(client, tenant, author={"handle": old})
    handle_only = wait_for_profile(client, tenant, old)
    ingest(client, tenant, author={"handle": new, "id": user_id})
    account = wait_for_profile(client, tenant, new)
    # The account posts under the old handle: the platform says both are one account.
    ingest(client, tenant, author={"handle": old, "id": user_id})

    wait_until(
        lambda: get_profile(client, tenant, handle_only["id"])["merged_into"] == account["id"],
        what="the handle-only profile merged into the account's",
    )
    survivor = get_profile(client, tenant, account["id"])
    assert survivor["mention_count"] == 3
    assert {h["handle"] for h in survivor["handles"]} == {old, new}


def test_an_agent_attaching_a_verified_identifier_merges_its_profile(
    client: httpx.Client, tenant: Tenant
) -> None:
    x, instagram = sam_on_two_platforms(client, tenant)
    body = {"kind": "handle", "namespace": "instagram", "value": instagram["handles"][0]["handle"]}

    unverified = client.post(
        f"/v1/profiles/{x['id']}/identifiers", json={**body, "evidence": "unverified"}, headers=tenant.headers
    )
    assert_problem(unverified, 409)
    assert get_profile(client, tenant, instagram["id"])["merged_into"] is None

    verified = client.post(
        f"/v1/profiles/{x['id']}/identifiers", json={**body, "evidence": "verified"}, headers=tenant.headers
    )
    assert verified.status_code == 200, verified.text  # the identifier was there: now on this profile
    assert verified.json()["profile_id"] == x["id"]
    assert get_profile(client, tenant, instagram["id"])["merged_into"] == x["id"]


def test_an_agent_attaches_a_new_identifier_with_its_evidence(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@sam")
    ingest(client, tenant, author={"handle": handle})
    profile = wait_for_profile(client, tenant, handle)

    response = client.post(
        f"/v1/profiles/{profile['id']}/identifiers",
        json={"kind": "email", "value": " Sam.K@Example.COM ", "evidence": "verified"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["kind"], created["namespace"], created["value_normalised"]) == (
        "email",
        "",
        "sam.k@example.com",
    )
    assert (created["evidence"], created["source"]) == ("verified", f"agent:{tenant.user_id}")
    [handle_link, email_link] = identifiers(client, tenant, profile["id"])
    assert (handle_link["kind"], handle_link["evidence"], handle_link["namespace"]) == (
        "handle",
        "platform",
        "x",
    )
    assert handle_link["source"].startswith("mention:")
    assert email_link == created
    again = client.post(
        f"/v1/profiles/{profile['id']}/identifiers",
        json={"kind": "email", "value": "sam.k@example.com", "evidence": "verified"},
        headers=tenant.headers,
    )
    assert again.status_code == 200 and again.json()["id"] == created["id"]
    bad_phone = client.post(
        f"/v1/profiles/{profile['id']}/identifiers",
        json={"kind": "phone", "value": "12"},
        headers=tenant.headers,
    )
    assert_problem(bad_phone, 422)


def test_merge_refusals(client: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    x, instagram = sam_on_two_platforms(client, tenant)
    assert_problem(merge(client, tenant, x["id"], x["id"]), 409)
    assert_problem(merge(client, tenant, x["id"], "no-such-profile"), 404)
    assert_problem(merge(client, tenant, "no-such-profile", x["id"]), 404)
    analyst = add_user(accounts, tenant, "analyst")
    assert_problem(merge(client, analyst, x["id"], instagram["id"]), 403)
    assert merge(client, tenant, x["id"], instagram["id"]).status_code == 200
    # Merged away: neither side of another merge.
    assert_problem(merge(client, tenant, x["id"], instagram["id"]), 409)
    assert_problem(merge(client, tenant, instagram["id"], x["id"]), 409)
    unknown = client.post(
        f"/v1/profiles/{x['id']}/unmerge", json={"identifier_ids": ["nope"]}, headers=tenant.headers
    )
    assert_problem(unknown, 422)


@pytest.mark.parametrize("path", ["merge", "unmerge", "identifiers"])
def test_other_tenants_profiles_cannot_be_changed(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant, path: str
) -> None:
    handle = unique("@sam")
    ingest(client, tenant, author={"handle": handle})
    profile = wait_for_profile(client, tenant, handle)
    body = {
        "merge": {"other_id": "another-profile"},
        "unmerge": {"identifier_ids": ["x"]},
        "identifiers": {"kind": "email", "value": "a@b.example"},
    }[path]
    response = client.post(f"/v1/profiles/{profile['id']}/{path}", json=body, headers=other_tenant.headers)
    assert_problem(response, 404)

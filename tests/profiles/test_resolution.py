"""Identity resolution: every mention lands on its author's profile (same platform and handle)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.helpers import Tenant, mention_payload, unique, wait_until
from tests.profiles.helpers import find_profiles, ingest, timeline, wait_for_profile


def analysis(client: httpx.Client, tenant: Tenant, mention_id: str) -> Any:
    """The mention's analysis, once the (asynchronous) analysis worker produced it."""
    return wait_until(
        lambda: client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()["analysis"],
        what="the mention's analysis",
    )


def test_profile_appears_after_ingest(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@Sam")
    posted_at = datetime(2025, 2, 1, 10, 30, tzinfo=UTC)
    mention_id = ingest(
        client,
        tenant,
        text="I love the new app, great work team!",
        created_at=posted_at.isoformat(),
        author={"handle": handle, "display_name": "Sam Doe", "followers": 321},
    )
    score = analysis(client, tenant, mention_id)["sentiment"]

    profile = wait_for_profile(client, tenant, handle)

    assert profile["display_name"] == "Sam Doe"
    assert profile["handles"] == [{"platform": "x", "handle": handle}]
    assert profile["followers"] == 321
    assert 0 < profile["influence"] < 30  # a small audience, unverified, no engagement
    assert profile["mention_count"] == 1
    sentiment = {"average": score["score"], "trend": score["score"], "last_label": "positive"}
    assert profile["sentiment"] == sentiment
    assert (profile["at_risk"], profile["merged_into"]) == (False, None)
    assert profile["lifecycle_stage"] == "fan"  # a first praise
    assert datetime.fromisoformat(profile["first_seen_at"]) == posted_at
    assert datetime.fromisoformat(profile["last_seen_at"]) == posted_at
    response = client.get(f"/v1/profiles/{profile['id']}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json() == profile


def test_same_handle_twice_is_one_profile_with_two_mentions(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@Sam")
    first = ingest(client, tenant, author={"handle": handle})
    second = ingest(client, tenant, author={"handle": handle})

    profile = wait_for_profile(client, tenant, handle, mentions=2)

    assert profile["mention_count"] == 2
    assert len(find_profiles(client, tenant)) == 1
    items = timeline(client, tenant, profile["id"])["items"]
    assert {i["mention_id"] for i in items} == {first, second}


def test_handle_matches_without_at_sign_and_in_any_case(client: httpx.Client, tenant: Tenant) -> None:
    name = unique("Sam.Doe")
    ingest(client, tenant, author={"handle": f"@{name}"})
    ingest(client, tenant, author={"handle": name.lower()})
    ingest(client, tenant, author={"handle": f" @{name.upper()} "})

    profile = wait_for_profile(client, tenant, name, mentions=3)

    assert len(find_profiles(client, tenant)) == 1
    # The handle is shown as first written; lookups match the normalised form.
    assert profile["handles"] == [{"platform": "x", "handle": f"@{name}"}]
    for query in (name.upper(), f"@{name.lower()}", f"@{name}"):
        assert [p["id"] for p in find_profiles(client, tenant, handle=query)] == [profile["id"]]


def test_same_handle_on_another_platform_is_another_profile(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@sam")
    ingest(client, tenant, platform="x", author={"handle": handle})
    ingest(client, tenant, platform="instagram", author={"handle": handle})

    on_x = wait_for_profile(client, tenant, handle, platform="x")
    on_instagram = wait_for_profile(client, tenant, handle, platform="instagram")

    assert on_x["id"] != on_instagram["id"]
    assert {p["id"] for p in find_profiles(client, tenant, handle=handle)} == {on_x["id"], on_instagram["id"]}


def test_same_handle_in_another_tenant_is_another_profile(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    handle = unique("@sam")
    ingest(client, tenant, author={"handle": handle})
    ingest(client, other_tenant, author={"handle": handle})

    mine = wait_for_profile(client, tenant, handle)
    theirs = wait_for_profile(client, other_tenant, handle)

    assert mine["id"] != theirs["id"]
    assert mine["mention_count"] == theirs["mention_count"] == 1


def test_duplicate_mention_adds_no_second_interaction(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@sam")
    body = mention_payload(author={"handle": handle})
    first = client.post("/v1/mentions", json=body, headers=tenant.headers).json()
    repeat = client.post("/v1/mentions", json=body, headers=tenant.headers).json()
    assert repeat == {"id": first["id"], "status": "duplicate"}
    # A later post by the same author is resolved after anything the repeat could have caused.
    later = ingest(client, tenant, author={"handle": handle})

    profile = wait_for_profile(client, tenant, handle, mentions=2)

    assert profile["mention_count"] == 2
    items = timeline(client, tenant, profile["id"])["items"]
    assert sorted(i["mention_id"] for i in items) == sorted([first["id"], later])


def test_counters_follow_the_latest_post_even_when_it_arrives_first(
    client: httpx.Client, tenant: Tenant
) -> None:
    handle = unique("@sam")
    newer, older = datetime(2025, 6, 2, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    happy = ingest(
        client,
        tenant,
        text="Thank you, the support team was amazing!",
        created_at=newer.isoformat(),
        author={"handle": handle, "display_name": "Sam New", "followers": 200},
    )
    angry = ingest(
        client,
        tenant,
        text="The update is terrible, it broke my phone.",
        created_at=older.isoformat(),
        author={"handle": handle, "display_name": "Sam Old", "followers": 100},
    )
    scores = [analysis(client, tenant, m)["sentiment"]["score"] for m in (happy, angry)]

    profile = wait_for_profile(client, tenant, handle, mentions=2)

    assert profile["sentiment"]["last_label"] == "positive"
    assert profile["sentiment"]["average"] == round(sum(scores) / 2, 3)
    assert profile["display_name"] == "Sam New"
    assert profile["followers"] == 200
    assert datetime.fromisoformat(profile["first_seen_at"]) == older
    assert datetime.fromisoformat(profile["last_seen_at"]) == newer

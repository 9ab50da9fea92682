"""Resolution by platform user id, enrichment of the profile, and corrections reaching it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, find_event, unique, wait_until
from tests.profiles.helpers import find_profiles, ingest, timeline, wait_for_profile


def get_profile(client: httpx.Client, tenant: Tenant, profile_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/profiles/{profile_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_a_new_handle_of_a_known_account_joins_its_profile(client: httpx.Client, tenant: Tenant) -> None:
    user_id, old, new = unique("uid"), unique("@sam_old"), unique("@sam_new")
    ingest(client, tenant, author={"handle": old, "id": user_id})
    first = wait_for_profile(client, tenant, old)
    ingest(client, tenant, author={"handle": new, "id": user_id})

    profile = wait_for_profile(client, tenant, new, mentions=2)

    assert profile["id"] == first["id"]
    assert profile["handles"] == [{"platform": "x", "handle": old}, {"platform": "x", "handle": new}]
    assert len(find_profiles(client, tenant)) == 1


def test_a_handle_that_changed_hands_moves_to_the_new_account(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@brandfan")
    ingest(client, tenant, author={"handle": handle, "id": unique("uid-a")})
    before = wait_for_profile(client, tenant, handle)
    ingest(client, tenant, author={"handle": handle, "id": unique("uid-b")})

    def moved() -> dict[str, Any] | None:
        found = find_profiles(client, tenant, handle=handle)
        return found[0] if len(found) == 1 and found[0]["id"] != before["id"] else None

    after = wait_until(moved, what="the handle on the new account's profile")
    assert after["mention_count"] == 1
    assert get_profile(client, tenant, before["id"])["handles"] == []
    assert len(find_profiles(client, tenant)) == 2


def test_a_post_without_audience_or_name_keeps_what_the_profile_knows(
    client: httpx.Client, tenant: Tenant
) -> None:
    handle = unique("@sam")
    posted = datetime(2025, 3, 1, tzinfo=UTC)
    ingest(
        client,
        tenant,
        created_at=posted.isoformat(),
        author={"handle": handle, "display_name": "Sam Known", "followers": 50_000},
    )
    known = wait_for_profile(client, tenant, handle)
    later = (posted + timedelta(days=1)).isoformat()
    ingest(client, tenant, created_at=later, author={"handle": handle})

    profile = wait_for_profile(client, tenant, handle, mentions=2)

    assert (profile["display_name"], profile["followers"]) == ("Sam Known", 50_000)
    assert profile["influence"] == known["influence"] > 0
    assert datetime.fromisoformat(profile["last_seen_at"]) == posted + timedelta(days=1)


def test_profile_counts_intents_languages_and_a_recent_weighted_trend(
    client: httpx.Client, tenant: Tenant
) -> None:
    handle = unique("@sam")
    start = datetime(2025, 5, 1, tzinfo=UTC)
    texts = [
        "The update is terrible, it broke my phone.",
        "How do I reset my password?",
        "Thank you, the support team was amazing!",
    ]
    for i, text in enumerate(texts):
        ingest(
            client,
            tenant,
            text=text,
            created_at=(start + timedelta(hours=i)).isoformat(),
            author={"handle": handle},
        )
        wait_for_profile(client, tenant, handle, mentions=i + 1)
    profile = wait_for_profile(client, tenant, handle, mentions=3)
    items = timeline(client, tenant, profile["id"])["items"]
    scores = [i["sentiment_score"] for i in reversed(items)]

    trend = scores[0]
    for score in scores[1:]:
        trend = trend * 0.7 + score * 0.3
    assert profile["sentiment"]["trend"] == round(trend, 3)
    assert profile["intent_counts"] == {"complaint": 1, "question": 1, "praise": 1}
    assert profile["languages"] == ["en"]
    assert [i["excerpt"] for i in items] == texts[::-1]


def test_a_label_correction_reaches_the_profile_and_moves_its_lifecycle(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    handle = unique("@sam")
    mention_id = ingest(client, tenant, text="How do I reset my password?", author={"handle": handle})
    profile = wait_for_profile(client, tenant, handle)
    assert profile["lifecycle_stage"] == "stranger"

    response = client.post(
        f"/v1/mentions/{mention_id}/labels",
        json={"intent": "purchase_intent", "sentiment": "negative"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text

    corrected = wait_until(
        lambda: (p := get_profile(client, tenant, profile["id"]))["lifecycle_stage"] == "lead" and p,
        what="the profile to follow the correction",
    )
    assert corrected["intent_counts"] == {"purchase_intent": 1}
    assert corrected["sentiment"]["last_label"] == "negative"
    assert corrected["sentiment"]["average"] == corrected["sentiment"]["trend"] < 0
    [item] = timeline(client, tenant, profile["id"])["items"]
    assert (item["intent"], item["sentiment_label"]) == ("purchase_intent", "negative")
    changed = find_event(
        stack.nats_url,
        "profiles.profile.lifecycle_changed",
        lambda e: e.get("subject") == profile["id"],
    )
    assert changed["data"] == {
        "profile_id": profile["id"],
        "from_stage": "stranger",
        "to_stage": "lead",
        "at_risk": False,
        "reason": "purchase intent",
    }
    updated = find_event(
        stack.nats_url,
        "profiles.profile.updated",
        lambda e: e.get("subject") == profile["id"] and "lifecycle_stage" in e["data"]["changed"],
    )
    assert updated["data"]["profile"]["lifecycle_stage"] == "lead"


def test_mention_resolved_carries_the_profile_snapshot(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    handle = unique("@sam")
    mention_id = ingest(client, tenant, author={"handle": handle, "display_name": "Sam", "followers": 10})
    profile = wait_for_profile(client, tenant, handle)

    resolved = find_event(
        stack.nats_url,
        "profiles.mention.resolved",
        lambda e: e["data"]["mention"]["mention_id"] == mention_id,
    )

    snapshot = resolved["data"]["profile"]
    assert resolved["data"]["profile_id"] == snapshot["profile_id"] == profile["id"]
    assert (snapshot["display_name"], snapshot["followers"], snapshot["mention_count"]) == ("Sam", 10, 1)
    assert snapshot["lifecycle_stage"] == profile["lifecycle_stage"]
    created = find_event(
        stack.nats_url, "profiles.profile.created", lambda e: e.get("subject") == profile["id"]
    )
    assert created["data"] == {"profile_id": profile["id"], "platform": "x"}

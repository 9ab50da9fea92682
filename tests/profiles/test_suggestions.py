"""Match suggestions: likely duplicates with score and evidence, decided by an agent, never merged alone."""

from __future__ import annotations

import random
import string
from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, assert_problem, find_event, wait_until
from tests.profiles.helpers import ingest, wait_for_profile


def letters() -> str:
    """A token of letters only (handle stems drop digits), unique enough for one test run."""
    return "".join(random.choices(string.ascii_lowercase, k=10))


def suggestions(client: httpx.Client, tenant: Tenant, profile_id: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(
        f"/v1/profiles/{profile_id}/match-suggestions", headers=tenant.headers, params=params
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def three_profiles(
    client: httpx.Client, tenant: Tenant
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Sam on X and on Instagram (alike in name and handle), and another Sam (alike in first name only)."""
    token, other = letters(), letters()
    name = f"Sam {token.title()}"
    x, instagram, stranger = f"@sam_k_{token}", f"sam.k.{token}", f"@{other}"
    ingest(client, tenant, author={"handle": x, "display_name": name})
    ingest(client, tenant, platform="instagram", author={"handle": instagram, "display_name": f"{name}."})
    ingest(client, tenant, author={"handle": stranger, "display_name": f"Sam {other.title()}"})
    return (
        wait_for_profile(client, tenant, x),
        wait_for_profile(client, tenant, instagram, platform="instagram"),
        wait_for_profile(client, tenant, stranger),
    )


def test_a_likely_duplicate_is_suggested_with_its_evidence_and_nothing_is_merged(
    client: httpx.Client, tenant: Tenant
) -> None:
    x, instagram, stranger = three_profiles(client, tenant)

    found = wait_until(lambda: suggestions(client, tenant, x["id"]), what="a suggestion for Sam on X")

    [suggestion] = found
    assert (suggestion["profile_id"], suggestion["candidate_id"]) == (x["id"], instagram["id"])
    assert suggestion["status"] == "open" and 0.75 <= suggestion["score"] <= 1
    signals = {e["signal"]: e for e in suggestion["evidence"]}
    assert set(signals) == {"name", "handle"}
    assert signals["handle"]["score"] == 1.0
    assert signals["name"]["score"] >= 0.85
    # Seen from the other side, the same suggestion.
    [mirrored] = suggestions(client, tenant, instagram["id"])
    assert (mirrored["id"], mirrored["candidate_id"]) == (suggestion["id"], x["id"])
    # Sharing a first name alone is no evidence; and nothing was merged.
    assert suggestions(client, tenant, stranger["id"]) == []
    for profile in (x, instagram, stranger):
        assert (
            client.get(f"/v1/profiles/{profile['id']}", headers=tenant.headers).json()["merged_into"] is None
        )


def test_accepting_a_suggestion_merges_the_pair(client: httpx.Client, stack: Stack, tenant: Tenant) -> None:
    x, instagram, _ = three_profiles(client, tenant)
    [suggestion] = wait_until(lambda: suggestions(client, tenant, x["id"]), what="a suggestion")

    response = client.post(
        f"/v1/profiles/{x['id']}/match-suggestions/{suggestion['id']}/accept", headers=tenant.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["profile"]["mention_count"] == 2
    gone = client.get(f"/v1/profiles/{instagram['id']}", headers=tenant.headers).json()
    assert gone["merged_into"] == x["id"]
    [accepted] = suggestions(client, tenant, x["id"])
    assert (accepted["status"], accepted["decided_by"]) == ("accepted", f"user:{tenant.user_id}")
    event = find_event(stack.nats_url, "profiles.profile.merged", lambda e: e.get("subject") == x["id"])
    assert event["data"]["reason"] == "suggestion"
    again = client.post(
        f"/v1/profiles/{x['id']}/match-suggestions/{suggestion['id']}/accept", headers=tenant.headers
    )
    assert_problem(again, 409)


def test_a_rejected_suggestion_stays_rejected(client: httpx.Client, tenant: Tenant) -> None:
    x, instagram, _ = three_profiles(client, tenant)
    [suggestion] = wait_until(lambda: suggestions(client, tenant, x["id"]), what="a suggestion")

    response = client.post(
        f"/v1/profiles/{instagram['id']}/match-suggestions/{suggestion['id']}/reject", headers=tenant.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert suggestions(client, tenant, x["id"], status="open") == []
    assert [s["status"] for s in suggestions(client, tenant, x["id"])] == ["rejected"]
    assert client.get(f"/v1/profiles/{instagram['id']}", headers=tenant.headers).json()["merged_into"] is None
    # A new post with a new name on Instagram recomputes; the rejected pair is not suggested again.
    ingest(
        client,
        tenant,
        platform="instagram",
        author={"handle": instagram["handles"][0]["handle"], "display_name": x["display_name"]},
    )
    wait_for_profile(client, tenant, instagram["handles"][0]["handle"], platform="instagram", mentions=2)
    assert [s["status"] for s in suggestions(client, tenant, x["id"])] == ["rejected"]
    assert_problem(
        client.post(
            f"/v1/profiles/{x['id']}/match-suggestions/{suggestion['id']}/reject", headers=tenant.headers
        ),
        409,
    )
    assert_problem(
        client.post(f"/v1/profiles/{x['id']}/match-suggestions/nope/reject", headers=tenant.headers), 404
    )

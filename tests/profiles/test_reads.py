"""Reading profiles and timelines: shapes, paging, auth trio, bad input."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Tenant, add_user, assert_problem, unique
from tests.profiles.helpers import find_profiles, ingest, timeline, wait_for_profile


def test_timeline_lists_interactions_newest_first_in_pages(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@sam")
    first = ingest(client, tenant, text="How do I reset my password?", author={"handle": handle})
    wait_for_profile(client, tenant, handle, mentions=1)
    second = ingest(client, tenant, text="Thanks, that was great!", author={"handle": handle})
    profile = wait_for_profile(client, tenant, handle, mentions=2)

    page1 = timeline(client, tenant, profile["id"], limit=1)
    page2 = timeline(client, tenant, profile["id"], limit=1, cursor=page1["next_cursor"])

    assert page1["next_cursor"] and page2["next_cursor"] is None
    newest, oldest = page1["items"][0], page2["items"][0]
    assert (newest["mention_id"], oldest["mention_id"]) == (second, first)
    assert newest["profile_id"] == oldest["profile_id"] == profile["id"]
    assert (newest["intent"], newest["sentiment_label"]) == ("praise", "positive")
    assert (oldest["intent"], oldest["sentiment_label"]) == ("question", "neutral")
    assert (newest["kind"], newest["ref_id"]) == ("mention", second)
    assert newest["excerpt"] == "Thanks, that was great!"
    assert newest["links"] == {"mention": f"/v1/mentions/{second}"}
    assert set(newest) == {
        "id",
        "profile_id",
        "kind",
        "ref_id",
        "mention_id",
        "platform",
        "channel_id",
        "intent",
        "sentiment_label",
        "sentiment_score",
        "language",
        "excerpt",
        "links",
        "redacted",
        "occurred_at",
        "created_at",
    }


def test_profiles_list_pages_newest_first(client: httpx.Client, tenant: Tenant) -> None:
    handles = [unique("@p") for _ in range(3)]
    ids = []
    for handle in handles:
        ingest(client, tenant, author={"handle": handle})
        ids.append(wait_for_profile(client, tenant, handle)["id"])

    page1 = client.get("/v1/profiles", headers=tenant.headers, params={"limit": 2}).json()
    page2 = client.get(
        "/v1/profiles", headers=tenant.headers, params={"limit": 2, "cursor": page1["next_cursor"]}
    ).json()

    assert [p["id"] for p in page1["items"] + page2["items"]] == ids[::-1]
    assert page2["next_cursor"] is None


def test_platform_filter_and_unknown_handle(client: httpx.Client, tenant: Tenant) -> None:
    handle = unique("@sam")
    ingest(client, tenant, platform="instagram", author={"handle": handle})
    profile = wait_for_profile(client, tenant, handle, platform="instagram")

    assert [p["id"] for p in find_profiles(client, tenant, platform="instagram")] == [profile["id"]]
    assert find_profiles(client, tenant, platform="x") == []
    assert find_profiles(client, tenant, handle=handle, platform="x") == []
    assert find_profiles(client, tenant, handle=unique("@nobody")) == []


@pytest.mark.parametrize("path", ["/v1/profiles", "/v1/profiles/some-id", "/v1/profiles/some-id/timeline"])
def test_anonymous_cannot_read_profiles(client: httpx.Client, path: str) -> None:
    assert_problem(client.get(path), 401)


def test_integration_cannot_read_profiles(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant
) -> None:
    integration = add_user(accounts, tenant, "integration")
    handle = unique("@sam")
    ingest(client, tenant, author={"handle": handle})
    profile = wait_for_profile(client, tenant, handle)

    for path in ("/v1/profiles", f"/v1/profiles/{profile['id']}", f"/v1/profiles/{profile['id']}/timeline"):
        assert_problem(client.get(path, headers=integration.headers), 403)


@pytest.mark.parametrize("role", ["admin", "agent", "analyst"])
def test_staff_roles_may_read_profiles(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant, role: str
) -> None:
    user = add_user(accounts, tenant, role)
    handle = unique("@sam")
    ingest(client, tenant, author={"handle": handle})
    profile = wait_for_profile(client, tenant, handle)

    assert client.get(f"/v1/profiles/{profile['id']}", headers=user.headers).status_code == 200
    assert [p["id"] for p in find_profiles(client, user)] == [profile["id"]]
    assert len(timeline(client, user, profile["id"])["items"]) == 1


def test_other_tenants_profile_is_not_found(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    handle = unique("@sam")
    ingest(client, tenant, author={"handle": handle})
    profile = wait_for_profile(client, tenant, handle)

    assert_problem(client.get(f"/v1/profiles/{profile['id']}", headers=other_tenant.headers), 404)
    assert_problem(client.get(f"/v1/profiles/{profile['id']}/timeline", headers=other_tenant.headers), 404)
    assert find_profiles(client, other_tenant) == []
    assert find_profiles(client, other_tenant, handle=handle) == []


@pytest.mark.parametrize("path", ["/v1/profiles/no-such-profile", "/v1/profiles/no-such-profile/timeline"])
def test_unknown_profile_is_not_found(client: httpx.Client, tenant: Tenant, path: str) -> None:
    assert_problem(client.get(path, headers=tenant.headers), 404)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": "0"}, 422),
        ({"limit": "201"}, 422),
        ({"handle": ""}, 422),
        ({"handle": "h" * 102}, 422),
        ({"platform": "p" * 33}, 422),
        ({"cursor": "not-a-cursor"}, 400),
    ],
    ids=["limit_zero", "limit_too_big", "empty_handle", "handle_too_long", "platform_too_long", "bad_cursor"],
)
def test_bad_list_parameters_are_rejected(
    client: httpx.Client, tenant: Tenant, params: dict[str, str], status: int
) -> None:
    assert_problem(client.get("/v1/profiles", headers=tenant.headers, params=params), status)


def test_service_verifies_tokens_itself(stack_profiles: httpx.Client, tenant: Tenant) -> None:
    """Reached without the gateway, profiles still demands a valid token."""
    forged = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4Iiwicm9sZSI6Im93bmVyIn0."}

    assert_problem(stack_profiles.get("/v1/profiles"), 401)
    assert_problem(stack_profiles.get("/v1/profiles", headers=forged), 401)
    assert_problem(stack_profiles.get("/v1/profiles", headers={"X-Tenant-Id": tenant.tenant_id}), 401)
    assert stack_profiles.get("/v1/profiles", headers=tenant.headers).status_code == 200

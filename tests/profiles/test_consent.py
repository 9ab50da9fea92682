"""The consent ledger: writes in force from the next check (the Redis projection), history with who and
when, objections and restrictions, merges keeping the most restrictive state and unmerges giving each
profile its history back, the tenant's policy, captures from partners and from engagement's events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis

from rapport.stack import Stack
from shared import consent
from shared.events.contracts import ConsentCaptured
from shared.events.envelope import new_event
from tests.helpers import Tenant, add_user, assert_problem, find_event, publish_event, unique, wait_until


def partner_profile(client: httpx.Client, tenant: Tenant, **body: Any) -> dict[str, Any]:
    """A customer a partner's CRM upserts (the quickest way to a profile); its `id` and `external_id`."""
    external_id = unique("crm")
    response = client.put(
        f"/v1/profiles/by-external-id/shop/{external_id}",
        json={"display_name": "Ana", **body},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    return {"id": response.json()["id"], "external_id": external_id}


def decision(
    stack: Stack, tenant_id: str, profile_id: str, purpose: str, redis_url: str | None = None
) -> Any:
    """What `shared.consent.check` answers from the projection (None: not ready)."""

    async def check() -> consent.Decision | None:
        redis = Redis.from_url(redis_url or stack.redis_url)
        try:
            return await consent.check(redis, tenant_id, profile_id, purpose)
        finally:
            await redis.aclose()

    return asyncio.run(check())


def put_consent(
    client: httpx.Client, user: Any, profile_id: str, purpose: str, **body: Any
) -> httpx.Response:
    return client.put(f"/v1/profiles/{profile_id}/consents/{purpose}", json=body, headers=user.headers)


def consents(client: httpx.Client, user: Any, profile_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/profiles/{profile_id}/consents", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def by_purpose(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["purpose"]: p for p in view["purposes"]}


def test_a_grant_and_a_withdrawal_are_in_force_at_the_next_check(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    person = partner_profile(client, tenant)["id"]
    before = decision(stack, tenant.tenant_id, person, "marketing")
    assert (before.allowed, before.reason, before.basis) == (False, "no_consent", "consent")

    granted = put_consent(
        client, tenant, person, "marketing", status="granted", evidence={"form": "newsletter", "ip": "ref-1"}
    )

    assert granted.status_code == 200, granted.text
    now = decision(stack, tenant.tenant_id, person, "marketing")
    assert (now.allowed, now.reason) == (True, "granted")
    assert by_purpose(granted.json())["marketing"] == {
        "purpose": "marketing",
        "status": "granted",
        "basis": "consent",
        "objected": False,
        "decision": {"allowed": True, "reason": "granted"},
    }

    withdrawn = put_consent(client, tenant, person, "marketing", status="withdrawn", source="customer")

    assert withdrawn.status_code == 200, withdrawn.text
    assert decision(stack, tenant.tenant_id, person, "marketing").reason == "withdrawn"
    # Withdrawing profiling, which rests on legitimate interest, stops it too.
    put_consent(client, tenant, person, "profiling", status="withdrawn")
    assert not decision(stack, tenant.tenant_id, person, "profiling").allowed
    assert decision(stack, tenant.tenant_id, person, "engagement").allowed

    view = consents(client, tenant, person)
    history = view["history"]["items"]
    assert [(h["kind"], h["purpose"], h["status"], h["source"]) for h in history] == [
        ("consent", "profiling", "withdrawn", "agent"),
        ("consent", "marketing", "withdrawn", "customer"),
        ("consent", "marketing", "granted", "agent"),
    ]
    assert {h["by_user_id"] for h in history} == {tenant.user_id}
    assert history[2]["evidence"] == {"form": "newsletter", "ip": "ref-1"}
    assert history[2]["basis"] == "consent"
    # Paged, newest first.
    first = consents(client, tenant, person, limit=2)
    assert [h["id"] for h in first["history"]["items"]] == [h["id"] for h in history[:2]]
    rest = consents(client, tenant, person, limit=2, cursor=first["history"]["next_cursor"])
    assert [h["id"] for h in rest["history"]["items"]] == [history[2]["id"]]
    assert rest["history"]["next_cursor"] is None

    event = find_event(
        stack.nats_url,
        "privacy.consent.changed",
        lambda e: e.get("subject") == person and e["data"]["changed"] == "profiling",
    )
    assert event["data"]["purposes"] == {"marketing": "withdrawn", "profiling": "withdrawn"}
    assert event["data"]["by_user_id"] == tenant.user_id


def test_objection_and_restriction(client: httpx.Client, stack: Stack, tenant: Tenant) -> None:
    person = partner_profile(client, tenant)["id"]
    response = client.put(
        f"/v1/profiles/{person}/objections/profiling",
        json={"active": True, "reason": "asked by e-mail"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["objections"] == ["profiling"]
    assert decision(stack, tenant.tenant_id, person, "profiling").reason == "objected"
    assert decision(stack, tenant.tenant_id, person, "analytics").allowed

    restricted = client.put(
        f"/v1/profiles/{person}/restriction", json={"active": True}, headers=tenant.headers
    )
    assert restricted.status_code == 200, restricted.text
    assert restricted.json()["restricted"] is True
    for purpose in consent.PURPOSES:
        assert decision(stack, tenant.tenant_id, person, purpose).reason == "restricted"

    client.put(f"/v1/profiles/{person}/restriction", json={"active": False}, headers=tenant.headers)
    client.put(f"/v1/profiles/{person}/objections/profiling", json={"active": False}, headers=tenant.headers)
    assert decision(stack, tenant.tenant_id, person, "profiling").allowed
    kinds = [
        (h["kind"], h["status"], h["reason"]) for h in consents(client, tenant, person)["history"]["items"]
    ]
    assert kinds == [
        ("objection", "lifted", None),
        ("restriction", "lifted", None),
        ("restriction", "active", None),
        ("objection", "active", "asked by e-mail"),
    ]


def test_bad_writes_change_nothing(
    client: httpx.Client, stack: Stack, tenant: Tenant, other_tenant: Tenant
) -> None:
    person = partner_profile(client, tenant)["id"]
    assert_problem(put_consent(client, tenant, person, "telepathy", status="granted"), 422)
    assert_problem(put_consent(client, tenant, person, "marketing", status="maybe"), 422)
    assert_problem(put_consent(client, tenant, person, "marketing", status="granted", basis="whim"), 422)
    assert_problem(put_consent(client, tenant, "no-such-profile", "marketing", status="granted"), 404)
    # Another tenant's profile is unknown here.
    assert_problem(put_consent(client, other_tenant, person, "marketing", status="granted"), 404)
    assert_problem(client.get(f"/v1/profiles/{person}/consents", headers=other_tenant.headers), 404)
    analyst = add_user(client, tenant, "analyst")
    assert_problem(put_consent(client, analyst, person, "marketing", status="granted"), 403)
    assert consents(client, analyst, person)["history"]["items"] == []
    assert decision(stack, tenant.tenant_id, person, "marketing").reason == "no_consent"


def test_a_merge_keeps_both_histories_and_the_most_restrictive_state_and_an_unmerge_gives_them_back(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    survivor, other = partner_profile(client, tenant), partner_profile(client, tenant)
    a, b = survivor["id"], other["id"]
    put_consent(client, tenant, a, "marketing", status="withdrawn")
    put_consent(client, tenant, a, "analytics", status="granted")
    # The other profile granted marketing after the survivor withdrew it, and withdrew analytics.
    put_consent(client, tenant, b, "marketing", status="granted")
    put_consent(client, tenant, b, "analytics", status="withdrawn")
    put_consent(client, tenant, b, "profiling", status="granted")
    client.put(f"/v1/profiles/{b}/objections/engagement", json={"active": True}, headers=tenant.headers)

    merged = client.post(f"/v1/profiles/{a}/merge", json={"other_id": b}, headers=tenant.headers)
    assert merged.status_code == 200, merged.text

    view = consents(client, tenant, a)
    states = by_purpose(view)
    assert {p: states[p]["status"] for p in states} == {
        "engagement": None,
        "profiling": "granted",  # the person's grant on either profile is kept
        "marketing": "withdrawn",  # a withdrawal beats a later grant
        "analytics": "withdrawn",
    }
    assert view["objections"] == ["engagement"]
    history = view["history"]["items"]
    assert {h["origin_profile_id"] for h in history if h["source"] != "merge"} == {a, b}
    assert len([h for h in history if h["source"] != "merge"]) == 6
    # The projection follows (the survivor's state; the merged-away id's key is gone).
    expected = {"marketing": "withdrawn", "analytics": "withdrawn", "engagement": "objected"}
    wait_until(
        lambda: all(decision(stack, tenant.tenant_id, a, p).reason == r for p, r in expected.items()),
        what="the survivor's decisions projected",
    )
    wait_until(
        lambda: decision(stack, tenant.tenant_id, b, "profiling").reason == "legitimate_interest",
        what="the merged-away profile's projection removed",
    )
    assert consents(client, tenant, b)["history"]["items"] == []

    # A new grant on the survivor after the merge wins.
    put_consent(client, tenant, a, "analytics", status="granted")
    assert decision(stack, tenant.tenant_id, a, "analytics").allowed

    identifiers = client.get(f"/v1/profiles/{a}/identifiers", headers=tenant.headers).json()["items"]
    theirs = [i["id"] for i in identifiers if i["value"] == other["external_id"]]
    unmerged = client.post(
        f"/v1/profiles/{a}/unmerge", json={"identifier_ids": theirs}, headers=tenant.headers
    )
    assert unmerged.status_code == 200, unmerged.text
    assert unmerged.json()["restored"]["id"] == b

    mine, back = consents(client, tenant, a), consents(client, tenant, b)
    assert {h["origin_profile_id"] for h in mine["history"]["items"]} == {a}
    assert {h["origin_profile_id"] for h in back["history"]["items"]} == {b}
    assert {p: s["status"] for p, s in by_purpose(mine).items()} == {
        "engagement": None,
        "profiling": None,
        "marketing": "withdrawn",
        "analytics": "granted",
    }
    assert mine["objections"] == []
    assert {p: s["status"] for p, s in by_purpose(back).items()} == {
        "engagement": None,
        "profiling": "granted",
        "marketing": "granted",
        "analytics": "withdrawn",
    }
    assert back["objections"] == ["engagement"]
    wait_until(
        lambda: (
            decision(stack, tenant.tenant_id, b, "marketing").allowed
            and decision(stack, tenant.tenant_id, b, "engagement").reason == "objected"
            and decision(stack, tenant.tenant_id, a, "engagement").allowed
        ),
        what="both profiles projected again after the unmerge",
    )


def test_the_tenant_policy_sets_each_purposes_basis(
    client: httpx.Client, stack: Stack, tenant: Tenant, other_tenant: Tenant
) -> None:
    person = partner_profile(client, tenant)["id"]
    policy = client.get("/v1/privacy/policy", headers=tenant.headers)
    assert policy.status_code == 200, policy.text
    assert policy.json()["bases"] == consent.DEFAULT_BASES
    assert policy.json()["retention_days"] is None

    agent = add_user(client, tenant, "agent")
    assert_problem(
        client.put("/v1/privacy/policy", json={"bases": {"marketing": "contract"}}, headers=agent.headers),
        403,
    )
    assert_problem(
        client.put("/v1/privacy/policy", json={"bases": {"marketing": "whim"}}, headers=tenant.headers), 422
    )
    assert client.get("/v1/privacy/policy", headers=tenant.headers).json()["bases"] == consent.DEFAULT_BASES

    changed = client.put(
        "/v1/privacy/policy",
        json={"bases": {"marketing": "legitimate_interest", "analytics": "consent"}, "retention_days": 90},
        headers=tenant.headers,
    )

    assert changed.status_code == 200, changed.text
    expected = {**consent.DEFAULT_BASES, "marketing": "legitimate_interest", "analytics": "consent"}
    assert changed.json()["bases"] == expected
    assert changed.json()["retention_days"] == 90
    assert client.get("/v1/privacy/policy", headers=agent.headers).json()["bases"] == expected
    marketing = decision(stack, tenant.tenant_id, person, "marketing")
    assert (marketing.allowed, marketing.basis) == (True, "legitimate_interest")
    assert decision(stack, tenant.tenant_id, person, "analytics").reason == "no_consent"
    assert by_purpose(consents(client, tenant, person))["analytics"]["decision"] == {
        "allowed": False,
        "reason": "no_consent",
    }
    # Other tenants keep the defaults.
    assert (
        client.get("/v1/privacy/policy", headers=other_tenant.headers).json()["bases"]
        == consent.DEFAULT_BASES
    )
    event = find_event(stack.nats_url, "privacy.policy.changed", lambda e: e["tenantid"] == tenant.tenant_id)
    assert event["data"]["bases"] == expected
    assert event["data"]["retention_days"] == 90

    records = client.get("/v1/privacy/processing-records", headers=tenant.headers)
    assert records.status_code == 200, records.text
    body = records.json()
    assert {p["purpose"]: p["lawful_basis"] for p in body["purposes"]} == expected
    assert body["retention_days"] == 90
    assert {c["service"] for c in body["data_categories"]} == {
        "listening",
        "profiles",
        "engagement",
        "metrics",
    }
    assert_problem(client.get("/v1/privacy/processing-records", headers=agent.headers), 403)


def test_consent_captured_where_the_person_gave_it_and_from_a_partners_record(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    customer = partner_profile(
        client, tenant, consents={"marketing": {"status": "granted", "evidence": {"form": "checkout"}}}
    )
    person = customer["id"]
    assert decision(stack, tenant.tenant_id, person, "marketing").allowed
    # The same record again changes nothing; a changed one is recorded.
    again = client.put(
        f"/v1/profiles/by-external-id/shop/{customer['external_id']}",
        json={"consents": {"marketing": {"status": "granted"}}},
        headers=tenant.headers,
    )
    assert again.status_code == 200, again.text
    history = consents(client, tenant, person)["history"]["items"]
    assert [(h["source"], h["status"], h["by_user_id"]) for h in history] == [("partner", "granted", None)]
    assert history[0]["evidence"] == {
        "form": "checkout",
        "system": "shop",
        "external_id": customer["external_id"],
    }

    stop = ConsentCaptured(
        profile_id=person,
        purpose="marketing",
        status="withdrawn",
        source="whatsapp",
        evidence={"keyword": "STOP", "message_id": "msg-1"},
        captured_at=datetime(2026, 5, 1, 9, 30, tzinfo=UTC),
    )
    publish_event(
        stack.nats_url, new_event(stop, source="engagement", tenant_id=tenant.tenant_id, subject=person)
    )

    wait_until(
        lambda: decision(stack, tenant.tenant_id, person, "marketing").reason == "withdrawn",
        what="the captured withdrawal in force",
    )
    latest = consents(client, tenant, person)["history"]["items"][0]
    assert (latest["source"], latest["status"], latest["by_user_id"]) == ("whatsapp", "withdrawn", None)
    assert latest["evidence"] == {
        "keyword": "STOP",
        "message_id": "msg-1",
        "captured_at": "2026-05-01T09:30:00+00:00",
    }

"""Segments: rules over profile fields, members kept up to date, pages and CSV export, bad rules, tenancy."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import SQLModel

from services.profiles.logic.segments import refresh_memberships
from services.profiles.models import AttributeDefinition, Profile, Segment, SegmentMember
from shared.db import create_engine, session_factory, utcnow
from tests.helpers import Tenant, add_user, assert_problem, unique
from tests.profiles.helpers import ingest, wait_for_profile

ANGRY = "My order arrived broken and support is not answering. Terrible!"
HAPPY = "Thanks, that was great!"
# 50 million followers and a verified account: influence 80; 120 followers: about 20.
BIG = {"followers": 50_000_000, "verified": True}
SMALL = {"followers": 120}


def profile_of(client: httpx.Client, tenant: Tenant, *, text: str, **author: Any) -> dict[str, Any]:
    handle = unique("@seg")
    ingest(client, tenant, text=text, author={"handle": handle, "display_name": "Sam", **author})
    return wait_for_profile(client, tenant, handle)


def create_segment(client: httpx.Client, user: Tenant, rule: str, name: str = "segment") -> dict[str, Any]:
    response = client.post("/v1/segments", json={"name": name, "rule": rule}, headers=user.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def member_ids(client: httpx.Client, user: Tenant, segment_id: str, **params: Any) -> list[str]:
    response = client.get(f"/v1/segments/{segment_id}/members", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["items"]]


def patch(client: httpx.Client, user: Tenant, profile_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(f"/v1/profiles/{profile_id}", json=body, headers=user.headers)
    assert response.status_code == 200, response.text
    profile: dict[str, Any] = response.json()
    return profile


def test_segment_rule_over_lifecycle_trend_and_influence(client: httpx.Client, tenant: Tenant) -> None:
    angry_big = profile_of(client, tenant, text=ANGRY, **BIG)
    angry_small = profile_of(client, tenant, text=ANGRY, **SMALL)
    happy_big = profile_of(client, tenant, text=HAPPY, **BIG)
    assert angry_big["influence"] > 70 > angry_small["influence"]
    assert angry_big["sentiment"]["trend"] < -0.3 < happy_big["sentiment"]["trend"]

    segment = create_segment(
        client, tenant, "lifecycle = stranger AND sentiment_trend < -0.3 AND influence > 70", "angry and loud"
    )
    others = create_segment(client, tenant, "NOT (lifecycle = stranger AND sentiment_trend < -0.3)")
    customers = create_segment(client, tenant, "lifecycle_stage in (customer, advocate) OR at_risk")

    assert segment["member_count"] == 1
    assert member_ids(client, tenant, segment["id"]) == [angry_big["id"]]
    assert member_ids(client, tenant, others["id"]) == [happy_big["id"]]
    assert member_ids(client, tenant, customers["id"]) == []
    read = client.get(f"/v1/segments/{segment['id']}", headers=tenant.headers).json()
    assert (read["name"], read["member_count"]) == ("angry and loud", 1)
    listed = client.get("/v1/segments", headers=tenant.headers, params={"limit": 2}).json()
    rest = client.get(
        "/v1/segments", headers=tenant.headers, params={"limit": 2, "cursor": listed["next_cursor"]}
    ).json()
    listed_ids = [s["id"] for s in listed["items"] + rest["items"]]
    assert listed_ids == [customers["id"], others["id"], segment["id"]]


def test_members_are_paged_in_a_stable_order(client: httpx.Client, tenant: Tenant) -> None:
    profiles = [profile_of(client, tenant, text=ANGRY, **SMALL) for _ in range(3)]
    segment = create_segment(client, tenant, "mention_count >= 1")

    first = client.get(f"/v1/segments/{segment['id']}/members", headers=tenant.headers, params={"limit": 2})
    page1 = first.json()
    page2 = client.get(
        f"/v1/segments/{segment['id']}/members",
        headers=tenant.headers,
        params={"limit": 2, "cursor": page1["next_cursor"]},
    ).json()

    assert [p["id"] for p in page1["items"] + page2["items"]] == sorted(p["id"] for p in profiles)
    assert page2["next_cursor"] is None
    assert set(page1["items"][0]) >= {"id", "display_name", "lifecycle_stage", "sentiment_trend", "tags"}
    assert_problem(
        client.get(f"/v1/segments/{segment['id']}/members", headers=tenant.headers, params={"cursor": "x"}),
        400,
    )


def test_membership_follows_tag_changes(client: httpx.Client, tenant: Tenant) -> None:
    profile = profile_of(client, tenant, text=HAPPY, **SMALL)
    vip = create_segment(client, tenant, 'tags has "vip" AND NOT tags has "churned"')
    assert vip["member_count"] == 0

    updated = patch(client, tenant, profile["id"], {"tags": {"add": ["  VIP "]}})
    assert updated["tags"] == ["vip"]
    assert member_ids(client, tenant, vip["id"]) == [profile["id"]]
    assert client.get(f"/v1/segments/{vip['id']}", headers=tenant.headers).json()["member_count"] == 1

    patch(client, tenant, profile["id"], {"tags": {"add": ["Churned"]}})
    assert member_ids(client, tenant, vip["id"]) == []
    assert client.get(f"/v1/segments/{vip['id']}", headers=tenant.headers).json()["member_count"] == 0


def test_membership_follows_a_merge_and_its_undoing(client: httpx.Client, tenant: Tenant) -> None:
    survivor = profile_of(client, tenant, text=HAPPY, **SMALL)
    merged = profile_of(client, tenant, text=HAPPY, **SMALL)
    patch(client, tenant, merged["id"], {"tags": {"add": ["vip"]}})
    vip = create_segment(client, tenant, 'tags has "vip"')
    assert member_ids(client, tenant, vip["id"]) == [merged["id"]]
    listed = client.get(f"/v1/profiles/{merged['id']}/identifiers", headers=tenant.headers).json()["items"]
    moved = [i["id"] for i in listed]

    response = client.post(
        f"/v1/profiles/{survivor['id']}/merge", json={"other_id": merged["id"]}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    # The survivor gained the tag; the merged-away profile belongs to no segment.
    assert member_ids(client, tenant, vip["id"]) == [survivor["id"]]
    assert client.get(f"/v1/segments/{vip['id']}", headers=tenant.headers).json()["member_count"] == 1

    assert (
        client.get(f"/v1/profiles/{merged['id']}", headers=tenant.headers).json()["merged_into"]
        == (survivor["id"])
    )
    response = client.post(
        f"/v1/profiles/{survivor['id']}/unmerge", json={"identifier_ids": moved}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert member_ids(client, tenant, vip["id"]) == [merged["id"]]


def test_csv_export_lists_every_member(client: httpx.Client, tenant: Tenant) -> None:
    tagged = [profile_of(client, tenant, text=HAPPY, **SMALL) for _ in range(2)]
    untagged = profile_of(client, tenant, text=HAPPY, **SMALL)
    patch(client, tenant, tagged[0]["id"], {"tags": {"add": ["export", "gold"]}, "display_name": "=SUM(A1)"})
    patch(client, tenant, tagged[1]["id"], {"tags": {"add": ["export"]}})
    segment = create_segment(client, tenant, "tags has export")

    for how in ({"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
        headers = {**tenant.headers, **how.get("headers", {})}
        path = f"/v1/segments/{segment['id']}/members"
        response = client.get(path, headers=headers, params=how.get("params"))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == [
            "id",
            "display_name",
            "lifecycle_stage",
            "sentiment_trend",
            "influence",
            "lifetime_value",
            "tags",
            "first_seen_at",
            "last_seen_at",
        ]
        by_id = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
        assert set(by_id) == {tagged[0]["id"], tagged[1]["id"]}
        assert untagged["id"] not in by_id
        first = by_id[tagged[0]["id"]]
        # A cell a spreadsheet would run as a formula is exported as text.
        assert first["display_name"] == "'=SUM(A1)"
        # A first positive mention made the stranger a fan (resolution's lifecycle rule).
        assert (first["lifecycle_stage"], first["tags"]) == ("fan", "export;gold")
        assert first["lifetime_value"] == ""
        assert by_id[tagged[1]["id"]]["display_name"] == "Sam"
        assert float(first["sentiment_trend"]) == pytest.approx(tagged[0]["sentiment"]["trend"], abs=0.001)


@pytest.mark.parametrize(
    ("rule", "position"),
    [
        ("lifecycle = ", 12),
        ("lifecycle = king", 12),
        ("influence > 70 AND", 18),
        ("(influence > 70", 15),
        ("shoe_size > 40", 0),
        ("influence > high", 12),
        ("tags = vip", 5),
        ("influence > 70 $", 15),
        ("attributes.plan = gold", 0),
        ("first_seen_at > yesterday", 16),
    ],
)
def test_invalid_rules_are_422_and_change_nothing(
    client: httpx.Client, tenant: Tenant, rule: str, position: int
) -> None:
    response = client.post("/v1/segments", json={"name": "bad", "rule": rule}, headers=tenant.headers)

    problem = assert_problem(response, 422)
    [error] = problem["errors"]
    assert (error["loc"], error["type"], error["position"]) == (["body", "rule"], "rule_syntax", position)
    assert error["pointer"].endswith("\n" + " " * position + "^")
    assert client.get("/v1/segments", headers=tenant.headers).json()["items"] == []


def test_delete_segment(client: httpx.Client, tenant: Tenant) -> None:
    profile_of(client, tenant, text=HAPPY, **SMALL)
    segment = create_segment(client, tenant, "mention_count > 0")

    assert client.delete(f"/v1/segments/{segment['id']}", headers=tenant.headers).status_code == 204
    assert_problem(client.get(f"/v1/segments/{segment['id']}", headers=tenant.headers), 404)
    assert_problem(client.get(f"/v1/segments/{segment['id']}/members", headers=tenant.headers), 404)
    assert_problem(client.delete(f"/v1/segments/{segment['id']}", headers=tenant.headers), 404)


def test_other_tenants_segments_and_profiles_are_not_found(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    profile = profile_of(client, tenant, text=HAPPY, **SMALL)
    segment = create_segment(client, tenant, "mention_count > 0")
    path = f"/v1/segments/{segment['id']}"

    assert_problem(client.get(path, headers=other_tenant.headers), 404)
    assert_problem(client.get(f"{path}/members", headers=other_tenant.headers), 404)
    assert_problem(client.get(f"{path}/members?format=csv", headers=other_tenant.headers), 404)
    assert_problem(client.delete(path, headers=other_tenant.headers), 404)
    assert_problem(
        client.patch(
            f"/v1/profiles/{profile['id']}", json={"tags": {"add": ["x"]}}, headers=other_tenant.headers
        ),
        404,
    )
    # The other tenant's own segment with the same rule has none of this tenant's profiles.
    theirs = create_segment(client, other_tenant, "mention_count > 0")
    assert theirs["member_count"] == 0
    assert client.get("/v1/segments", headers=other_tenant.headers).json()["items"] == [theirs]
    assert client.get(path, headers=tenant.headers).json()["member_count"] == 1


def test_roles(client: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    analyst = add_user(accounts, tenant, "analyst")
    integration = add_user(accounts, tenant, "integration")
    body = {"name": "s", "rule": "at_risk"}

    assert_problem(client.post("/v1/segments", json=body), 401)
    assert_problem(client.post("/v1/segments", json=body, headers=integration.headers), 403)
    assert_problem(client.get("/v1/segments", headers=integration.headers), 403)
    assert client.post("/v1/segments", json=body, headers=analyst.headers).status_code == 201


# --- refresh_memberships, as resolution, orders and lifecycle code call it after changing profiles -------


@pytest.mark.anyio
async def test_refresh_memberships_follows_a_lifecycle_change(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'profiles.sqlite'}")
    tables = [
        model.__table__  # type: ignore[attr-defined]
        for model in (Profile, Segment, SegmentMember, AttributeDefinition)
    ]
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: SQLModel.metadata.create_all(sync, tables=tables))
    sessions = session_factory(engine)
    now = utcnow()
    try:
        async with sessions() as session:
            profile = Profile(tenant_id="t1", first_seen_at=now, last_seen_at=now, influence=90.0)
            other = Profile(tenant_id="t2", first_seen_at=now, last_seen_at=now, influence=90.0)
            rule = "lifecycle = customer AND influence > 70"
            customers = Segment(tenant_id="t1", name="customers", rule=rule)
            leads = Segment(tenant_id="t1", name="leads", rule="lifecycle = lead")
            session.add_all([profile, other, customers, leads])
            await session.commit()

            profile.lifecycle_stage = "lead"
            assert await refresh_memberships(session, "t1", [profile.id]) == {profile.id: [leads.id]}
            await session.commit()
            profile.lifecycle_stage = "customer"
            other.lifecycle_stage = "customer"
            assert await refresh_memberships(session, "t1", [profile.id]) == {profile.id: [customers.id]}
            # Another tenant's profile is not the tenant's: it joins none of its segments.
            assert await refresh_memberships(session, "t1", [other.id]) == {other.id: []}
            await session.commit()

            members = (await session.execute(SegmentMember.__table__.select())).all()  # type: ignore[attr-defined]
            assert {(m.segment_id, m.profile_id) for m in members} == {(customers.id, profile.id)}
            await session.refresh(customers)
            await session.refresh(leads)
            assert (customers.member_count, leads.member_count) == (1, 0)

            # Merged away: in no segment any more.
            profile.merged_into = other.id
            assert await refresh_memberships(session, "t1", [profile.id]) == {profile.id: []}
            await session.commit()
            await session.refresh(customers)
            assert customers.member_count == 0
    finally:
        await engine.dispose()


def test_profile_list_filters_by_segment_tag_and_stage(client: httpx.Client, tenant: Tenant) -> None:
    vip, other = (profile_of(client, tenant, text=HAPPY, **SMALL) for _ in range(2))
    patch(client, tenant, vip["id"], {"tags": {"add": ["VIP_1%"]}})
    segment = create_segment(client, tenant, 'tags has "vip_1%"')

    def ids(**params: Any) -> list[str]:
        response = client.get("/v1/profiles", headers=tenant.headers, params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert ids(segment_id=segment["id"]) == [vip["id"]]
    assert ids(tag=" Vip_1% ") == [vip["id"]]
    # `_` and `%` are not wildcards.
    assert ids(tag="vipx1%") == ids(tag="vip") == []
    # A first positive mention made both fans (resolution's lifecycle rule).
    assert ids(lifecycle_stage="fan") == [other["id"], vip["id"]]
    assert ids(lifecycle_stage="customer") == []
    assert ids(lifecycle_stage="fan", tag="vip_1%", segment_id=segment["id"]) == [vip["id"]]
    assert_problem(
        client.get("/v1/profiles", headers=tenant.headers, params={"lifecycle_stage": "king"}), 422
    )

"""`/v1/teams` (skills, business hours, members), agents' capacity and presence, through the gateway."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import Tenant, User, add_user, assert_problem, set_presence, signup, wait_for_agents

HOURS = {
    "timezone": "Asia/Riyadh",
    "weekly": {"sun": [{"start": "09:00", "end": "17:00"}], "mon": [{"start": "09:00", "end": "17:00"}]},
    "holidays": ["2027-03-30"],
}


def create_team(client: httpx.Client, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/teams", headers=tenant.headers, json={"name": uuid.uuid4().hex[:8], **body})
    assert response.status_code == 201, response.text
    team: dict[str, Any] = response.json()
    return team


def add_member(client: httpx.Client, tenant: Tenant, team_id: str, agent: User) -> dict[str, Any]:
    response = client.put(f"/v1/teams/{team_id}/members/{agent.user_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    team: dict[str, Any] = response.json()
    return team


def test_a_team_is_created_read_changed_paged_and_deleted(client: httpx.Client) -> None:
    tenant = signup(client)
    arabic = create_team(
        client, tenant, name="Arabic care", languages=["AR", "ar"], topics=["Billing"], business_hours=HOURS
    )
    assert arabic["languages"] == ["ar"] and arabic["topics"] == ["billing"]
    assert arabic["business_hours"]["timezone"] == "Asia/Riyadh"
    assert arabic["business_hours"]["holidays"] == ["2027-03-30"]
    assert arabic["member_ids"] == []
    around_the_clock = create_team(client, tenant, name="Night shift", languages=["en"])
    assert around_the_clock["business_hours"] is None

    assert client.get(f"/v1/teams/{arabic['id']}", headers=tenant.headers).json() == arabic
    page1 = client.get("/v1/teams", headers=tenant.headers, params={"limit": 1}).json()
    page2 = client.get(
        "/v1/teams", headers=tenant.headers, params={"limit": 1, "cursor": page1["next_cursor"]}
    ).json()
    assert [t["id"] for t in page1["items"] + page2["items"]] == [around_the_clock["id"], arabic["id"]]
    assert page2["next_cursor"] is None

    changed = client.patch(
        f"/v1/teams/{arabic['id']}",
        headers=tenant.headers,
        json={"languages": ["ar", "fr"], "business_hours": {"always_open": True}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["languages"] == ["ar", "fr"] and changed.json()["business_hours"]["always_open"]
    assert changed.json()["name"] == "Arabic care" and changed.json()["topics"] == ["billing"]

    assert_problem(client.post("/v1/teams", headers=tenant.headers, json={"name": "Arabic care"}), 409)
    assert_problem(
        client.patch(
            f"/v1/teams/{around_the_clock['id']}", headers=tenant.headers, json={"name": "Arabic care"}
        ),
        409,
    )
    assert client.delete(f"/v1/teams/{arabic['id']}", headers=tenant.headers).status_code == 204
    assert_problem(client.get(f"/v1/teams/{arabic['id']}", headers=tenant.headers), 404)
    assert_problem(client.delete(f"/v1/teams/{arabic['id']}", headers=tenant.headers), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x", "languages": ["arabic"]},
        {"name": "x", "topics": ["no spaces allowed"]},
        {"name": "x", "business_hours": {"timezone": "Mars/Olympus", "always_open": True}},
        {"name": "x", "business_hours": {"timezone": "UTC"}},  # neither weekly hours nor always open
        {"name": "x", "business_hours": {"weekly": {"mon": [{"start": "18:00", "end": "09:00"}]}}},
        {"name": "x", "unknown": 1},
    ],
)
def test_invalid_teams_are_refused(client: httpx.Client, body: dict[str, Any]) -> None:
    tenant = signup(client)
    assert_problem(client.post("/v1/teams", headers=tenant.headers, json=body), 422)


def test_members_join_and_leave(client: httpx.Client) -> None:
    tenant = signup(client)
    first, second = add_user(client, tenant, "agent"), add_user(client, tenant, "agent")
    wait_for_agents(client, tenant, 2)
    team = create_team(client, tenant)

    add_member(client, tenant, team["id"], first)
    assert add_member(client, tenant, team["id"], second)["member_ids"] == [first.user_id, second.user_id]
    assert add_member(client, tenant, team["id"], first)["member_ids"] == [first.user_id, second.user_id]
    response = client.delete(f"/v1/teams/{team['id']}/members/{first.user_id}", headers=tenant.headers)
    assert response.status_code == 204
    assert client.get(f"/v1/teams/{team['id']}", headers=tenant.headers).json()["member_ids"] == [
        second.user_id
    ]
    # Only agents routing knows can join; an unknown team is not found.
    analyst = add_user(client, tenant, "analyst")
    assert_problem(
        client.put(f"/v1/teams/{team['id']}/members/{analyst.user_id}", headers=tenant.headers), 404
    )
    assert_problem(
        client.put(f"/v1/teams/{uuid.uuid4()}/members/{first.user_id}", headers=tenant.headers), 404
    )


def test_teams_need_a_token_an_admin_to_change_and_stay_within_the_tenant(client: httpx.Client) -> None:
    tenant, other = signup(client), signup(client)
    agent = add_user(client, tenant, "agent")
    analyst = add_user(client, tenant, "analyst")
    wait_for_agents(client, tenant, 1)
    team = create_team(client, tenant)

    assert_problem(client.get("/v1/teams"), 401)
    assert_problem(client.post("/v1/teams", json={"name": "x"}), 401)
    assert_problem(client.post("/v1/teams", headers=agent.headers, json={"name": "x"}), 403)
    assert_problem(client.patch(f"/v1/teams/{team['id']}", headers=analyst.headers, json={"name": "y"}), 403)
    assert client.get("/v1/teams", headers=analyst.headers).json()["items"][0]["id"] == team["id"]
    assert client.get("/v1/teams", headers=other.headers).json()["items"] == []
    assert_problem(client.get(f"/v1/teams/{team['id']}", headers=other.headers), 404)
    assert_problem(client.patch(f"/v1/teams/{team['id']}", headers=other.headers, json={"name": "y"}), 404)
    assert_problem(client.put(f"/v1/teams/{team['id']}/members/{agent.user_id}", headers=other.headers), 404)
    # The other tenant's own team cannot take this tenant's agent either.
    theirs = create_team(client, other)
    assert_problem(
        client.put(f"/v1/teams/{theirs['id']}/members/{agent.user_id}", headers=other.headers), 404
    )


def test_admins_change_an_agents_capacity(client: httpx.Client) -> None:
    tenant, other = signup(client), signup(client)
    agent = add_user(client, tenant, "agent")
    [known] = wait_for_agents(client, tenant, 1)
    assert known["capacity"] == 5 and known["presence"] == "offline"

    response = client.patch(f"/v1/agents/{agent.user_id}", headers=tenant.headers, json={"capacity": 2})
    assert response.status_code == 200, response.text
    assert response.json()["capacity"] == 2
    assert client.get("/v1/agents", headers=tenant.headers).json()["items"][0]["capacity"] == 2

    assert_problem(
        client.patch(f"/v1/agents/{agent.user_id}", headers=tenant.headers, json={"capacity": 0}), 422
    )
    assert_problem(
        client.patch(f"/v1/agents/{agent.user_id}", headers=agent.headers, json={"capacity": 9}), 403
    )
    assert_problem(
        client.patch(f"/v1/agents/{agent.user_id}", headers=other.headers, json={"capacity": 9}), 404
    )
    assert_problem(client.patch(f"/v1/agents/{agent.user_id}", json={"capacity": 9}), 401)


def test_an_agent_sets_their_presence_and_keeps_it_with_heartbeats(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    analyst = add_user(client, tenant, "analyst")

    assert set_presence(client, agent, "away") == {
        "agent_id": agent.user_id,
        "status": "away",
        "ttl_s": 600.0,
    }
    beat = client.post("/v1/agents/me/heartbeat", headers=agent.headers)
    assert beat.status_code == 200, beat.text
    assert beat.json()["status"] == "away"
    assert set_presence(client, agent, "online")["status"] == "online"
    [known] = client.get("/v1/agents", headers=tenant.headers).json()["items"]
    assert known["presence"] == "online" and known["presence_changed_at"]
    assert set_presence(client, agent, "offline") == {
        "agent_id": agent.user_id,
        "status": "offline",
        "ttl_s": None,
    }
    # Offline, a heartbeat does not bring the agent back: only a presence of their choosing does.
    assert client.post("/v1/agents/me/heartbeat", headers=agent.headers).json()["status"] == "offline"

    put = "/v1/agents/me/presence"
    assert_problem(client.put(put, headers=agent.headers, json={"status": "busy"}), 422)
    assert_problem(client.put(put, json={"status": "online"}), 401)
    # Presence belongs to agents: owners and analysts are never assigned conversations.
    assert_problem(client.put(put, headers=analyst.headers, json={"status": "online"}), 403)
    assert_problem(client.put(put, headers=tenant.headers, json={"status": "online"}), 403)

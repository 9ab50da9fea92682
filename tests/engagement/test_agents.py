"""`GET /v1/agents`: the agents engagement's routing knows, projected from identity's events."""

from __future__ import annotations

import httpx

from tests.helpers import add_user, assert_problem, signup, wait_for_agents


def test_agents_are_projected_from_identity_and_other_roles_are_not(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    add_user(client, tenant, "analyst")

    [known] = wait_for_agents(client, tenant, 1)

    assert known["id"] == agent.user_id
    assert known["active"] is True and known["last_assigned_at"] is None
    # Wait for a later event of the same tenant: the analyst, created before it, was seen and skipped.
    later = add_user(client, tenant, "agent")
    assert {a["id"] for a in wait_for_agents(client, tenant, 2)} == {agent.user_id, later.user_id}


def test_agents_need_a_token_and_stay_within_the_tenant(client: httpx.Client) -> None:
    tenant, other = signup(client), signup(client)
    add_user(client, tenant, "agent")
    wait_for_agents(client, tenant, 1)

    assert_problem(client.get("/v1/agents"), 401)
    assert client.get("/v1/agents", headers=other.headers).json()["items"] == []
    integration = add_user(client, tenant, "integration")
    assert_problem(client.get("/v1/agents", headers=integration.headers), 403)

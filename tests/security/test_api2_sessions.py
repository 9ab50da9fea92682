"""API2 broken authentication: token responses are not cached, and sessions end when they should.

A revoked session's access tokens (refresh re-use, logout, deactivation, role change) are refused by the
gateway within a second, through its in-memory mirror of the revocation deny-list.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
import redis

from rapport.stack import Stack
from tests.helpers import (
    PASSWORD,
    Tenant,
    User,
    add_user,
    assert_problem,
    find_event,
    login,
    wait_for_agents,
    wait_until,
)

# The gateway polls the deny-list every 0.25 s, so a revoked token is refused at its next poll; the wait
# is generous so that a loaded machine does not turn a timing into a failure (speed is not asserted).
REFUSED_WITHIN_S = 10


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refused(client: httpx.Client, token: str) -> bool:
    return client.get("/v1/me", headers=_bearer(token)).status_code == 401


def _assert_refused_soon(client: httpx.Client, token: str) -> None:
    wait_until(lambda: _refused(client, token), timeout=REFUSED_WITHIN_S, interval=0.05, what="token refused")
    problem = assert_problem(client.get("/v1/me", headers=_bearer(token)), 401)
    assert problem["type"] == "https://rapport.dev/problems/token-revoked"


def _refresh(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/v1/auth/refresh", json={"refresh_token": token})


def _patch(client: httpx.Client, actor: User, user_id: str, body: dict[str, Any]) -> httpx.Response:
    return client.patch(f"/v1/users/{user_id}", headers=actor.headers, json=body)


def test_token_responses_are_not_cached(client: httpx.Client, tenant: Tenant) -> None:
    for response in (
        client.post("/v1/auth/token", json={"email": tenant.email, "password": PASSWORD}),
        _refresh(client, tenant.refresh_token),
    ):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


def test_refresh_reuse_gets_access_tokens_refused_at_the_gateway(
    client: httpx.Client, tenant: Tenant
) -> None:
    pair = login(client, tenant.email, PASSWORD)
    rotated = _refresh(client, pair["refresh_token"]).json()
    for token in (pair["access_token"], rotated["access_token"]):
        assert client.get("/v1/me", headers=_bearer(token)).status_code == 200
    # The spent refresh token comes back: it was stolen, the whole family ends.
    assert _refresh(client, pair["refresh_token"]).status_code == 401
    for token in (pair["access_token"], rotated["access_token"]):
        _assert_refused_soon(client, token)
    assert _refresh(client, rotated["refresh_token"]).status_code == 401
    # Other sessions of the same user carry on.
    assert client.get("/v1/me", headers=tenant.headers).status_code == 200


def test_logout_ends_the_session_only(client: httpx.Client, tenant: Tenant) -> None:
    pair = login(client, tenant.email, PASSWORD)
    assert client.post("/v1/auth/logout", headers=_bearer(pair["access_token"])).status_code == 204
    _assert_refused_soon(client, pair["access_token"])
    assert _refresh(client, pair["refresh_token"]).status_code == 401
    assert client.get("/v1/me", headers=tenant.headers).status_code == 200


def test_lost_denylist_entry_is_restored_from_identity_database(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    pair = login(client, tenant.email, PASSWORD)
    assert client.post("/v1/auth/logout", headers=_bearer(pair["access_token"])).status_code == 204
    _assert_refused_soon(client, pair["access_token"])
    field = "s:" + jwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
    # A Redis restart (or a write lost to an outage) drops the entry ...
    r = redis.Redis.from_url(stack.redis_url)
    try:
        assert r.hdel("rapport:revoked", field) == 1
        r.incr("rapport:revoked:v")
        # ... and identity writes it again from its database within its resync period (1 s here).
        wait_until(lambda: r.hexists("rapport:revoked", field), timeout=15, what="deny-list entry restored")
    finally:
        r.close()
    _assert_refused_soon(client, pair["access_token"])


def test_logout_without_token_returns_401(client: httpx.Client) -> None:
    assert_problem(client.post("/v1/auth/logout"), 401)


# --- PATCH /v1/users/{id} -------------------------------------------------------------------------


def test_update_user_anonymous_401_agent_403_other_tenant_404(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    analyst = add_user(client, tenant, "analyst")
    agent = add_user(client, tenant, "agent")
    assert_problem(client.patch(f"/v1/users/{analyst.user_id}", json={"role": "agent"}), 401)
    assert_problem(_patch(client, agent, analyst.user_id, {"role": "agent"}), 403)
    assert_problem(_patch(client, other_tenant, analyst.user_id, {"active": False}), 404)
    me = client.get("/v1/me", headers=analyst.headers).json()
    assert me["role"] == "analyst" and me["active"] is True


@pytest.mark.parametrize(
    "body", [{}, {"role": "boss"}, {"active": "maybe"}, {"role": "agent", "email": "x@example.com"}]
)
def test_update_user_with_bad_input_returns_422(
    client: httpx.Client, tenant: Tenant, body: dict[str, Any]
) -> None:
    analyst = add_user(client, tenant, "analyst")
    assert_problem(_patch(client, tenant, analyst.user_id, body), 422)
    assert client.get("/v1/me", headers=analyst.headers).json()["role"] == "analyst"


def test_admin_cannot_grant_owner_or_change_an_owner(client: httpx.Client, tenant: Tenant) -> None:
    admin = add_user(client, tenant, "admin")
    agent = add_user(client, tenant, "agent")
    assert_problem(_patch(client, admin, agent.user_id, {"role": "owner"}), 403)
    assert_problem(_patch(client, admin, tenant.user_id, {"active": False}), 403)
    assert _patch(client, admin, agent.user_id, {"role": "analyst"}).json()["role"] == "analyst"


def test_nobody_deactivates_themselves_or_the_last_owner(client: httpx.Client, tenant: Tenant) -> None:
    assert_problem(_patch(client, tenant, tenant.user_id, {"active": False}), 409)
    assert_problem(_patch(client, tenant, tenant.user_id, {"role": "admin"}), 409)
    # With a second owner the first may step down.
    second = add_user(client, tenant, "admin")
    assert _patch(client, tenant, second.user_id, {"role": "owner"}).json()["role"] == "owner"
    assert _patch(client, tenant, tenant.user_id, {"role": "admin"}).json()["role"] == "admin"


def test_deactivation_ends_every_session_at_once(stack: Stack, client: httpx.Client, tenant: Tenant) -> None:
    agent = add_user(client, tenant, "agent")
    second = login(client, agent.email, PASSWORD)
    wait_for_agents(client, tenant, 1)
    response = _patch(client, tenant, agent.user_id, {"active": False})
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    for token in (agent.access_token, second["access_token"]):
        _assert_refused_soon(client, token)
    assert _refresh(client, agent.refresh_token).status_code == 401
    assert_problem(client.post("/v1/auth/token", json={"email": agent.email, "password": PASSWORD}), 401)
    event = find_event(
        stack.nats_url, "identity.user.deactivated", lambda e: e["data"]["user_id"] == agent.user_id
    )
    assert event["tenantid"] == tenant.tenant_id and event["data"]["by_user_id"] == tenant.user_id
    updated = find_event(
        stack.nats_url, "identity.user.updated", lambda e: e["data"]["user_id"] == agent.user_id
    )
    assert updated["data"]["changed"] == ["active"] and updated["data"]["active"] is False
    # Routing stops giving them work.
    wait_until(
        lambda: (
            [a["active"] for a in client.get("/v1/agents", headers=tenant.headers).json()["items"]] == [False]
        ),
        what="engagement to take the agent out of routing",
    )
    # Reactivated, the user logs in again.
    assert _patch(client, tenant, agent.user_id, {"active": True}).json()["active"] is True
    assert login(client, agent.email, PASSWORD)["access_token"]


def test_role_change_refuses_old_tokens_and_refresh_carries_the_new_role(
    client: httpx.Client, tenant: Tenant
) -> None:
    analyst = add_user(client, tenant, "analyst")
    assert _patch(client, tenant, analyst.user_id, {"role": "agent"}).status_code == 200
    _assert_refused_soon(client, analyst.access_token)
    pair = _refresh(client, analyst.refresh_token).json()
    me = client.get("/v1/me", headers=_bearer(pair["access_token"]))
    assert me.status_code == 200 and me.json()["role"] == "agent"

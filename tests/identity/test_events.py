"""identity's events reach JetStream: tenant and user creation, without personal data."""

from __future__ import annotations

import json

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, add_user, collect_events, find_event, signup


def test_signup_publishes_tenant_created_and_owner_created(stack: Stack, tenant: Tenant) -> None:
    created = find_event(
        stack.nats_url, "identity.tenant.created", lambda e: e["tenantid"] == tenant.tenant_id
    )
    assert created["type"] == "identity.tenant.created"
    assert created["specversion"] == "1.0"
    assert created["data"] == {"tenant_id": tenant.tenant_id, "name": tenant.name}
    owner = find_event(
        stack.nats_url, "identity.user.created", lambda e: e["data"]["user_id"] == tenant.user_id
    )
    assert owner["tenantid"] == tenant.tenant_id
    assert owner["data"]["role"] == "owner"
    assert tenant.email not in json.dumps(owner)


def test_created_user_is_published_without_email(stack: Stack, api: httpx.Client, tenant: Tenant) -> None:
    agent = add_user(api, tenant, "agent")
    event = find_event(
        stack.nats_url, "identity.user.created", lambda e: e["data"]["user_id"] == agent.user_id
    )
    assert event["tenantid"] == tenant.tenant_id
    assert event["source"] == "/rapport/identity"
    assert event["subject"] == agent.user_id
    assert event["data"] == {"user_id": agent.user_id, "role": "agent", "display_name": "Agent 1"}
    assert agent.email not in json.dumps(event)


def test_rejected_user_creation_publishes_nothing(stack: Stack, api: httpx.Client) -> None:
    owner = signup(api)
    agent = add_user(api, owner, "agent")
    refused = api.post(
        "/v1/users",
        headers=agent.headers,
        json={"email": "refused@example.com", "password": "long enough pw", "role": "agent"},
    )
    assert refused.status_code == 403
    # Every event of this tenant is accounted for once the last legitimate one has arrived.
    find_event(stack.nats_url, "identity.user.created", lambda e: e["data"]["user_id"] == agent.user_id)
    seen = collect_events(
        stack.nats_url, "identity.>", lambda e: e["tenantid"] == owner.tenant_id, timeout=1.0
    )
    assert sorted(e["type"] for e in seen) == [
        "identity.tenant.created",
        "identity.user.created",
        "identity.user.created",
    ]

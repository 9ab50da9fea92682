"""A key's token is admitted by the route's scope (and bounded by its creator's role), a person's by role.

The matrix runs against a gateway whose upstream is the recording server, with tokens signed like
identity's; the route table's scope declarations are also held against the services' own table
(`shared/scopes.py`), which the services check themselves.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from gateway.routes import READS, ROUTES
from shared.scopes import NO_KEYS, ROLE_SCOPES, SCOPES
from tests.gateway.helpers import Recorder, SigningKey, assert_rejected_by_gateway, bearer, claims_for

SCOPE_MATRIX = [
    # (method, path, role of the key's creator, scopes, status)
    ("GET", "/v1/mentions", "analyst", "mentions:read", 200),
    ("GET", "/v1/mentions/m1", "analyst", "mentions:read", 200),
    ("POST", "/v1/mentions", "owner", "mentions:read", 403),
    ("POST", "/v1/mentions", "integration", "mentions:write", 200),
    ("POST", "/v1/mentions/batch", "integration", "mentions:write", 200),
    ("GET", "/v1/mentions", "owner", "mentions:write", 403),
    ("GET", "/v1/profiles", "analyst", "profiles:read", 200),
    ("GET", "/v1/profiles", "analyst", "mentions:read metrics:read", 403),
    ("PUT", "/v1/profiles/by-external-id/shop/c1", "integration", "profiles:write", 200),
    ("POST", "/v1/profiles/p1/orders", "integration", "profiles:write", 200),
    ("POST", "/v1/profiles/p1/orders", "integration", "mentions:write", 403),
    ("GET", "/v1/profile-attributes", "agent", "profiles:read", 200),
    ("GET", "/v1/segments", "agent", "profiles:read", 403),
    ("GET", "/v1/segments", "agent", "segments:read", 200),
    ("GET", "/v1/listening/queries", "analyst", "queries:read", 200),
    ("POST", "/v1/listening/queries", "analyst", "queries:read", 403),
    ("POST", "/v1/listening/queries", "analyst", "queries:write", 200),
    ("GET", "/v1/listening/alerts", "analyst", "alerts:read", 200),
    ("GET", "/v1/listening/share-of-voice", "analyst", "metrics:read", 200),
    ("GET", "/v1/listening/usage", "admin", "usage:read", 200),
    ("GET", "/v1/listening/usage", "admin", "metrics:read", 403),
    ("GET", "/v1/channels", "admin", "channels:manage", 200),
    ("POST", "/v1/channels", "admin", "channels:manage", 200),
    ("GET", "/v1/conversations", "analyst", "conversations:read", 200),
    ("GET", "/v1/agents", "analyst", "agents:read", 200),
    ("GET", "/v1/agents", "analyst", "conversations:read", 403),
    ("GET", "/v1/metrics/scorecard", "analyst", "metrics:read", 200),
    # The creator's role still bounds the key: a scope does not open what the role may not do.
    ("GET", "/v1/mentions", "integration", "mentions:read", 403),
    ("GET", "/v1/channels", "agent", "channels:manage", 403),
    # Routes no key may call, whatever its scopes.
    ("GET", "/v1/me", "owner", " ".join(SCOPES), 403),
    ("GET", "/v1/users", "owner", " ".join(SCOPES), 403),
    ("GET", "/v1/api-keys", "owner", " ".join(SCOPES), 403),
    ("POST", "/v1/auth/logout", "owner", " ".join(SCOPES), 403),
    ("GET", "/v1/tenants/t1", "owner", " ".join(SCOPES), 403),
    # An empty scope claim opens nothing.
    ("GET", "/v1/mentions", "owner", "", 403),
]


@pytest.mark.parametrize(("method", "path", "role", "scopes", "status"), SCOPE_MATRIX)
def test_scope_table(
    gw: httpx.Client,
    recorder: Recorder,
    recorder_key: SigningKey,
    method: str,
    path: str,
    role: str,
    scopes: str,
    status: int,
) -> None:
    key_id = str(uuid.uuid4())
    token = recorder_key.sign(
        claims_for(tenant_id=str(uuid.uuid4()), role=role, scope=scopes, sid=key_id, client_id=key_id)
    )
    request_id = uuid.uuid4().hex
    response = gw.request(method, path, headers={**bearer(token), "X-Request-ID": request_id})
    if status == 200:
        assert response.status_code == 200, response.text
        assert len(recorder.seen(request_id)) == 1
    else:
        assert_rejected_by_gateway(response, status)
        assert recorder.seen(request_id) == []


def test_person_token_keeps_its_role_rules(gw: httpx.Client, recorder_key: SigningKey) -> None:
    # No `scope` claim: a person's token, admitted by role alone (here to a route no key may call).
    token = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4()), role="owner"))
    assert gw.get("/v1/users", headers=bearer(token)).status_code == 200
    assert gw.get("/v1/mentions", headers=bearer(token)).status_code == 200


def test_every_scope_opens_some_route_and_every_role_may_grant_only_known_scopes() -> None:
    declared = {
        route.scope_for(method)
        for route in ROUTES
        if route.access != NO_KEYS
        for method in (route.methods or READS | {"POST"})
    }
    assert set(SCOPES) <= declared
    for role, grantable in ROLE_SCOPES.items():
        assert grantable <= set(SCOPES), role

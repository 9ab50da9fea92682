"""API5 Broken Function Level Authorization: each service enforces the route's roles (and an API key's
scopes) itself.

The gateway's role table is tested in tests/gateway/test_tokens.py; here every service is called
directly, past the gateway, with a real token of a role the route does not admit. Services verify the
token and the role on their own (defence in depth), so a request that reaches a service some other way
gets the same 403 and changes nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import Tenant, add_user, assert_problem, mention_payload

# (service, method, path, body, a role the route refuses)
REFUSED: list[tuple[str, str, str, dict[str, Any] | None, str]] = [
    ("identity", "GET", "/v1/users", None, "agent"),
    (
        "identity",
        "POST",
        "/v1/users",
        {"email": "x@example.com", "password": "p" * 12, "role": "agent"},
        "analyst",
    ),
    ("listening", "POST", "/v1/mentions", mention_payload(), "analyst"),
    ("listening", "GET", "/v1/mentions", None, "integration"),
    ("listening", "GET", "/v1/channels", None, "agent"),
    (
        "listening",
        "POST",
        "/v1/listening/queries",
        {"name": "q", "kind": "brand", "expression": "a"},
        "agent",
    ),
    ("profiles", "GET", "/v1/profiles", None, "integration"),
    ("engagement", "GET", "/v1/conversations", None, "integration"),
    # Analysts read conversations; only owners, admins and agents work them.
    ("engagement", "PATCH", "/v1/conversations/c1", {"status": "resolved"}, "analyst"),
    ("engagement", "POST", "/v1/conversations/c1/notes", {"body": "hi"}, "analyst"),
    ("metrics", "GET", "/v1/metrics/scorecard", None, "integration"),
]


@pytest.fixture(scope="module")
def staff(stack: Stack) -> dict[str, Any]:
    from tests.helpers import signup

    with httpx.Client(base_url=stack.url("identity"), timeout=30) as accounts:
        owner = signup(accounts)
        users = {role: add_user(accounts, owner, role) for role in ("agent", "analyst", "integration")}
    return {"owner": owner, **users}


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "role"),
    REFUSED,
    ids=[f"{s} {m} {p} as {r}" for s, m, p, _, r in REFUSED],
)
def test_service_refuses_a_role_the_route_does_not_admit(
    stack: Stack,
    staff: dict[str, Any],
    service: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: str,
) -> None:
    user = staff[role]
    owner: Tenant = staff["owner"]
    with httpx.Client(base_url=stack.url(service), timeout=30) as direct:
        assert_problem(direct.request(method, path, json=body, headers=user.headers), 403)
        if method == "POST" and not path.endswith("/notes"):
            listing = direct.get(path, headers=owner.headers)
            assert listing.status_code == 200, listing.text
            if service != "identity":
                assert listing.json()["items"] == []


# (service, method, path, body, the key's scopes, status): a key's token checked by the service itself.
KEYS: list[tuple[str, str, str, dict[str, Any] | None, str, int]] = [
    ("listening", "GET", "/v1/mentions", None, "mentions:read", 200),
    ("listening", "GET", "/v1/mentions", None, "profiles:read", 403),
    ("listening", "POST", "/v1/mentions", mention_payload(), "mentions:read", 403),
    ("listening", "GET", "/v1/channels", None, "mentions:read", 403),
    ("profiles", "GET", "/v1/profiles", None, "profiles:read", 200),
    ("profiles", "GET", "/v1/profiles", None, "metrics:read", 403),
    ("engagement", "GET", "/v1/conversations", None, "conversations:read", 200),
    ("engagement", "GET", "/v1/conversations", None, "agents:read", 403),
    ("engagement", "PATCH", "/v1/conversations/c1", {"status": "resolved"}, "conversations:read", 403),
    ("engagement", "POST", "/v1/conversations/c1/notes", {"body": "hi"}, "conversations:read", 403),
    ("metrics", "GET", "/v1/metrics/scorecard", None, "metrics:read", 200),
    ("metrics", "GET", "/v1/metrics/scorecard", None, "mentions:read", 403),
    ("identity", "GET", "/v1/me", None, "metrics:read", 403),
    ("identity", "GET", "/v1/api-keys", None, "metrics:read", 403),
]


@pytest.mark.parametrize(
    ("service", "method", "path", "body", "scopes", "status"),
    KEYS,
    ids=[f"{s} {m} {p} with {sc}" for s, m, p, _, sc, _ in KEYS],
)
def test_service_checks_an_api_key_tokens_scope(
    stack: Stack,
    staff: dict[str, Any],
    service: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    scopes: str,
    status: int,
) -> None:
    owner: Tenant = staff["owner"]
    with httpx.Client(base_url=stack.url("identity"), timeout=30) as accounts:
        made = accounts.post(
            "/v1/api-keys", headers=owner.headers, json={"name": "direct", "scopes": scopes.split()}
        )
        assert made.status_code == 201, made.text
        key = made.json()
        exchanged = accounts.post(
            "/v1/auth/token",
            json={"grant_type": "client_credentials", "client_id": key["id"], "client_secret": key["key"]},
        )
        assert exchanged.status_code == 200, exchanged.text
    token = exchanged.json()["access_token"]
    with httpx.Client(base_url=stack.url(service), timeout=30) as direct:
        response = direct.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
        if status == 200:
            assert response.status_code == 200, response.text
        else:
            assert_problem(response, status)

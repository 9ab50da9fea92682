"""API keys through the gateway: made with scopes no wider than the creator's role, shown once,
exchanged for scoped tokens (JSON and OAuth form), revoked at once, tenant-scoped."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from rapport.stack import Stack
from tests.helpers import Tenant, User, add_user, assert_problem, find_event, wait_until

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_key(client: httpx.Client, user: User, scopes: list[str], **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/api-keys", headers=user.headers, json={"name": "BI export", "scopes": scopes, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def exchange(client: httpx.Client, key: dict[str, Any], *, form: bool = False) -> httpx.Response:
    grant = {"grant_type": "client_credentials", "client_id": key["id"], "client_secret": key["key"]}
    if form:
        return client.post("/v1/auth/token", data=grant, headers=FORM)
    return client.post("/v1/auth/token", json=grant)


def token_of(client: httpx.Client, key: dict[str, Any], *, form: bool = False) -> str:
    response = exchange(client, key, form=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_key_is_shown_once_and_listed_without_its_secret(client: httpx.Client, tenant: Tenant) -> None:
    key = make_key(client, tenant, ["mentions:read", "metrics:read"])
    secret = key["key"]
    assert secret.startswith("rk_")
    assert len(base64.urlsafe_b64decode(secret[3:] + "=")) == 32
    assert key["prefix"] == secret[:11]
    assert key["scopes"] == ["mentions:read", "metrics:read"]
    assert key["created_by"] == tenant.user_id and key["revoked_at"] is None

    listing = client.get("/v1/api-keys", headers=tenant.headers)
    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert [item["id"] for item in items] == [key["id"]]
    assert secret not in listing.text and "key" not in items[0]
    one = client.get(f"/v1/api-keys/{key['id']}", headers=tenant.headers)
    assert one.status_code == 200, one.text
    assert secret not in one.text and one.json()["prefix"] == key["prefix"]


def test_keys_are_listed_newest_first_in_pages(client: httpx.Client, tenant: Tenant) -> None:
    made = [make_key(client, tenant, ["mentions:read"])["id"] for _ in range(3)]
    first = client.get("/v1/api-keys", params={"limit": 2}, headers=tenant.headers).json()
    second = client.get(
        "/v1/api-keys", params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant.headers
    ).json()
    assert [k["id"] for k in first["items"] + second["items"]] == made[::-1]
    assert second["next_cursor"] is None


def test_admins_see_every_key_and_others_their_own(client: httpx.Client, tenant: Tenant) -> None:
    analyst = add_user(client, tenant, "analyst")
    agent = add_user(client, tenant, "agent")
    owner_key = make_key(client, tenant, ["channels:manage"])
    analyst_key = make_key(client, analyst, ["metrics:read"])
    agent_key = make_key(client, agent, ["conversations:read"])

    def listed(user: User) -> set[str]:
        response = client.get("/v1/api-keys", headers=user.headers)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert listed(tenant) == {owner_key["id"], analyst_key["id"], agent_key["id"]}
    assert listed(analyst) == {analyst_key["id"]}
    assert_problem(client.get(f"/v1/api-keys/{agent_key['id']}", headers=analyst.headers), 404)
    assert_problem(client.delete(f"/v1/api-keys/{agent_key['id']}", headers=analyst.headers), 404)
    assert client.get(f"/v1/api-keys/{agent_key['id']}", headers=tenant.headers).status_code == 200


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_exchanged_token_opens_its_scope_and_nothing_else(
    client: httpx.Client, tenant: Tenant, form: bool
) -> None:
    key = make_key(client, tenant, ["mentions:read"])
    response = exchange(client, key, form=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "mentions:read"
    assert body["expires_in"] > 0 and "refresh_token" not in body
    assert response.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sid"] == key["id"] and claims["scope"] == "mentions:read"
    assert claims["tid"] == tenant.tenant_id

    token = body["access_token"]
    assert client.get("/v1/mentions", headers=_bearer(token)).status_code == 200
    # A route of another scope, a write of the same resource, and identity's own routes are refused.
    assert_problem(client.get("/v1/profiles", headers=_bearer(token)), 403)
    assert_problem(client.post("/v1/mentions", json={}, headers=_bearer(token)), 403)
    assert_problem(client.get("/v1/users", headers=_bearer(token)), 403)
    assert_problem(client.get("/v1/me", headers=_bearer(token)), 403)
    assert_problem(
        client.post("/v1/api-keys", json={"name": "x", "scopes": ["mentions:read"]}, headers=_bearer(token)),
        403,
    )


def test_analyst_key_reads_for_a_bi_tool(client: httpx.Client, tenant: Tenant) -> None:
    analyst = add_user(client, tenant, "analyst")
    key = make_key(client, analyst, ["metrics:read", "profiles:read", "conversations:read"])
    token = token_of(client, key)
    for path in ("/v1/metrics/scorecard", "/v1/profiles", "/v1/conversations"):
        response = client.get(path, headers=_bearer(token))
        assert response.status_code == 200, (path, response.text)
    assert_problem(client.get("/v1/mentions", headers=_bearer(token)), 403)


def test_key_may_ask_for_fewer_scopes_not_more(client: httpx.Client, tenant: Tenant) -> None:
    key = make_key(client, tenant, ["mentions:read", "profiles:read"])
    grant = {"grant_type": "client_credentials", "client_id": key["id"], "client_secret": key["key"]}
    narrowed = client.post("/v1/auth/token", json={**grant, "scope": "profiles:read"})
    assert narrowed.status_code == 200, narrowed.text
    token = narrowed.json()["access_token"]
    assert_problem(client.get("/v1/mentions", headers=_bearer(token)), 403)
    assert client.get("/v1/profiles", headers=_bearer(token)).status_code == 200
    wider = client.post("/v1/auth/token", json={**grant, "scope": "profiles:read channels:manage"})
    assert assert_problem(wider, 400)["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("role", "scopes", "refused"),
    [
        ("analyst", ["metrics:read", "channels:manage"], "channels:manage"),
        ("integration", ["mentions:write", "mentions:read"], "mentions:read"),
        ("agent", ["queries:write"], "queries:write"),
    ],
)
def test_key_wider_than_its_creators_role_is_refused(
    client: httpx.Client, tenant: Tenant, role: str, scopes: list[str], refused: str
) -> None:
    user = add_user(client, tenant, role)
    response = client.post("/v1/api-keys", headers=user.headers, json={"name": "k", "scopes": scopes})
    body = assert_problem(response, 403)
    assert body["type"].endswith("/scope-not-grantable")
    assert refused in body["detail"]
    assert client.get("/v1/api-keys", headers=user.headers).json()["items"] == []


def test_integration_key_ingests_but_reads_nothing(client: httpx.Client, tenant: Tenant) -> None:
    integration = add_user(client, tenant, "integration")
    token = token_of(client, make_key(client, integration, ["mentions:write"]))
    mention = {
        "platform": "x",
        "external_id": uuid.uuid4().hex,
        "text": "Where is my parcel?",
        "created_at": datetime.now(UTC).isoformat(),
        "author": {"handle": "@partner_user"},
    }
    response = client.post("/v1/mentions", json=mention, headers=_bearer(token))
    assert response.status_code in (200, 201, 202), response.text
    assert_problem(client.get("/v1/mentions", headers=_bearer(token)), 403)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "k", "scopes": ["mentions:read", "mentions:delete"]},
        {"name": "k", "scopes": []},
        {"name": "", "scopes": ["mentions:read"]},
        {"name": "k", "scopes": ["mentions:read"], "expires_at": "2020-01-01T00:00:00Z"},
        {"name": "k", "scopes": ["mentions:read"], "key": "rk_chosen"},
    ],
    ids=["unknown scope", "no scope", "no name", "expiry in the past", "chosen secret"],
)
def test_bad_key_request_returns_422(client: httpx.Client, tenant: Tenant, body: dict[str, Any]) -> None:
    assert_problem(client.post("/v1/api-keys", headers=tenant.headers, json=body), 422)


def test_api_keys_anonymous_401_other_tenant_404(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    key = make_key(client, tenant, ["mentions:read"])
    assert_problem(client.get("/v1/api-keys"), 401)
    assert_problem(client.post("/v1/api-keys", json={"name": "k", "scopes": ["mentions:read"]}), 401)
    assert_problem(client.get(f"/v1/api-keys/{key['id']}", headers=other_tenant.headers), 404)
    assert_problem(client.delete(f"/v1/api-keys/{key['id']}", headers=other_tenant.headers), 404)
    assert client.get("/v1/api-keys", headers=other_tenant.headers).json()["items"] == []
    # Still usable: the other tenant's attempt changed nothing.
    token_of(client, key)


def test_wrong_secret_or_unknown_key_is_401_invalid_client(client: httpx.Client, tenant: Tenant) -> None:
    key = make_key(client, tenant, ["mentions:read"])
    wrong = {**key, "key": "rk_" + "A" * 43}
    unknown = {**key, "id": str(uuid.uuid4())}
    for bad in (wrong, unknown):
        for form in (False, True):
            body = assert_problem(exchange(client, bad, form=form), 401)
            assert body["error"] == "invalid_client"
            assert key["key"] not in str(body)
    used = client.get(f"/v1/api-keys/{key['id']}", headers=tenant.headers).json()
    assert used["last_used_at"] is None


def test_exchange_records_when_and_from_where(client: httpx.Client, tenant: Tenant) -> None:
    key = make_key(client, tenant, ["mentions:read"])
    token_of(client, key)
    used = client.get(f"/v1/api-keys/{key['id']}", headers=tenant.headers).json()
    assert used["last_used_at"] is not None
    assert used["last_used_ip"] == "127.0.0.1"


def test_token_request_without_secret_is_422_and_other_grants_400(client: httpx.Client) -> None:
    missing = client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": "x"})
    assert_problem(missing, 422)
    other = client.post(
        "/v1/auth/token", data={"grant_type": "authorization_code", "code": "x"}, headers=FORM
    )
    assert assert_problem(other, 400)["error"] == "unsupported_grant_type"
    assert_problem(client.post("/v1/auth/token", content=b"{not json", headers=JSON), 400)


def test_key_exchanged_with_http_basic_credentials(client: httpx.Client, tenant: Tenant) -> None:
    key = make_key(client, tenant, ["metrics:read"])
    grant = {"grant_type": "client_credentials"}
    response = client.post("/v1/auth/token", data=grant, headers=FORM, auth=(key["id"], key["key"]))
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert client.get("/v1/metrics/scorecard", headers=_bearer(token)).status_code == 200
    wrong = client.post("/v1/auth/token", data=grant, headers=FORM, auth=(key["id"], "rk_wrong"))
    assert assert_problem(wrong, 401)["error"] == "invalid_client"
    both = client.post(
        "/v1/auth/token", data={**grant, "client_id": key["id"]}, headers=FORM, auth=(key["id"], key["key"])
    )
    assert assert_problem(both, 400)["error"] == "invalid_request"


def test_revoked_key_tokens_are_refused_and_it_gets_no_new_one(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    key = make_key(client, tenant, ["mentions:read"])
    token = token_of(client, key)
    assert client.get("/v1/mentions", headers=_bearer(token)).status_code == 200
    with httpx.Client(base_url=stack.url("listening"), timeout=30) as direct:
        assert direct.get("/v1/mentions", headers=_bearer(token)).status_code == 200

        revoked = client.delete(f"/v1/api-keys/{key['id']}", headers=tenant.headers)
        assert revoked.status_code == 204, revoked.text
        wait_until(
            lambda: client.get("/v1/mentions", headers=_bearer(token)).status_code == 401,
            timeout=15,
            what="the revoked key's token refused by the gateway",
        )

        # The service behind the gateway mirrors the deny-list too.
        def refused_by_listening() -> httpx.Response | None:
            response = direct.get("/v1/mentions", headers=_bearer(token))
            return response if response.status_code == 401 else None

        refused = wait_until(
            refused_by_listening, timeout=15, what="the revoked key's token refused by listening itself"
        )
        assert assert_problem(refused, 401)["type"].endswith("/token-revoked")
    body = assert_problem(exchange(client, key), 401)
    assert body["error"] == "invalid_client"
    listed = client.get(f"/v1/api-keys/{key['id']}", headers=tenant.headers).json()
    assert listed["revoked_at"] is not None
    # Revoking again changes nothing.
    assert client.delete(f"/v1/api-keys/{key['id']}", headers=tenant.headers).status_code == 204


def test_expired_key_gets_no_token_and_its_tokens_end_with_it(client: httpx.Client, tenant: Tenant) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=10)
    key = make_key(client, tenant, ["mentions:read"], expires_at=soon.isoformat())
    response = exchange(client, key)
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] <= 10
    token = response.json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["exp"] <= soon.timestamp() + 1
    wait_until(
        lambda: exchange(client, key).status_code == 401, timeout=40, what="the key to expire and be refused"
    )
    body = assert_problem(exchange(client, key), 401)
    assert body["error"] == "invalid_client" and "expired" in body["detail"]
    wait_until(
        lambda: client.get("/v1/mentions", headers=_bearer(token)).status_code == 401,
        timeout=15,
        what="the expired key's token refused",
    )


def test_deactivating_the_creator_ends_the_keys_tokens(client: httpx.Client, tenant: Tenant) -> None:
    agent = add_user(client, tenant, "agent")
    key = make_key(client, agent, ["conversations:read"])
    token = token_of(client, key)
    assert client.get("/v1/conversations", headers=_bearer(token)).status_code == 200
    off = client.patch(f"/v1/users/{agent.user_id}", headers=tenant.headers, json={"active": False})
    assert off.status_code == 200, off.text
    wait_until(
        lambda: client.get("/v1/conversations", headers=_bearer(token)).status_code == 401,
        timeout=15,
        what="the deactivated creator's key token refused",
    )
    assert assert_problem(exchange(client, key), 401)["error"] == "invalid_client"


def test_creator_demoted_below_the_key_gets_no_new_token(client: httpx.Client, tenant: Tenant) -> None:
    admin = add_user(client, tenant, "admin")
    key = make_key(client, admin, ["channels:manage"])
    token_of(client, key)
    demoted = client.patch(f"/v1/users/{admin.user_id}", headers=tenant.headers, json={"role": "analyst"})
    assert demoted.status_code == 200, demoted.text
    body = assert_problem(exchange(client, key), 401)
    assert "role" in body["detail"]


def test_key_creation_and_revocation_are_published_without_the_key(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    key = make_key(client, tenant, ["profiles:read", "mentions:read"])
    created = find_event(
        stack.nats_url, "identity.api_key.created", lambda e: e["data"]["key_id"] == key["id"]
    )
    assert created["tenantid"] == tenant.tenant_id and created["subject"] == key["id"]
    assert created["data"]["scopes"] == ["mentions:read", "profiles:read"]
    assert created["data"]["created_by"] == tenant.user_id
    assert key["key"] not in str(created) and key["key"][3:] not in str(created)
    assert client.delete(f"/v1/api-keys/{key['id']}", headers=tenant.headers).status_code == 204
    revoked = find_event(
        stack.nats_url, "identity.api_key.revoked", lambda e: e["data"]["key_id"] == key["id"]
    )
    assert revoked["data"] == {"key_id": key["id"], "by_user_id": tenant.user_id}

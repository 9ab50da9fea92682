"""`/v1/me` and `/v1/users`: who may see and create users, within one tenant only."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD, Tenant, User, add_user, unique

WORKERS = ("agent", "analyst", "integration")


def _new_user(role: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"email": f"{unique(role)}@example.com", "password": PASSWORD, "role": role}
    body.update(overrides)
    return body


def _ids(api: httpx.Client, caller: User, **params: Any) -> list[str]:
    response = api.get("/v1/users", headers=caller.headers, params=params)
    assert response.status_code == 200, response.text
    return [u["id"] for u in response.json()["items"]]


def _status(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


# --- /v1/me ---------------------------------------------------------------------------------------


def test_me_without_token_returns_401(api: httpx.Client) -> None:
    response = api.get("/v1/me")
    _status(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    _status(api.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)


def test_me_returns_the_caller_for_every_role(api: httpx.Client, tenant: Tenant) -> None:
    me = api.get("/v1/me", headers=tenant.headers).json()
    assert set(me) == {"id", "tenant_id", "email", "display_name", "role", "active", "created_at"}
    assert (me["id"], me["tenant_id"], me["email"], me["role"]) == (
        tenant.user_id,
        tenant.tenant_id,
        tenant.email,
        "owner",
    )
    for role in ("admin", *WORKERS):
        user = add_user(api, tenant, role)
        me = api.get("/v1/me", headers=user.headers).json()
        assert (me["id"], me["tenant_id"], me["role"]) == (user.user_id, tenant.tenant_id, role)
        assert me["display_name"] == f"{role.title()} {len(tenant.users)}"
        assert "password_hash" not in me


# --- POST /v1/users -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", *WORKERS])
def test_owner_creates_user_of_each_grantable_role(api: httpx.Client, tenant: Tenant, role: str) -> None:
    body = _new_user(role, display_name="Sam")
    response = api.post("/v1/users", headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == {"id", "tenant_id", "email", "display_name", "role", "active", "created_at"}
    assert (user["tenant_id"], user["email"], user["role"], user["display_name"]) == (
        tenant.tenant_id,
        body["email"],
        role,
        "Sam",
    )
    login = api.post("/v1/auth/token", json={"email": body["email"], "password": PASSWORD})
    assert login.status_code == 200


def test_admin_creates_workers_but_not_admins(api: httpx.Client, tenant: Tenant) -> None:
    admin = add_user(api, tenant, "admin")
    for role in WORKERS:
        assert api.post("/v1/users", headers=admin.headers, json=_new_user(role)).status_code == 201
    body = _new_user("admin")
    response = api.post("/v1/users", headers=admin.headers, json=body)
    _status(response, 403)
    assert response.json()["type"].endswith("/role-not-grantable")
    assert api.post("/v1/auth/token", json={"email": body["email"], "password": PASSWORD}).status_code == 401


def test_nobody_creates_an_owner(api: httpx.Client, tenant: Tenant) -> None:
    admin = add_user(api, tenant, "admin")
    for creator in (tenant, admin):
        _status(api.post("/v1/users", headers=creator.headers, json=_new_user("owner")), 422)


def test_create_user_without_token_returns_401(api: httpx.Client) -> None:
    _status(api.post("/v1/users", json=_new_user("agent")), 401)


@pytest.mark.parametrize("role", WORKERS)
def test_create_user_by_non_admin_returns_403(api: httpx.Client, tenant: Tenant, role: str) -> None:
    worker = add_user(api, tenant, role)
    before = _ids(api, tenant)
    _status(api.post("/v1/users", headers=worker.headers, json=_new_user("agent")), 403)
    assert _ids(api, tenant) == before


@pytest.mark.parametrize(
    "overrides",
    [
        {"tenant_id": "<the other tenant>"},
        {"id": str(uuid.uuid4())},
        {"password": "short"},
        {"email": "nope"},
        {"role": "superuser"},
        {"display_name": "x" * 101},
    ],
)
def test_create_user_with_bad_input_returns_422_and_creates_nothing(
    api: httpx.Client, tenant: Tenant, other_tenant: Tenant, overrides: dict[str, str]
) -> None:
    if "tenant_id" in overrides:
        overrides = {"tenant_id": other_tenant.tenant_id}
    before = _ids(api, tenant)
    other_before = _ids(api, other_tenant)
    _status(api.post("/v1/users", headers=tenant.headers, json={**_new_user("agent"), **overrides}), 422)
    assert _ids(api, tenant) == before
    assert _ids(api, other_tenant) == other_before


def test_create_user_with_malformed_json_returns_400(api: httpx.Client, tenant: Tenant) -> None:
    headers = {**tenant.headers, "content-type": "application/json"}
    _status(api.post("/v1/users", headers=headers, content=b'{"email": "a@example.com",'), 400)


def test_create_user_with_email_taken_in_the_same_tenant_returns_409(
    api: httpx.Client, tenant: Tenant
) -> None:
    agent = add_user(api, tenant, "agent")
    before = _ids(api, tenant)
    for email in (agent.email, agent.email.upper(), tenant.email):
        response = api.post("/v1/users", headers=tenant.headers, json=_new_user("agent", email=email))
        _status(response, 409)
    assert _ids(api, tenant) == before


# --- GET /v1/users --------------------------------------------------------------------------------


def test_list_users_without_token_returns_401(api: httpx.Client) -> None:
    _status(api.get("/v1/users"), 401)


@pytest.mark.parametrize("role", WORKERS)
def test_list_users_by_non_admin_returns_403(api: httpx.Client, tenant: Tenant, role: str) -> None:
    _status(api.get("/v1/users", headers=add_user(api, tenant, role).headers), 403)


def test_list_users_shows_only_the_callers_tenant(
    api: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = [add_user(api, tenant, "agent").user_id, add_user(api, tenant, "admin").user_id]
    add_user(api, other_tenant, "agent")
    ids = _ids(api, tenant)
    assert set(ids) == {tenant.user_id, *mine}
    admin = tenant.users[1]
    assert set(_ids(api, admin)) == set(ids)


def test_list_users_pages_with_a_cursor_newest_first(api: httpx.Client, tenant: Tenant) -> None:
    created = [add_user(api, tenant, "agent").user_id for _ in range(4)]
    expected = [*reversed(created), tenant.user_id]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/users", headers=tenant.headers, params=params).json()
        assert len(page["items"]) <= 2
        seen += [u["id"] for u in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3


def test_list_users_filters_by_role(api: httpx.Client, tenant: Tenant) -> None:
    analysts = {add_user(api, tenant, "analyst").user_id for _ in range(2)}
    add_user(api, tenant, "agent")
    assert set(_ids(api, tenant, role="analyst")) == analysts
    assert _ids(api, tenant, role="owner") == [tenant.user_id]
    assert _ids(api, tenant, role="integration") == []


@pytest.mark.parametrize(
    ("params", "status"),
    [({"role": "superuser"}, 422), ({"limit": 0}, 422), ({"limit": 201}, 422), ({"cursor": "!!!"}, 400)],
)
def test_list_users_with_bad_query_returns_4xx(
    api: httpx.Client, tenant: Tenant, params: dict[str, Any], status: int
) -> None:
    _status(api.get("/v1/users", headers=tenant.headers, params=params), status)


# --- GET /v1/users/{id} ---------------------------------------------------------------------------


def test_get_user_returns_the_user(api: httpx.Client, tenant: Tenant) -> None:
    agent = add_user(api, tenant, "agent")
    admin = add_user(api, tenant, "admin")
    for reader in (tenant, admin):
        response = api.get(f"/v1/users/{agent.user_id}", headers=reader.headers)
        assert response.status_code == 200, response.text
        assert response.json()["email"] == agent.email


def test_get_user_without_token_returns_401(api: httpx.Client, tenant: Tenant) -> None:
    _status(api.get(f"/v1/users/{tenant.user_id}"), 401)


@pytest.mark.parametrize("role", WORKERS)
def test_get_user_by_non_admin_returns_403(api: httpx.Client, tenant: Tenant, role: str) -> None:
    worker: User = add_user(api, tenant, role)
    _status(api.get(f"/v1/users/{tenant.user_id}", headers=worker.headers), 403)


def test_get_user_of_other_tenant_returns_404(
    api: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    stranger = add_user(api, other_tenant, "agent")
    for user_id in (stranger.user_id, other_tenant.user_id, str(uuid.uuid4())):
        response = api.get(f"/v1/users/{user_id}", headers=tenant.headers)
        _status(response, 404)
        assert stranger.email not in response.text

"""Signup (`POST /v1/tenants`): the owner is created, bad input changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD, signup, unique
from tests.identity.helpers import SpawnIdentity


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": unique("Acme"),
        "admin_email": f"{unique('owner')}@example.com",
        "admin_password": PASSWORD,
    }
    body.update(overrides)
    return body


def _can_login(api: httpx.Client, email: str) -> bool:
    response = api.post("/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


def test_signup_creates_tenant_and_owner(api: httpx.Client) -> None:
    body = _body(admin_display_name="  Ada Owner  ")
    response = api.post("/v1/tenants", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert set(data) == {"tenant", "user"}
    assert set(data["tenant"]) == {"id", "name", "created_at"}
    assert data["tenant"]["name"] == body["name"]
    user = data["user"]
    assert set(user) == {"id", "tenant_id", "email", "display_name", "role", "active", "created_at"}
    assert user["tenant_id"] == data["tenant"]["id"]
    assert user["role"] == "owner"
    assert user["email"] == body["admin_email"]
    assert user["display_name"] == "Ada Owner"
    assert _can_login(api, body["admin_email"])


def test_signup_email_is_case_insensitive(api: httpx.Client) -> None:
    email = f"{unique('Mixed.Case')}@Example.COM"
    response = api.post("/v1/tenants", json=_body(admin_email=email))
    assert response.status_code == 201, response.text
    assert response.json()["user"]["email"] == email.lower()
    assert _can_login(api, email.upper())
    token = api.post("/v1/auth/token", json={"email": email, "password": PASSWORD}).json()["access_token"]
    # The same address in other letters is the same user of the tenant.
    duplicate = api.post(
        "/v1/users",
        headers={"Authorization": f"Bearer {token}"},
        json={"email": email.lower(), "password": PASSWORD, "role": "agent"},
    )
    _assert_problem(duplicate, 409)


@pytest.mark.parametrize(
    "extra",
    [{"role": "admin"}, {"tenant_id": "00000000-0000-0000-0000-000000000000"}, {"password_hash": "x"}],
)
def test_signup_with_unknown_field_returns_422_and_creates_nothing(
    api: httpx.Client, extra: dict[str, str]
) -> None:
    body = _body(**extra)
    problem = _assert_problem(api.post("/v1/tenants", json=body), 422)
    assert [e["loc"][-1] for e in problem["errors"]] == list(extra)
    assert not _can_login(api, body["admin_email"])
    # The address is still free: the rejected request left no user behind.
    assert api.post("/v1/tenants", json=_body(admin_email=body["admin_email"])).status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("admin_password", "short-pw9"),
        ("admin_password", "p" * 257),
        ("admin_email", "not-an-email"),
        ("admin_email", "someone@"),
        ("name", ""),
        ("name", "   "),
        ("name", "n" * 201),
        ("admin_display_name", "d" * 101),
    ],
)
def test_signup_with_invalid_field_returns_422_and_creates_nothing(
    api: httpx.Client, field: str, value: str
) -> None:
    body = _body(**{field: value})
    response = api.post("/v1/tenants", json=body)
    problem = _assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", field]
    if field == "admin_password":
        # The rejected value is never echoed back: it is a secret.
        assert value not in response.text
    else:
        assert not _can_login(api, body["admin_email"])


def test_signup_without_required_fields_returns_422(api: httpx.Client) -> None:
    problem = _assert_problem(api.post("/v1/tenants", json={}), 422)
    missing = {e["loc"][-1] for e in problem["errors"]}
    assert missing == {"name", "admin_email", "admin_password"}


def test_signup_password_of_10_and_256_characters_is_accepted(api: httpx.Client) -> None:
    for password in ("p" * 10, "p" * 256):
        body = _body(admin_password=password)
        assert api.post("/v1/tenants", json=body).status_code == 201
        login = api.post("/v1/auth/token", json={"email": body["admin_email"], "password": password})
        assert login.status_code == 200, login.text


def test_signup_with_email_of_another_tenant_succeeds_and_each_password_opens_its_own_account(
    api: httpx.Client,
) -> None:
    owner = signup(api)
    response = api.post("/v1/tenants", json=_body(admin_email=owner.email, admin_password="another password"))
    assert response.status_code == 201, response.text
    second = response.json()["tenant"]["id"]
    # Each password logs into its own tenant's account: the original owner is untouched.
    first = api.post("/v1/auth/token", json={"email": owner.email, "password": PASSWORD})
    other = api.post("/v1/auth/token", json={"email": owner.email, "password": "another password"})
    assert first.status_code == 200 and other.status_code == 200
    me = api.get("/v1/me", headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert me.json()["tenant_id"] == owner.tenant_id
    me = api.get("/v1/me", headers={"Authorization": f"Bearer {other.json()['access_token']}"})
    assert me.json()["tenant_id"] == second


def test_signup_with_malformed_json_returns_400(api: httpx.Client) -> None:
    response = api.post(
        "/v1/tenants",
        content=b'{"name": "Acme", "admin_email": ',
        headers={"content-type": "application/json"},
    )
    _assert_problem(response, 400)


def test_signup_response_never_contains_the_password_or_its_hash(api: httpx.Client) -> None:
    response = api.post("/v1/tenants", json=_body())
    assert response.status_code == 201
    assert PASSWORD not in response.text
    assert "argon2" not in response.text
    assert "password" not in response.text


def test_signup_disabled_returns_403(api: httpx.Client, spawn_identity: SpawnIdentity) -> None:
    owner = signup(api)
    url = spawn_identity(RAPPORT_SIGNUP_ENABLED="false")
    with httpx.Client(base_url=url, timeout=30) as closed:
        body = _body()
        problem = _assert_problem(closed.post("/v1/tenants", json=body), 403)
        assert problem["type"].endswith("/signup-disabled")
        # Login keeps working on that process; nothing was created by the refused signup.
        assert _can_login(closed, owner.email)
        assert not _can_login(closed, body["admin_email"])

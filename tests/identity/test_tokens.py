"""Login and refresh: token pairs, rotation on every use, and theft detection on re-use."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD, Tenant, add_user, login, signup


def _refresh(api: httpx.Client, token: str) -> httpx.Response:
    return api.post("/v1/auth/refresh", json={"refresh_token": token})


def _me(api: httpx.Client, access_token: str) -> httpx.Response:
    return api.get("/v1/me", headers={"Authorization": f"Bearer {access_token}"})


def _assert_pair(body: dict[str, Any]) -> None:
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["access_token"].count(".") == 2
    assert len(body["refresh_token"]) >= 40


def _assert_401(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    return problem


def test_login_returns_a_token_pair_that_authenticates(api: httpx.Client, tenant: Tenant) -> None:
    pair = login(api, tenant.email, PASSWORD)
    _assert_pair(pair)
    me = _me(api, pair["access_token"])
    assert me.status_code == 200
    assert me.json()["id"] == tenant.user_id


def test_each_login_gives_new_tokens(api: httpx.Client, tenant: Tenant) -> None:
    first, second = login(api, tenant.email, PASSWORD), login(api, tenant.email, PASSWORD)
    assert first["access_token"] != second["access_token"]
    assert first["refresh_token"] != second["refresh_token"]


def test_login_with_wrong_password_or_unknown_email_returns_the_same_401(
    api: httpx.Client, tenant: Tenant
) -> None:
    wrong = _assert_401(
        api.post("/v1/auth/token", json={"email": tenant.email, "password": "not the password"})
    )
    unknown = _assert_401(
        api.post("/v1/auth/token", json={"email": "nobody-" + tenant.email, "password": PASSWORD})
    )
    # An attacker cannot tell a registered address from an unknown one.
    assert wrong == unknown
    assert tenant.email not in str(wrong)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com"},
        {"email": "a@example.com", "password": "x" * 257},
        {"email": "a@example.com", "password": "correct horse", "tenant": "t"},
    ],
)
def test_login_with_invalid_body_returns_422(api: httpx.Client, body: dict[str, str]) -> None:
    response = api.post("/v1/auth/token", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_refresh_rotates_the_refresh_token(api: httpx.Client, tenant: Tenant) -> None:
    response = _refresh(api, tenant.refresh_token)
    assert response.status_code == 200, response.text
    pair = response.json()
    _assert_pair(pair)
    assert pair["refresh_token"] != tenant.refresh_token
    assert pair["access_token"] != tenant.access_token
    assert _me(api, pair["access_token"]).json()["id"] == tenant.user_id
    # The rotated token works once more, then its successor, and so on.
    again = _refresh(api, pair["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] not in (pair["refresh_token"], tenant.refresh_token)


def test_reused_refresh_token_revokes_the_whole_family(api: httpx.Client, tenant: Tenant) -> None:
    rotated = _refresh(api, tenant.refresh_token).json()["refresh_token"]
    # The old token shows up again: someone else holds a copy. Both copies' sessions end.
    problem = _assert_401(_refresh(api, tenant.refresh_token))
    assert problem["type"].endswith("/invalid-refresh-token")
    _assert_401(_refresh(api, rotated))
    _assert_401(_refresh(api, tenant.refresh_token))


def test_reuse_in_one_session_leaves_other_sessions_alive(api: httpx.Client, tenant: Tenant) -> None:
    other_session = login(api, tenant.email, PASSWORD)
    _refresh(api, tenant.refresh_token)
    _assert_401(_refresh(api, tenant.refresh_token))
    response = _refresh(api, other_session["refresh_token"])
    assert response.status_code == 200, response.text


def test_refresh_with_unknown_token_returns_401(api: httpx.Client) -> None:
    _assert_401(_refresh(api, "this-token-was-never-issued-by-identity-at-all"))


def test_access_token_is_not_a_refresh_token(api: httpx.Client, tenant: Tenant) -> None:
    _assert_401(api.post("/v1/auth/refresh", json={"refresh_token": tenant.access_token[:200]}))
    assert _refresh(api, tenant.refresh_token).status_code == 200


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": "x", "user_id": "u"}])
def test_refresh_with_invalid_body_returns_422(api: httpx.Client, body: dict[str, str]) -> None:
    assert api.post("/v1/auth/refresh", json=body).status_code == 422


def test_refreshed_token_carries_the_users_role_and_tenant(api: httpx.Client) -> None:
    owner = signup(api)
    agent = add_user(api, owner, "agent")
    pair = _refresh(api, agent.refresh_token).json()
    me = _me(api, pair["access_token"]).json()
    assert (me["id"], me["tenant_id"], me["role"]) == (agent.user_id, owner.tenant_id, "agent")

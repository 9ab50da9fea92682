"""Cookie sessions through the gateway: the refresh token travels only in the HttpOnly `rapport_refresh`
cookie, rotates like a body's, and is cleared when it is refused or the session ends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import PASSWORD, Tenant, assert_problem, wait_until
from tests.identity.helpers import (
    CSRF,
    PATH,
    assert_cleared,
    cookie_login,
    cookie_refresh,
    logged_in,
    me,
    set_cookie,
)

TTL_S = 30 * 24 * 3600  # identity's default `refresh_token_ttl_s`


def test_cookie_login_sets_the_refresh_cookie_and_answers_no_refresh_token(
    client: httpx.Client, tenant: Tenant
) -> None:
    response = cookie_login(client, tenant)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert response.headers["cache-control"] == "no-store"
    cookie = set_cookie(response)
    assert len(cookie["value"]) >= 40
    assert cookie["value"] not in response.text
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == PATH
    assert cookie["max-age"] == str(TTL_S)
    # The test stack serves plain http on 127.0.0.1, so it turns `Secure` off (`RAPPORT_COOKIE_SECURE`).
    assert not cookie["secure"]
    assert me(client, body["access_token"]).json()["id"] == tenant.user_id


def test_a_login_without_session_sets_no_cookie(client: httpx.Client, tenant: Tenant) -> None:
    response = client.post("/v1/auth/token", json={"email": tenant.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert "refresh_token" in response.json()
    assert "set-cookie" not in response.headers


def test_the_cookie_is_secure_by_default(spawn_identity: Any, tenant: Tenant) -> None:
    url = spawn_identity(RAPPORT_COOKIE_SECURE="true")
    with httpx.Client(base_url=url, timeout=30) as direct:
        response = cookie_login(direct, tenant)
    assert response.status_code == 200, response.text
    assert set_cookie(response)["secure"]


def test_cookie_refresh_rotates_and_answers_no_refresh_token(client: httpx.Client, tenant: Tenant) -> None:
    _, cookie = logged_in(client, tenant)
    response = cookie_refresh(client, cookie, **CSRF)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert response.headers["cache-control"] == "no-store"
    rotated = set_cookie(response)
    assert rotated["value"] not in ("", cookie)
    assert rotated["httponly"] and rotated["samesite"] == "Strict" and rotated["path"] == PATH
    assert rotated["max-age"] == str(TTL_S)
    assert me(client, body["access_token"]).status_code == 200
    # The new cookie works in turn.
    assert cookie_refresh(client, rotated["value"], **CSRF).status_code == 200


def test_a_spent_cookie_is_refused_cleared_and_revokes_its_session(
    client: httpx.Client, tenant: Tenant
) -> None:
    _, spent = logged_in(client, tenant)
    first = cookie_refresh(client, spent, **CSRF)
    assert first.status_code == 200, first.text
    current, access = set_cookie(first)["value"], first.json()["access_token"]
    reused = cookie_refresh(client, spent, **CSRF)
    assert assert_problem(reused, 401)["type"].endswith("/invalid-refresh-token")
    assert_cleared(reused)
    # Re-use means theft: the whole family is revoked, the cookie handed out last included.
    assert_cleared(cookie_refresh(client, current, **CSRF))
    wait_until(
        lambda: me(client, access).status_code == 401, timeout=10, what="session's access token denied"
    )


@pytest.mark.parametrize("cookie", [None, "", "not-a-refresh-token"])
def test_a_missing_or_unknown_cookie_is_401_and_cleared(client: httpx.Client, cookie: str | None) -> None:
    response = cookie_refresh(client, cookie, **CSRF)
    assert_problem(response, 401)
    assert_cleared(response)


def test_a_body_refresh_still_answers_a_pair_and_no_cookie(client: httpx.Client, tenant: Tenant) -> None:
    response = client.post(PATH, json={"refresh_token": tenant.refresh_token})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert "set-cookie" not in response.headers


def test_logout_clears_the_cookie_and_ends_the_session(client: httpx.Client, tenant: Tenant) -> None:
    access, cookie = logged_in(client, tenant)
    response = client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 204, response.text
    assert_cleared(response)
    refused = cookie_refresh(client, cookie, **CSRF)
    assert_problem(refused, 401)
    assert_cleared(refused)

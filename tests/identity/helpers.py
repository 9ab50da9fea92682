"""Helpers of the identity tests: extra identity processes (replicas) on the stack's database, and
cookie sessions."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import httpx

from tests.helpers import PASSWORD, Tenant

SpawnIdentity = Callable[..., str]


def identity_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# Cookie sessions (the console's): the refresh token only ever travels in this cookie.
COOKIE = "rapport_refresh"
PATH = "/v1/auth/refresh"
CSRF = {"X-CSRF": "1"}


def set_cookie(response: httpx.Response) -> dict[str, Any]:
    """The one `Set-Cookie` of the answer: its value and attributes (names lower-cased)."""
    values = response.headers.get_list("set-cookie")
    assert len(values) == 1, values
    raw = values[0]
    parsed = SimpleCookie()
    parsed.load(raw)
    morsel = parsed[COOKIE]
    flags = {part.strip().split("=")[0].lower() for part in raw.split(";")[1:]}
    return {
        "value": morsel.value,
        "path": morsel["path"],
        "max-age": morsel["max-age"],
        "samesite": morsel["samesite"],
        "httponly": "httponly" in flags,
        "secure": "secure" in flags,
    }


def cookie_login(client: httpx.Client, tenant: Tenant, **headers: str) -> httpx.Response:
    response = client.post(
        "/v1/auth/token",
        json={"email": tenant.email, "password": PASSWORD, "session": "cookie"},
        headers=headers,
    )
    client.cookies.clear()  # every cookie a test sends is named explicitly
    return response


def cookie_refresh(client: httpx.Client, cookie: str | None, **headers: str) -> httpx.Response:
    sent = {**headers, **({"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {})}
    response = client.post(PATH, headers=sent)
    client.cookies.clear()
    return response


def me(client: httpx.Client, access_token: str) -> httpx.Response:
    return client.get("/v1/me", headers={"Authorization": f"Bearer {access_token}"})


def logged_in(client: httpx.Client, tenant: Tenant) -> tuple[str, str]:
    """(access token, refresh cookie) of a fresh cookie session."""
    response = cookie_login(client, tenant)
    assert response.status_code == 200, response.text
    return response.json()["access_token"], set_cookie(response)["value"]


def assert_cleared(response: httpx.Response) -> None:
    cookie = set_cookie(response)
    assert cookie["value"] == ""
    assert cookie["max-age"] == "0"
    assert cookie["path"] == PATH

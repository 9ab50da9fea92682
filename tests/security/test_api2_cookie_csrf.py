"""API2 broken authentication: a page on another origin cannot use the console's refresh cookie.

A refresh that relies on the cookie needs `X-CSRF: 1` (no form can send it; a cross-origin script only
after a CORS preflight the gateway does not admit) and, when the browser names an `Origin`, the API's own;
a refused request changes nothing.
"""

from __future__ import annotations

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import Tenant, assert_problem
from tests.identity.helpers import CSRF, cookie_login, cookie_refresh, logged_in, set_cookie

FOREIGN = ["https://evil.example", "http://127.0.0.1:1", "null", "http://localhost.evil.example"]


def test_a_cookie_refresh_without_the_csrf_header_is_403_and_rotates_nothing(
    client: httpx.Client, tenant: Tenant
) -> None:
    _, cookie = logged_in(client, tenant)
    for headers in ({}, {"X-CSRF": "0"}, {"X-CSRF": ""}):
        response = cookie_refresh(client, cookie, **headers)
        assert assert_problem(response, 403)["type"] == "https://rapport.dev/problems/csrf"
        assert "set-cookie" not in response.headers
    # The cookie was not spent: with the header it rotates once, as if nothing had happened.
    accepted = cookie_refresh(client, cookie, **CSRF)
    assert accepted.status_code == 200, accepted.text
    assert cookie_refresh(client, set_cookie(accepted)["value"], **CSRF).status_code == 200


@pytest.mark.parametrize("origin", FOREIGN)
def test_a_cookie_refresh_from_a_foreign_origin_is_403_and_rotates_nothing(
    client: httpx.Client, tenant: Tenant, origin: str
) -> None:
    _, cookie = logged_in(client, tenant)
    response = cookie_refresh(client, cookie, Origin=origin, **CSRF)
    assert assert_problem(response, 403)["type"] == "https://rapport.dev/problems/csrf"
    assert "set-cookie" not in response.headers
    assert cookie_refresh(client, cookie, **CSRF).status_code == 200


def test_a_cookie_refresh_from_the_gateways_own_origin_passes(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    # Browsers name the origin of every POST, same-origin included: the console's own must pass.
    _, cookie = logged_in(client, tenant)
    response = cookie_refresh(client, cookie, Origin=stack.gateway_url, **CSRF)
    assert response.status_code == 200, response.text


def test_a_forged_forwarded_host_does_not_admit_a_foreign_origin(
    client: httpx.Client, tenant: Tenant
) -> None:
    # The gateway drops the client's X-Forwarded-* and tells identity the Host it was really asked for.
    _, cookie = logged_in(client, tenant)
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    response = cookie_refresh(client, cookie, Origin="https://evil.example", **forged, **CSRF)
    assert_problem(response, 403)


@pytest.mark.parametrize("origin", FOREIGN[:2])
def test_a_cookie_login_from_a_foreign_origin_is_403_and_sets_no_cookie(
    client: httpx.Client, tenant: Tenant, origin: str
) -> None:
    response = cookie_login(client, tenant, Origin=origin)
    assert assert_problem(response, 403)["type"] == "https://rapport.dev/problems/csrf"
    assert "set-cookie" not in response.headers

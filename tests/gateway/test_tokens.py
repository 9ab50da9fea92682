"""Every kind of bad token is refused by the gateway itself: it never reaches an upstream.

These tests run a gateway whose upstreams (and JWKS) are the recording server, so tokens can be signed
with the published key and still lack a claim, be expired, or carry the wrong audience.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.gateway.helpers import (
    Recorder,
    SigningKey,
    assert_rejected_by_gateway,
    bearer,
    claims_for,
    hs256_token,
    public_pem,
    unsigned_token,
)
from tests.helpers import wait_until


def _without(claims: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k != name}


def bad_claims() -> dict[str, dict[str, Any]]:
    now = int(time.time())
    good = claims_for(tenant_id=str(uuid.uuid4()))
    return {
        "expired": {**good, "iat": now - 1200, "exp": now - 600},
        "missing_aud": _without(good, "aud"),
        "missing_exp": _without(good, "exp"),
        "missing_iat": _without(good, "iat"),
        "missing_sub": _without(good, "sub"),
        "missing_iss": _without(good, "iss"),
        "missing_tenant": _without(good, "tid"),
        "missing_role": _without(good, "role"),
        "unknown_role": {**good, "role": "superuser"},
        "wrong_audience": {**good, "aud": "someone-else"},
        "wrong_issuer": {**good, "iss": "https://evil.example"},
        "not_yet_valid": {**good, "nbf": now + 600},
    }


@pytest.mark.parametrize("case", sorted(bad_claims()))
def test_token_with_bad_claims_signed_by_the_real_key_is_401(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey, case: str
) -> None:
    token = recorder_key.sign(bad_claims()[case])
    before = recorder.count()
    assert_rejected_by_gateway(gw.get("/v1/me", headers=bearer(token)), 401)
    assert_rejected_by_gateway(gw.post("/v1/mentions", json={"text": "x"}, headers=bearer(token)), 401)
    assert recorder.count() == before


@pytest.mark.parametrize("forgery", ["other_key_same_kid", "unknown_kid", "alg_none", "hs256_public_key"])
def test_forged_signature_is_401(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey, forgery: str
) -> None:
    claims = claims_for(tenant_id=str(uuid.uuid4()))
    kid = recorder_key.kid
    token = {
        "other_key_same_kid": lambda: SigningKey(kid=kid).sign(claims),
        "unknown_kid": lambda: SigningKey().sign(claims),
        "alg_none": lambda: unsigned_token(claims, kid=kid),
        "hs256_public_key": lambda: hs256_token(claims, secret=public_pem(recorder_key.public_jwk), kid=kid),
    }[forgery]()
    before = recorder.count()
    assert_rejected_by_gateway(gw.get("/v1/me", headers=bearer(token)), 401)
    assert recorder.count() == before


def test_tampered_payload_is_401(gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey) -> None:
    token = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4()), role="analyst"))
    header, _, signature = token.split(".")
    forged_payload = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4()), role="owner")).split(".")[1]
    before = recorder.count()
    tampered = f"{header}.{forged_payload}.{signature}"
    assert_rejected_by_gateway(gw.get("/v1/users", headers=bearer(tampered)), 401)
    assert recorder.count() == before


def test_valid_token_is_forwarded_with_its_authorization_header_unchanged(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey
) -> None:
    token = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4())))
    response = gw.get("/v1/me", headers={**bearer(token), "X-Request-ID": "valid-token-check"})
    assert response.status_code == 200, response.text
    (seen,) = recorder.seen("valid-token-check")
    assert ("authorization", f"Bearer {token}") in seen["headers"]


def test_cached_token_is_refused_once_it_expires(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey
) -> None:
    now = int(time.time())
    token = recorder_key.sign({**claims_for(tenant_id=str(uuid.uuid4())), "iat": now, "exp": now + 2})
    assert gw.get("/v1/me", headers=bearer(token)).status_code == 200
    # The verified claims are cached, but never past `exp` (the recorder itself accepts anything).

    def refused_response() -> httpx.Response | None:
        response = gw.get("/v1/me", headers=bearer(token))
        return response if response.status_code == 401 else None

    refused = wait_until(refused_response, timeout=10, what="the expired token to be refused")
    assert_rejected_by_gateway(refused, 401)


ROLE_MATRIX = [
    ("GET", "/v1/users", "owner", 200),
    ("GET", "/v1/users", "admin", 200),
    ("POST", "/v1/users", "agent", 403),
    ("GET", "/v1/users/u1", "analyst", 403),
    ("GET", "/v1/users", "integration", 403),
    ("POST", "/v1/mentions", "integration", 200),
    ("POST", "/v1/mentions", "agent", 200),
    ("POST", "/v1/mentions", "analyst", 403),
    ("GET", "/v1/mentions", "analyst", 200),
    ("GET", "/v1/mentions/m1", "integration", 403),
    ("GET", "/v1/profiles/p1", "agent", 200),
    ("PATCH", "/v1/profiles/p1", "integration", 403),
    ("POST", "/v1/profiles/p1/orders", "integration", 200),
    ("POST", "/v1/profiles/p1/orders", "analyst", 403),
    ("POST", "/v1/profiles/p1/notes/orders", "integration", 403),
    ("GET", "/v1/profiles/p1/orders", "integration", 403),
    ("PUT", "/v1/profiles/by-external-id/shop/c1", "integration", 200),
    ("PUT", "/v1/profiles/by-external-id/shop/c1", "analyst", 403),
    ("POST", "/v1/profiles/import", "integration", 200),
    ("GET", "/v1/conversations", "analyst", 200),
    ("GET", "/v1/conversations", "integration", 403),
    ("GET", "/v1/metrics/scorecard", "analyst", 200),
    ("GET", "/v1/metrics/scorecard", "integration", 403),
    ("GET", "/v1/me", "integration", 200),
    ("GET", "/v1/me", "analyst", 200),
]


@pytest.mark.parametrize(("method", "path", "role", "status"), ROLE_MATRIX)
def test_role_table(
    gw: httpx.Client,
    recorder: Recorder,
    recorder_key: SigningKey,
    method: str,
    path: str,
    role: str,
    status: int,
) -> None:
    token = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4()), role=role))
    request_id = uuid.uuid4().hex
    response = gw.request(method, path, headers={**bearer(token), "X-Request-ID": request_id})
    assert response.status_code == status, response.text
    assert len(recorder.seen(request_id)) == (1 if status == 200 else 0)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/tenants"),
        ("POST", "/v1/auth/token"),
        ("POST", "/v1/auth/refresh"),
        ("GET", "/.well-known/jwks.json"),
    ],
)
def test_public_routes_need_no_token(gw: httpx.Client, method: str, path: str) -> None:
    response = gw.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == 200, response.text
    assert int(response.headers["ratelimit-limit"]) > 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/tenants"), ("GET", "/v1/auth/token"), ("POST", "/v1/auth/other")],
)
def test_non_public_methods_on_public_prefixes_need_a_token(gw: httpx.Client, method: str, path: str) -> None:
    assert_rejected_by_gateway(gw.request(method, path), 401)

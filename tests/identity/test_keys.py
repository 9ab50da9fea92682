"""The JWKS: published, verifies our tokens with an independent library, shared by replicas."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from rapport.stack import Stack
from tests.helpers import PASSWORD, Tenant, add_user, login
from tests.identity.helpers import SpawnIdentity


def _jwks(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _claims(api: httpx.Client, token: str) -> dict[str, Any]:
    client = jwt.PyJWKClient(f"{api.base_url}/.well-known/jwks.json", cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience="rapport",
        issuer="rapport-identity",
        options={"require": ["exp", "iat", "sub", "aud", "iss", "jti"]},
    )
    return claims


def _forge(claims: dict[str, Any], *, kid: str) -> str:
    """A token with valid-looking claims, signed by a key identity never published."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})


def test_jwks_is_public_and_cacheable(api: httpx.Client) -> None:
    response = api.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert len(keys) >= 1
    for key in keys:
        assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}
        assert (key["kty"], key["use"], key["alg"], key["e"]) == ("RSA", "sig", "RS256", "AQAB")
        modulus = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
        assert len(modulus) * 8 == 2048
        assert "d" not in key and "p" not in key


def test_access_token_verifies_with_pyjwt_against_the_jwks(api: httpx.Client, tenant: Tenant) -> None:
    kid = jwt.get_unverified_header(tenant.access_token)["kid"]
    assert kid in {k["kid"] for k in _jwks(str(api.base_url))["keys"]}
    claims = _claims(api, tenant.access_token)
    assert claims["sub"] == tenant.user_id
    assert claims["tid"] == tenant.tenant_id
    assert claims["role"] == "owner"
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 60
    uuid.UUID(claims["jti"])
    # No personal data rides in the token.
    assert tenant.email not in json.dumps(claims)


def test_tokens_carry_the_role_of_each_user(api: httpx.Client, tenant: Tenant) -> None:
    for role in ("admin", "agent", "analyst", "integration"):
        user = add_user(api, tenant, role)
        claims = _claims(api, user.access_token)
        assert (claims["sub"], claims["tid"], claims["role"]) == (user.user_id, tenant.tenant_id, role)


def test_token_signed_by_another_key_is_rejected(api: httpx.Client, tenant: Tenant) -> None:
    claims = _claims(api, tenant.access_token)
    kid = jwt.get_unverified_header(tenant.access_token)["kid"]
    for forged in (_forge(claims, kid=kid), _forge(claims, kid="unknown-kid")):
        response = api.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401, response.text


def test_unsigned_and_hmac_tokens_are_rejected(api: httpx.Client, tenant: Tenant) -> None:
    claims = _claims(api, tenant.access_token)
    kid = jwt.get_unverified_header(tenant.access_token)["kid"]
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": kid}).encode()).rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    public_n = next(k for k in _jwks(str(api.base_url))["keys"] if k["kid"] == kid)["n"]
    hmac_token = jwt.encode(claims, public_n, algorithm="HS256", headers={"kid": kid})
    for token in (f"{header}.{payload}.", hmac_token, tenant.access_token[:-4] + "AAAA", "garbage"):
        response = api.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token


def test_replicas_share_the_signing_key(
    api: httpx.Client, stack: Stack, spawn_identity: SpawnIdentity, tenant: Tenant
) -> None:
    replica = spawn_identity()
    assert _jwks(replica) == _jwks(stack.url("identity"))
    with httpx.Client(base_url=replica, timeout=30) as other:
        # A token issued by the first process is accepted by the replica, and the other way round.
        assert other.get("/v1/me", headers=tenant.headers).json()["id"] == tenant.user_id
        pair = login(other, tenant.email, PASSWORD)
        me = api.get("/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
        assert me.status_code == 200
        # Refresh families live in the shared database: rotation on one replica is seen by the other.
        assert (
            other.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 200
        )
        reuse = api.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert reuse.status_code == 401

"""API4 unrestricted resource consumption: each public route class has its own budget.

A JWKS burst cannot lock out logins or webhooks from the same address; webhooks are limited per channel;
the JWKS is served from the gateway's cache; requests with invalid tokens are limited per client IP; and
`/readyz` answers from the gateway's own state, never fanning out to the services.
"""

from __future__ import annotations

import uuid

import httpx

from rapport.stack import free_port
from tests.gateway.conftest import Recorder, SigningKey, SpawnGateway, claims_for
from tests.helpers import assert_problem

SMALL = {
    "RAPPORT_LOGIN_RATE_LIMIT_PER_WINDOW": "3",
    "RAPPORT_SIGNUP_RATE_LIMIT_PER_WINDOW": "2",
    "RAPPORT_REFRESH_RATE_LIMIT_PER_WINDOW": "2",
    "RAPPORT_JWKS_RATE_LIMIT_PER_WINDOW": "5",
    "RAPPORT_WEBHOOK_RATE_LIMIT_PER_WINDOW": "2",
    "RAPPORT_WEBHOOK_IP_RATE_LIMIT_PER_WINDOW": "100",
    "RAPPORT_BAD_TOKEN_RATE_LIMIT_PER_WINDOW": "2",
    "RAPPORT_PUBLIC_RATE_LIMIT_PER_WINDOW": "2",
}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_jwks_burst_locks_out_neither_login_nor_webhooks(
    spawn_gateway: SpawnGateway, recorder: Recorder
) -> None:
    url = spawn_gateway(**SMALL)
    with httpx.Client(base_url=url) as gw:
        statuses = [gw.get("/.well-known/jwks.json").status_code for _ in range(8)]
        assert statuses == [200] * 5 + [429] * 3
        assert gw.post("/v1/auth/token", json={}).status_code == 200
        assert gw.post("/v1/inbound/x/chan-1", json={}).status_code == 200
        assert gw.post("/v1/tenants", json={}).status_code == 200
        assert gw.post("/v1/auth/refresh", json={}).status_code == 200


def test_login_budget_is_apart_from_signup(spawn_gateway: SpawnGateway) -> None:
    url = spawn_gateway(**SMALL)
    with httpx.Client(base_url=url) as gw:
        for _ in range(3):
            assert gw.post("/v1/auth/token", json={}).status_code == 200
        refused = gw.post("/v1/auth/token", json={})
        assert_problem(refused, 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert gw.post("/v1/tenants", json={}).status_code == 200


def test_jwks_is_served_from_the_gateway_cache(spawn_gateway: SpawnGateway, recorder: Recorder) -> None:
    url = spawn_gateway(**{**SMALL, "RAPPORT_JWKS_RATE_LIMIT_PER_WINDOW": "1000"})
    with httpx.Client(base_url=url) as gw:
        first = gw.get("/.well-known/jwks.json")
        assert first.status_code == 200
        assert first.json()["keys"][0]["kid"] == recorder.key.kid
        before = recorder.jwks_hits
        for _ in range(30):
            assert gw.get("/.well-known/jwks.json").json() == first.json()
        assert recorder.jwks_hits == before


def test_webhooks_are_limited_per_channel(spawn_gateway: SpawnGateway) -> None:
    url = spawn_gateway(**SMALL)
    with httpx.Client(base_url=url) as gw:
        for _ in range(2):
            assert gw.post("/v1/inbound/x/busy-channel", json={}).status_code == 200
        assert_problem(gw.post("/v1/inbound/x/busy-channel", json={}), 429)
        assert_problem(gw.post("/v1/inbound/x/busy-channel/extra", json={}), 429)
        # Another channel, from the same address, is not affected.
        assert gw.post("/v1/inbound/x/quiet-channel", json={}).status_code == 200


def test_invalid_tokens_are_limited_per_client_ip(
    spawn_gateway: SpawnGateway, recorder_key: SigningKey
) -> None:
    url = spawn_gateway(**SMALL)
    forged = SigningKey(kid=recorder_key.kid).sign(claims_for(tenant_id=str(uuid.uuid4())))
    valid = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4())))
    with httpx.Client(base_url=url) as gw:
        assert_problem(gw.get("/v1/profiles", headers=_bearer(forged)), 401)
        assert_problem(gw.get("/v1/profiles"), 401)
        refused = gw.get("/v1/profiles", headers=_bearer("not-a-jwt"))
        assert_problem(refused, 429)
        assert int(refused.headers["retry-after"]) >= 1
        # A valid token is counted against its tenant, not the bad-token budget.
        assert gw.get("/v1/profiles", headers=_bearer(valid)).status_code == 200


def test_readyz_does_not_fan_out_or_name_services(spawn_gateway: SpawnGateway, recorder: Recorder) -> None:
    url = spawn_gateway(RAPPORT_METRICS_URL=f"http://127.0.0.1:{free_port()}", RAPPORT_READINESS_CACHE_S="60")
    with httpx.Client(base_url=url) as gw:
        before = recorder.health_hits
        answers = [gw.get("/readyz") for _ in range(20)]
        assert all(a.status_code == 200 for a in answers)
        assert answers[0].json() == {"status": "ready", "checks": {"redis": "ok", "jwks": "ok"}}
        assert recorder.health_hits == before

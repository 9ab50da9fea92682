"""API4 unrestricted resource consumption: each public route class has its own budget.

A JWKS burst cannot lock out logins or webhooks from the same address; webhooks are limited per channel;
the JWKS is served from the gateway's cache; requests with invalid tokens are limited per client IP; and
`/readyz` answers from the gateway's own state, never fanning out to the services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from rapport.stack import Stack
from tests.gateway.helpers import UPSTREAM_ENV, Recorder, SigningKey, claims_for
from tests.helpers import assert_problem, replica

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


@pytest.fixture(scope="module")
def small(stack: Stack, recorder: Recorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One gateway with tiny public budgets in front of `recorder`; each test uses budgets of its own."""
    env = {
        **{f"RAPPORT_{n}_URL": recorder.url for n in UPSTREAM_ENV},
        **SMALL,
        "RAPPORT_RATE_LIMIT_NAMESPACE": f"test:{uuid.uuid4().hex}",
    }
    with replica(stack, "gateway", tmp_path_factory.mktemp("budgets"), env=env, ready="/healthz") as url:
        yield url


@pytest.fixture
def gw(small: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=small, timeout=30) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_jwks_burst_is_served_from_cache_and_locks_out_neither_login_nor_webhooks(
    gw: httpx.Client, recorder: Recorder
) -> None:
    before = recorder.jwks_hits
    answers = [gw.get("/.well-known/jwks.json") for _ in range(8)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    assert answers[0].json()["keys"][0]["kid"] == recorder.key.kid
    # Identity was asked at most once: the gateway answers from memory.
    assert recorder.jwks_hits - before <= 1
    # Logins have a budget of their own (3), apart from signups (2), refreshes and webhooks.
    for _ in range(3):
        assert gw.post("/v1/auth/token", json={}).status_code == 200
    refused = gw.post("/v1/auth/token", json={})
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert gw.post("/v1/tenants", json={}).status_code == 200
    assert gw.post("/v1/auth/refresh", json={}).status_code == 200
    assert gw.post("/v1/inbound/x/chan-1", json={}).status_code == 200


def test_webhooks_are_limited_per_channel(gw: httpx.Client) -> None:
    for _ in range(2):
        assert gw.post("/v1/inbound/x/busy-channel", json={}).status_code == 200
    assert_problem(gw.post("/v1/inbound/x/busy-channel", json={}), 429)
    assert_problem(gw.post("/v1/inbound/x/busy-channel/extra", json={}), 429)
    # Another channel, from the same address, is not affected.
    assert gw.post("/v1/inbound/x/quiet-channel", json={}).status_code == 200


def test_invalid_tokens_are_limited_per_client_ip(gw: httpx.Client, recorder_key: SigningKey) -> None:
    forged = SigningKey(kid=recorder_key.kid).sign(claims_for(tenant_id=str(uuid.uuid4())))
    valid = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4())))
    assert_problem(gw.get("/v1/profiles", headers=_bearer(forged)), 401)
    assert_problem(gw.get("/v1/profiles"), 401)
    refused = gw.get("/v1/profiles", headers=_bearer("not-a-jwt"))
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    # A valid token is counted against its tenant, not the bad-token budget.
    assert gw.get("/v1/profiles", headers=_bearer(valid)).status_code == 200


def test_readyz_does_not_fan_out_or_name_services(gw: httpx.Client, recorder: Recorder) -> None:
    before = recorder.health_hits
    answers = [gw.get("/readyz") for _ in range(20)]
    assert all(a.status_code == 200 for a in answers)
    assert answers[0].json() == {"status": "ready", "checks": {"redis": "ok", "jwks": "ok"}}
    assert recorder.health_hits == before

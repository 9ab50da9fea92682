"""The consent projection kept whole (rebuilt from the ledger when Redis lost it; a write whose projection
failed is projected by profiles' consumer), and the audit log stored from `privacy.audit.recorded`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis import Redis

from rapport.stack import Proc, Stack, free_port, redis_server_binary
from shared.consent import READY_KEY, policy_key
from shared.events.contracts import AuditRecorded
from shared.events.envelope import new_event
from tests.helpers import Tenant, add_user, assert_problem, publish_event, replica, wait_until
from tests.profiles.test_consent import decision, partner_profile, put_consent


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis of the test's own (flushing the stack's would disturb every other service)."""
    port = free_port()
    proc = Proc(
        f"redis-{uuid.uuid4().hex[:6]}",
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        port,
        tmp_path / "redis.log",
    )
    proc.spawn()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until(lambda: _pings(url), what="the test's Redis")
        yield url
    finally:
        proc.stop()


def _pings(url: str) -> bool:
    try:
        return bool(Redis.from_url(url).ping())
    except Exception:
        return False


def test_the_projection_is_rebuilt_from_the_ledger_when_redis_lost_it(
    client: httpx.Client, stack: Stack, tenant: Tenant, own_redis: str, tmp_path: Path
) -> None:
    granted, withdrawn = partner_profile(client, tenant)["id"], partner_profile(client, tenant)["id"]
    put_consent(client, tenant, granted, "marketing", status="granted")
    put_consent(client, tenant, withdrawn, "profiling", status="withdrawn")
    response = client.put(
        "/v1/privacy/policy", json={"bases": {"analytics": "consent"}}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text

    # A profiles process on a Redis of its own: it projects every ledger at start-up, and again whenever
    # `consent:ready` is gone.
    with replica(
        stack,
        "profiles",
        tmp_path,
        env={"RAPPORT_REDIS_URL": own_redis, "RAPPORT_CONSENT_READY_CHECK_S": "0.2"},
    ):
        redis = Redis.from_url(own_redis)
        for _ in range(2):
            wait_until(lambda: redis.exists(READY_KEY), what="the projection marked ready")
            assert decision(stack, tenant.tenant_id, granted, "marketing", own_redis).allowed
            assert decision(stack, tenant.tenant_id, withdrawn, "profiling", own_redis).reason == "withdrawn"
            assert decision(stack, tenant.tenant_id, granted, "analytics", own_redis).reason == "no_consent"
            assert redis.hget(policy_key(tenant.tenant_id), "analytics") == b"consent"
            redis.flushall()


def test_a_write_whose_projection_fails_answers_503_and_is_projected_by_the_consumer(
    client: httpx.Client, stack: Stack, tenant: Tenant, tmp_path: Path
) -> None:
    person = partner_profile(client, tenant)["id"]
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with replica(stack, "profiles", tmp_path, env={"RAPPORT_REDIS_URL": nowhere}) as url:
        response = httpx.put(
            f"{url}/v1/profiles/{person}/consents/marketing",
            json={"status": "granted"},
            headers=tenant.headers,
            timeout=30,
        )
    assert_problem(response, 503)
    # Recorded all the same, and in force once profiles' consumer of `privacy.consent.changed` projects it.
    view = client.get(f"/v1/profiles/{person}/consents", headers=tenant.headers).json()
    assert [h["status"] for h in view["history"]["items"]] == ["granted"]
    wait_until(
        lambda: decision(stack, tenant.tenant_id, person, "marketing").allowed,
        timeout=30,
        what="the grant projected by the consumer",
    )


def audit(profile_id: str, *, actor_id: str, purpose: str, decision: str, at: datetime) -> AuditRecorded:
    return AuditRecorded(
        audit_id=str(uuid.uuid4()),
        actor_id=actor_id,
        profile_id=profile_id,
        purpose=purpose,
        decision=decision,
        reason="granted" if decision == "allowed" else "no_consent",
        method="GET",
        path=f"/v1/profiles/{profile_id}/match-suggestions",
        recorded_by="gateway",
        at=at,
    )


def test_the_audit_log_stores_what_it_receives_and_filters_it(
    client: httpx.Client, stack: Stack, tenant: Tenant, other_tenant: Tenant
) -> None:
    person, someone = partner_profile(client, tenant)["id"], partner_profile(client, tenant)["id"]
    t0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    records = [
        audit(person, actor_id="u-1", purpose="profiling", decision="refused", at=t0),
        audit(person, actor_id="u-2", purpose="profiling", decision="allowed", at=t0 + timedelta(seconds=1)),
        audit(person, actor_id="u-1", purpose="marketing", decision="refused", at=t0 + timedelta(seconds=2)),
        audit(someone, actor_id="u-1", purpose="profiling", decision="allowed", at=t0 + timedelta(seconds=3)),
    ]
    for record in records:
        publish_event(stack.nats_url, new_event(record, source="gateway", tenant_id=tenant.tenant_id))
    # The same record delivered again (a producer's retry) is kept once.
    publish_event(stack.nats_url, new_event(records[0], source="gateway", tenant_id=tenant.tenant_id))

    def page(**params: str) -> list[str]:
        response = client.get("/v1/privacy/audit", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    ids = [r.audit_id for r in records]
    wait_until(lambda: len(page(limit="50")) == 4, what="the audit records stored")
    assert page() == ids[::-1]
    assert page(profile_id=person) == [ids[2], ids[1], ids[0]]
    assert page(profile_id=person, decision="refused") == [ids[2], ids[0]]
    assert page(actor_id="u-1", purpose="profiling") == [ids[3], ids[0]]
    first = client.get("/v1/privacy/audit", params={"limit": 3}, headers=tenant.headers).json()
    rest = client.get(
        "/v1/privacy/audit", params={"limit": 3, "cursor": first["next_cursor"]}, headers=tenant.headers
    ).json()
    assert [i["id"] for i in first["items"] + rest["items"]] == ids[::-1]
    item = client.get("/v1/privacy/audit", params={"profile_id": someone}, headers=tenant.headers).json()[
        "items"
    ][0]
    assert item == {
        "id": ids[3],
        "actor_id": "u-1",
        "actor_kind": "user",
        "profile_id": someone,
        "purpose": "profiling",
        "decision": "allowed",
        "reason": "granted",
        "method": "GET",
        "path": f"/v1/profiles/{someone}/match-suggestions",
        "recorded_by": "gateway",
        "request_id": None,
        "created_at": "2026-06-01T12:00:03Z",
    }

    # Owners and admins only; other tenants see none of it; nothing changes it.
    agent = add_user(client, tenant, "agent")
    assert_problem(client.get("/v1/privacy/audit", headers=agent.headers), 403)
    assert client.get("/v1/privacy/audit", headers=other_tenant.headers).json()["items"] == []
    assert_problem(client.get("/v1/privacy/audit", params={"decision": "maybe"}, headers=tenant.headers), 422)

"""Consent at the gateway: a route that names a person is decided from the consent projection.

The projection is written as profiles writes it (`shared.consent.project_person`, `project_policy`); the
gateway reads it on the very next request. Every decision (allowed or refused) is published as
`privacy.audit.recorded`, ids only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from rapport.stack import Proc, Stack, free_port, nats_server_binary, port_open
from shared import consent
from shared.events.contracts import ConsentStatus, LawfulBasis
from tests.gateway.helpers import Recorder, SpawnGateway, assert_problem, bearer, claims_for
from tests.helpers import Event, Tenant, collect_events, find_event, wait_until
from tests.profiles.partners import new_customer

AUDIT = "privacy.audit.recorded"
AUDIT_FIELDS = {
    "audit_id",
    "actor_id",
    "actor_kind",
    "profile_id",
    "purpose",
    "decision",
    "reason",
    "method",
    "path",
    "recorded_by",
    "request_id",
    "at",
}


def project(
    redis_url: str,
    tenant_id: str,
    profile_id: str,
    purposes: Mapping[str, ConsentStatus] | None = None,
    objections: Iterable[str] = (),
    restricted: bool = False,
) -> None:
    """Write one person's projected state, as the consent ledger does before it answers."""

    async def write() -> None:
        redis = Redis.from_url(redis_url)
        try:
            await consent.project_person(redis, tenant_id, profile_id, purposes or {}, objections, restricted)
        finally:
            await redis.aclose()

    asyncio.run(write())


def policy(redis_url: str, tenant_id: str, bases: Mapping[str, LawfulBasis]) -> None:
    async def write() -> None:
        redis = Redis.from_url(redis_url)
        try:
            await consent.project_policy(redis, tenant_id, bases)
        finally:
            await redis.aclose()

    asyncio.run(write())


def audit_of(stack: Stack, request_id: str, profile_id: str) -> Event:
    """The audit record the gateway published for one request and person."""
    return find_event(
        stack.nats_url,
        AUDIT,
        lambda e: e["data"]["request_id"] == request_id and e["data"]["profile_id"] == profile_id,
    )


def assert_refused(response: httpx.Response, purpose: str, reason: str, profile_id: str) -> dict[str, Any]:
    body = assert_problem(response, 451)
    assert body["type"] == consent.CONSENT_REQUIRED
    assert body["title"] == "Unavailable For Legal Reasons"
    assert (body["purpose"], body["reason"], body["profile_id"]) == (purpose, reason, profile_id)
    assert purpose in body["detail"]
    return body


def test_withdrawn_profiling_is_refused_on_the_very_next_call_and_granted_again(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    _, profile_id = new_customer(client, tenant, email=f"{uuid.uuid4().hex}@example.com")
    path = f"/v1/profiles/{profile_id}/match-suggestions"

    allowed = client.get(path, headers=tenant.headers, params={"status": "open"})
    assert allowed.status_code == 200, allowed.text
    record = audit_of(stack, allowed.headers["x-request-id"], profile_id)
    assert record["tenantid"] == tenant.tenant_id
    assert set(record["data"]) == AUDIT_FIELDS
    data = record["data"]
    assert (data["decision"], data["purpose"], data["reason"]) == (
        "allowed",
        "profiling",
        "legitimate_interest",
    )
    assert (data["actor_id"], data["actor_kind"], data["recorded_by"]) == (tenant.user_id, "user", "gateway")
    # Ids only: the path without its query string.
    assert (data["method"], data["path"]) == ("GET", path)

    # Through the consent ledger (profiles), as an agent records it: in force from the very next call.
    ledger(client, tenant, profile_id, "withdrawn")
    refused = client.get(path, headers=tenant.headers, params={"status": "open"})
    assert_refused(refused, "profiling", "withdrawn", profile_id)
    data = audit_of(stack, refused.headers["x-request-id"], profile_id)["data"]
    assert (data["decision"], data["reason"]) == ("refused", "withdrawn")
    # profiles keeps the audit log: the refusal shows there.
    logged = wait_until(
        lambda: client.get(
            "/v1/privacy/audit",
            headers=tenant.headers,
            params={"profile_id": profile_id, "decision": "refused"},
        ).json()["items"],
        what="the refusal in the audit log",
    )
    assert [(r["purpose"], r["path"]) for r in logged] == [("profiling", path)]

    ledger(client, tenant, profile_id, "granted")
    assert client.get(path, headers=tenant.headers).status_code == 200
    ledger(client, tenant, profile_id, "withdrawn")
    assert_refused(client.get(path, headers=tenant.headers), "profiling", "withdrawn", profile_id)


def ledger(
    client: httpx.Client, tenant: Tenant, profile_id: str, status: str, purpose: str = "profiling"
) -> None:
    """`PUT /v1/profiles/{id}/consents/{purpose}` through the gateway (the consent routes are exempt)."""
    response = client.put(
        f"/v1/profiles/{profile_id}/consents/{purpose}", json={"status": status}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


def test_a_read_for_outreach_needs_a_marketing_grant(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    """Marketing rests on consent by default: reading a person for outreach is refused until they grant it,
    and again from the very next call after they withdraw it; the same read for profiling is not."""
    _, profile_id = new_customer(client, tenant, email=f"{uuid.uuid4().hex}@example.com")
    outreach = {"purpose": "marketing"}
    for path in (f"/v1/profiles/{profile_id}", f"/v1/profiles/{profile_id}/identifiers"):
        refused = client.get(path, headers=tenant.headers, params=outreach)
        body = assert_refused(refused, "marketing", "no_consent", profile_id)
        assert body["basis"] == "consent"
        data = audit_of(stack, refused.headers["x-request-id"], profile_id)["data"]
        assert (data["decision"], data["purpose"], data["path"]) == ("refused", "marketing", path)
        assert client.get(path, headers=tenant.headers).status_code == 200

    path = f"/v1/profiles/{profile_id}/identifiers"
    ledger(client, tenant, profile_id, "granted", "marketing")
    granted = client.get(path, headers=tenant.headers, params=outreach)
    assert granted.status_code == 200, granted.text
    assert any(i["kind"] == "email" for i in granted.json()["items"])
    data = audit_of(stack, granted.headers["x-request-id"], profile_id)["data"]
    assert (data["decision"], data["purpose"], data["reason"]) == ("allowed", "marketing", "granted")

    ledger(client, tenant, profile_id, "withdrawn", "marketing")
    assert_refused(
        client.get(path, headers=tenant.headers, params=outreach), "marketing", "withdrawn", profile_id
    )

    def refusals() -> list[dict[str, Any]]:
        page = client.get(
            "/v1/privacy/audit",
            headers=tenant.headers,
            params={"profile_id": profile_id, "purpose": "marketing", "decision": "refused"},
        )
        items: list[dict[str, Any]] = page.json()["items"]
        return items if len(items) == 3 else []

    logged = wait_until(refusals, what="the three refusals in the audit log")
    assert sorted(r["reason"] for r in logged) == ["no_consent", "no_consent", "withdrawn"]
    # Another value is the service's to refuse (422), and is not decided for it.
    assert_problem(client.get(path, headers=tenant.headers, params={"purpose": "spam"}), 422)


def test_a_purpose_resting_on_consent_needs_a_grant(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    """A tenant whose policy puts profiling on consent (as marketing is by default): no grant, no call."""
    _, profile_id = new_customer(client, tenant)
    policy(stack.redis_url, tenant.tenant_id, {"profiling": "consent"})
    path = f"/v1/profiles/{profile_id}"

    refused = client.get(path, headers=tenant.headers)
    body = assert_refused(refused, "profiling", "no_consent", profile_id)
    assert body["basis"] == "consent"
    data = audit_of(stack, refused.headers["x-request-id"], profile_id)["data"]
    assert (data["decision"], data["reason"]) == ("refused", "no_consent")

    project(stack.redis_url, tenant.tenant_id, profile_id, {"profiling": "granted"})
    granted = client.get(path, headers=tenant.headers)
    assert granted.status_code == 200, granted.text
    assert audit_of(stack, granted.headers["x-request-id"], profile_id)["data"]["reason"] == "granted"

    project(stack.redis_url, tenant.tenant_id, profile_id, {"profiling": "withdrawn"})
    assert_refused(client.get(path, headers=tenant.headers), "profiling", "withdrawn", profile_id)


def test_objection_and_restriction(stack: Stack, client: httpx.Client, tenant: Tenant) -> None:
    _, profile_id = new_customer(client, tenant)
    project(stack.redis_url, tenant.tenant_id, profile_id, objections=["profiling"])
    assert_refused(
        client.get(f"/v1/profiles/{profile_id}/timeline", headers=tenant.headers),
        "profiling",
        "objected",
        profile_id,
    )
    # An objection to profiling leaves the other purposes alone: notes serve engagement.
    assert client.get(f"/v1/profiles/{profile_id}/notes", headers=tenant.headers).status_code == 200

    project(stack.redis_url, tenant.tenant_id, profile_id, restricted=True)
    refused = client.post(
        f"/v1/profiles/{profile_id}/notes", json={"body": "called back"}, headers=tenant.headers
    )
    assert_refused(refused, "engagement", "restricted", profile_id)
    # Nothing was written: the service never saw the request.
    project(stack.redis_url, tenant.tenant_id, profile_id)
    notes = client.get(f"/v1/profiles/{profile_id}/notes", headers=tenant.headers)
    assert notes.status_code == 200 and notes.json()["items"] == [], notes.text


def test_a_person_named_in_the_body_is_checked_too(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    _, keep = new_customer(client, tenant)
    _, other = new_customer(client, tenant)
    project(stack.redis_url, tenant.tenant_id, other, objections=["profiling"])
    refused = client.post(f"/v1/profiles/{keep}/merge", json={"other_id": other}, headers=tenant.headers)
    assert_refused(refused, "profiling", "objected", other)
    request_id = refused.headers["x-request-id"]
    # Both people are audited: the one allowed, the one refused.
    assert audit_of(stack, request_id, keep)["data"]["decision"] == "allowed"
    assert audit_of(stack, request_id, other)["data"]["decision"] == "refused"
    assert client.get(f"/v1/profiles/{other}", headers=tenant.headers).status_code == 451
    project(stack.redis_url, tenant.tenant_id, other)
    assert client.get(f"/v1/profiles/{other}", headers=tenant.headers).status_code == 200


def test_routes_without_a_person_are_not_audited(stack: Stack, client: httpx.Client, tenant: Tenant) -> None:
    listed = client.get("/v1/profiles", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    request_id = listed.headers["x-request-id"]
    assert collect_events(stack.nats_url, AUDIT, lambda e: e["data"]["request_id"] == request_id, 1.0) == []


@pytest.fixture
def recorded_token(recorder_key: Any) -> tuple[str, str]:
    tenant_id = str(uuid.uuid4())
    return tenant_id, recorder_key.sign(claims_for(tenant_id=tenant_id, role="owner"))


EXEMPT = [
    ("GET", "/v1/profiles/{p}/consents"),
    ("PUT", "/v1/profiles/{p}/consents/marketing"),
    ("PUT", "/v1/profiles/{p}/objections/profiling"),
    ("PUT", "/v1/profiles/{p}/restriction"),
    ("GET", "/v1/privacy/audit"),
    ("GET", "/v1/privacy/policy"),
    ("POST", "/v1/privacy/erasures"),
]


def test_consent_and_privacy_routes_are_exempt(
    stack: Stack, gw: httpx.Client, recorder: Recorder, recorded_token: tuple[str, str]
) -> None:
    """A restricted person's ledger stays reachable (re-granting must work); their data does not."""
    tenant_id, token = recorded_token
    profile_id = uuid.uuid4().hex
    project(stack.redis_url, tenant_id, profile_id, {"profiling": "withdrawn"}, restricted=True)
    for method, template in EXEMPT:
        path = template.format(p=profile_id)
        body = {"profile_id": profile_id} if method != "GET" else None
        response = gw.request(method, path, json=body, headers=bearer(token))
        assert response.status_code == 200, (method, path, response.text)
        assert recorder.seen(response.headers["x-request-id"]), (method, path)
    before = recorder.count()
    refused = gw.get(f"/v1/profiles/{profile_id}", headers=bearer(token))
    assert_refused(refused, "profiling", "restricted", profile_id)
    assert recorder.count() == before


def test_projection_not_ready_is_503(
    stack: Stack, spawn_gateway: SpawnGateway, recorder: Recorder, recorded_token: tuple[str, str]
) -> None:
    """On a Redis where profiles has not (yet) projected every ledger, no decision is guessed."""
    _, token = recorded_token
    empty_db = stack.redis_url.rsplit("/", 1)[0] + "/7"
    url = spawn_gateway(RAPPORT_REDIS_URL=empty_db)
    with httpx.Client(base_url=url, timeout=30) as gw:
        profile_id = uuid.uuid4().hex
        before = recorder.count()
        refused = gw.get(f"/v1/profiles/{profile_id}/timeline", headers=bearer(token))
        body = assert_problem(refused, 503)
        assert body["type"] == consent.CONSENT_UNAVAILABLE
        assert refused.headers["retry-after"] == "1"
        assert recorder.count() == before
        # Exempt routes and routes without a person pass.
        assert gw.get(f"/v1/profiles/{profile_id}/consents", headers=bearer(token)).status_code == 200
        assert gw.get("/v1/profiles", headers=bearer(token)).status_code == 200


def test_the_merged_document_declares_purposes_and_451(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    profile = doc["paths"]["/v1/profiles/{profile_id}"]["get"]
    assert profile["x-rapport-purpose"] == "profiling"
    assert "451" in profile["responses"]
    listing = doc["paths"]["/v1/profiles"]["get"]
    assert listing["x-rapport-purpose"] == "profiling" and "451" not in listing["responses"]
    assert doc["paths"]["/v1/channels"]["get"]["x-rapport-purpose"] is None
    reply = doc["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]
    assert reply["x-rapport-purpose"] == "engagement"


def test_an_access_that_cannot_be_audited_is_not_answered(
    stack: Stack,
    spawn_gateway: SpawnGateway,
    recorder: Recorder,
    recorded_token: tuple[str, str],
    tmp_path: Any,
) -> None:
    """NATS gone: a checked request answers 503 (its record could not be stored), the others still work."""
    port = free_port()
    nats = Proc(
        "nats-audit",
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js")],
        port,
        tmp_path / "nats-audit.log",
    )
    nats.spawn()
    try:
        wait_until(lambda: port_open(port), what="nats-server up")
        url = spawn_gateway(RAPPORT_NATS_URL=f"nats://127.0.0.1:{port}")
        _, token = recorded_token
        with httpx.Client(base_url=url, timeout=30) as gw:
            profile_id = uuid.uuid4().hex
            assert gw.get(f"/v1/profiles/{profile_id}", headers=bearer(token)).status_code == 200
            nats.stop(kill=True)
            before = recorder.count()
            refused = gw.get(f"/v1/profiles/{profile_id}", headers=bearer(token))
            assert assert_problem(refused, 503)["type"] == "https://rapport.dev/problems/audit-unavailable"
            # The service may have answered: the response was held back, not sent.
            assert recorder.count() <= before + 1
            assert gw.get("/v1/profiles", headers=bearer(token)).status_code == 200
            assert gw.get("/readyz").status_code == 200
    finally:
        nats.stop(kill=True)

"""What the gateway forwards: request ids, forwarding headers, and never a header a client could forge."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.gateway.helpers import Recorder, SigningKey, assert_problem, bearer, claims_for
from tests.helpers import Tenant

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


@pytest.fixture
def token(recorder_key: SigningKey) -> str:
    return recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4()), role="owner"))


def headers_seen(recorder: Recorder, request_id: str) -> dict[str, list[str]]:
    (seen,) = recorder.seen(request_id)
    out: dict[str, list[str]] = {}
    for name, value in seen["headers"]:
        out.setdefault(name, []).append(value)
    return out


def test_client_request_id_is_kept_and_forwarded(gw: httpx.Client, recorder: Recorder, token: str) -> None:
    response = gw.get("/v1/profiles", headers={**bearer(token), "X-Request-ID": "req-123.abc_DEF:9"})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "req-123.abc_DEF:9"
    assert headers_seen(recorder, "req-123.abc_DEF:9")["x-request-id"] == ["req-123.abc_DEF:9"]


@pytest.mark.parametrize("unsafe", ["has space", "x" * 65, "semi;colon", "-leading-dash", "quote'd"])
def test_unsafe_request_id_is_replaced(gw: httpx.Client, recorder: Recorder, token: str, unsafe: str) -> None:
    response = gw.get("/v1/profiles", headers={**bearer(token), "X-Request-ID": unsafe})
    assert response.status_code == 200, response.text
    generated = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert headers_seen(recorder, generated)["x-request-id"] == [generated]


def test_request_id_is_set_on_gateway_errors(gw: httpx.Client) -> None:
    refused = gw.get("/v1/profiles", headers={"X-Request-ID": "no-token-1"})
    assert_problem(refused, 401)
    assert refused.headers["x-request-id"] == "no-token-1"
    assert gw.get("/v1/nowhere", headers={"X-Request-ID": "nowhere-1"}).headers["x-request-id"] == "nowhere-1"
    assert gw.get("/healthz", headers={"X-Request-ID": "health-1"}).headers["x-request-id"] == "health-1"


def test_forgeable_identity_and_forwarding_headers_are_stripped(
    gw: httpx.Client, recorder: Recorder, token: str
) -> None:
    sent = {
        **bearer(token),
        "X-Request-ID": "strip-check",
        "X-Tenant-Id": "other-tenant",
        "X-User-Id": "other-user",
        "X-Rapport-Tenant": "other-tenant",
        "X-Rapport-Role": "owner",
        "X-Forwarded-For": "10.9.9.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Prefix": "/admin",
        "Forwarded": "for=10.9.9.9;proto=https",
        "X-Custom": "kept",
    }
    assert gw.get("/v1/profiles/p1?x=1", headers=sent).status_code == 200
    seen = headers_seen(recorder, "strip-check")
    for name in (
        "x-tenant-id",
        "x-user-id",
        "x-rapport-tenant",
        "x-rapport-role",
        "forwarded",
        "x-forwarded-prefix",
    ):
        assert name not in seen, name
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [gw.base_url.netloc.decode()]
    assert seen["x-custom"] == ["kept"]
    assert seen["authorization"] == [f"Bearer {token}"]


def test_hop_by_hop_headers_are_not_forwarded(gw: httpx.Client, recorder: Recorder, token: str) -> None:
    sent = {
        **bearer(token),
        "X-Request-ID": "hop-check",
        "Connection": "keep-alive, X-Hop-Secret",
        "X-Hop-Secret": "for-the-gateway-only",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-End-To-End": "yes",
    }
    assert gw.get("/v1/profiles", headers=sent).status_code == 200
    seen = headers_seen(recorder, "hop-check")
    for name in ("x-hop-secret", "keep-alive", "te", "proxy-authorization"):
        assert name not in seen, name
    assert seen["x-end-to-end"] == ["yes"]


def test_trace_context_is_continued_upstream(gw: httpx.Client, recorder: Recorder, token: str) -> None:
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    sent = {**bearer(token), "X-Request-ID": "trace-check", "traceparent": parent}
    assert gw.get("/v1/profiles", headers=sent).status_code == 200
    (forwarded,) = headers_seen(recorder, "trace-check")["traceparent"]
    match = TRACEPARENT.fullmatch(forwarded)
    assert match is not None and forwarded != parent
    assert match.group(1) == trace_id


def test_path_query_and_body_are_forwarded_unchanged(
    gw: httpx.Client, recorder: Recorder, token: str
) -> None:
    body = b'{"text": "caf\xc3\xa9"}'
    response = gw.post(
        "/v1/mentions/a%20b/c%2Fd?q=caf%C3%A9&x=1&x=2",
        content=body,
        headers={**bearer(token), "X-Request-ID": "path-check", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    (seen,) = recorder.seen("path-check")
    assert seen["method"] == "POST"
    assert seen["path"] == "/v1/mentions/a%20b/c%2Fd?q=caf%C3%A9&x=1&x=2"
    assert seen["body_length"] == len(body)
    assert ("content-type", "application/json") in seen["headers"]


def test_upstream_cookies_are_never_replayed_to_other_clients(
    gw: httpx.Client, recorder: Recorder, token: str
) -> None:
    first = gw.get("/v1/profiles/cookie", headers={**bearer(token), "X-Request-ID": "cookie-1"})
    assert first.status_code == 200 and "secret-of-one-client" in first.headers["set-cookie"]
    with httpx.Client(base_url=str(gw.base_url)) as other:
        assert (
            other.get("/v1/profiles", headers={**bearer(token), "X-Request-ID": "cookie-2"}).status_code
            == 200
        )
    assert "cookie" not in headers_seen(recorder, "cookie-2")


@pytest.mark.parametrize(
    "path", ["/v1/nowhere", "/v1/usersx", "/v1", "/v1/profiles/%2e%2e/users", "/.well-known/other"]
)
def test_unknown_route_is_404_problem(gw: httpx.Client, recorder: Recorder, token: str, path: str) -> None:
    before = recorder.count()
    assert_problem(gw.get(path, headers=bearer(token)), 404)
    assert recorder.count() == before


def test_unknown_route_is_404_on_the_stack(client: httpx.Client, tenant: Tenant) -> None:
    problem = assert_problem(client.get("/v1/does-not-exist", headers=tenant.headers), 404)
    assert problem["instance"] == "/v1/does-not-exist"
    assert_problem(client.get("/v1/does-not-exist"), 404)


def test_new_trace_is_started_when_the_client_sends_none(
    gw: httpx.Client, recorder: Recorder, token: str
) -> None:
    assert gw.get("/v1/profiles", headers={**bearer(token), "X-Request-ID": "trace-new"}).status_code == 200
    (forwarded,) = headers_seen(recorder, "trace-new")["traceparent"]
    match = TRACEPARENT.fullmatch(forwarded)
    assert match is not None and match.group(1) != "0" * 32

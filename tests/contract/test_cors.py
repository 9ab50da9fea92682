"""CORS: a browser app on a configured origin can call the API through the gateway; other origins get no
CORS header at all, and without configuration no origin does."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import Tenant, assert_problem, replica

APP = "https://app.example"
PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization, x-request-id",
}


@pytest.fixture(scope="module")
def cors_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second gateway in front of the stack's services, allowing `APP` and one more origin."""
    env = {"RAPPORT_CORS_ORIGINS": f'["{APP}", "http://localhost:5173"]'}
    with replica(stack, "gateway", tmp_path_factory.mktemp("cors"), env=env) as url:
        yield url


def _cors_headers(answer: httpx.Response) -> set[str]:
    return {name for name in answer.headers if name.lower().startswith("access-control-")}


def test_a_preflight_from_a_configured_origin_is_answered_without_a_token(cors_gateway: str) -> None:
    answer = httpx.options(f"{cors_gateway}/v1/mentions", headers=PREFLIGHT)
    assert answer.status_code == 204, answer.text
    assert answer.headers["access-control-allow-origin"] == APP
    assert "GET" in answer.headers["access-control-allow-methods"]
    assert answer.headers["access-control-allow-headers"] == "authorization, x-request-id"
    assert "Origin" in answer.headers["vary"]
    assert "access-control-allow-credentials" not in answer.headers


def test_a_request_from_a_configured_origin_can_read_the_answer(cors_gateway: str, tenant: Tenant) -> None:
    ok = httpx.get(f"{cors_gateway}/v1/mentions", headers={"Origin": APP, **tenant.headers})
    assert ok.status_code == 200, ok.text
    assert ok.headers["access-control-allow-origin"] == APP
    exposed = {h.strip().lower() for h in ok.headers["access-control-expose-headers"].split(",")}
    assert {"location", "retry-after", "x-request-id"} <= exposed
    # Problems too, so the app can show them.
    refused = httpx.get(f"{cors_gateway}/v1/mentions", headers={"Origin": APP})
    assert_problem(refused, 401)
    assert refused.headers["access-control-allow-origin"] == APP


def test_another_origin_gets_no_cors_headers(cors_gateway: str, tenant: Tenant) -> None:
    other = {**PREFLIGHT, "Origin": "https://evil.example"}
    preflight = httpx.options(f"{cors_gateway}/v1/mentions", headers=other)
    assert_problem(preflight, 401)  # the route's own answer: a preflight carries no token
    assert not _cors_headers(preflight)
    answer = httpx.get(
        f"{cors_gateway}/v1/mentions", headers={"Origin": "https://evil.example", **tenant.headers}
    )
    assert answer.status_code == 200
    assert not _cors_headers(answer)


def test_without_configured_origins_no_origin_gets_cors_headers(client: httpx.Client, tenant: Tenant) -> None:
    preflight = client.options("/v1/mentions", headers=PREFLIGHT)
    assert preflight.status_code == 401 and not _cors_headers(preflight)
    answer = client.get("/v1/mentions", headers={"Origin": APP, **tenant.headers})
    assert answer.status_code == 200 and not _cors_headers(answer)


def test_origins_are_read_as_a_comma_list_or_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.settings import GatewaySettings

    monkeypatch.setenv("RAPPORT_CORS_ORIGINS", f"{APP}, http://localhost:5173")
    assert GatewaySettings().cors_origins == [APP, "http://localhost:5173"]
    monkeypatch.setenv("RAPPORT_CORS_ORIGINS", f'["{APP}"]')
    assert GatewaySettings().cors_origins == [APP]
    monkeypatch.delenv("RAPPORT_CORS_ORIGINS")
    assert GatewaySettings().cors_origins == []

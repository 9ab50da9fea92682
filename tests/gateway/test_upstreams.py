"""Readiness, the merged OpenAPI document, and what a client sees when a service is down or slow."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from gateway.openapi import merge_documents
from gateway.routes import RouteTable
from rapport.stack import Stack, free_port
from tests.gateway.helpers import Recorder, SigningKey, SpawnGateway, assert_problem, bearer, claims_for

SERVICE_PATHS = {
    "identity": ["/v1/tenants", "/v1/auth/token", "/v1/me", "/v1/users", "/.well-known/jwks.json"],
    "listening": ["/v1/mentions"],
    "profiles": ["/v1/profiles"],
    "engagement": ["/v1/conversations"],
    "metrics": ["/v1/metrics/scorecard"],
}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def test_readyz_is_200_when_everything_answers(stack: Stack, client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    # The gateway's own dependencies only: services answer their own probes.
    assert response.json()["checks"] == {"redis": "ok", "jwks": "ok"}


def test_healthz(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_merged_openapi_has_every_service_public_paths(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200, response.text
    doc = response.json()
    assert "x-rapport-unavailable" not in doc
    paths: dict[str, Any] = doc["paths"]
    for service, expected in SERVICE_PATHS.items():
        for path in expected:
            assert any(p == path or p.startswith(path + "/") for p in paths), (service, path)
    assert all(p.startswith(("/v1/", "/.well-known/")) for p in paths)
    schemas = doc["components"]["schemas"]
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas, ref
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert paths["/v1/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/v1/tenants"]["post"]


def test_docs_page_serves_swagger_ui(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger-ui" in response.text and "/openapi.json" in response.text


def test_down_service_is_502_and_reported_by_openapi_not_readyz(
    spawn_gateway: SpawnGateway, recorder: Recorder, recorder_key: SigningKey
) -> None:
    url = spawn_gateway(RAPPORT_METRICS_URL=f"http://127.0.0.1:{free_port()}")
    token = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4()), role="analyst"))
    with httpx.Client(base_url=url) as gw:
        problem = assert_problem(gw.get("/v1/metrics/scorecard", headers=bearer(token)), 502)
        assert "metrics" in problem["detail"]
        assert gw.get("/v1/profiles", headers=bearer(token)).status_code == 200

        # The gateway itself can still serve: its readiness does not hang on one service.
        ready = gw.get("/readyz")
        assert ready.status_code == 200
        assert "metrics" not in ready.text

        doc = gw.get("/openapi.json")
        assert doc.status_code == 200
        assert doc.json()["x-rapport-unavailable"] == ["metrics"]


def test_slow_service_is_504(spawn_gateway: SpawnGateway, recorder_key: SigningKey) -> None:
    url = spawn_gateway(RAPPORT_UPSTREAM_TIMEOUT_S="0.5")
    token = recorder_key.sign(claims_for(tenant_id=str(uuid.uuid4())))
    with httpx.Client(base_url=url) as gw:
        problem = assert_problem(gw.get("/v1/profiles/slow", headers=bearer(token)), 504)
        assert "profiles" in problem["detail"]


def _doc(path: str, schema_name: str, schema: dict[str, Any]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    operation = {"responses": {"200": {"content": {"application/json": {"schema": ref}}}}}
    return {
        "openapi": "3.1.0",
        "paths": {path: {"get": operation}, "/healthz": {"get": {"responses": {}}}},
        "components": {"schemas": {schema_name: schema, "Shared": {"type": "string"}}},
    }


def test_merge_renames_a_schema_two_services_define_differently() -> None:
    docs = {
        "listening": _doc("/v1/mentions", "Item", {"type": "object", "title": "mention"}),
        "profiles": _doc("/v1/profiles", "Item", {"type": "object", "title": "profile"}),
    }
    merged = merge_documents(docs, RouteTable(), unavailable=[])
    schemas = merged["components"]["schemas"]
    assert schemas["Item"]["title"] == "mention"
    assert schemas["profiles_Item"]["title"] == "profile"
    # The gateway's own problems are declared with the shared `Problem` schema.
    assert set(schemas) == {"Item", "profiles_Item", "Shared", "Problem", "ProblemIssue"}
    problem = "#/components/schemas/Problem"
    assert set(refs(merged["paths"]["/v1/profiles"])) == {"#/components/schemas/profiles_Item", problem}
    assert set(refs(merged["paths"]["/v1/mentions"])) == {"#/components/schemas/Item", problem}
    assert "/healthz" not in merged["paths"]
    assert [t["name"] for t in merged["tags"]] == ["listening", "profiles"]

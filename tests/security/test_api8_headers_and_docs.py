"""API8 security misconfiguration: response headers and API docs.

Every answer of every process carries `X-Content-Type-Options: nosniff` (so a browser never sniffs a JSON
or text answer into HTML) and no `server` banner; the docs load Swagger UI from the process itself, never
from a CDN, and `RAPPORT_API_DOCS=false` turns the docs and the OpenAPI document off.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from rapport.stack import Stack
from services.metrics.app import create_app as create_metrics
from services.metrics.settings import MetricsSettings
from tests.helpers import Tenant, assert_problem

DOC_PATHS = ("/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json", "/redoc")


def _nosniff(response: httpx.Response) -> bool:
    # Exactly once: the gateway drops the service's copy of the header from proxied answers.
    return response.headers.get_list("x-content-type-options") == ["nosniff"]


def _hardened(response: httpx.Response) -> None:
    assert _nosniff(response), dict(response.headers)
    assert "server" not in response.headers, response.headers.get("server")


def test_gateway_answers_carry_nosniff_and_no_server_banner(client: httpx.Client, tenant: Tenant) -> None:
    # the gateway's own route, a proxied answer, and the gateway's and a service's problem documents
    _hardened(client.get("/healthz"))
    proxied = client.get("/v1/mentions", headers=tenant.headers)
    assert proxied.status_code == 200
    _hardened(proxied)
    anonymous = client.get("/v1/mentions")
    assert_problem(anonymous, 401)
    _hardened(anonymous)
    no_route = client.get("/v1/nowhere", headers=tenant.headers)
    assert_problem(no_route, 404)
    _hardened(no_route)
    missing = client.get("/v1/mentions/00000000-0000-0000-0000-000000000000", headers=tenant.headers)
    assert_problem(missing, 404)
    _hardened(missing)


@pytest.mark.parametrize("name", ["identity", "listening", "profiles", "engagement", "metrics"])
def test_service_answers_carry_nosniff_and_no_server_banner(stack: Stack, name: str) -> None:
    with httpx.Client(base_url=stack.url(name), timeout=10) as direct:
        _hardened(direct.get("/healthz"))
        problem = direct.get("/v1/no-such-route")
        assert_problem(problem, 404)
        _hardened(problem)


@pytest.mark.parametrize("where", ["gateway", "listening"])
def test_docs_load_swagger_ui_from_the_process_itself(stack: Stack, where: str) -> None:
    base = stack.gateway_url if where == "gateway" else stack.url(where)
    with httpx.Client(base_url=base, timeout=10) as http:
        page = http.get("/docs")
        assert page.status_code == 200
        _hardened(page)
        # no third-party host anywhere in the page: every URL is a path on this origin
        assert not re.search(r"(https?:)?//[a-z0-9.-]+", page.text, re.IGNORECASE), page.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert len(assets) == 3 and all(a.startswith("/docs/assets/") for a in assets), assets
        kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
        for asset in assets:
            response = http.get(asset)
            assert response.status_code == 200, asset
            expected = next(kind for suffix, kind in kinds.items() if asset.endswith(suffix))
            assert response.headers["content-type"].startswith(expected), response.headers
            _hardened(response)
        assert http.get("/openapi.json").status_code == 200


async def _statuses(app: FastAPI) -> dict[str, int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        return {path: (await http.get(path)).status_code for path in DOC_PATHS}


@pytest.mark.anyio
async def test_docs_off_answer_404_on_a_service() -> None:
    assert await _statuses(create_metrics(MetricsSettings(api_docs=False))) == dict.fromkeys(DOC_PATHS, 404)
    on = await _statuses(create_metrics(MetricsSettings(api_docs=True)))
    assert on["/docs"] == on["/openapi.json"] == on["/docs/assets/swagger-ui-bundle.js"] == 200


@pytest.mark.anyio
async def test_docs_off_answer_404_on_the_gateway() -> None:
    assert await _statuses(create_gateway(GatewaySettings(api_docs=False))) == dict.fromkeys(DOC_PATHS, 404)

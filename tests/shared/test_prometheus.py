"""`shared/prometheus.py` on its own: one registry per app, route templates as labels, bounded labels."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.listening.app import create_app as create_listening
from services.listening.settings import ListeningSettings
from shared.prometheus import Metrics, PrometheusMiddleware

pytestmark = pytest.mark.anyio


def samples(exposition: bytes, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The values of one sample name, by their sorted labels."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def small_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app.add_middleware(PrometheusMiddleware, metrics=metrics)
    return app


async def test_requests_are_labelled_by_route_template_not_path() -> None:
    metrics = Metrics()
    transport = httpx.ASGITransport(app=small_app(metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/v1/things/th_secret_1")).status_code == 200
        assert (await client.get("/v1/things/th_secret_2")).status_code == 200
        assert (await client.get("/nowhere/th_secret_3")).status_code == 404
        assert (await client.request("BREW", "/v1/things/th_secret_4")).status_code == 405

    text = metrics.exposition()
    counts = samples(text, "rapport_http_requests_total")
    assert counts[(("method", "GET"), ("route", "/v1/things/{thing_id}"), ("status", "200"))] == 2
    assert counts[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 1
    # A method no client should invent labels: it is folded into `other`.
    assert counts[(("method", "other"), ("route", "/v1/things/{thing_id}"), ("status", "405"))] == 1
    latency = samples(text, "rapport_http_request_duration_seconds_count")
    assert latency[(("method", "GET"), ("route", "/v1/things/{thing_id}"))] == 2
    assert b"th_secret" not in text


async def test_two_apps_count_in_registries_of_their_own() -> None:
    first, second = Metrics(), Metrics()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=small_app(first)), base_url="http://app"
    ) as client:
        await client.get("/v1/things/a")

    assert samples(first.exposition(), "rapport_http_requests_total")
    assert not samples(second.exposition(), "rapport_http_requests_total")
    # Nothing reaches the process-wide default registry.
    assert not [m for m in REGISTRY.collect() if m.name.startswith("rapport_")]


def test_each_app_built_gets_its_own_registry() -> None:
    listening = [create_listening(ListeningSettings(api_docs=False)) for _ in range(2)]
    gateways = [create_gateway(GatewaySettings()) for _ in range(2)]
    for one, other in (listening, gateways):
        assert one.state.metrics.registry is not other.state.metrics.registry
    assert listening[0].state.metrics.registry is not gateways[0].state.metrics.registry


def test_event_counters_fold_unknown_subjects() -> None:
    metrics = Metrics()
    metrics.events_published(["listening.mention.received", "listening.mention.received", "tenant-7.leak"])
    metrics.event_consumed("listening.mention.received", "profiles-mentions", ok=False)
    text = metrics.exposition()
    published = samples(text, "rapport_events_published_total")
    assert published == {
        (("subject", "listening.mention.received"),): 2,
        (("subject", "other"),): 1,
    }
    consumed = samples(text, "rapport_events_consumed_total")
    subject = ("subject", "listening.mention.received")
    assert consumed == {(("consumer", "profiles-mentions"), ("outcome", "failed"), subject): 1}

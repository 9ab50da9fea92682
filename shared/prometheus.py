"""Prometheus metrics: one registry per app, HTTP requests by route, the bus's events, webhook outcomes.

Every app (each service, the gateway) builds one `Metrics` in its factory and serves it at `/metrics`;
nothing goes to prometheus_client's process-wide default registry, so two apps in one process (tests)
count apart. Labels are bounded by the code, never by the traffic: a route is its template
(`/v1/mentions/{mention_id}`, never the path, which carries ids), a subject comes from the event catalog,
a consumer is a durable name; no tenant, profile or handle is ever a label.

The instruments' children are bound once per label set and kept in plain dicts: a request or an event
then costs a dict lookup and an increment, not `labels()` (a lock and a tuple build each time).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, MutableMapping
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from shared.events.catalog import CATALOG
from shared.telemetry import ASGIApp, Receive, Scope, Send

__all__ = ["Metrics", "PrometheusMiddleware", "metrics_response", "metrics_router", "route_of"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# What a request is labelled with when no route template is known (a 404, or answered before routing).
UNMATCHED = "unmatched"
_SUBJECTS = frozenset(CATALOG)
# Request latency buckets (seconds): the hot paths answer in milliseconds, an import in minutes.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _subject(subject: str) -> str:
    """A subject as a label: the catalog's and the dead letters' (named by durables), else `other`."""
    if subject in _SUBJECTS or subject.startswith("deadletter."):
        return subject
    return "other"


class Metrics:
    """One app's registry and its instruments (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.requests = Counter(
            "rapport_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "rapport_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by method and route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.published = Counter(
            "rapport_events_published",
            "Events the stream acknowledged and stored (not a duplicate), by subject.",
            ["subject"],
            registry=r,
        )
        self.consumed = Counter(
            "rapport_events_consumed",
            "Deliveries handled, by subject, consumer and outcome (ok, failed: nak'd or dead-lettered).",
            ["subject", "consumer", "outcome"],
            registry=r,
        )
        self.redelivered = Counter(
            "rapport_events_redelivered",
            "Deliveries that were a redelivery (JetStream's delivery count above 1), by consumer.",
            ["consumer"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "rapport_events_dead_lettered",
            "Deliveries moved to the dead-letter subject, by consumer and reason (invalid or failed).",
            ["consumer", "reason"],
            registry=r,
        )
        self.pending = Gauge(
            "rapport_consumer_pending_events",
            "Consumer lag: events in the stream not yet delivered to the consumer, as of its last batch.",
            ["consumer"],
            registry=r,
        )
        self.webhooks = Counter(
            "rapport_webhook_deliveries",
            "Partner webhook attempts by outcome: delivered, retrying, failed (refused), gave_up.",
            ["outcome"],
            registry=r,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._counter_children: dict[tuple[Any, ...], Any] = {}

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and observe its latency."""
        if method not in _METHODS:
            method = "other"
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def _child(self, metric: Counter | Gauge, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._counter_children.get(key)
        if child is None:
            child = self._counter_children[key] = metric.labels(*labels)
        return child

    def event_published(self, subject: str, count: int = 1) -> None:
        """Count events the stream acknowledged on `subject`."""
        self._child(self.published, _subject(subject)).inc(count)

    def events_published(self, subjects: Iterable[str]) -> None:
        """Count acknowledged events, one per subject given."""
        counts: dict[str, int] = {}
        for subject in subjects:
            counts[subject] = counts.get(subject, 0) + 1
        for subject, n in counts.items():
            self.event_published(subject, n)

    def event_consumed(self, subject: str, consumer: str, *, ok: bool, count: int = 1) -> None:
        """Count handled deliveries (one, or `count` of one subject and outcome)."""
        self._child(self.consumed, _subject(subject), consumer, "ok" if ok else "failed").inc(count)

    def redeliveries(self, consumer: str, count: int) -> None:
        """Count deliveries that were not the first."""
        if count:
            self._child(self.redelivered, consumer).inc(count)

    def dead_letter(self, consumer: str, *, invalid: bool) -> None:
        """Count one delivery sent to the dead-letter subject."""
        self._child(self.dead_lettered, consumer, "invalid" if invalid else "failed").inc()

    def consumer_pending(self, consumer: str, pending: int) -> None:
        """Set the consumer's lag (JetStream's pending count carried by its latest delivery)."""
        self._child(self.pending, consumer).set(pending)

    def webhook(self, outcome: str) -> None:
        """Count one partner webhook attempt's outcome."""
        self._child(self.webhooks, outcome).inc()


def route_of(scope: Scope) -> str:
    """The template of the route that answered (`route_path` set by the gateway's proxy, else the
    Starlette route's path), or `unmatched`."""
    path = scope.get("route_path")
    if path is not None:
        return str(path)
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


class PrometheusMiddleware:
    """Pure-ASGI middleware: counts each HTTP request by method, route template and status, and times it.

    The route is read once the app has answered (routing fills the scope on its way in). A request whose
    app raised before answering counts as a 500."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.request(scope["method"], route_of(scope), status, time.perf_counter() - started)


def metrics_response(metrics: Metrics) -> Response:
    """The exposition as an HTTP answer."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def metrics_router() -> APIRouter:
    """`/metrics`: the app's registry (`app.state.metrics`), for the operator's scraper; not in OpenAPI."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus exposition of this process's app."""
        return metrics_response(request.app.state.metrics)

    return router

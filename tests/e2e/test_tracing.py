"""One post is one trace: gateway → listening → profiles → engagement → metrics, exported over OTLP/HTTP.

The stack's processes export their spans to a small OTLP/HTTP receiver started here (the protobuf
`ExportTraceServiceRequest` the OpenTelemetry exporter sends, decoded with `opentelemetry-proto`).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js.api import DeliverPolicy
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from rapport.stack import Stack
from tests.conftest import consent_ready
from tests.helpers import mention_payload, signup, wait_until

SERVICES = ("gateway", "listening", "profiles", "engagement", "metrics")
# The consumer spans of the mention's way: (process, span name).
CONSUMED = {
    ("rapport-profiles", "consume listening.mention.received"),
    ("rapport-engagement", "consume profiles.mention.resolved"),
    ("rapport-metrics", "consume listening.mention.received"),
    ("rapport-metrics", "consume engagement.conversation.opened"),
}


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str


class Receiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver.add(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, request: ExportTraceServiceRequest) -> None:
        spans = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                spans.extend(
                    Span(
                        service=attributes.get("service.name", ""),
                        name=s.name,
                        kind=s.kind,
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                    )
                    for s in scope_spans.spans
                )
        with self.lock:
            self.spans.extend(spans)

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Stack]:
    """A stack of its own whose processes export their spans to `receiver`."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "RAPPORT_LOG_LEVEL": "INFO",
    }
    stack = Stack(var_dir=tmp_path_factory.mktemp("traced"), env=env)
    try:
        stack.start_all()
        consent_ready(stack.redis_url)
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
def gateway(traced: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=traced.gateway_url, timeout=30) as c:
        yield c


def _traceparent() -> tuple[str, str, str]:
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return f"00-{trace_id}-{parent_id}-01", trace_id, parent_id


def _services(spans: list[Span]) -> set[str]:
    return {s.service.removeprefix("rapport-") for s in spans}


def test_one_mention_is_one_trace_across_every_service(gateway: httpx.Client, receiver: Receiver) -> None:
    tenant = signup(gateway)
    traceparent, trace_id, root_parent = _traceparent()
    payload = mention_payload(text="My order arrived broken and nobody answers. Terrible service!")
    accepted = gateway.post(
        "/v1/mentions", json=payload, headers={**tenant.headers, "traceparent": traceparent}
    )
    assert accepted.status_code == 202, accepted.text

    # The complaint opens a conversation and metrics folds both the mention and the conversation.
    wait_until(
        lambda: (
            (c := gateway.get("/v1/metrics/scorecard", headers=tenant.headers).json())["care"][
                "conversations"
            ]["opened"]
            == 1
            and c["listening"]["mentions"]["total"] == 1
        ),
        timeout=30,
        what="the scorecard to count the mention and its conversation",
    )

    # Each process exports on its own schedule: wait for the spans of every hop, and for every span's
    # parent but the caller's (a child may arrive before its parent from another process).
    def whole() -> list[Span] | None:
        found = receiver.trace(trace_id)
        if not found or not CONSUMED <= {(x.service, x.name) for x in found}:
            return None
        ids = {x.span_id for x in found}
        return found if all(x.parent_id in ids or x.parent_id == root_parent for x in found) else None

    spans = wait_until(
        whole, timeout=30, what="spans of every hop in the mention's trace, with their parents"
    )
    assert _services(spans) == set(SERVICES)

    by_id = {s.span_id: s for s in spans}
    # The gateway's span continues the caller's trace; every other span's parent is in the trace.
    roots = [s for s in spans if s.parent_id not in by_id]
    assert [(r.service, r.parent_id) for r in roots] == [("rapport-gateway", root_parent)]

    def parent_service(span: Span) -> str:
        return by_id[span.parent_id].service

    # Across processes, parent → child: the gateway's request → listening's; the analysis worker's
    # announcement continues listening's request; each consumer continues its publisher.
    (listening_request,) = [
        s for s in spans if s.service == "rapport-listening" and s.kind == SpanProto.SPAN_KIND_SERVER
    ]
    assert parent_service(listening_request) == "rapport-gateway"
    consumed = {
        (s.service, s.name): parent_service(s) for s in spans if s.kind == SpanProto.SPAN_KIND_CONSUMER
    }
    assert consumed[("rapport-profiles", "consume listening.mention.received")] == "rapport-listening"
    assert consumed[("rapport-engagement", "consume profiles.mention.resolved")] == "rapport-profiles"
    assert consumed[("rapport-metrics", "consume listening.mention.received")] == "rapport-listening"
    assert consumed[("rapport-metrics", "consume engagement.conversation.opened")] == "rapport-engagement"


def _log_lines(stack: Stack, service: str) -> list[dict[str, Any]]:
    lines = []
    for line in Path(stack.log_dir, f"{service}.log").read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_a_handled_request_logs_its_trace_and_tenant(gateway: httpx.Client, traced: Stack) -> None:
    tenant = signup(gateway)
    mention_id = gateway.post("/v1/mentions", json=mention_payload(), headers=tenant.headers).json()["id"]
    wait_until(
        lambda: gateway.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()["analysis"],
        what="the mention's analysis",
    )
    traceparent, trace_id, _ = _traceparent()
    labelled = gateway.post(
        f"/v1/mentions/{mention_id}/labels",
        json={"sentiment": "positive"},
        headers={**tenant.headers, "traceparent": traceparent},
    )
    assert labelled.status_code == 201, labelled.text

    # `mention.labelled` names the mention and the label; the tenant comes from the request's token.
    (line,) = wait_until(
        lambda: [
            r
            for r in _log_lines(traced, "listening")
            if r["event"] == "mention.labelled" and r.get("trace_id") == trace_id
        ],
        what="the label's log line",
    )
    assert line["tenant_id"] == tenant.tenant_id
    assert tenant.email not in json.dumps(line)


async def _trace_header(nats_url: str, subject: str, tenant_id: str, timeout: float = 15.0) -> str | None:
    """The `traceparent` NATS header of the first `subject` event of the tenant (None: no such event)."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().subscribe(
            subject,
            stream=subject.split(".", 1)[0].upper(),
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                msg = await sub.next_msg(timeout=remaining)
            except nats.errors.TimeoutError:
                return None
            if json.loads(msg.data)["tenantid"] == tenant_id:
                return (msg.headers or {}).get("traceparent")
        return None
    finally:
        await nc.close()


def test_without_an_exporter_the_trace_id_still_follows_the_post(client: httpx.Client, stack: Stack) -> None:
    # The suite's stack exports nothing: no spans are made, but each hop passes the trace context on.
    tenant = signup(client)
    traceparent, trace_id, _ = _traceparent()
    payload = mention_payload(text="My order arrived broken and nobody answers. Terrible service!")
    accepted = client.post(
        "/v1/mentions", json=payload, headers={**tenant.headers, "traceparent": traceparent}
    )
    assert accepted.status_code == 202, accepted.text
    for subject in (
        "listening.mention.received",
        "profiles.mention.resolved",
        "engagement.conversation.opened",
    ):
        header = asyncio.run(_trace_header(stack.nats_url, subject, tenant.tenant_id))
        assert header is not None, subject
        assert header.split("-")[1] == trace_id, subject

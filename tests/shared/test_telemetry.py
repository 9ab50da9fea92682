"""The HTTP middleware without an exporter: no span is made, yet the request runs in a trace (the caller's,
continued under a span id of its own, or a new one), so log lines and onward events carry a trace id."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest
from opentelemetry import trace

from shared import telemetry

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def traceparent_seen_inside(headers: list[tuple[bytes, bytes]]) -> str | None:
    seen: list[str | None] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(telemetry.current_traceparent())
        assert not trace.get_current_span().is_recording()
        await send({"type": "http.response.start", "status": 204, "headers": []})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": "/v1/x", "headers": headers}
    await telemetry.TracingMiddleware(app)(scope, receive, send)
    return seen[0]


@pytest.mark.anyio
async def test_a_request_continues_the_callers_trace_under_a_span_id_of_its_own() -> None:
    inside = await traceparent_seen_inside([(b"traceparent", CALLER.encode())])
    assert inside is not None
    version, trace_id, span_id, flags = inside.split("-")
    assert (version, trace_id, flags) == ("00", CALLER.split("-")[1], "01")
    assert span_id != CALLER.split("-")[2] and int(span_id, 16) != 0


@pytest.mark.anyio
async def test_a_request_without_a_caller_starts_a_trace_of_its_own() -> None:
    first, second = await traceparent_seen_inside([]), await traceparent_seen_inside([])
    assert first is not None and second is not None
    assert int(first.split("-")[1], 16) != 0
    assert first.split("-")[1] != second.split("-")[1]

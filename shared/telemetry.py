"""OpenTelemetry tracing: a provider per process, W3C trace context over HTTP and NATS headers.

Spans go to an OTLP/HTTP collector when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set,
through a batch processor (the standard `OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER` and
`OTEL_RESOURCE_ATTRIBUTES` variables apply); without it no exporter is built and nothing is sent.
`service.name` is the process's own (`rapport-<service>`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from shared.logging import tenant_scope

if TYPE_CHECKING:
    from shared.events.envelope import Envelope

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# How long the spans still queued get to reach the collector when an app stops.
FLUSH_TIMEOUT_MS = 5000


def exporting() -> bool:
    """True when spans are to be exported over OTLP (an endpoint is configured)."""
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


# Whether spans go anywhere (console or OTLP). When not, the spans of the event path are not made at all:
# only the trace context is passed on (log lines and onward events keep the trace id).
_recording = False


def setup_tracing(service: str, *, console: bool = False) -> None:
    """Install the process-wide tracer provider once (OpenTelemetry keeps it; a second app reuses it)."""
    global _recording
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    _recording = console or exporting()
    provider = TracerProvider(resource=Resource.create({"service.name": f"rapport-{service}"}))
    if console:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    if exporting():
        # Imported here: a process that exports nothing never loads the exporter (nor protobuf).
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # Endpoint, headers, timeout and compression come from the OTEL_EXPORTER_OTLP_* variables.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def flush_tracing() -> None:
    """Send the spans still queued (blocking, at most FLUSH_TIMEOUT_MS): called when an app stops. The
    provider itself shuts down when the process exits (OpenTelemetry's own exit hook)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=FLUSH_TIMEOUT_MS)


def tracer(name: str) -> trace.Tracer:
    """A tracer for one module."""
    return trace.get_tracer(name)


def inject_headers(headers: dict[str, str], context: Any = None) -> dict[str, str]:
    """Add `traceparent` (and `tracestate`) of the current span (or of `context`) to outgoing headers."""
    propagate.inject(headers, context=context)
    return headers


def extract_context(headers: Mapping[str, str] | None) -> Any:
    """The trace context carried by incoming headers."""
    return propagate.extract(headers or {})


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to be stored with work done later (None: no trace)."""
    return inject_headers({}).get("traceparent")


def current_context() -> otel_context.Context:
    """The current trace context, for work another task does on this one's behalf (`within`)."""
    return otel_context.get_current()


@contextlib.contextmanager
def within(context: otel_context.Context) -> Iterator[None]:
    """Make `context` (from `current_context`) current for a while."""
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def continued(traceparent: str | None, name: str, *, kind: trace.SpanKind) -> Iterator[None]:
    """A span continuing a stored `traceparent` (the current context when there is none); with nothing
    recording spans, that context alone."""
    context = extract_context({"traceparent": traceparent}) if traceparent else None
    if not _recording:
        with within(context) if context is not None else contextlib.nullcontext():
            yield
        return
    with _tracer.start_as_current_span(name, context=context, kind=kind):
        yield


_tracer = tracer("rapport")
_TRACE_HEADERS = ("traceparent", "tracestate")
# While a set-based handler runs: the trace headers of the consumed event with a given subject (or id).
_BATCH: ContextVar[Callable[[str], dict[str, str] | None] | None] = ContextVar("rapport_batch", default=None)


def carried(subject: str) -> dict[str, str] | None:
    """For a set-based handler's onward event: the trace headers of the consumed event with this subject
    (its consumer span as parent); None outside such a batch or for a subject not in it. An event's id
    names it too, for events whose subject several in a batch share (a profile's mentions)."""
    lookup = _BATCH.get()
    return lookup(subject) if lookup is not None else None


@contextlib.contextmanager
def caused_by(event_id: str | None) -> Iterator[None]:
    """In a set-based consumer's batch: the trace of the consumed event `event_id` made current (its
    consumer span the parent), so that the events staged meanwhile continue it. Outside such a batch (an
    event handled alone, in its own span) or without an id, nothing changes."""
    headers = carried(event_id) if event_id is not None else None
    if headers is None:
        yield
        return
    with within(extract_context(headers)):
        yield


class ConsumeSpans:
    """The consumer spans of one fetched batch: each event's span continues its publisher's trace (the
    W3C headers of its NATS message, by event id) and names the event's tenant in the logs.

    `headers` None: no spans at all (the tenant still goes into the logs). With nothing recording spans
    (no exporter, no console), none are made: the event's trace context alone is made current."""

    def __init__(self, headers: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.headers = headers

    @contextlib.contextmanager
    def __call__(self, event: Envelope) -> Iterator[object]:
        """The current span while one event is handled alone; an exception leaving it is recorded on it."""
        with tenant_scope(event.tenantid):
            if self.headers is None:
                yield None
                return
            if not _recording:
                with within(extract_context(self.headers.get(event.id))):
                    yield None
                return
            with _tracer.start_as_current_span(
                f"consume {event.type}",
                context=extract_context(self.headers.get(event.id)),
                kind=trace.SpanKind.CONSUMER,
            ) as span:
                span.set_attribute("messaging.message.id", event.id)
                yield span

    @contextlib.contextmanager
    def together(self, events: Sequence[Envelope]) -> Iterator[None]:
        """Spans for events a set-based handler applies in one call: one per event, in its own trace,
        none of them current (they cannot all be); `carried(subject)` gives an onward event its cause's."""
        tenants = {event.tenantid for event in events}
        with tenant_scope(next(iter(tenants)) if len(tenants) == 1 else None):
            if self.headers is None or not events:
                yield
                return
            if not _recording:
                # No spans: an onward event carries its cause's headers as they came.
                headers, ids = self.headers, {e.subject: e.id for e in events if e.subject}
                ids.update((e.id, e.id) for e in events)

                def passed_on(subject: str) -> dict[str, str] | None:
                    got = headers.get(ids[subject], {}) if subject in ids else {}
                    return {k: got[k] for k in _TRACE_HEADERS if k in got} or None

                token = _BATCH.set(passed_on)
                try:
                    yield
                finally:
                    _BATCH.reset(token)
                return
            spans: dict[str, trace.Span] = {}
            started: list[trace.Span] = []
            for event in events:
                span = _tracer.start_span(
                    f"consume {event.type}",
                    context=extract_context(self.headers.get(event.id)),
                    kind=trace.SpanKind.CONSUMER,
                )
                span.set_attribute("messaging.message.id", event.id)
                started.append(span)
                spans[event.id] = span
                if event.subject:
                    spans[event.subject] = span

            def child_of(subject: str) -> dict[str, str] | None:
                span = spans.get(subject)
                return inject_headers({}, trace.set_span_in_context(span)) if span is not None else None

            token = _BATCH.set(child_of)
            try:
                yield
            except BaseException as exc:
                for span in started:
                    span.record_exception(exc)
                    span.set_status(trace.StatusCode.ERROR)
                raise
            finally:
                _BATCH.reset(token)
                for span in started:
                    span.end()


UNTRACED = ConsumeSpans()


_ids = RandomIdGenerator()


def context_only(parent: otel_context.Context) -> otel_context.Context:
    """`parent` with a new span id of a span that records nothing (and costs nearly nothing): the trace
    of `parent`'s span continued, or a new trace when it has none."""
    caller = trace.get_current_span(parent).get_span_context()
    if caller.is_valid:
        trace_id, flags, state = caller.trace_id, caller.trace_flags, caller.trace_state
    else:
        trace_id, flags, state = _ids.generate_trace_id(), trace.TraceFlags(trace.TraceFlags.SAMPLED), None
    own = trace.SpanContext(
        trace_id, _ids.generate_span_id(), is_remote=False, trace_flags=flags, trace_state=state
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(own), parent)


class TracingMiddleware:
    """Pure-ASGI middleware: one server span per HTTP request, continuing the caller's trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tracer = tracer("rapport.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope.get("headers", [])
            if k in (b"traceparent", b"tracestate")
        }
        if not _recording:
            # No span: a context of its own continuing the caller's trace (or starting one), so that log
            # lines and onward events still carry a trace id.
            with within(context_only(extract_context(carrier))):
                await self.app(scope, receive, send)
            return
        name = f"{scope['method']} {scope.get('route_path', scope['path'])}"
        with self.tracer.start_as_current_span(
            name, context=extract_context(carrier), kind=trace.SpanKind.SERVER
        ) as span:
            span.set_attribute("http.request.method", scope["method"])

            async def send_wrapper(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_wrapper)

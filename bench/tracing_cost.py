"""The CPU the tracing of one post's path adds in a process that exports nothing (shared/telemetry.py).

    .venv/bin/python bench/tracing_cost.py [--events 64] [--rounds 2000] [--spans]

With the tracer provider every process installs and no exporter (`OTEL_EXPORTER_OTLP_ENDPOINT` unset):
only trace context is passed on; with `--spans`, the spans are made as with an exporter (but go
nowhere, so the export itself is not counted). Per event or post, in microseconds of this process's CPU
(medians of `--rounds` rounds):
- `together`: the consumer spans of a set-based batch of `--events` events (profiles, metrics), per event;
- `carried`: the trace headers an onward event takes from its cause's span (profiles), per event;
- `single`: the span of an event handled alone (engagement), per event;
- `ingest`: the `traceparent` a pending mention stores (listening's group commit);
- `announce`: the span the analysis worker stages a mention's event in.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opentelemetry.trace import SpanKind  # noqa: E402

from shared import telemetry  # noqa: E402
from shared.events.envelope import CloudEvent  # noqa: E402
from shared.telemetry import (  # noqa: E402
    ConsumeSpans,
    carried,
    continued,
    current_traceparent,
    setup_tracing,
)


def _events(n: int) -> tuple[list[CloudEvent], dict[str, dict[str, str]]]:
    events, headers = [], {}
    for _ in range(n):
        event = CloudEvent(
            id=str(uuid.uuid4()),
            source="/rapport/bench",
            type="listening.mention.received",
            time=datetime.now(UTC),
            subject=str(uuid.uuid4()),
            tenantid="t1",
            data={},
        )
        events.append(event)
        headers[event.id] = {"traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"}
    return events, headers


def _per_item_us(work: Callable[[], None], items: int, rounds: int) -> float:
    took = []
    for _ in range(rounds):
        started = time.process_time()
        work()
        took.append(time.process_time() - started)
    return statistics.median(took) / items * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--spans", action="store_true", help="make the spans, as an exporter would need")
    args = parser.parse_args()
    setup_tracing("bench")
    # What an exporter would switch on, without one: spans made and ended, then dropped.
    telemetry._recording = args.spans
    events, headers = _events(args.events)
    spans = ConsumeSpans(headers)

    def together() -> None:
        with spans.together(events):
            pass

    def together_carried() -> None:
        with spans.together(events):
            for event in events:
                assert event.subject is not None
                carried(event.subject)

    def single() -> None:
        for event in events:
            with spans(event):
                pass

    def ingest() -> None:
        with continued(None, "request", kind=SpanKind.SERVER):
            for _ in events:
                current_traceparent()

    parent = headers[events[0].id]["traceparent"]

    def announce() -> None:
        for _ in events:
            with continued(parent, "announce mention", kind=SpanKind.PRODUCER):
                pass

    n, rounds = args.events, args.rounds
    base = _per_item_us(together, n, rounds)
    print("spans made" if args.spans else "context only (no exporter)")
    print(f"together: {base:.1f} us per event (batch of {n})")
    print(f"carried:  {_per_item_us(together_carried, n, rounds) - base:.1f} us per event")
    print(f"single:   {_per_item_us(single, n, rounds):.1f} us per event")
    print(f"ingest:   {_per_item_us(ingest, n, rounds):.1f} us per post")
    print(f"announce: {_per_item_us(announce, n, rounds):.1f} us per post")


if __name__ == "__main__":
    main()

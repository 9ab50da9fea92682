"""The live inbox: a tenant's conversation changes as Server-Sent Events, read from JetStream.

Every engagement replica publishes its changes through the outbox to the ENGAGEMENT stream, so a stream
fed from JetStream (not from this process's memory) sees every change whichever replica made it. Each
open stream is one ephemeral ordered push consumer (no acks, in memory on the server, recreated by the
client from the last sequence it saw should a delivery go missing), filtered on the subject prefixes of
`STREAM_SUBJECTS`: a new event type under one of them flows without a change here.

The ENGAGEMENT stream holds every tenant's events on the same subjects, so each consumer receives them
all and keeps the caller's: a cheap byte test on the envelope skips other tenants' events before any
JSON is parsed, and the parsed `tenantid` decides. An event's SSE `id:` is its JetStream stream
sequence: `Last-Event-ID: N` resumes at sequence N + 1; without one the stream starts with the next
change. The consumer exists before the first byte (`: open`) is sent, so a change made after the
client read it is never missed.

A comment (`: keep-alive`) goes out whenever nothing was written for `stream_heartbeat_s`: proxies and
the gateway (whose upstream read timeout is `upstream_timeout_s`) never see an idle stream go silent,
and a client that went away is noticed at the next write at the latest. At most
`stream_max_connections` streams are open per process; one more is a 503.

A client that reads slowly holds its stream back, not the process: the consumer uses JetStream flow
control, answered only once nats-py handed the deliveries on, so the server stops pushing to a stream
that is behind (nats-py's default pending limits are left as they are: it records a delivery as seen
before it queues it, so a delivery dropped at a lower limit would be lost, not redelivered).

Failure modes: the broker connection drops — nats-py reconnects and the ordered consumer is recreated
from the last delivered sequence (a gap is detected by its consumer sequence check); the client goes
away — its consumer is deleted at once (and the server drops an ephemeral consumer without interest
after `INACTIVE_THRESHOLD_S` anyway, should the deletion fail).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from shared.errors import PROBLEMS, ServiceUnavailable
from shared.events.bus import Bus

log = logging.getLogger("rapport.engagement.stream")

STREAM = "ENGAGEMENT"
# The subjects of a conversation's changes (opened, assigned, status changed, reopened; its messages;
# its SLA warnings and breaches): prefixes, so that new types under them need no change here.
STREAM_SUBJECTS = ("engagement.conversation.>", "engagement.message.>", "engagement.sla.>")
# The server deletes an ephemeral consumer nobody listens to after this long.
INACTIVE_THRESHOLD_S = 30.0
# How often the broker tells an idle ordered consumer it is alive (a missed pair recreates it).
IDLE_HEARTBEAT_S = 5.0
OPENED = b": open\n\n"
KEEP_ALIVE = b": keep-alive\n\n"
HEADERS = {
    "Cache-Control": "no-cache, no-store",
    # nginx (and similar proxies) must not buffer an event stream.
    "X-Accel-Buffering": "no",
}


class StreamsFull(ServiceUnavailable):
    """This process serves as many live streams as it may; another replica, or a retry, will do."""

    type = PROBLEMS + "streams-full"


class StreamUnavailable(ServiceUnavailable):
    """The broker could not be asked for the stream's consumer."""

    type = PROBLEMS + "stream-unavailable"


class StreamHub:
    """The live streams of one process: a bounded count and the clean-up of their consumers."""

    def __init__(self, *, max_connections: int, heartbeat_s: float) -> None:
        self.max_connections = max_connections
        self.heartbeat_s = heartbeat_s
        self.open = 0
        # Consumer deletions under way (referenced so that they are not collected before they finish).
        self._cleanups: set[asyncio.Task[None]] = set()

    async def subscribe(self, bus: Bus, *, tenant_id: str, after: int | None) -> LiveStream:
        """Take a slot and create the consumer: from sequence `after` + 1, or from the next change."""
        if self.open >= self.max_connections:
            raise StreamsFull(
                "This server has as many live streams open as it may; retry shortly.",
                headers={"Retry-After": "5"},
            )
        self.open += 1
        try:
            if after is None:
                # "From the next change" as a sequence too (not the NEW policy): should the ordered
                # consumer be recreated before its first delivery, it starts from the sequence it knows,
                # which would otherwise be the stream's very first.
                after = (await bus.js.stream_info(STREAM)).state.last_seq
            sub = await _consumer(bus.js, after=after)
        except Exception as exc:
            self.open -= 1
            log.warning("stream.subscribe_failed", extra={"error": type(exc).__name__})
            raise StreamUnavailable("The live stream is unavailable right now; retry shortly.") from exc
        log.info("stream.opened", extra={"tenant_id": tenant_id, "open": self.open})
        return LiveStream(self, sub, tenant_id=tenant_id, after=after)

    def release(self, stream: LiveStream) -> None:
        """Give back the slot and delete the consumer in the background (called once per stream)."""
        self.open -= 1
        task = asyncio.create_task(_close(stream.sub), name="stream-cleanup")
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        log.info("stream.closed", extra={"tenant_id": stream.tenant_id, "open": self.open})


async def _consumer(js: JetStreamContext, *, after: int) -> JetStreamContext.PushSubscription:
    config = ConsumerConfig(
        filter_subjects=list(STREAM_SUBJECTS),
        inactive_threshold=INACTIVE_THRESHOLD_S,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
    )
    sub = await js.subscribe(
        STREAM_SUBJECTS[0],
        stream=STREAM,
        config=config,
        ordered_consumer=True,
        idle_heartbeat=IDLE_HEARTBEAT_S,
    )
    # nats-py recreates an ordered consumer from the last sequence it delivered, 0 before the first:
    # seed it with where this one starts, or a recreation would replay the whole stream.
    jsi = getattr(sub._sub, "_jsi", None)
    if jsi is not None and jsi._sseq < after:
        jsi._sseq = after
    return sub


async def _close(sub: JetStreamContext.PushSubscription) -> None:
    with contextlib.suppress(Exception):
        await sub.unsubscribe()
    # The consumer's current name: the ordered consumer may have been recreated under another.
    with contextlib.suppress(Exception):
        await sub._js.delete_consumer(STREAM, sub._consumer)


class LiveStream:
    """One client's stream: its consumer, read and filtered to its tenant, as SSE bytes."""

    def __init__(
        self, hub: StreamHub, sub: JetStreamContext.PushSubscription, *, tenant_id: str, after: int = 0
    ) -> None:
        self.hub = hub
        self.sub = sub
        self.tenant_id = tenant_id
        # The last sequence handed on: a delivery at or below it (a recreated consumer) is not repeated.
        self.after = after
        # The envelope as the outbox serialises it (compact JSON): a quick test before parsing.
        self._marker = b'"tenantid":' + json.dumps(tenant_id).encode()
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.hub.release(self)

    async def frames(self) -> AsyncIterator[bytes]:
        """`: open`, then each of the tenant's events as an SSE frame, with keep-alive comments between."""
        heartbeat = self.hub.heartbeat_s
        yield OPENED
        written = time.monotonic()
        while True:
            wait = written + heartbeat - time.monotonic()
            if wait <= 0:
                yield KEEP_ALIVE
                written = time.monotonic()
                continue
            try:
                msg = await self.sub.next_msg(timeout=wait)
            except NatsTimeout:
                continue
            sequence = msg.metadata.sequence.stream
            if sequence <= self.after:
                continue
            self.after = sequence
            frame = self.frame(msg.data, sequence)
            if frame is not None:
                yield frame
                written = time.monotonic()

    def frame(self, data: bytes, sequence: int) -> bytes | None:
        """The SSE frame of one delivery, or None when it is another tenant's (or not an event)."""
        if self._marker not in data:
            return None
        try:
            event: dict[str, Any] = json.loads(data)
        except ValueError:
            return None
        if not isinstance(event, dict) or event.get("tenantid") != self.tenant_id:
            return None
        kind = str(event.get("type", "message")).replace("\n", " ").replace("\r", " ")
        # One line of JSON, as SSE needs; the outbox's compact JSON always is, re-serialised otherwise.
        body = data if b"\n" not in data and b"\r" not in data else json.dumps(event).encode()
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (sequence, kind.encode(), body)


@dataclass(frozen=True)
class Streams:
    """What a request opens its stream with: the process's hub and bus."""

    hub: StreamHub
    bus: Bus

    async def open(self, *, tenant_id: str, after: int | None) -> LiveStream:
        """A live stream of the tenant's changes after stream sequence `after` (None: from now)."""
        return await self.hub.subscribe(self.bus, tenant_id=tenant_id, after=after)


async def get_streams(request: Request) -> Streams:
    """The app's stream hub (`app.state.streams`) with its bus."""
    return Streams(hub=request.app.state.streams, bus=request.app.state.runtime.bus)


StreamsDep = Annotated[Streams, Depends(get_streams)]


class EventStreamResponse(StreamingResponse):
    """`text/event-stream` of a live stream, whose slot and consumer are given back however it ends
    (finished, cancelled when the client disconnects, or never started)."""

    media_type = "text/event-stream"

    def __init__(self, stream: LiveStream) -> None:
        super().__init__(stream.frames(), headers=HEADERS)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Synchronous: a cancelled task cannot await here.
            self.stream.release()

"""A thin JetStream bus: streams per domain, de-duplicated publishes, durable pull consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, PubAck, StorageType, StreamConfig
from nats.js.errors import BadRequestError, ServerError, ServiceUnavailableError
from pydantic import ValidationError

from shared.events.catalog import STREAMS, spec_for, spec_of, stream_of
from shared.events.contracts import Contract
from shared.events.envelope import CloudEvent, Envelope, Event, event_model
from shared.prometheus import Metrics
from shared.telemetry import ConsumeSpans, inject_headers

log = logging.getLogger("rapport.bus")

P = TypeVar("P", bound=Contract)
# Where the events of a batch are handled: each one's consumer span (`shared.telemetry.ConsumeSpans`).
EventScope = ConsumeSpans
# Handles a fetched batch of parsed events and says, per event in order, None (done: ack it) or the
# error that failed it.
BatchHandler = Callable[[Sequence[Event[P]], EventScope], Awaitable[Sequence[BaseException | None]]]

DUPLICATE_WINDOW_S = 120.0
# How long a stream keeps a message (its events are copies in transit of personal data: nothing lingers
# beyond this; an erasure deletes a person's messages before that, `shared/privacy.py`).
STREAM_MAX_AGE_S = 30 * 86400.0
# Delay before redelivery after the n-th failed attempt; the last attempt goes to the dead-letter subject.
BACKOFF_S = (0.5, 2.0, 10.0, 30.0)
# Waits between attempts to create a stream JetStream is not ready to create; None: give up.
STREAM_RETRY_S = (0.1, 0.2, 0.5, 1.0, 2.0, 4.0, None)
# How long a fetch waits for deliveries: the first after a batch, and at most (each empty one doubles it).
# A waiting fetch gets a delivery the moment it arrives; waiting longer only means fewer pull requests,
# the CPU an idle consumer spends.
FETCH_WAIT_S = (1.0, 4.0)
# How long the fetch that tops up a lingering batch waits when nothing more has arrived.
FILL_TIMEOUT_S = 0.05


def dead_letter_subject(durable: str) -> str:
    """Where a consumer's poison messages end up."""
    return f"deadletter.{durable}"


class Bus:
    """One NATS connection and its JetStream context for one process."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        replicas: int = 1,
        max_age_s: float = STREAM_MAX_AGE_S,
        metrics: Metrics | None = None,
    ) -> None:
        self.url = url
        # The app's instruments (`shared/prometheus.py`); a bus of its own without an app.
        self.metrics = metrics if metrics is not None else Metrics()
        self.name = name
        self.replicas = replicas
        self.max_age_s = max_age_s
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("bus is not connected")
        return self._js

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def connect(self) -> None:
        """Connect (reconnecting forever on later loss) and make sure every stream exists."""
        self._nc = await nats.connect(
            self.url, name=self.name, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=5
        )
        self._js = self._nc.jetstream()
        await self.ensure_streams()

    async def ensure_streams(self) -> None:
        """Create or update the stream of every domain, each keeping messages for at most `max_age_s`."""
        for name, subjects in STREAMS.items():
            config = StreamConfig(
                name=name,
                subjects=[subjects],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
                num_replicas=self.replicas,
                max_age=self.max_age_s,
            )
            await self._create_or_update(config)

    async def _create_or_update(self, config: StreamConfig) -> None:
        # JetStream answers 503 while it starts or elects a leader, and 500 ("error creating store") while
        # the files of a just-deleted stream of that name are still being removed: both pass; retry them.
        for delay in STREAM_RETRY_S:
            try:
                try:
                    await self.js.add_stream(config)
                except BadRequestError:
                    await self.js.update_stream(config)
                return
            except (ServerError, ServiceUnavailableError) as exc:
                if delay is None:
                    raise
                log.warning("stream %s not ready (%s); retry in %.1fs", config.name, exc.description, delay)
                await asyncio.sleep(delay)

    async def close(self) -> None:
        # close, not drain: drain waits up to 30 s on idle pull subscriptions, and anything unacked is
        # redelivered anyway.
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None
            self._js = None

    async def publish_raw(
        self, *, subject: str, body: bytes, msg_id: str, headers: dict[str, str] | None = None
    ) -> PubAck:
        """Publish and wait for the stream's acknowledgement; `msg_id` makes retries harmless."""
        hdrs = dict(headers or {})
        hdrs["Nats-Msg-Id"] = msg_id
        ack = await self.js.publish(subject, body, headers=hdrs, timeout=5)
        if not ack.duplicate:
            self.metrics.event_published(subject)
        return ack

    async def publish(self, event: CloudEvent) -> PubAck:
        """Publish one event now (acknowledged, de-duplicated by its id)."""
        spec = spec_for(event.type)
        return await self.publish_raw(
            subject=spec.subject, body=event.to_bytes(), msg_id=event.id, headers=inject_headers({})
        )

    def consumer(
        self,
        *,
        durable: str,
        event: type[P],
        batch_handler: BatchHandler[P],
        batch: int = 64,
        backoff: tuple[float, ...] = BACKOFF_S,
        ack_wait: float = 30.0,
        linger: float = 0.0,
        subject: str | None = None,
    ) -> Consumer[P]:
        """A durable pull consumer of the event whose payload is `event` (start it with `Consumer.run`);
        with `subject` (a domain's wildcard, `listening.>`), of every event of that domain's stream, each
        parsed with `event` (`Contract` keeps every field)."""
        return Consumer(
            self,
            durable=durable,
            event=event,
            subject=subject,
            apply=batch_handler,
            batch=batch,
            backoff=backoff,
            ack_wait=ack_wait,
            linger=linger,
        )


@dataclass
class Consumer(Generic[P]):
    """Fetch, parse and handle a batch, ack what succeeded; nak with back-off on error, dead-letter at last.

    A delivery whose envelope or payload does not parse is poison: no retry can fix it, so it goes to
    the dead-letter subject at once. Acks go out only after `apply` returns, so a batch handler that
    commits first never loses an event; a crash in between redelivers it (after `ack_wait`) to an
    idempotent handler.

    `linger` (seconds) trades latency for CPU: a fetch that brings fewer than `batch` deliveries waits
    that long, holding them unacked, and fetches once more what arrived meanwhile, so that events that
    trickle in one at a time are handled (and committed, acked, relayed) a batch at a time. Each batch
    costs a handler a fixed number of statements however few events it holds. 0: handle at once.
    """

    bus: Bus
    durable: str
    event: type[P]
    apply: BatchHandler[P]
    batch: int = 64
    # Delay before redelivery after each failed attempt; one more attempt than delays, then dead letter.
    backoff: tuple[float, ...] = BACKOFF_S
    ack_wait: float = 30.0
    # Seconds a short batch waits for more deliveries before it is handled (see above).
    linger: float = 0.0
    # A domain's wildcard (`listening.>`): every event of its stream, one consumer (idle consumers cost
    # CPU, one per event type would multiply that); None: the subject of `event`.
    subject: str | None = None
    envelope: type[Event[P]] = field(init=False)

    def __post_init__(self) -> None:
        self.envelope = event_model(self.event)

    @property
    def max_deliver(self) -> int:
        return len(self.backoff) + 1

    async def run(self) -> None:
        """Consume until cancelled."""
        if self.subject is None:
            spec = spec_of(self.event)
            subject, stream = spec.subject, spec.stream
        else:
            subject, stream = self.subject, stream_of(self.subject)
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            filter_subject=subject,
            max_ack_pending=self.batch * 16,
        )
        sub = await self.bus.js.pull_subscribe(subject, durable=self.durable, stream=stream, config=config)
        log.info("consumer.started", extra={"durable": self.durable, "event_type": subject})
        wait = FETCH_WAIT_S[0]
        while True:
            try:
                msgs = await sub.fetch(self.batch, timeout=wait)
            except (NatsTimeout, TimeoutError):
                # nats-py also raises a bare asyncio.TimeoutError (== TimeoutError) when a fetch's deadline
                # runs out between its two pull requests; uncaught, it silently ended this consumer.
                wait = min(wait * 2, FETCH_WAIT_S[1])
                continue
            except (
                nats.errors.ConnectionClosedError,
                nats.errors.ConnectionReconnectingError,
                nats.errors.NoRespondersError,
            ):
                await asyncio.sleep(0.5)
                continue
            except Exception:
                # Never let a consumer die quietly: log, pause, fetch again.
                log.exception("consumer.fetch_failed", extra={"durable": self.durable})
                await asyncio.sleep(1.0)
                continue
            wait = FETCH_WAIT_S[0]
            if self.linger > 0 and len(msgs) < self.batch:
                msgs = await self._fill(sub, list(msgs))
            await self.handle_batch(msgs)

    async def _fill(self, sub: JetStreamContext.PullSubscription, msgs: list[Msg]) -> list[Msg]:
        """The deliveries in hand and those that arrive within `linger`, up to `batch`: one wait and one
        more fetch (not a fetch per arrival, which would cost what the batching saves)."""
        await asyncio.sleep(self.linger)
        try:
            # What arrived is answered at once; should nothing have, this waits briefly for it.
            msgs.extend(await sub.fetch(self.batch - len(msgs), timeout=FILL_TIMEOUT_S))
        except Exception as exc:
            # A timeout (nothing more came) or a lost connection: the deliveries in hand go ahead anyway.
            if not isinstance(exc, NatsTimeout | TimeoutError):
                log.warning("consumer.fill_failed", exc_info=True, extra={"durable": self.durable})
        return msgs

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        """Handle a batch of deliveries, then settle each exactly once (ack, nak, or term + dead letter)."""
        events: list[Event[P]] = []
        valid: list[Msg] = []
        headers: dict[str, dict[str, str]] = {}
        metrics = self.bus.metrics
        counts = [_delivery_counts(msg.reply) for msg in msgs]
        if counts and counts[-1] is not None:
            # The latest delivery's pending count is the consumer's lag (no consumer-info round trip).
            metrics.consumer_pending(self.durable, counts[-1][1])
        metrics.redeliveries(self.durable, sum(1 for c in counts if c is not None and c[0] > 1))
        for msg in msgs:
            try:
                event = self.envelope.model_validate_json(msg.data)
            except ValidationError as exc:
                await self._settle(self._dead_letter(msg, _invalid(exc)))
                continue
            events.append(event)
            valid.append(msg)
            headers[event.id] = dict(msg.headers or {})
        if not events:
            return
        scope = ConsumeSpans(headers)
        try:
            outcomes: Sequence[BaseException | None] = await self.apply(events, scope)
        except Exception as exc:
            # The batch handler could not even try (e.g. the database is down): every event failed.
            outcomes = [exc] * len(events)
        for msg, event, outcome in zip(valid, events, outcomes, strict=True):
            metrics.event_consumed(msg.subject, self.durable, ok=outcome is None)
            if outcome is None:
                await self._settle(msg.ack())
            else:
                await self._settle(self._failed(msg, event, outcome))

    async def _failed(self, msg: Msg, event: Envelope, exc: BaseException) -> None:
        attempt = msg.metadata.num_delivered
        log.warning(
            "event.handler_failed",
            exc_info=exc,
            extra={"durable": self.durable, "event_id": event.id, "attempt": attempt},
        )
        if attempt >= self.max_deliver:
            await self._dead_letter(msg, type(exc).__name__)
        else:
            await msg.nak(delay=self.backoff[attempt - 1])

    async def _settle(self, settling: Awaitable[None]) -> None:
        try:
            await settling
        except Exception:
            # Settling failed (e.g. the connection dropped): the broker redelivers after ack_wait.
            log.exception("consumer.settle_failed", extra={"durable": self.durable})

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        headers = {k: v for k, v in (msg.headers or {}).items() if not k.startswith("Nats-")}
        headers["Rapport-Dead-Reason"] = reason
        headers["Rapport-Original-Subject"] = msg.subject
        seq = str(msg.metadata.sequence.stream)
        await self.bus.publish_raw(
            subject=dead_letter_subject(self.durable),
            body=msg.data,
            msg_id=f"{self.durable}:{seq}",
            headers=headers,
        )
        await msg.term()
        # A reason is an exception's class name, or "invalid …" for a delivery that does not parse.
        self.bus.metrics.dead_letter(self.durable, invalid=reason.startswith("invalid "))
        log.error("event.dead_lettered", extra={"durable": self.durable, "stream_seq": seq, "reason": reason})


def _delivery_counts(reply: str | None) -> tuple[int, int] | None:
    """A delivery's (delivery count, pending count), read from its reply subject without nats-py's
    `metadata` (which also builds a datetime and two dataclasses: ~15 µs a delivery); None if unreadable."""
    tokens = (reply or "").split(".")
    try:
        if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>
            return int(tokens[4]), int(tokens[8])
        return int(tokens[Msg.Ack.NumDelivered]), int(tokens[Msg.Ack.NumPending])
    except (IndexError, ValueError):
        return None


def _invalid(exc: ValidationError) -> str:
    """The dead-letter reason of a delivery that does not parse: its envelope, or only its payload."""
    errors = exc.errors()
    # `data` missing altogether is the envelope's fault; anything wrong inside it is the payload's.
    if all(e["loc"][:1] == ("data",) and (len(e["loc"]) > 1 or e["type"] != "missing") for e in errors):
        return "invalid payload"
    return "invalid envelope"

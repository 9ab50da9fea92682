"""A thin JetStream bus: streams per domain, de-duplicated publishes, durable pull consumers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck, StorageType, StreamConfig
from nats.js.errors import APIError, BadRequestError, NotFoundError, ServerError, ServiceUnavailableError
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
# How long a consumer's pull request stays open at the server. A waiting request gets each delivery the
# moment it arrives, so this is no delay: only how often an idle consumer asks again (one request and
# its expiry notice per period), the CPU an idle consumer costs the broker and itself.
PULL_EXPIRES_S = 30.0
# How long past its expiry a request's end notice may be late before the request counts as lost.
PULL_GRACE_S = 2.0
# After a request the server refused (a status other than its expiry), the wait before the next one.
PULL_REFUSED_PAUSE_S = 1.0
# How long a consumer waits for the rest of a burst the server said it holds (the pending count each
# delivery carries), and the wait that tops up a lingering batch.
FILL_TIMEOUT_S = 0.05
# The status a pull request's end comes with: expired (408); a heartbeat or flow control (100) is not one.
_EXPIRED, _HEARTBEAT = "408", "100"
# The trace headers of a delivery that came without any (read only).
_NO_HEADERS: dict[str, str] = {}


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
        # Called after a reconnect: the server forgot the pull requests of the lost connection.
        self._reconnect_hooks: set[Callable[[], None]] = set()
        # `publish_many`: the stream's acknowledgements, each on a reply subject of its own.
        self._acks_inbox = ""
        self._acks_sub: Subscription | None = None
        self._ack_tokens = itertools.count()
        self._ack_waiters: dict[str, asyncio.Future[PubAck]] = {}

    @property
    def nc(self) -> NATS:
        if self._nc is None:
            raise RuntimeError("bus is not connected")
        return self._nc

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
            self.url,
            name=self.name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=5,
            reconnected_cb=self._reconnected,
        )
        self._js = self._nc.jetstream()
        await self.ensure_streams()

    async def _reconnected(self) -> None:
        for hook in list(self._reconnect_hooks):
            hook()

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
        self._acks_sub = None
        for future in self._ack_waiters.values():
            future.cancel()
        self._ack_waiters.clear()

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

    async def publish_many(
        self, messages: Sequence[tuple[str, bytes, dict[str, str]]], *, ack_wait_s: float
    ) -> list[PubAck | BaseException]:
        """Publish (subject, body, headers) messages in order, all in flight at once, and wait up to
        `ack_wait_s` for the stream's acknowledgements; per message, its `PubAck` or what failed it (a
        `TimeoutError` when none came in time). The publishes go out without yielding to the event loop
        in between, so the connection writes them together (nats-py's `publish_async` waits on a
        semaphore per message, which yields, and the connection then writes each one on its own)."""
        if self._acks_sub is None:
            self._acks_inbox = self.nc.new_inbox()
            self._acks_sub = await self.nc.subscribe(f"{self._acks_inbox}.*", cb=self._acked)
        loop = asyncio.get_running_loop()
        waiting: list[tuple[str, asyncio.Future[PubAck]]] = []
        failed: BaseException | None = None
        for subject, body, headers in messages:
            token = str(next(self._ack_tokens))
            future: asyncio.Future[PubAck] = loop.create_future()
            self._ack_waiters[token] = future
            waiting.append((token, future))
            try:
                await self.nc.publish(subject, body, reply=f"{self._acks_inbox}.{token}", headers=headers)
            except Exception as exc:
                # Those already sent may still be acknowledged; the rest are not sent.
                failed = exc
                break
        if failed is not None:
            waiting[-1][1].set_exception(failed)  # the one whose publish failed
        if waiting:
            await asyncio.wait([f for _, f in waiting], timeout=ack_wait_s)
        results: list[PubAck | BaseException] = []
        for token, future in waiting:
            self._ack_waiters.pop(token, None)
            if not future.done():
                future.cancel()
                results.append(TimeoutError("no acknowledgement in time"))
            else:
                results.append(future.exception() or future.result())
        results.extend(failed or RuntimeError("not sent") for _ in range(len(messages) - len(results)))
        return results

    async def _acked(self, msg: Msg) -> None:
        future = self._ack_waiters.pop(msg.subject.rsplit(".", 1)[-1], None)
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == "503":
            future.set_exception(nats.errors.NoRespondersError())
            return
        try:
            response = json.loads(msg.data)
            if "error" in response:
                APIError.from_error(response["error"])  # raises the error's class
            future.set_result(PubAck.from_response(response))
        except Exception as exc:
            future.set_exception(exc)

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
        start_time: datetime | None = None,
    ) -> Consumer[P]:
        """A durable pull consumer of the event whose payload is `event` (start it with `Consumer.run`);
        with `subject` (a domain's wildcard, `listening.>`), of every event of that domain's stream, each
        parsed with `event` (`Contract` keeps every field); with `start_time`, a durable created now
        reads from the messages stored since then instead of from the stream's first."""
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
            start_time=start_time,
        )


@dataclass
class Consumer(Generic[P]):
    """Fetch, parse and handle a batch, ack what succeeded; nak with back-off on error, dead-letter at last.

    A delivery whose envelope or payload does not parse is poison: no retry can fix it, so it goes to
    the dead-letter subject at once. Acks go out only after `apply` returns, so a batch handler that
    commits first never loses an event; a crash in between redelivers it (after `ack_wait`) to an
    idempotent handler.

    Deliveries come through one pull request kept open at the server (`_Pull`): a batch is what has
    arrived, plus the rest of a burst the server said it holds. `linger` (seconds) trades latency for
    CPU: a batch shorter than `batch` waits that long, holding its deliveries unacked, and takes what
    arrived meanwhile, so that events that trickle in one at a time are handled (and committed, acked,
    relayed) a batch at a time. Each batch costs a handler a fixed number of statements however few
    events it holds. 0: handle at once.
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
    # Where a durable created by `run` starts: the messages stored since then; None: the stream's first.
    # (An existing durable keeps its own position.)
    start_time: datetime | None = None
    envelope: type[Event[P]] = field(init=False)

    def __post_init__(self) -> None:
        self.envelope = event_model(self.event)

    @property
    def max_deliver(self) -> int:
        return len(self.backoff) + 1

    def _where(self) -> tuple[str, str]:
        """The consumer's (subject filter, stream)."""
        if self.subject is None:
            spec = spec_of(self.event)
            return spec.subject, spec.stream
        return self.subject, stream_of(self.subject)

    async def create(self) -> bool:
        """Create the durable unless it exists (an existing one keeps its configuration and position);
        whether this call created it. `run` does it too; another process creating it at the same moment
        is no error."""
        subject, stream = self._where()
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            filter_subject=subject,
            max_ack_pending=self.batch * 16,
        )
        if self.start_time is not None:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = self.start_time
        js = self.bus.js
        try:
            await js.consumer_info(stream, self.durable)
            return False
        except NotFoundError:
            pass
        config.name = self.durable
        try:
            await js.add_consumer(stream, config=config)
        except BadRequestError:
            # Another process made it meanwhile, perhaps with another start (the server refuses to change
            # a durable's start): it exists, which is all this asks; anything else is raised.
            await js.consumer_info(stream, self.durable)
            return False
        return True

    async def run(self) -> None:
        """Consume until cancelled."""
        await self.create()
        subject, stream = self._where()
        pull = _Pull(self.bus, stream=stream, durable=self.durable, batch=self.batch)
        await pull.start()
        log.info("consumer.started", extra={"durable": self.durable, "event_type": subject})
        try:
            while True:
                try:
                    msgs = await pull.next_batch(linger=self.linger)
                except (
                    nats.errors.ConnectionClosedError,
                    nats.errors.ConnectionReconnectingError,
                    nats.errors.NoRespondersError,
                ):
                    await asyncio.sleep(0.5)
                    continue
                except Exception:
                    # Never let a consumer die quietly: log, pause, pull again.
                    log.exception("consumer.fetch_failed", extra={"durable": self.durable})
                    await asyncio.sleep(1.0)
                    continue
                await self.handle_batch(msgs)
        finally:
            await pull.stop()

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
            headers[event.id] = msg.headers or _NO_HEADERS
        if not events:
            return
        scope = ConsumeSpans(headers)
        try:
            outcomes: Sequence[BaseException | None] = await self.apply(events, scope)
        except Exception as exc:
            # The batch handler could not even try (e.g. the database is down): every event failed.
            outcomes = [exc] * len(events)
        # Counted per subject and outcome, not per delivery (a batch is mostly one subject).
        consumed: dict[tuple[str, bool], int] = {}
        for msg, event, outcome in zip(valid, events, outcomes, strict=True):
            key = (msg.subject, outcome is None)
            consumed[key] = consumed.get(key, 0) + 1
            if outcome is None:
                await self._settle(msg.ack())
            else:
                await self._settle(self._failed(msg, event, outcome))
        for (subject, ok), count in consumed.items():
            metrics.event_consumed(subject, self.durable, ok=ok, count=count)

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


class _Pull:
    """A durable consumer's deliveries through one pull request kept open at the server.

    The request asks for `batch` deliveries and expires after `PULL_EXPIRES_S`; it is renewed when it
    has brought them all, when it expired (the server says so: status 408), and when it was lost with
    the connection (a reconnect) or its end notice never came. An idle consumer thus costs one request
    per `PULL_EXPIRES_S`, and a busy one a request per `batch` deliveries, instead of a fetch (one or two
    requests and an end notice) per batch and one every few seconds when idle. Each request has a reply
    subject of its own, so a late end notice of an earlier request never ends the current one.
    Deliveries held here when the consumer stops are released (nak) for another replica to take at
    once."""

    def __init__(self, bus: Bus, *, stream: str, durable: str, batch: int) -> None:
        self._bus = bus
        self._durable = durable
        self._batch = batch
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = bus.nc.new_inbox()
        self._requests = itertools.count()
        self._reply = ""  # the open request's reply subject; "" when none is open
        self._left = 0  # deliveries the open request may still bring
        self._expires_at = 0.0  # monotonic; when the open request counts as lost without an end notice
        self._refused_at = -PULL_REFUSED_PAUSE_S
        self._queue: deque[Msg] = deque()
        self._latest: str | None = None  # the latest delivery's reply subject (its pending count)
        self._arrived = asyncio.Event()
        self._sub: Subscription | None = None
        self._body = json.dumps(
            {"batch": batch, "expires": int(PULL_EXPIRES_S * 1_000_000_000)}, separators=(",", ":")
        ).encode()

    async def start(self) -> None:
        self._sub = await self._bus.nc.subscribe(f"{self._inbox}.*", cb=self._received)
        self._bus._reconnect_hooks.add(self._lost)

    async def stop(self) -> None:
        self._bus._reconnect_hooks.discard(self._lost)
        with contextlib.suppress(Exception):
            if self._sub is not None:
                await self._sub.unsubscribe()
        held, self._queue = list(self._queue), deque()
        for msg in held:
            with contextlib.suppress(Exception):
                await msg.nak()

    def _lost(self) -> None:
        self._reply, self._left = "", 0
        self._arrived.set()

    async def _received(self, msg: Msg) -> None:
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            # A delivery carries its event's subject, not the request's (only a status does): counted
            # against the open request, which at worst is renewed a little early.
            self._queue.append(msg)
            self._left -= 1
            if self._left <= 0:
                self._reply = ""
            self._latest = msg.reply
        elif status != _HEARTBEAT and msg.subject == self._reply:
            # The open request ended: expired (408), or refused (409: the consumer was deleted, too many
            # waiting requests…), then the next one waits a little.
            self._reply, self._left = "", 0
            if status != _EXPIRED:
                self._refused_at = time.monotonic()
                log.warning(
                    "consumer.pull_refused",
                    extra={
                        "durable": self._durable,
                        "status": status,
                        "reason": headers.get("Description"),
                    },
                )
        self._arrived.set()

    async def _renew(self) -> None:
        """Open a request unless one is open (and not overdue)."""
        now = time.monotonic()
        if self._reply and now < self._expires_at:
            return
        pause = self._refused_at + PULL_REFUSED_PAUSE_S - now
        if pause > 0:
            await asyncio.sleep(pause)
        self._reply = f"{self._inbox}.{next(self._requests)}"
        self._left = self._batch
        self._expires_at = time.monotonic() + PULL_EXPIRES_S + PULL_GRACE_S
        try:
            await self._bus.nc.publish(self._next_subject, self._body, reply=self._reply)
        except Exception:
            self._reply, self._left = "", 0
            raise

    @property
    def _pending(self) -> int:
        """What the server still held for this consumer at the latest delivery; read only when a batch
        is short, not parsed on every delivery (`handle_batch` reads each one's counts anyway)."""
        counts = _delivery_counts(self._latest)
        return counts[1] if counts is not None else 0

    def _take(self, msgs: list[Msg]) -> None:
        while self._queue and len(msgs) < self._batch:
            msgs.append(self._queue.popleft())

    async def _wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a delivery or a request's end; whether one came."""
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout=max(seconds, 0.0))
        except TimeoutError:
            return False
        return True

    async def next_batch(self, *, linger: float = 0.0) -> list[Msg]:
        """The next batch: at least one delivery, at most `batch`."""
        while not self._queue:
            await self._renew()
            self._arrived.clear()
            if not self._queue:
                await self._wait(self._expires_at - time.monotonic())
        msgs: list[Msg] = []
        self._take(msgs)
        # The rest of a burst: each delivery says how many more the server holds for this consumer.
        while len(msgs) < self._batch and self._pending > 0:
            await self._renew()
            self._arrived.clear()
            if not self._queue and not await self._wait(FILL_TIMEOUT_S):
                break
            self._take(msgs)
        if linger > 0 and len(msgs) < self._batch:
            await asyncio.sleep(linger)
            await self._renew()
            if not self._queue and self._pending > 0:
                # What the server holds arrives at once; should nothing have yet, wait briefly for it.
                self._arrived.clear()
                await self._wait(FILL_TIMEOUT_S)
            self._take(msgs)
        await self._renew()
        return msgs


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

"""One way to build a service: the same lifespan, health checks and plumbing in all five."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared import speedups
from shared.auth import JWKSSource, TokenVerifier, jwks_from_url
from shared.db import create_engine, ping, session_factory
from shared.docs import install_docs
from shared.errors import install_error_handlers
from shared.events.bus import BatchHandler, Bus, Consumer, EventScope
from shared.events.contracts import Contract
from shared.events.envelope import Event
from shared.events.inbox import handle_batch_once, handle_set, handle_set_once
from shared.events.outbox import OutboxRelay
from shared.logging import setup_logging
from shared.migrations import SchemaNotAtHead, require_head
from shared.openapi import install_openapi
from shared.prometheus import Metrics, PrometheusMiddleware, metrics_router
from shared.reads import Reader, create_reader
from shared.revocation import RevocationList
from shared.settings import Settings
from shared.telemetry import TracingMiddleware, flush_tracing, setup_tracing
from shared.validation import RejectNul, guard_query_parameters

log = logging.getLogger("rapport.service")
# On shutdown, how long the background tasks (relay, consumers, workers) get to finish once cancelled.
SHUTDOWN_GRACE_S = 5.0


P = TypeVar("P", bound=Contract)


@dataclass(frozen=True)
class Subscription(Generic[P]):
    """One idempotent handler of one event, named by its payload class, run in a transaction with the inbox.

    The handler receives the event with its payload parsed (`event.data` is a `P`); a delivery that does
    not parse never reaches it (dead letter). A fetched batch shares one transaction; should an event
    fail, the batch runs again with a savepoint per event, so that only the failing one is undone (see
    `handle_batch_once`).

    A set-based consumer gives `batch_handler` instead: it receives the batch's new events in one call
    (one transaction with their inbox rows; on failure each event is retried alone, as a batch of one:
    `handle_set_once`).

    `linger_ms`: how long a short batch waits for more events before it is handled (see
    `Consumer.linger`); None takes the service's `consumer_linger_ms` setting.
    """

    durable: str
    event: type[P]
    handler: Callable[[AsyncSession, Event[P]], Awaitable[None]] | None = None
    batch_handler: Callable[[AsyncSession, Sequence[Event[P]]], Awaitable[None]] | None = None
    linger_ms: float | None = None
    # A domain's wildcard (`listening.>`): every event of that stream, parsed with `event` (see
    # `Consumer.subject`); None: the subject of `event`.
    subject: str | None = None
    # False: a `batch_handler` idempotent by itself (natural keys), run without inbox rows (`handle_set`).
    inbox: bool = True
    # A durable created now reads the messages stored since then (None: from the stream's first).
    start_time: datetime | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch_handler is None):
            raise ValueError(f"subscription {self.durable}: give exactly one of handler and batch_handler")
        if not self.inbox and self.batch_handler is None:
            raise ValueError(f"subscription {self.durable}: only a batch_handler runs without the inbox")


SettingsT = TypeVar("SettingsT", bound=Settings)
StateT = TypeVar("StateT")


@dataclass
class Runtime(Generic[SettingsT]):
    """What every running service holds, typed by its own settings; a service's state composes it."""

    settings: SettingsT
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # The statements of the requests that only read (`ReaderDep`): straight on the driver.
    reader: Reader
    bus: Bus
    relay: OutboxRelay
    # The process's one Redis client (its own connection pool): revocations, engagement's presence.
    redis: Redis
    # The app's Prometheus registry and instruments (`shared/prometheus.py`), served at `/metrics`.
    metrics: Metrics
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run `work` for the app's lifetime: cancelled at shutdown, watched by `/readyz`."""
        self.tasks.append(asyncio.create_task(work, name=name))


@asynccontextmanager
async def runtime_only(rt: Runtime[SettingsT]) -> AsyncIterator[Runtime[SettingsT]]:
    """The `start` of a service that holds nothing beyond the shared runtime: its state is the runtime."""
    yield rt


def create_service_app(
    *,
    settings: SettingsT,
    start: Callable[[Runtime[SettingsT]], AbstractAsyncContextManager[StateT]],
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    subscriptions: Sequence[Subscription[Any]] | Callable[[StateT], Sequence[Subscription[Any]]] = (),
    jwks: JWKSSource | None = None,
    raw_body_prefixes: Sequence[str] = (),
) -> FastAPI:
    """A FastAPI app with db, bus, outbox relay, consumers, token verification and health checks.

    `start` enters the service's own state (one typed object, its background tasks started with
    `Runtime.spawn`) once the database and the bus are up, and leaves it after those tasks are stopped;
    routes reach it through `state_dependency`, and `subscriptions` may be built from it. Everything
    lives as long as the lifespan, in this app only: two apps of one service share nothing.

    FastAPI's per-request parameter introspection is cached (`shared.speedups`).

    JSON bodies are checked for NUL characters (`shared.validation.RejectNul`) except under
    `raw_body_prefixes` (webhook deliveries read as raw bytes)."""

    speedups.install()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(settings.service, settings.log_level)
        setup_tracing(settings.service, console=settings.trace_console)
        engine = create_engine(settings.resolved_database_url())
        try:
            # Migrations run before the service (`rapport migrate`); it never creates or alters tables.
            await require_head(engine, settings.service)
        except SchemaNotAtHead as exc:
            log.error("service.schema_not_at_head", extra={"current": exc.current, "heads": exc.heads})
            await engine.dispose()
            raise
        sessions = session_factory(engine)
        reader = create_reader(engine)
        bus = Bus(
            settings.nats_url,
            name=f"rapport-{settings.service}",
            replicas=settings.stream_replicas,
            max_age_s=settings.stream_max_age_days * 86400,
            metrics=metrics,
        )
        await bus.connect()
        redis = Redis.from_url(
            settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30
        )
        rt = Runtime(
            settings=settings,
            engine=engine,
            sessions=sessions,
            reader=reader,
            bus=bus,
            relay=OutboxRelay(sessions, bus),
            redis=redis,
            metrics=metrics,
        )
        app.state.runtime = rt
        # The revocation deny-list, mirrored like the gateway's: a token revoked there (logout, a
        # deactivated user, a revoked API key) is refused here too, should a request get past it.
        revocations = RevocationList(redis, poll_s=settings.revocation_poll_s)
        app.state.verifier = TokenVerifier(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            jwks=jwks or jwks_from_url(f"{settings.identity_url}/.well-known/jwks.json"),
            revoked=revocations.revoked,
        )
        rt.spawn(revocations.run(), name="revocations")
        stack = AsyncExitStack()
        state = await stack.enter_async_context(start(rt))
        app.state.service = state
        rt.spawn(rt.relay.run(), name="outbox-relay")
        subs = subscriptions(state) if callable(subscriptions) else subscriptions
        for sub in subs:
            rt.tasks.append(asyncio.create_task(consumer_of(rt, sub).run(), name=sub.durable))
        log.info("service.started", extra={"subscriptions": len(subs)})
        try:
            yield
        finally:
            for task in rt.tasks:
                task.cancel()
            if rt.tasks:
                done, stuck = await asyncio.wait(rt.tasks, timeout=SHUTDOWN_GRACE_S)
                for task in done:
                    if not task.cancelled():
                        task.exception()  # retrieved: a task that failed earlier was logged then
                for task in stuck:
                    log.error("service.task_stuck", extra={"task": task.get_name()})
            await stack.aclose()
            await redis.aclose()
            await bus.close()
            await reader.close()
            await engine.dispose()
            await asyncio.to_thread(flush_tracing)
            log.info("service.stopped")

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        # Swagger UI from local assets (below), no ReDoc (it would load from a CDN); all off when
        # `api_docs` is false.
        openapi_url="/openapi.json" if settings.api_docs else None,
        docs_url=None,
        redoc_url=None,
        # One server span per request comes from TracingMiddleware; FastAPI's own would double it.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_error_handlers(app)
    app.add_middleware(RejectNul, raw_body_prefixes=tuple(raw_body_prefixes))
    app.add_middleware(TracingMiddleware)
    app.state.metrics = metrics
    app.add_middleware(PrometheusMiddleware, metrics=metrics)
    if settings.api_docs:
        install_docs(app, openapi_url="/openapi.json", title=title)
    app.include_router(health_router())
    app.include_router(metrics_router())
    for router in routers:
        app.include_router(router)
    guard_query_parameters(app)
    install_openapi(app)
    return app


def consumer_of(rt: Runtime[Any], sub: Subscription[P]) -> Consumer[P]:
    """The durable consumer running `sub` in `rt` (each batch in a transaction of `rt.sessions`)."""
    linger_ms = rt.settings.consumer_linger_ms if sub.linger_ms is None else sub.linger_ms
    return rt.bus.consumer(
        durable=sub.durable,
        event=sub.event,
        batch_handler=_once(rt.sessions, sub),
        linger=max(linger_ms, 0.0) / 1000,
        subject=sub.subject,
        start_time=sub.start_time,
    )


def _once(sessions: async_sessionmaker[AsyncSession], sub: Subscription[P]) -> BatchHandler[P]:
    async def handle(events: Sequence[Event[P]], scope: EventScope) -> list[BaseException | None]:
        if sub.batch_handler is not None and not sub.inbox:
            return await handle_set(
                sessions, consumer=sub.durable, events=events, handler=sub.batch_handler, scope=scope
            )
        if sub.batch_handler is not None:
            return await handle_set_once(
                sessions, consumer=sub.durable, events=events, handler=sub.batch_handler, scope=scope
            )
        assert sub.handler is not None
        return await handle_batch_once(
            sessions, consumer=sub.durable, events=events, handler=sub.handler, scope=scope
        )

    return handle


def health_router() -> APIRouter:
    """`/healthz` (the process runs) and `/readyz` (its database and NATS answer)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: database and NATS reachable")
    async def readyz(request: Request) -> JSONResponse:
        rt: Runtime[Settings] = request.app.state.runtime
        checks: dict[str, str] = {
            "nats": "ok" if rt.bus.connected else "down",
            # A consumer or relay task that ended means events would pile up unread.
            "workers": "ok" if all(not task.done() for task in rt.tasks) else "down",
        }
        try:
            await asyncio.wait_for(ping(rt.engine), timeout=2)
            checks["database"] = "ok"
        except Exception:
            checks["database"] = "down"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "service": rt.settings.service, "checks": checks},
            status_code=200 if ready else 503,
        )

    return router


def state_dependency(kind: type[StateT]) -> Callable[[Request], Awaitable[StateT]]:
    """A dependency returning the app's state (what its `start` built), checked to be a `kind`.

    Declare it once per service as an `Annotated` alias: `XStateDep = Annotated[XState, Depends(...)]`."""

    async def get_state(request: Request) -> StateT:
        state = request.app.state.service
        if not isinstance(state, kind):
            raise TypeError(f"this app's state is a {type(state).__name__}, not a {kind.__name__}")
        return state

    return get_state


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request; logic functions commit it."""
    rt: Runtime[Settings] = request.app.state.runtime
    async with rt.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_reader(request: Request) -> Reader:
    """The process's reader (shared/reads.py): for routes that only read."""
    reader: Reader = request.app.state.runtime.reader
    return reader


ReaderDep = Annotated[Reader, Depends(get_reader)]

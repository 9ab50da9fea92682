"""The hot path: a pure-ASGI app that authenticates, limits and proxies `/v1/*` and `/.well-known/*`.

It runs outside FastAPI's stack (FastAPI's routing and native telemetry would cost a third of the
throughput); the gateway's own routes (`/healthz`, `/readyz`, `/openapi.json`, `/docs`) stay in FastAPI.

An authenticated request costs one (batched) Redis call, as before: its token's claims are cached and
the revocation deny-list is an in-memory mirror. Public routes draw on the budget of their class (per
client IP; webhooks per channel too, in the same batched call). A request whose token fails
verification is counted against its client IP (a second budget, only on that failure path).

A request that names a person on a route processing personal data for a purpose (`gateway/routes.py`,
`PROCESSING`) is decided from the consent projection (`shared/consent.py`, one more Redis round trip):
refused → 451, projection not ready → 503. Its audit record (`privacy.audit.recorded`, ids only) is
published to JetStream, acknowledged, while the request is proxied, and awaited before the response
starts: an access that could not be recorded is not answered (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from gateway.consent import ConsentUnreadable
from gateway.errors import AuditUnavailable, BodyTooLarge
from gateway.idempotency import Recorded, fingerprint, parse_key, replay
from gateway.proxy import HOP_BY_HOP, ResponseAborted
from gateway.ratelimit import ConsentFields, Decision
from gateway.routes import Processing, Route, RouteTable, webhook_channel
from gateway.settings import GatewaySettings
from gateway.state import GatewayState
from gateway.tickets import TicketInvalid, take_ticket
from shared import consent
from shared.auth import Principal, TokenRevoked, bearer_token
from shared.errors import (
    PROBLEM_JSON,
    Forbidden,
    NotFound,
    ProblemError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from shared.events.catalog import spec_of
from shared.events.contracts import AuditRecorded
from shared.events.envelope import new_event
from shared.logging import set_tenant
from shared.telemetry import ASGIApp, Receive, Scope, Send, inject_headers

log = logging.getLogger("rapport.gateway")

# A client's request id is kept only if it is a short token that is safe in logs and headers.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_TRACEPARENT = re.compile(rb"00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})")
# Never forwarded as the client sent them: hop-by-hop headers, those the gateway sets itself, and any
# identity or forwarding header a client could forge (services trust only the verified token anyway).
_DROP_REQUEST = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"expect",
    b"x-request-id",
    b"x-tenant-id",
    b"x-user-id",
    b"forwarded",
    b"traceparent",
    b"tracestate",
}
_DROP_PREFIXES = (b"x-rapport-", b"x-forwarded-")
_DOT_SEGMENTS = ("/./", "/../", "//")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


@dataclass(slots=True)
class Incoming:
    """What one pass over the request headers found."""

    request_id: bytes
    forward: list[tuple[str, str]]
    authorization: str | None = None
    length: int | None = None
    chunked: bool = False
    host: str | None = None
    traceparent: bytes | None = None
    idempotency_key: bytes | None = None


class GatewayNotStarted(ServiceUnavailable):
    type = "https://rapport.dev/problems/gateway-not-started"


class ClientDisconnected(Exception):
    """The client went away while its body was being read."""


class GatewayProxy:
    """Routes, authenticates (cached RS256 claims), rate-limits (one Redis call) and proxies.

    With `record_spans` the request runs inside an OpenTelemetry span (shared TracingMiddleware) whose
    context is injected upstream. Without an exporter such spans are dropped anyway, so the gateway
    only propagates W3C trace context: the client's `traceparent` continues, or a new trace starts.
    """

    def __init__(self, settings: GatewaySettings, *, table: RouteTable, record_spans: bool) -> None:
        self.table = table
        # The app's state while its lifespan runs (`serve`); None before and after.
        self.state: GatewayState | None = None
        self.record_spans = record_spans
        self.max_body = settings.max_body_bytes
        self.tenant_limit = (settings.rate_limit_per_window, settings.rate_limit_window_s)
        self.public_window = settings.public_rate_limit_window_s
        self.class_limits = {
            "public": settings.public_rate_limit_per_window,
            "login": settings.login_rate_limit_per_window,
            "signup": settings.signup_rate_limit_per_window,
            "refresh": settings.refresh_rate_limit_per_window,
            "jwks": settings.jwks_rate_limit_per_window,
            "webhook": settings.webhook_ip_rate_limit_per_window,
        }
        self.channel_limit = settings.webhook_rate_limit_per_window
        self.bad_token_limit = settings.bad_token_rate_limit_per_window

    @asynccontextmanager
    async def serve(self, state: GatewayState) -> AsyncIterator[None]:
        """Proxy with `state` while the context is open."""
        self.state = state
        try:
            yield
        finally:
            self.state = None

    def _running(self) -> GatewayState:
        if self.state is None:
            raise GatewayNotStarted("The gateway is starting or stopping.")
        return self.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = _scan_headers(scope["headers"])
        reply = [(b"x-request-id", incoming.request_id)]
        try:
            await self._handle(scope, receive, send, incoming, reply)
        except ProblemError as exc:
            await _send_problem(send, exc, scope["path"], reply)
        except (ClientDisconnected, ResponseAborted):
            return
        except Exception:
            log.exception("gateway.failed", extra={"request_id": incoming.request_id.decode("latin-1")})
            await _send_problem(send, ProblemError("An unexpected error occurred."), scope["path"], reply)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, incoming: Incoming, reply: list[tuple[bytes, bytes]]
    ) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        route = self.table.match(method, path)
        if route is None or any(seg in path for seg in _DOT_SEGMENTS) or path.endswith("/.."):
            raise NotFound("No route matches this path and method.")
        # The request's label in the gateway's metrics (`shared/prometheus.py`).
        scope["route_path"] = route.template
        rt = self._running()
        client = scope.get("client")
        client_ip = client[0] if client else "unknown"
        roles = route.roles
        principal: Principal | None = None
        processing: Processing | None = None
        purpose: str | None = None  # what the request is decided for (`Processing.purpose_for`)
        # Decisions about the people the path names, read alongside the rate-limit hit.
        decided: list[tuple[str, consent.Decision | None]] = []
        query: bytes = scope.get("query_string", b"")
        ticket: str | None = None
        if route.tickets and query:
            # The ticket never reaches the service (nor any log); it stands in for a missing token.
            query, ticket = take_ticket(query)
        if roles is None:
            decision = await self._public_hit(rt, route.limit_class, client_ip, path)
        else:
            if ticket is not None and incoming.authorization is None and method == "GET":
                await self._redeem(rt, incoming, ticket, path, client_ip)
            principal = await self._authenticate(rt, incoming.authorization, client_ip)
            if principal.role not in roles:
                raise Forbidden("Your role may not do this.")
            # A key's token is admitted by the route's scope (and bounded by its creator's role).
            if principal.scopes is not None and not principal.admits(route.scope_for(method)):
                raise Forbidden("The API key's scopes do not include what this route needs.")
            limit, window = self.tenant_limit
            segments = path.split("/")
            processing = self.table.processing_of(method, segments)
            people = processing.path_people(segments) if processing and processing.checked else []
            # Queued now, the person's read joins the rate-limit hit's Redis call (`gateway/consent.py`).
            purpose = processing.purpose_for(query) if processing is not None else None
            reads = [rt.consent.queue(principal.tenant_id, p, purpose) for p in people if purpose]
            decision = await rt.limiter.hit("t:" + principal.tenant_id, limit=limit, window_s=window)
            for person, read in zip(people, reads, strict=True):
                assert purpose is not None
                decided.append((person, await _decided(rt, read, purpose)))
        reply.extend(_limit_headers(decision))
        if not decision.allowed:
            raise TooManyRequests(
                "Too many requests; slow down.", headers={"Retry-After": str(decision.retry_after)}
            )
        if route.limit_class == "jwks":
            await _send_json(send, await rt.jwks.document(), reply, head=method == "HEAD")
            return
        if route.ticket_for is not None and principal is not None:
            await self._issue_ticket(rt, send, principal, incoming, route.ticket_for, reply)
            return
        length = incoming.length
        max_body = route.max_body or self.max_body
        if length is not None and length > max_body:
            raise BodyTooLarge(f"The request body exceeds {max_body} bytes.")
        body: bytes | BodyStream | None
        if route.max_body is not None and (length or incoming.chunked):
            # A large upload (bulk import) streams through instead of being buffered.
            body = BodyStream(receive, max_body)
        else:
            body = await self._read_body(receive) if (length or incoming.chunked) else None
        if body is None and method in _WITH_BODY:
            body = b""
        audit: asyncio.Future[None] | None = None
        if principal is not None and processing is not None and processing.checked:
            if processing.reads_body and isinstance(body, bytes):
                assert purpose is not None
                named = {p for p, _ in decided}
                for person in processing.body_people(body):
                    if person not in named:
                        read = rt.consent.queue(principal.tenant_id, person, purpose)
                        decided.append((person, await _decided(rt, read, purpose)))
            if decided:
                audit = await self._decide(rt, decided, principal, incoming, method, path)
        if audit is not None:
            send = _after_audit(audit, send)
        forward = incoming.forward
        forward.append(("x-request-id", incoming.request_id.decode("latin-1")))
        forward.append(("x-forwarded-for", client_ip))
        forward.append(("x-forwarded-proto", scope.get("scheme", "http")))
        if incoming.host is not None:
            forward.append(("x-forwarded-host", incoming.host))
        if self.record_spans:
            forward.extend(inject_headers({}).items())
        else:
            forward.append(("traceparent", _continue_trace(incoming.traceparent)))
        raw_path: bytes = scope.get("raw_path") or path.encode()
        target = (raw_path + b"?" + query if query else raw_path).decode("latin-1")
        keyed = incoming.idempotency_key is not None and method == "POST"
        if keyed and principal is not None and isinstance(body, bytes):
            await self._once(rt, send, principal, incoming, route, target, body, forward, reply)
            return
        # A buffered (or no) body: the client's `receive` is free to tell when it disconnects.
        watch = None if isinstance(body, BodyStream) else receive
        try:
            await self._forward(
                rt, send, route, incoming, method, target, body, forward, reply, receive=watch
            )
        finally:
            if audit is not None:
                # Should the service fail before answering, the access may still have happened: its
                # record is published all the same (a failure was logged).
                with contextlib.suppress(Exception):
                    await audit

    async def _decide(
        self,
        rt: GatewayState,
        decided: list[tuple[str, consent.Decision | None]],
        principal: Principal,
        incoming: Incoming,
        method: str,
        path: str,
    ) -> asyncio.Future[None]:
        """Publish the audit record of each decision (allowed and refused); refuse if any refused.

        Refused: 451 once the records are acknowledged. Allowed: the publish runs on while the request is
        proxied; the returned future is awaited before the response starts."""
        if any(decision is None for _, decision in decided):
            raise consent.unknown()
        tenant = principal.tenant_id
        request_id = incoming.request_id.decode("latin-1")
        actor_kind: Literal["user", "api_key"] = "user" if principal.scopes is None else "api_key"
        records = []
        refused: tuple[consent.Decision, str] | None = None
        for person, decision in decided:
            assert decision is not None
            records.append(
                (
                    tenant,
                    consent.audit_record(
                        decision,
                        profile_id=person,
                        recorded_by="gateway",
                        actor_id=principal.user_id,
                        actor_kind=actor_kind,
                        method=method,
                        path=path,
                        request_id=request_id,
                    ),
                )
            )
            if refused is None and not decision.allowed:
                refused = (decision, person)
        audit = asyncio.ensure_future(_publish_audit(rt, records))
        if refused is not None:
            await _audited(audit)
            raise consent.refusal(*refused)
        return audit

    async def _once(
        self,
        rt: GatewayState,
        send: Send,
        principal: Principal,
        incoming: Incoming,
        route: Route,
        target: str,
        body: bytes,
        forward: list[tuple[str, str]],
        reply: list[tuple[bytes, bytes]],
    ) -> None:
        """A POST with an `Idempotency-Key`: forwarded once, its answer replayed to repeats."""
        assert incoming.idempotency_key is not None
        store = rt.idempotency
        name = store.key_of(principal, parse_key(incoming.idempotency_key))
        fp = fingerprint("POST", target, body)
        stored = await store.claim(name, fp)
        if stored is not None:
            await replay(send, stored, reply, head=False)
            return
        recorded = Recorded(send)
        try:
            await self._forward(rt, recorded, route, incoming, "POST", target, body, forward, reply)
        except BaseException:
            await store.release(name)
            raise
        await store.keep(name, fp, recorded)

    async def _forward(
        self,
        rt: GatewayState,
        send: Send,
        route: Route,
        incoming: Incoming,
        method: str,
        target: str,
        body: bytes | BodyStream | None,
        forward: list[tuple[str, str]],
        reply: list[tuple[bytes, bytes]],
        *,
        receive: Receive | None = None,
    ) -> None:
        """Proxy the request to its service (problems it raises are answered by `__call__`)."""
        try:
            status = await rt.upstreams.forward(
                send,
                service=route.service,
                method=method,
                target=target,
                headers=forward,
                body=body,
                extra_headers=reply,
                timeout_s=route.timeout_s,
                receive=receive,
            )
        except ProblemError as exc:
            if isinstance(body, BodyStream) and body.error is not None:
                raise body.error from exc
            _log_upstream("gateway.upstream_failed", incoming, route.service, exc.status)
            raise
        if status >= 500:
            _log_upstream("gateway.upstream_error", incoming, route.service, status)

    async def _public_hit(self, rt: GatewayState, limit_class: str, client_ip: str, path: str) -> Decision:
        """Count a public request in its class's per-IP budget (and a webhook in its channel's too)."""
        limiter = rt.limiter
        window = self.public_window
        limit = self.class_limits.get(limit_class, self.class_limits["public"])
        # The default class keeps the historical key, so existing counters carry on.
        key = "ip:" + client_ip if limit_class == "public" else f"{limit_class}:ip:{client_ip}"
        if limit_class != "webhook":
            return await limiter.hit(key, limit=limit, window_s=window)
        # Both hits join one batched script call (they are queued in the same loop turn).
        channel = limiter.hit("wh:" + webhook_channel(path), limit=self.channel_limit, window_s=window)
        per_ip = limiter.hit(key, limit=limit, window_s=window)
        by_channel, by_ip = await asyncio.gather(channel, per_ip)
        if not by_ip.allowed:
            return by_ip
        return by_channel

    async def _authenticate(self, rt: GatewayState, authorization: str | None, client_ip: str) -> Principal:
        """The verified, unrevoked principal; a failure counts against the client IP's bad-token budget."""
        try:
            principal = await rt.verifier.verify(bearer_token(authorization))
            if rt.revocations.revoked(principal):
                raise TokenRevoked("The token's session has ended.")
        except Unauthorized:
            await self._bad_credential(rt, client_ip)
            raise
        set_tenant(principal.tenant_id)
        return principal

    async def _bad_credential(self, rt: GatewayState, client_ip: str) -> None:
        """Count a failed token or ticket against the client IP; a 429 once its budget is spent."""
        decision = await rt.limiter.hit(
            "bad:ip:" + client_ip, limit=self.bad_token_limit, window_s=self.public_window
        )
        if not decision.allowed:
            raise TooManyRequests(
                "Too many requests with invalid tokens; slow down.",
                headers={"Retry-After": str(decision.retry_after)},
            )

    async def _redeem(
        self, rt: GatewayState, incoming: Incoming, ticket: str, path: str, client_ip: str
    ) -> None:
        """Use up a stream ticket: its token becomes the request's (verified next, forwarded as sent)."""
        try:
            token = await rt.tickets.redeem(ticket, path=path)
        except TicketInvalid:
            await self._bad_credential(rt, client_ip)
            raise
        incoming.authorization = "Bearer " + token
        incoming.forward.append(("authorization", incoming.authorization))

    async def _issue_ticket(
        self,
        rt: GatewayState,
        send: Send,
        principal: Principal,
        incoming: Incoming,
        path: str,
        reply: list[tuple[bytes, bytes]],
    ) -> None:
        """Answer with a new single-use ticket opening `path` as the caller (`gateway/tickets.py`)."""
        token = bearer_token(incoming.authorization)
        ticket, expires_at = await rt.tickets.issue(token=token, principal=principal, path=path)
        body = json.dumps({"ticket": ticket, "expires_at": expires_at.isoformat()}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            *reply,
        ]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge(f"The request body exceeds {self.max_body} bytes.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class BodyStream:
    """The client's body as an async iterator for the upstream request, refusing more than `limit`."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.error: ProblemError | ClientDisconnected | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.error = ClientDisconnected()
                raise self.error
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                self.error = BodyTooLarge(f"The request body exceeds {self.limit} bytes.")
                raise self.error
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


# One more try of an audit publish that was not acknowledged (the same message ids: no duplicate).
AUDIT_ATTEMPTS = 2
AUDIT_SUBJECT = spec_of(AuditRecorded).name


async def _decided(
    rt: GatewayState, read: asyncio.Future[ConsentFields], purpose: str
) -> consent.Decision | None:
    """The decision of a queued read (`gateway/consent.py`)."""
    try:
        return await rt.consent.decided(read, purpose)
    except ConsentUnreadable:
        raise consent.ConsentUnknown(
            "Consent cannot be checked: its store is unavailable; try again shortly.",
            headers={"Retry-After": "1"},
        ) from None


def _audit_message(tenant_id: str, record: AuditRecorded) -> tuple[str, bytes]:
    """The record as its CloudEvent (`shared.events.envelope`), serialised once: (id, body)."""
    event = new_event(record, source="gateway", tenant_id=tenant_id, subject=record.profile_id)
    return event.id, event.to_bytes()


async def _publish_audit(rt: GatewayState, records: list[tuple[str, AuditRecorded]]) -> None:
    """Publish each record to JetStream and wait for the stream's acknowledgements (de-duplicated by id)."""
    messages = [_audit_message(tenant, record) for tenant, record in records]
    for attempt in range(AUDIT_ATTEMPTS):
        try:
            for msg_id, body in messages:
                await rt.bus.publish_raw(subject=AUDIT_SUBJECT, body=body, msg_id=msg_id)
            return
        except Exception as exc:
            if attempt + 1 == AUDIT_ATTEMPTS:
                log.error("gateway.audit_failed", extra={"error": type(exc).__name__})
                raise
            log.warning("gateway.audit_retry", extra={"error": type(exc).__name__})


async def _audited(audit: asyncio.Future[None]) -> None:
    """Wait for the audit records' acknowledgement; unrecorded, the access is not answered."""
    try:
        await audit
    except Exception as exc:
        raise AuditUnavailable("The access could not be recorded in the audit log; try again.") from exc


def _after_audit(audit: asyncio.Future[None], send: Send) -> Send:
    """`send`, holding the response's start until the audit records are acknowledged."""

    async def audited_send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            await _audited(audit)
        await send(message)

    return audited_send


def _scan_headers(headers: list[tuple[bytes, bytes]]) -> Incoming:
    """One pass over the request headers: what to forward, and the few the gateway reads itself."""
    incoming = Incoming(request_id=b"", forward=[])
    forward = incoming.forward
    listed: set[bytes] = set()
    for name, value in headers:
        if name in _DROP_REQUEST or name.startswith(_DROP_PREFIXES):
            if name == b"x-request-id":
                if _SAFE_REQUEST_ID.fullmatch(value):
                    incoming.request_id = value
            elif name == b"content-length":
                incoming.length = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                incoming.chunked = True
            elif name == b"host":
                incoming.host = value.decode("latin-1")
            elif name == b"traceparent":
                incoming.traceparent = value
            elif name == b"connection":
                listed.update(t.strip().lower() for t in value.split(b","))
            continue
        if name == b"authorization":
            incoming.authorization = value.decode("latin-1")
        elif name == b"idempotency-key":
            incoming.idempotency_key = value
        forward.append((name.decode("latin-1"), value.decode("latin-1")))
    if listed - {b"keep-alive", b"close"}:
        # Headers named in `Connection` are hop-by-hop too.
        names = {t.decode("latin-1") for t in listed}
        incoming.forward = [(k, v) for k, v in forward if k not in names]
    if not incoming.request_id:
        incoming.request_id = _new_id(128).encode()
    return incoming


def _continue_trace(traceparent: bytes | None) -> str:
    """A W3C `traceparent` for the upstream call: same trace and flags, a new parent id."""
    match = _TRACEPARENT.fullmatch(traceparent) if traceparent else None
    if match is None or match.group(1) == b"0" * 32:
        return f"00-{_new_id(128)}-{_new_id(64)}-01"
    return f"00-{match.group(1).decode()}-{_new_id(64)}-{match.group(2).decode()}"


def _new_id(bits: int) -> str:
    """A random hex id (request and span ids identify, they do not authenticate: no syscall needed)."""
    return f"{random.getrandbits(bits):0{bits // 4}x}"


def _request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == b"x-request-id" and _SAFE_REQUEST_ID.fullmatch(value):
            return value
    return _new_id(128).encode()


class RequestIdMiddleware:
    """`X-Request-ID` on the gateway's own responses (health, docs) too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])

        async def wrapped(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, wrapped)


def _log_upstream(event: str, incoming: Incoming, service: str, status: int) -> None:
    request_id = incoming.request_id.decode("latin-1")
    log.warning(event, extra={"request_id": request_id, "upstream": service, "status": status})


def _limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
    ]


async def _send_json(send: Send, body: bytes, reply: list[tuple[bytes, bytes]], *, head: bool) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"public, max-age=300"),
        *reply,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _send_problem(send: Send, exc: ProblemError, path: str, reply: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(exc.body(path)).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *reply,
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()),
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

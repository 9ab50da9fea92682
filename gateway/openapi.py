"""One OpenAPI document for the whole public API, merged from every service's own and cached."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from typing import Any

from gateway.proxy import Upstreams
from gateway.routes import PROXIED_PREFIXES, Route, RouteTable
from shared.openapi import add_problems, problem_schemas

log = logging.getLogger("rapport.gateway.openapi")

REF_PREFIX = "#/components/schemas/"
# A document missing a service is kept only briefly, so the service shows up soon after it is back.
DEGRADED_TTL_S = 5.0
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
WITH_BODY = {"post", "put", "patch"}


def gateway_problems(route: Route, path: str, method: str) -> set[int]:
    """The problem statuses the gateway itself answers for an operation, before or instead of its service.

    Any route: 429 (its rate limit), 503 (the limiter's Redis, or identity's keys, unavailable), 500, 502
    (the service, or for the key set identity, unreachable) and 504 (no answer in time; not for the key
    set, which the gateway serves from its cache or refuses with a 502). A route with a token: 401 and
    403 (a role it does not admit, or an API key's token without its scope). A path with parameters: 404
    (a dot segment is never routed). A method with a body: 413."""
    statuses = {429, 500, 502, 503}
    if route.limit_class != "jwks":
        statuses.add(504)
    if route.roles is not None:
        statuses.update((401, 403))
    if "{" in path:
        statuses.add(404)
    if method in WITH_BODY:
        statuses.add(413)
    if takes_idempotency_key(route, method):
        statuses.update((400, 409, 422))
    return statuses


def takes_idempotency_key(route: Route, method: str) -> bool:
    """A POST with a token and a buffered body: the gateway honours `Idempotency-Key` on it."""
    return method == "post" and route.roles is not None and route.max_body is None


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry safely: a repeat of this request with the same key gets the first answer again "
    "(header `Idempotent-Replayed: true`) and changes nothing; the same key with another request is a 422, "
    "a repeat while the first is running a 409. Kept 24 hours, per caller.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}


TICKET_PARAMETER = {
    "name": "ticket",
    "in": "query",
    "required": False,
    "description": "A single-use ticket (`POST …/tickets`) standing in for the bearer token, for clients "
    "that cannot send headers (a browser's `EventSource`).",
    "schema": {"type": "string", "minLength": 43, "maxLength": 43},
}


def ticket_operation(route: Route) -> dict[str, Any]:
    """The operation the gateway answers itself: a single-use ticket opening `route.ticket_for`."""
    operation: dict[str, Any] = {
        "tags": ["conversations"],
        "summary": "Get a ticket for the event stream",
        "description": f"A single-use ticket that opens `GET {route.ticket_for}?ticket=…` once, without an "
        "`Authorization` header (a browser's `EventSource` sends none), as the caller. It expires at "
        "`expires_at` (a minute, never past the caller's token). Answered by the gateway.",
        "operationId": "create_stream_ticket",
        "security": [{"bearerAuth": []}],
        "responses": {
            "201": {
                "description": "The ticket.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["ticket", "expires_at"],
                            "properties": {
                                "ticket": {"type": "string"},
                                "expires_at": {"type": "string", "format": "date-time"},
                            },
                        }
                    }
                },
            }
        },
    }
    # What every operation declares (the contract holds them all to it), though only 401, 403, 429 and
    # 503 come from here.
    add_problems(operation, {401, 403, 413, 422, 429, 500, 502, 503})
    return operation


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                name = value[len(REF_PREFIX) :]
                out[key] = REF_PREFIX + renames.get(name, name)
            else:
                out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def merge_documents(
    docs: dict[str, dict[str, Any]], table: RouteTable, *, unavailable: list[str]
) -> dict[str, Any]:
    """Keep each service's public paths; merge components, renaming a schema two services define
    differently to `<service>_<Name>`; mark every non-public operation as needing a bearer token and
    declare the problems the gateway answers itself (`gateway_problems`, and 451 where it checks consent);
    `x-rapport-purpose` names each operation's processing purpose (null: exempt)."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Rapport API",
            "version": "0.1.0",
            "description": "The public API of Rapport, served through the gateway.",
        },
        "paths": {},
        "components": {
            # The services define the same; one defined differently is renamed like any other schema.
            "schemas": problem_schemas(),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "tags": [],
    }
    if unavailable:
        merged["x-rapport-unavailable"] = sorted(unavailable)
    components: dict[str, Any] = merged["components"]
    tags: dict[str, str] = {}
    for service in sorted(docs):
        doc = copy.deepcopy(docs[service])
        merged["openapi"] = doc.get("openapi", merged["openapi"])
        theirs: dict[str, Any] = doc.get("components", {})
        renames = {
            name: f"{service}_{name}"
            for name, schema in theirs.get("schemas", {}).items()
            if name in components["schemas"] and components["schemas"][name] != schema
        }
        if renames:
            doc = _rename_refs(doc, renames)
            theirs = doc.get("components", {})
            theirs["schemas"] = {renames.get(k, k): v for k, v in theirs.get("schemas", {}).items()}
        for kind, entries in theirs.items():
            if isinstance(entries, dict):
                components.setdefault(kind, {}).update(
                    {k: v for k, v in entries.items() if k not in components.get(kind, {})}
                )
        for path, item in doc.get("paths", {}).items():
            if not path.startswith(PROXIED_PREFIXES):
                continue
            for method, operation in item.items():
                if method not in HTTP_METHODS or not isinstance(operation, dict):
                    continue
                route = table.match(method.upper(), path)
                if route is not None:
                    processing = table.processing_of(method.upper(), path.split("/"))
                    if processing is not None:
                        operation["x-rapport-purpose"] = processing.purpose
                        if processing.checked:
                            add_problems(operation, {451})
                    if not route.public:
                        operation.setdefault("security", [{"bearerAuth": []}])
                    add_problems(operation, gateway_problems(route, path, method))
                    if takes_idempotency_key(route, method):
                        operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY))
                    if route.tickets and method == "get":
                        operation.setdefault("parameters", []).append(dict(TICKET_PARAMETER))
                if not operation.get("tags"):
                    operation["tags"] = [service]
                for tag in operation["tags"]:
                    tags.setdefault(tag, service)
            merged["paths"][path] = item
    for route in table.routes:
        if route.ticket_for is not None and route.ticket_for in merged["paths"]:
            merged["paths"][route.prefix] = {"post": ticket_operation(route)}
    merged["tags"] = [
        {"name": tag, "description": f"Served by the {service} service."}
        for tag, service in sorted(tags.items())
    ]
    return merged


class OpenAPICache:
    """Fetches the services' documents concurrently, tolerating a down service, and caches the merge."""

    def __init__(self, upstreams: Upstreams, table: RouteTable, *, ttl_s: float, timeout_s: float) -> None:
        self._upstreams = upstreams
        self._table = table
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._doc: dict[str, Any] | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        try:
            status, body = await self._upstreams.get(
                f"{self._upstreams.bases[service]}/openapi.json", within_s=self._timeout_s
            )
            if status != 200:
                raise ValueError(f"status {status}")
            doc: dict[str, Any] = json.loads(body)
            return doc
        except Exception as exc:
            log.warning(
                "gateway.openapi_unavailable", extra={"upstream": service, "error": type(exc).__name__}
            )
            return None

    async def document(self) -> dict[str, Any]:
        """The merged document (served from cache while fresh)."""
        async with self._lock:
            if self._doc is not None and time.monotonic() < self._expires_at:
                return self._doc
            services = sorted(self._table.services())
            fetched = await asyncio.gather(*(self._fetch(s) for s in services))
            docs = {s: d for s, d in zip(services, fetched, strict=True) if d is not None}
            unavailable = [s for s, d in zip(services, fetched, strict=True) if d is None]
            self._doc = merge_documents(docs, self._table, unavailable=unavailable)
            self._expires_at = time.monotonic() + (DEGRADED_TTL_S if unavailable else self._ttl_s)
            return self._doc

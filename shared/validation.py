"""Input types every service's schemas share, and guards every route gets: no NUL characters in any
request, no query parameter the route does not declare, no reversed time range.

Schemas accept only what every store and every computation can take: a datetime whose conversion to UTC
cannot overflow (year 1 at +14:00 and year 9999 at -14:00 cannot be converted; code also adds hours and
days to bounds, so the range keeps a margin), counts that fit a 32-bit integer column (PostgreSQL's
`integer`; the largest accounts have some hundreds of millions of followers), and text without NUL
(PostgreSQL's `text` and `jsonb` refuse it, SQLite would store it). The same input is refused on SQLite
and on PostgreSQL, as a 422 before anything is stored.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import parse_qsl

from fastapi import FastAPI, params
from fastapi.dependencies.utils import get_flat_params, get_validation_alias
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import AfterValidator, AwareDatetime, Field

from shared.errors import PROBLEM_JSON, ReversedRange, Unprocessable, problem_body
from shared.telemetry import ASGIApp, Receive, Scope, Send

# [MIN_INSTANT, MAX_INSTANT) after conversion to UTC.
MIN_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)
# The largest count a schema accepts (followers, likes, ...): PostgreSQL `integer`.
MAX_COUNT = 2**31 - 1


def _in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_INSTANT <= utc < MAX_INSTANT:
        raise ValueError("the date must be between 1970-01-01 and 9998-12-31 (UTC)")
    return value


def _utc_in_range(value: datetime) -> datetime:
    """A bound given with or without an offset (none: UTC), in UTC, within the range `Instant` takes."""
    return _in_range(value.replace(tzinfo=UTC) if value.tzinfo is None else value).astimezone(UTC)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


# A timezone-aware datetime within [1970-01-01, 9999-01-01) UTC (kept in the offset it was given in).
Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
# A query's time bound: with or without an offset (none: UTC), in range, converted to UTC.
UtcInstant = Annotated[datetime, AfterValidator(_utc_in_range)]
# A count of people or reactions: 0..MAX_COUNT.
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
# Text without NUL characters (combine with Field(...) for lengths and patterns).
Text = Annotated[str, AfterValidator(_no_nul)]


def has_nul(value: Any) -> bool:
    """Whether a parsed JSON document holds a NUL in any string, key or value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _json_media(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether FastAPI would read the body as JSON (it may do so when there is no Content-Type)."""
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True


class RejectNul:
    """Pure-ASGI middleware: a NUL in the path, the query string or a JSON body is a 422 problem.

    Path and query parameters reach the database as they are, so one guard covers every route of every
    service. JSON bodies are read whole (FastAPI reads them whole anyway) and scanned for the `\\u0000`
    escape, then handed on unchanged; only a hit is parsed to tell a real NUL from an escaped backslash.
    Bodies under `raw_body_prefixes` (platform webhooks, whose connectors strip control characters and
    whose signatures cover the raw bytes) pass unread.
    """

    def __init__(self, app: ASGIApp, *, raw_body_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.raw_body_prefixes = raw_body_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if "\x00" in path or b"%00" in scope.get("query_string", b"") or b"%00" in scope.get("raw_path", b""):
            await _reject(scope, send, "NUL characters are not allowed in the path or query.")
            return
        if (
            scope["method"] in ("POST", "PUT", "PATCH")
            and _json_media(scope.get("headers", []))
            and not path.startswith(self.raw_body_prefixes or ("\x00",))
        ):
            first = await receive()
            messages = [first]
            body = first.get("body", b"")
            if first["type"] == "http.request" and first.get("more_body", False):
                chunks = bytearray(body)
                while True:
                    message = await receive()
                    messages.append(message)
                    if message["type"] != "http.request":
                        break
                    chunks += message.get("body", b"")
                    if not message.get("more_body", False):
                        break
                body = bytes(chunks)
            if b"\\u0000" in body and _json_has_nul(body):
                await _reject(scope, send, "NUL characters are not allowed in the body.")
                return
            await self.app(scope, _Replay(messages, receive), send)
            return
        await self.app(scope, receive, send)


class _Replay:
    """`receive` that hands out the messages already read, then the connection's own."""

    __slots__ = ("messages", "receive")

    def __init__(self, messages: list[MutableMapping[str, Any]], receive: Receive) -> None:
        self.messages = messages
        self.receive = receive

    async def __call__(self) -> MutableMapping[str, Any]:
        if self.messages:
            return self.messages.pop(0)
        return await self.receive()


def _json_has_nul(body: bytes) -> bool:
    try:
        return has_nul(json.loads(body))
    except (ValueError, RecursionError):
        return False  # not JSON: the route answers that


async def _reject(scope: Scope, send: Send, detail: str) -> None:
    data = json.dumps(
        problem_body(
            422,
            detail=detail,
            instance=scope["path"].replace("\x00", ""),
            type_=Unprocessable.type,
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


# Query parameters that bound a range, by name: wherever a route declares both of a pair, a request
# whose lower bound is after its upper bound is a 422 (`ReversedRange`), before the route runs.
RANGE_PAIRS = (("since", "until"), ("from", "to"))
# `openapi_extra` of a route that takes query parameters it does not declare (a platform's webhook
# verification sends what the platform chooses); the marker shows in the OpenAPI document too.
OPEN_QUERY_KEY = "x-rapport-open-query"
OPEN_QUERY = {OPEN_QUERY_KEY: True}


class _Ordered(Protocol):
    def __gt__(self, other: Any, /) -> bool: ...


Bound = TypeVar("Bound", bound=_Ordered)


def ensure_ordered(lower: Bound | None, upper: Bound | None, *, names: tuple[str, str]) -> None:
    """Refuse a range whose lower bound is after its upper one (`ReversedRange`, 422); open ends pass."""
    if lower is not None and upper is not None and lower > upper:
        low, high = names
        raise ReversedRange(
            f"`{low}` must not be after `{high}`.",
            errors=[{"loc": ["query", low], "msg": f"must not be after `{high}`", "type": "range_reversed"}],
        )


class _QueryGuard:
    """A route's `handle`, preceded by the checks of its query string (only when there is one).

    Checked here, after routing and before FastAPI solves the route's dependencies, the common request
    without a query string costs one dict lookup; a request with one costs a parse of it.
    """

    __slots__ = ("fields", "handle", "ranges")

    def __init__(self, handle: ASGIApp, fields: dict[str, Any]) -> None:
        self.handle = handle
        self.fields = fields
        self.ranges = [pair for pair in RANGE_PAIRS if pair[0] in fields and pair[1] in fields]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw: bytes = scope.get("query_string", b"")
        if raw:
            self.check(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
        await self.handle(scope, receive, send)

    def check(self, pairs: list[tuple[str, str]]) -> None:
        unknown = [name for name in dict.fromkeys(name for name, _ in pairs) if name not in self.fields]
        if unknown:
            accepted = ", ".join(sorted(self.fields)) or "none"
            raise RequestValidationError(
                [
                    {
                        "type": "extra_forbidden",
                        "loc": ("query", name),
                        "msg": f"Unknown query parameter (this operation takes: {accepted})",
                    }
                    for name in unknown
                ]
            )
        if self.ranges:
            values = dict(pairs)  # the last of repeated values, as FastAPI reads a single one
            for low, high in self.ranges:
                if low in values and high in values:
                    ensure_ordered(
                        self._parse(low, values[low]), self._parse(high, values[high]), names=(low, high)
                    )

    def _parse(self, name: str, raw: str) -> Any:
        """The parameter's value as the route will see it, or None if invalid (the route says why)."""
        value, errors = self.fields[name].validate(raw, loc=("query", name))
        return None if errors else value


def guard_query_parameters(app: FastAPI) -> None:
    """Make every route of `app` refuse query parameters it does not declare (a 422 naming them, as
    unknown body fields are) and reversed ranges of the `RANGE_PAIRS` it declares.

    Routes marked `OPEN_QUERY` are left alone. A route shared by several apps (module-level routers) is
    guarded once: what it declares is the same in every app.
    """
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or isinstance(route.handle, _QueryGuard):
            continue
        if (route.openapi_extra or {}).get(OPEN_QUERY_KEY):
            continue
        fields = {
            get_validation_alias(field): field
            for field in get_flat_params(route.dependant)
            if isinstance(field.field_info, params.Query)
        }
        # Routing calls the matched route's `handle` (an included router's too): the guard runs between
        # routing and FastAPI's parameter parsing, with no cost to a request without a query string.
        route.handle = _QueryGuard(route.handle, fields)  # type: ignore[method-assign]

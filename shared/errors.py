"""Errors as classes, rendered once as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_JSON = "application/problem+json"
# Every problem type is a URI under this base; each error class names its own.
PROBLEMS = "https://rapport.dev/problems/"
log = logging.getLogger("rapport.errors")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ProblemError(Exception):
    """An error the client should see, with an HTTP status and a stable problem type."""

    status: int = 500
    type: str = PROBLEMS + "internal-error"
    title: str | None = None

    def __init__(
        self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document."""
        return problem_body(
            self.status,
            detail=self.detail,
            type_=self.type,
            title=self.title,
            instance=instance,
            **self.extra,
        )


class BadRequest(ProblemError):
    status = 400
    type = PROBLEMS + "bad-request"


class Unauthorized(ProblemError):
    status = 401
    type = PROBLEMS + "unauthorized"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(ProblemError):
    status = 403
    type = PROBLEMS + "forbidden"


class NotFound(ProblemError):
    """No such route, or no such object in the caller's tenant (the gateway's and the services' alike)."""

    status = 404
    type = PROBLEMS + "not-found"


class MethodNotAllowed(ProblemError):
    status = 405
    type = PROBLEMS + "method-not-allowed"


class Conflict(ProblemError):
    status = 409
    type = PROBLEMS + "conflict"


class Unprocessable(ProblemError):
    """The request is well-formed but not valid: rendered like FastAPI's validation errors."""

    status = 422
    type = PROBLEMS + "validation"


class ReversedRange(Unprocessable):
    """A time range whose lower bound is after its upper bound (`since` > `until`, `from` > `to`)."""

    type = PROBLEMS + "reversed-range"


class TooManyRequests(ProblemError):
    status = 429
    type = PROBLEMS + "rate-limited"


class ServiceUnavailable(ProblemError):
    status = 503
    type = PROBLEMS + "service-unavailable"


# The type of a problem raised without a class of its own (Starlette's 404 and 405, the last-resort 500).
_GENERIC: tuple[type[ProblemError], ...] = (
    ProblemError,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Unprocessable,
    TooManyRequests,
    ServiceUnavailable,
)
_STATUS_TYPES = {cls.status: cls.type for cls in _GENERIC}
# What a generic problem of these statuses says, so that every 404 reads alike wherever it comes from.
_DETAILS = {
    404: "No route matches this path and method.",
    405: "This path does not accept this method.",
}


def problem_body(
    status: int,
    *,
    detail: str | None = None,
    type_: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build an RFC 9457 problem document (the type defaults to the status's generic one)."""
    body: dict[str, Any] = {
        "type": type_ or _STATUS_TYPES.get(status, "about:blank"),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def problem_response(status: int, *, headers: dict[str, str] | None = None, **kw: Any) -> JSONResponse:
    """A problem+json response."""
    return JSONResponse(
        problem_body(status, **kw), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def _validation_errors(exc: RequestValidationError) -> tuple[int, list[dict[str, Any]]]:
    errors = []
    status = 422
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            status = 400
        # Never echo the rejected input back: it may be personal data or a secret.
        errors.append({"loc": list(err.get("loc", ())), "msg": err.get("msg"), "type": err.get("type")})
    return status, errors


class CatchUnexpected:
    """Pure-ASGI middleware: an unexpected exception becomes a problem+json 500, and that is the end of it.

    An `Exception` handler alone is not enough: Starlette runs it in `ServerErrorMiddleware`, which sends
    the 500 and then re-raises, and uvicorn closes the connection of a request whose app raised. A client
    keeping connections alive (the gateway's pool) may already have sent its next request on that
    connection, or take it from the pool before it saw the close, and gets a disconnect instead of an
    answer. Caught here, inside the app, the 500 is an ordinary response on a connection that stays open.
    When the response had already started, nothing can be said any more: the exception goes on and
    uvicorn cuts the connection, which is the only way to tell the client the answer is incomplete.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("request.failed", extra={"path": scope.get("path")})
            if started:
                raise
            detail = "An unexpected error occurred."
            response = problem_response(500, detail=detail, instance=scope.get("path"))
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error the app raises as problem+json (call before adding other middleware)."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return JSONResponse(
            exc.body(request.url.path), status_code=exc.status, headers=exc.headers, media_type=PROBLEM_JSON
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, errors = _validation_errors(exc)
        detail = "The request body is not valid JSON." if status == 400 else "The request is not valid."
        return problem_response(
            status,
            detail=detail,
            instance=request.url.path,
            errors=errors,
            type_=BadRequest.type if status == 400 else Unprocessable.type,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if detail is None or detail == _TITLES.get(exc.status_code):
            detail = _DETAILS.get(exc.status_code, detail)
        return problem_response(
            exc.status_code, detail=detail, instance=request.url.path, headers=getattr(exc, "headers", None)
        )

    # Innermost of the app's own middleware, so the others (tracing, request ids) see an ordinary 500.
    app.add_middleware(CatchUnexpected)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only what escapes the middleware outside `CatchUnexpected` gets here (Starlette re-raises it).
        log.exception("request.failed", extra={"path": request.url.path})
        return problem_response(500, detail="An unexpected error occurred.", instance=request.url.path)

"""The API contract in OpenAPI: every error a route can answer, as the problem document it really is.

Routes declare the problems particular to them next to their decorator (`responses=problems(404, 409)`);
`install_openapi` adds what every operation of a service can answer (422 for any bad input, since an
unknown query parameter or a NUL is refused everywhere; 400 where a JSON body or a cursor is read; 500)
and replaces FastAPI's own 422 shape with `Problem`. The gateway adds its own statuses when it merges
the services' documents (`gateway/openapi.py`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema, models_json_schema

from shared.errors import PROBLEM_JSON

REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_REF = REF_TEMPLATE.format(model="Problem")
# What each status means wherever it is declared (routes say more in their docstrings).
DESCRIPTIONS = {
    400: "The body is not valid JSON, the cursor is not valid, or the request is malformed.",
    401: "No valid bearer token (or, where the route says so, a wrong credential or signature).",
    403: "The caller's role (or the route's own rule) does not allow this.",
    404: "No such object in the caller's tenant, or no such route.",
    409: "The request conflicts with the current state (a duplicate, a quota, an unready object).",
    410: "What was asked for existed and was deleted for good (a bundle past its keeping period).",
    413: "The request body is larger than the gateway accepts for this route.",
    415: "The body's media type is not one the route reads.",
    422: "The request is not valid: a body field, a path or query parameter (an unknown one included), "
    "or a reversed time range.",
    429: "Too many requests; `Retry-After` says when to try again.",
    451: "No lawful basis to process this person's data for the route's purpose (consent missing or "
    "withdrawn, an objection, a restriction): `purpose`, `basis` and `reason` say which.",
    500: "An unexpected error.",
    502: "The service behind the gateway could not be reached.",
    503: "A dependency (rate limiter, token keys, the consent projection) is unavailable; try again shortly.",
    504: "The service behind the gateway did not answer in time.",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`."}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class ProblemIssue(BaseModel):
    """One refused input of a validation problem (never the input itself)."""

    model_config = ConfigDict(extra="forbid")

    loc: list[str | int] = Field(description="Where: `body`, `query` or `path`, then the field's path.")
    msg: str
    type: str = Field(description="The kind of error (`missing`, `extra_forbidden`, `query_syntax`, …).")
    position: int | SkipJsonSchema[None] = Field(None, description="A query expression's error offset.")
    pointer: str | SkipJsonSchema[None] = Field(None, description="The expression with a caret under it.")
    limit: str | SkipJsonSchema[None] = Field(None, description="The cost limit an expression passed.")
    maximum: int | SkipJsonSchema[None] = Field(None, description="That limit's value.")


class Problem(BaseModel):
    """An RFC 9457 problem document: every Rapport error (4xx, 5xx) is one, as `application/problem+json`."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="A URI naming the kind of problem (`https://rapport.dev/problems/…`).")
    title: str = Field(description="The status's short name.")
    status: int = Field(ge=400, le=599)
    detail: str | SkipJsonSchema[None] = Field(None, description="What went wrong, for a person.")
    instance: str | SkipJsonSchema[None] = Field(None, description="The request path.")
    errors: list[ProblemIssue] | SkipJsonSchema[None] = Field(
        None, description="Validation problems: one entry per refused input."
    )
    quota: str | SkipJsonSchema[None] = Field(None, description="A count quota reached (`channels`, …).")
    limit: int | SkipJsonSchema[None] = Field(None, description="The quota's limit.")
    used: int | SkipJsonSchema[None] = Field(None, description="How much of a count quota is used.")
    remaining: int | SkipJsonSchema[None] = Field(None, description="What a rate quota has left.")
    columns: list[str] | SkipJsonSchema[None] = Field(None, description="The CSV columns an import reads.")
    error: str | SkipJsonSchema[None] = Field(
        None, description="The token endpoint's OAuth 2.0 error code (`invalid_client`, `invalid_scope`, …)."
    )
    code: str | SkipJsonSchema[None] = Field(
        None, description="Why a request cannot be done, as a stable code (`no_channel`, `outside_…_window`)."
    )
    platform: str | SkipJsonSchema[None] = Field(None, description="The platform whose rule refused it.")
    last_customer_message_at: str | SkipJsonSchema[None] = Field(
        None, description="When the customer last wrote (a messaging window counts from it)."
    )
    window_closed_at: str | SkipJsonSchema[None] = Field(None, description="When the window closed.")
    allowed: list[str] | SkipJsonSchema[None] = Field(
        None, description="What may still be sent (`platform_template`, `human_agent_reply`)."
    )
    purpose: str | SkipJsonSchema[None] = Field(
        None, description="A consent refusal's purpose (`engagement`, `profiling`, `marketing`, …)."
    )
    basis: str | SkipJsonSchema[None] = Field(
        None, description="The lawful basis the tenant's policy gives that purpose."
    )
    reason: str | SkipJsonSchema[None] = Field(
        None, description="Why it was refused (`no_consent`, `withdrawn`, `objected`, `restricted`)."
    )
    profile_id: str | SkipJsonSchema[None] = Field(None, description="The person it was refused for.")


def problem_schemas() -> dict[str, Any]:
    """The JSON Schemas of `Problem` and `ProblemIssue`, for `components/schemas`."""
    _, top = models_json_schema([(Problem, "serialization")], ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = top["$defs"]
    for schema in schemas.values():
        # The models forbid other members so that tests catch one sent but not declared; clients should
        # still accept new members (RFC 9457 3.2), so the document does not forbid them.
        schema.pop("additionalProperties", None)
        for prop in schema["properties"].values():
            if prop.get("default", ...) is None:
                del prop["default"]
    return schemas


def problem_response(status: int) -> dict[str, Any]:
    """The OpenAPI response object of a problem with this status."""
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "A problem."),
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: the problem statuses particular to it (the common ones are added)."""
    return {status: problem_response(status) for status in statuses}


def add_problems(operation: dict[str, Any], statuses: set[int]) -> None:
    """Declare these problem statuses on an OpenAPI operation (keeping those already declared)."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in sorted(statuses):
        responses.setdefault(str(status), problem_response(status))
    operation["responses"] = dict(sorted(responses.items()))


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every operation of an OpenAPI document."""
    return [
        (path, method, operation)
        for path, item in doc.get("paths", {}).items()
        for method, operation in item.items()
        if method in _HTTP_METHODS and isinstance(operation, dict)
    ]


def _reads_json_or_cursor(operation: dict[str, Any]) -> bool:
    body = operation.get("requestBody", {}).get("content", {})
    cursor = any(p.get("name") == "cursor" for p in operation.get("parameters", []))
    return cursor or any(media == "application/json" or media.endswith("+json") for media in body)


def contract_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A service's FastAPI document with every problem declared as `Problem` (in place)."""
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas.update(problem_schemas())
    for _, _, operation in operations(doc):
        responses = operation.setdefault("responses", {})
        responses["422"] = problem_response(422)  # FastAPI's own shape is not what is sent
        add_problems(operation, {400, 500} if _reads_json_or_cursor(operation) else {500})
    return doc


def install_openapi(app: FastAPI) -> None:
    """Serve `app`'s OpenAPI document with its problems declared (built once, on first request)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = contract_document(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

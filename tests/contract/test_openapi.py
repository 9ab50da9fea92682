"""The merged OpenAPI document tells the truth: valid, every operation named in one verb scheme with a
summary, and every error declared as the `Problem` the services and the gateway really send."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from gateway.routes import RouteTable
from shared.errors import PROBLEMS, ProblemError
from shared.openapi import PROBLEM_REF, Problem, operations
from tests.helpers import PROBLEM_JSON, Tenant, add_user, assert_problem, mention_payload

OPERATION_ID = re.compile(r"(list|get|create|update|delete)_[a-z][a-z0-9_]*")
ERROR_MODULES = [
    "shared.errors",
    "gateway.errors",
    "gateway.middleware",
    *(f"services.{name}.errors" for name in ("identity", "listening", "profiles", "engagement", "metrics")),
]


@pytest.fixture(scope="module")
def doc(stack: Any) -> dict[str, Any]:
    answer = httpx.get(f"{stack.gateway_url}/openapi.json", timeout=30)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    assert "x-rapport-unavailable" not in document, document["x-rapport-unavailable"]
    return document


def test_the_merged_document_validates(doc: dict[str, Any]) -> None:
    validate(doc)
    assert len(operations(doc)) > 30


def test_every_operation_has_an_id_in_the_verb_scheme_and_a_summary(doc: dict[str, Any]) -> None:
    ids = []
    for path, method, operation in operations(doc):
        what = f"{method.upper()} {path}"
        assert OPERATION_ID.fullmatch(operation.get("operationId", "")), what
        assert operation.get("summary", "").strip(), what
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))


def test_every_error_is_a_problem_and_no_fastapi_validation_shape_is_left(doc: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(doc)
    assert {"Problem", "ProblemIssue"} <= set(doc["components"]["schemas"])
    for path, method, operation in operations(doc):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}, (
                    f"{method.upper()} {path} {status}"
                )


def test_every_operation_declares_what_the_gateway_and_every_service_can_answer(doc: dict[str, Any]) -> None:
    table = RouteTable()
    for path, method, operation in operations(doc):
        what = f"{method.upper()} {path}"
        route = table.match(method.upper(), path)
        assert route is not None, f"{what} is in the document but the gateway does not route it"
        declared = {int(status) for status in operation["responses"]}
        assert {422, 429, 500, 502, 503} <= declared, what
        if not route.public:
            assert 401 in declared and operation["security"] == [{"bearerAuth": []}], what
        if method in ("post", "put", "patch"):
            assert 413 in declared, what
        if "{" in path:
            assert 404 in declared, what


def test_every_error_class_has_its_own_problem_type() -> None:
    for module in ERROR_MODULES:
        importlib.import_module(module)
    classes: list[type[ProblemError]] = []
    pending: list[type[ProblemError]] = [ProblemError]
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    types = {}
    for cls in classes:
        if cls.__module__.startswith("tests."):
            continue
        assert "type" in vars(cls), f"{cls.__qualname__} declares no problem type of its own"
        assert cls.type.startswith(PROBLEMS), cls
        assert cls.type not in types, f"{cls.__qualname__} and {types[cls.type]} share {cls.type}"
        types[cls.type] = cls.__qualname__
    assert len(types) > 30


def test_problems_are_sent_as_the_document_declares_them(client: httpx.Client, tenant: Tenant) -> None:
    headers = tenant.headers
    agent = add_user(client, tenant, "agent")
    answers = [
        (client.get("/v1/mentions"), 401),
        (client.get("/v1/channels", headers=agent.headers), 403),
        (client.get("/v1/mentions/not-a-mention", headers=headers), 404),
        (client.post("/v1/mentions", headers=headers, json=mention_payload(platform=None)), 422),
        (
            client.post(
                "/v1/mentions", headers={**headers, "content-type": "application/json"}, content=b"{"
            ),
            400,
        ),
        (client.get("/v1/mentions", headers=headers, params={"cursor": "%%%"}), 400),
        (client.get("/v1/mentions", headers=headers, params={"author": "@sam"}), 422),
        (
            client.post(
                "/v1/mentions/import", headers={**headers, "content-type": "text/plain"}, content=b"x"
            ),
            415,
        ),
    ]
    for answer, status in answers:
        body = assert_problem(answer, status)
        Problem.model_validate(body)  # no member the model does not declare
        assert body["type"].startswith(PROBLEMS), body


def test_the_gateways_404_and_a_services_404_look_alike(client: httpx.Client, tenant: Tenant) -> None:
    gateway = assert_problem(client.get("/v1/nothing-here", headers=tenant.headers), 404)
    # Routed to listening by its prefix; listening has no such route.
    service = assert_problem(client.get("/v1/mentions/a/b/c", headers=tenant.headers), 404)
    unknown_id = assert_problem(client.get("/v1/mentions/no-such-id", headers=tenant.headers), 404)
    assert (
        gateway.keys()
        == service.keys()
        == unknown_id.keys()
        == {"type", "title", "status", "detail", "instance"}
    )
    assert {k: v for k, v in gateway.items() if k != "instance"} == {
        k: v for k, v in service.items() if k != "instance"
    }
    assert gateway["title"] == unknown_id["title"] == "Not Found"
    assert unknown_id["type"] == "https://rapport.dev/problems/mention-not-found"

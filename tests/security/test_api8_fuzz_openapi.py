"""API8: property-based fuzzing of the gateway's merged OpenAPI — no input answers 5xx.

schemathesis generates requests for every operation of `GET /openapi.json` (schema-valid ones and ones
that break the schema), with boundary dates (year 1 at +14:00, year 9999 at -14:00, the epoch) mixed into
every `date-time` and `date`, and sends them through the gateway as a fresh tenant's owner. A 5xx fails
the test; a 4xx must be a problem+json document. Generation is derandomized (no example database), so a
run is the same on every machine, and the number of examples per operation is small to keep the run
within ~30 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.formats import get_default_format_strategies, unregister_string_format

from rapport.stack import Stack
from tests.helpers import PROBLEM_JSON, Tenant

MAX_EXAMPLES = 6
BOUNDARY_DATETIMES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59-00:01",
]
BOUNDARY_DATES = ["0001-01-01", "9999-12-31", "1970-01-01"]
# Sent in every date query parameter of every operation, one case each.
OVERFLOWING = {"date-time": BOUNDARY_DATETIMES[::2], "date": BOUNDARY_DATES[:2]}
# Left out, and why:
# - signup, login, token refresh, user and API-key creation, key rotation: they change the shared stack's
#   identity (new tenants and users, rotated signing keys) or are rate limited per address; their inputs
#   are tested in tests/identity.
# - bulk import: a streamed body (tested in tests/security/test_api4_import_input.py).
# - creating or changing channels: a pulled channel starts a puller that connects to the URL it was
#   given, and the fuzzer would make it reach out to generated host names.
# - the live inbox's event stream: an answer that never ends (tested in tests/engagement/test_stream.py).
EXCLUDED = {
    ("POST", "/v1/tenants"),
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/users"),
    ("POST", "/v1/api-keys"),
    ("POST", "/v1/keys/rotate"),
    ("POST", "/v1/mentions/import"),
    ("POST", "/v1/channels"),
    ("PATCH", "/v1/channels/{channel_id}"),
    ("GET", "/v1/conversations/stream"),
}


def _excluded(method: str, path: str) -> bool:
    if (method.upper(), path) in EXCLUDED:
        return True
    # Identity's token and key endpoints, whatever they are called.
    return path.startswith(("/v1/auth/", "/v1/api-keys", "/v1/keys"))


@pytest.fixture
def boundary_formats() -> Iterator[None]:
    defaults = get_default_format_strategies()
    schemathesis.openapi.format("date-time", st.sampled_from(BOUNDARY_DATETIMES) | defaults["date-time"])
    schemathesis.openapi.format("date", st.sampled_from(BOUNDARY_DATES) | defaults["date"])
    yield
    unregister_string_format("date-time")
    unregister_string_format("date")


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(
    stack: Stack, client: httpx.Client, tenant: Tenant, boundary_formats: None
) -> None:
    raw = client.get("/openapi.json")
    assert raw.status_code == 200, raw.text
    schema = schemathesis.openapi.from_dict(raw.json())
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not _excluded(operation.method, operation.path):
            operations.append(operation)
    assert len(operations) > 20, [f"{o.method} {o.path}" for o in operations]

    failures: list[str] = []
    seen = 0
    with httpx.Client(base_url=stack.gateway_url, timeout=30, headers=tenant.headers) as http:

        def check(case: Any) -> None:
            nonlocal seen
            seen += 1
            kwargs = case.as_transport_kwargs(base_url=stack.gateway_url)
            headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            body = {k: v for k, v in kwargs.items() if k in ("params", "json", "content", "data", "files")}
            if isinstance(body.get("data"), bytes | str):
                # Raw bytes go as `content` (httpx deprecates raw `data`); form fields stay `data`.
                body["content"] = body.pop("data")
            request = http.build_request(
                kwargs["method"], kwargs["url"], headers={**http.headers, **headers}, **body
            )
            response = http.send(request)
            what = f"{case.method} {request.url} -> {response.status_code}"
            if response.status_code >= 500:
                failures.append(f"{what}: {response.text[:200]}")
            elif response.status_code >= 400 and not response.headers.get("content-type", "").startswith(
                PROBLEM_JSON
            ):
                failures.append(f"{what} without problem+json: {response.headers.get('content-type')}")

        def explore(strategy: Any, examples: int) -> None:
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                check(case)

            run()

        for operation in operations:
            positive = operation.as_strategy(GenerationMode.POSITIVE)
            explore(positive | operation.as_strategy(GenerationMode.NEGATIVE), MAX_EXAMPLES)
            for parameter in operation.query:
                text = json.dumps(parameter.definition)
                for fmt, values in OVERFLOWING.items():
                    if f'"format": "{fmt}"' in text:
                        for value in values:
                            explore(operation.as_strategy(query={parameter.name: value}), 1)
    assert seen >= len(operations)
    assert not failures, "\n".join(failures)

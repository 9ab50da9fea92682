"""A reversed time range (`since` after `until`, `from` after `to`) is the same 422 on every operation
that takes one, found from the OpenAPI document so that a new endpoint is covered without a new test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.openapi import operations
from shared.validation import RANGE_PAIRS
from tests.helpers import Tenant, assert_problem

BOUND_NAMES = {"since", "until", "from", "to", "start", "end", "before", "after", "from_", "to_"}
LOW, HIGH = (
    {"date-time": "2026-01-02T00:00:00Z", "date": "2026-01-02"},
    {
        "date-time": "2026-01-01T00:00:00+00:00",
        "date": "2026-01-01",
    },
)


def _query(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


def _format(parameter: dict[str, Any]) -> str:
    schema = parameter["schema"]
    options = schema.get("anyOf", [schema])
    return next(o["format"] for o in options if "format" in o)


def _ranged(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    found = []
    for path, method, operation in operations(doc):
        names = _query(operation)
        bounds = {n for n in names if n in BOUND_NAMES}
        paired = {n for pair in RANGE_PAIRS if set(pair) <= set(names) for n in pair}
        assert bounds <= paired, f"{method.upper()} {path}: {bounds - paired} not part of a checked range"
        found += [(path, method, low, high) for low, high in RANGE_PAIRS if {low, high} <= set(names)]
    return found


def test_every_reversed_range_is_the_same_422(client: httpx.Client, tenant: Tenant) -> None:
    doc = client.get("/openapi.json").json()
    ranged = _ranged(doc)
    assert len(ranged) >= 4, ranged  # mentions, a query's volume, share of voice, the scorecard
    for path, method, low, high in ranged:
        params = _query(doc["paths"][path][method])
        fmt = _format(params[low])
        url = re.sub(r"\{[^}]+\}", "some-id", path)
        reversed_ = {low: LOW[fmt], high: HIGH[fmt]}
        body = assert_problem(client.request(method, url, headers=tenant.headers, params=reversed_), 422)
        assert body["type"] == "https://rapport.dev/problems/reversed-range", (path, body)
        assert body["errors"] == [
            {"loc": ["query", low], "msg": f"must not be after `{high}`", "type": "range_reversed"}
        ]
        ordered = client.request(method, url, headers=tenant.headers, params={low: HIGH[fmt], high: LOW[fmt]})
        assert ordered.status_code != 422, (path, ordered.text)


def test_a_range_reversed_by_a_default_bound_is_the_same_422(client: httpx.Client, tenant: Tenant) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    # `until` defaults to now.
    answer = client.get("/v1/listening/share-of-voice", headers=tenant.headers, params={"since": tomorrow})
    assert assert_problem(answer, 422)["type"] == "https://rapport.dev/problems/reversed-range"

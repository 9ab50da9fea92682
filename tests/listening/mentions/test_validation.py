"""Bad input to `POST /v1/mentions` is a 4xx problem+json and stores nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import Tenant, assert_problem, mention_payload
from tests.listening.helpers import list_mentions


def _without(field: str) -> dict[str, Any]:
    body = mention_payload()
    del body[field]
    return body


def _author(**fields: Any) -> dict[str, Any]:
    return mention_payload(author={"handle": "@sam", **fields})


INVALID: dict[str, Any] = {
    "missing_text": _without("text"),
    "missing_external_id": _without("external_id"),
    "missing_author": _without("author"),
    "missing_created_at": _without("created_at"),
    "text_is_a_number": mention_payload(text=42),
    "followers_not_a_number": _author(followers="many"),
    "negative_followers": _author(followers=-1),
    "text_of_10001_characters": mention_payload(text="a" * 10_001),
    "empty_text": mention_payload(text=""),
    "unknown_field_tenant_id": mention_payload(tenant_id="someone-else"),
    "unknown_author_field": _author(role="admin"),
    "naive_created_at": mention_payload(created_at="2025-01-01T12:00:00"),
    "created_at_not_a_date": mention_payload(created_at="yesterday"),
    "uppercase_platform": mention_payload(platform="Twitter"),
    "platform_longer_than_32": mention_payload(platform="x" * 33),
    "external_id_longer_than_128": mention_payload(external_id="1" * 129),
    "handle_longer_than_100": _author(handle="h" * 101),
    "handle_only_an_at_sign": _author(handle="@"),
    "url_not_http": mention_payload(url="javascript:alert(1)"),
    "body_is_a_list": [mention_payload()],
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
def test_invalid_mention_is_rejected_and_nothing_is_stored(
    client: httpx.Client, tenant: Tenant, body: Any
) -> None:
    response = client.post("/v1/mentions", json=body, headers=tenant.headers)

    problem = assert_problem(response, 422)
    assert problem["errors"]
    assert list_mentions(client, tenant)["items"] == []


def test_rejected_text_is_not_echoed_back(client: httpx.Client, tenant: Tenant) -> None:
    secret = "my-card-number-4111111111111111"
    response = client.post(
        "/v1/mentions", json=mention_payload(text=42, external_id=secret), headers=tenant.headers
    )

    assert_problem(response, 422)
    assert secret not in response.text


def test_malformed_json_is_a_400_and_nothing_is_stored(client: httpx.Client, tenant: Tenant) -> None:
    response = client.post(
        "/v1/mentions",
        content=b'{"platform": "x", "external_id": ',
        headers={**tenant.headers, "Content-Type": "application/json"},
    )

    assert_problem(response, 400)
    assert list_mentions(client, tenant)["items"] == []

"""An unknown query parameter is refused with a 422 naming it, like an unknown body field, before the
route does anything."""

from __future__ import annotations

import httpx

from tests.helpers import Tenant, assert_problem, mention_payload


def _names_unknown(answer: httpx.Response, name: str) -> None:
    body = assert_problem(answer, 422)
    assert body["type"] == "https://rapport.dev/problems/validation"
    assert {"loc": ["query", name], "type": "extra_forbidden"}.items() <= body["errors"][0].items(), body
    assert len(body["errors"]) == 1


def test_unknown_query_parameters_are_refused_by_name(client: httpx.Client, tenant: Tenant) -> None:
    h = tenant.headers
    _names_unknown(client.get("/v1/mentions", headers=h, params={"author": "@sam"}), "author")
    _names_unknown(client.get("/v1/mentions", headers=h, params={"limit": 5, "Limit": 5}), "Limit")
    _names_unknown(client.get("/v1/profiles", headers=h, params={"name": "Sam"}), "name")
    _names_unknown(client.get("/v1/metrics/scorecard", headers=h, params={"start": "2026-01-01"}), "start")
    _names_unknown(client.get("/v1/users", headers=h, params={"email": "a@example.com"}), "email")
    _names_unknown(client.get("/v1/listening/queries", headers=h, params={"q": "x"}), "q")
    _names_unknown(client.get("/v1/conversations/any-id", headers=h, params={"expand": "messages"}), "expand")
    _names_unknown(client.get("/v1/me", headers=h, params={"fields": "email"}), "fields")


def test_known_query_parameters_still_work(client: httpx.Client, tenant: Tenant) -> None:
    h = tenant.headers
    assert client.get("/v1/mentions", headers=h, params={"limit": 1, "platform": "x"}).status_code == 200
    kinds = [("kind", "brand"), ("kind", "competitor")]
    assert client.get("/v1/listening/share-of-voice", headers=h, params=kinds).status_code == 200
    assert client.get("/v1/metrics/scorecard", headers=h, params={"from": "2026-01-01"}).status_code == 200


def test_a_write_with_an_unknown_query_parameter_changes_nothing(
    client: httpx.Client, tenant: Tenant
) -> None:
    payload = mention_payload()
    refused = client.post("/v1/mentions", headers=tenant.headers, params={"dry_run": "1"}, json=payload)
    _names_unknown(refused, "dry_run")
    stored = client.post("/v1/mentions", headers=tenant.headers, json=payload)
    assert stored.status_code == 202, stored.text
    assert stored.json()["status"] == "accepted"  # not a duplicate: the refused one was never stored


def test_a_platforms_webhook_verification_takes_the_platforms_parameters(client: httpx.Client) -> None:
    # Public and open: a platform sends what it chooses. No such channel: 404, not 422.
    answer = client.get("/v1/inbound/x/no-such-channel", params={"crc_token": "abc", "nonce": "1"})
    assert_problem(answer, 404)

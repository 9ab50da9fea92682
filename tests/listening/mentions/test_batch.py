"""`POST /v1/mentions/batch`: up to 500 posts per request, one answer per post, all-or-nothing validation."""

from __future__ import annotations

import httpx

from tests.helpers import Tenant, add_user, assert_problem, mention_payload
from tests.listening.helpers import analysed, list_mentions, post_mention


def test_batch_stores_every_post_and_answers_in_order(client: httpx.Client, tenant: Tenant) -> None:
    bodies = [mention_payload(text=f"Where is my order number {i}?") for i in range(20)]

    response = client.post("/v1/mentions/batch", json={"mentions": bodies}, headers=tenant.headers)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == 20
    assert answer["duplicates"] == 0
    assert [r["status"] for r in answer["results"]] == ["accepted"] * 20
    ids = [r["id"] for r in answer["results"]]
    assert len(set(ids)) == 20
    for body, mention_id in zip(bodies, ids, strict=True):
        assert (
            client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()["external_id"]
            == (body["external_id"])
        )
    assert analysed(client, tenant, ids[-1])["analysis"]["intent"] in {"question", "complaint"}


def test_batch_repeats_are_duplicates_within_the_batch_and_across_requests(
    client: httpx.Client, tenant: Tenant
) -> None:
    earlier, earlier_id = post_mention(client, tenant)
    new = mention_payload()

    response = client.post(
        "/v1/mentions/batch", json={"mentions": [new, earlier, new]}, headers=tenant.headers
    )

    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "duplicate", "duplicate"]
    assert results[1]["id"] == earlier_id
    assert results[2]["id"] == results[0]["id"]
    assert response.json()["accepted"] == 1
    assert len(list_mentions(client, tenant)["items"]) == 2


def test_one_invalid_post_rejects_the_whole_batch(client: httpx.Client, tenant: Tenant) -> None:
    bad = mention_payload(text="")

    response = client.post(
        "/v1/mentions/batch", json={"mentions": [mention_payload(), bad]}, headers=tenant.headers
    )

    problem = assert_problem(response, 422)
    assert "mentions" in str(problem)
    assert list_mentions(client, tenant)["items"] == []


def test_empty_and_oversized_batches_are_rejected(client: httpx.Client, tenant: Tenant) -> None:
    empty = client.post("/v1/mentions/batch", json={"mentions": []}, headers=tenant.headers)
    too_many = client.post(
        "/v1/mentions/batch",
        json={"mentions": [mention_payload() for _ in range(501)]},
        headers=tenant.headers,
    )

    assert_problem(empty, 422)
    assert_problem(too_many, 422)
    assert list_mentions(client, tenant)["items"] == []


def test_batch_body_over_the_gateway_limit_is_413(client: httpx.Client, tenant: Tenant) -> None:
    huge = {"mentions": [mention_payload(text="x" * 10_000) for _ in range(500)], "padding": "y" * 12_000_000}

    response = client.post("/v1/mentions/batch", json=huge, headers=tenant.headers)

    assert_problem(response, 413)
    assert list_mentions(client, tenant)["items"] == []


def test_batch_needs_an_ingest_role(client: httpx.Client, accounts: httpx.Client, tenant: Tenant) -> None:
    analyst = add_user(accounts, tenant, "analyst")
    body = {"mentions": [mention_payload()]}

    assert_problem(client.post("/v1/mentions/batch", json=body), 401)
    assert_problem(client.post("/v1/mentions/batch", json=body, headers=analyst.headers), 403)
    assert list_mentions(client, tenant)["items"] == []


def test_batches_of_two_tenants_stay_apart(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    body = mention_payload()

    mine = client.post("/v1/mentions/batch", json={"mentions": [body]}, headers=tenant.headers)
    theirs = client.post("/v1/mentions/batch", json={"mentions": [body]}, headers=other_tenant.headers)

    assert mine.json()["accepted"] == theirs.json()["accepted"] == 1
    mine_id, their_id = mine.json()["results"][0]["id"], theirs.json()["results"][0]["id"]
    assert mine_id != their_id
    assert client.get(f"/v1/mentions/{their_id}", headers=tenant.headers).status_code == 404

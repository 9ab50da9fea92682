"""`Idempotency-Key`: a repeated POST gets the first answer again and reaches the service once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.gateway.helpers import Recorder, SigningKey, assert_problem, claims_for
from tests.helpers import Tenant, wait_until


def bearer_of(key: SigningKey, *, tenant_id: str, user_id: str | None = None) -> dict[str, str]:
    claims = claims_for(tenant_id=tenant_id, role="owner")
    if user_id is not None:
        claims["sub"] = user_id
    return {"Authorization": f"Bearer {key.sign(claims)}"}


def test_a_repeated_post_is_answered_from_the_first_and_forwarded_once(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey
) -> None:
    headers = {**bearer_of(recorder_key, tenant_id=str(uuid.uuid4())), "Idempotency-Key": uuid.uuid4().hex}
    before = recorder.count()
    first = gw.post("/v1/listening/queries", json={"name": "a"}, headers=headers)
    again = gw.post("/v1/listening/queries", json={"name": "a"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert recorder.count() == before + 1


def test_the_same_key_with_another_body_or_path_is_422_and_not_forwarded(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey
) -> None:
    headers = {**bearer_of(recorder_key, tenant_id=str(uuid.uuid4())), "Idempotency-Key": "order-17"}
    assert gw.post("/v1/listening/queries", json={"name": "a"}, headers=headers).status_code == 200
    before = recorder.count()
    body = assert_problem(gw.post("/v1/listening/queries", json={"name": "b"}, headers=headers), 422)
    assert body["type"].endswith("/idempotency-key-reused")
    assert_problem(gw.post("/v1/profile-attributes", json={"name": "a"}, headers=headers), 422)
    assert recorder.count() == before


def test_keys_are_per_caller_and_posts_without_a_key_are_each_forwarded(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey
) -> None:
    tenant_id = str(uuid.uuid4())
    key = {"Idempotency-Key": "shared-key"}
    before = recorder.count()
    for user in (str(uuid.uuid4()), str(uuid.uuid4())):
        headers = {**bearer_of(recorder_key, tenant_id=tenant_id, user_id=user), **key}
        response = gw.post("/v1/listening/queries", json={"name": "a"}, headers=headers)
        assert "idempotent-replayed" not in response.headers
    plain = bearer_of(recorder_key, tenant_id=tenant_id)
    for _ in range(2):
        gw.post("/v1/listening/queries", json={"name": "a"}, headers=plain)
    assert recorder.count() == before + 4


def test_a_repeat_while_the_first_is_running_is_409_with_retry_after(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey
) -> None:
    headers = {**bearer_of(recorder_key, tenant_id=str(uuid.uuid4())), "Idempotency-Key": uuid.uuid4().hex}
    request_id = uuid.uuid4().hex
    with ThreadPoolExecutor(1) as pool:
        # The recorder answers paths containing `/slow` after a few seconds.
        first = pool.submit(
            gw.post, "/v1/listening/queries/slow", json={}, headers={**headers, "X-Request-ID": request_id}
        )
        wait_until(lambda: recorder.seen(request_id), what="the first request upstream")
        response = gw.post("/v1/listening/queries/slow", json={}, headers=headers)
        assert first.result().status_code == 200
    problem = assert_problem(response, 409)
    assert problem["type"].endswith("/idempotency-key-in-use")
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize("key", ["", "has space", "x" * 256])
def test_a_malformed_key_is_400(gw: httpx.Client, recorder_key: SigningKey, key: str) -> None:
    headers = {**bearer_of(recorder_key, tenant_id=str(uuid.uuid4())), "Idempotency-Key": key}
    assert_problem(gw.post("/v1/listening/queries", json={}, headers=headers), 400)


def test_a_retried_create_makes_one_query_on_the_stack(client: httpx.Client, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Idempotency-Key": uuid.uuid4().hex}
    body = {"name": "Kettlr brand", "expression": "kettlr", "kind": "brand"}
    first = client.post("/v1/listening/queries", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post("/v1/listening/queries", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    listed = client.get("/v1/listening/queries", headers=tenant.headers).json()["items"]
    assert [q["id"] for q in listed] == [first.json()["id"]]

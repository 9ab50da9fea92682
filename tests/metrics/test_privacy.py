"""metrics answers privacy requests: it holds nobody, so an export is empty and an erasure keeps the
anonymous counts the person's posts added."""

from __future__ import annotations

import uuid

import httpx

from rapport.stack import Stack
from tests.erasures import database_hits, erase, export, subject_of
from tests.helpers import Tenant, mention_payload, unique
from tests.metrics.test_scorecard import scorecard, scorecard_when


def test_erasure_keeps_the_anonymous_counts_and_nothing_names_the_person(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    handle, text = unique("@mia"), f"My parcel {unique('lost')} never came"
    body = mention_payload(text=text, author={"handle": handle})
    assert client.post("/v1/mentions", headers=tenant.headers, json=body).status_code == 202
    before = scorecard_when(client, tenant, lambda c: c["mentions"]["total"] == 1, "the mention counted")
    profile_id = str(uuid.uuid4())
    subject = subject_of([profile_id], {"kind": "handle", "platform": "x", "value": handle})

    answer = erase(stack, tenant.tenant_id, subject, "metrics")

    assert answer["references"] == [] and set(answer["counts"]) <= {"outbox_events"}
    assert scorecard(client, tenant)["mentions"] == before["mentions"]
    assert export(stack, tenant.tenant_id, subject, "metrics") == {"counters": []}
    assert database_hits(stack, "metrics", [handle, text, profile_id, body["external_id"]]) == []

"""metrics answers privacy requests: its fact rows name a person only by profile id; an export returns
them, an erasure replaces the id by a random one, and every figure stays as it was."""

from __future__ import annotations

from typing import Any

import httpx

from rapport.stack import Stack
from shared.events import contracts as c
from shared.events.envelope import new_event
from tests.erasures import database_hits, erase, export, subject_of
from tests.helpers import Tenant, mention_payload, publish_event, unique
from tests.metrics.test_scorecard import scorecard, scorecard_when
from tests.profiles.helpers import wait_for_profile


def _figures(card: dict[str, Any]) -> dict[str, Any]:
    return {"listening": card["listening"], "customer": card["customer"]}


def test_erasure_anonymises_the_persons_rows_and_changes_no_figure(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    handle, text = unique("@mia"), f"My parcel {unique('lost')} never came"
    body = mention_payload(text=text, author={"handle": handle})
    assert client.post("/v1/mentions", headers=tenant.headers, json=body).status_code == 202
    profile_id = wait_for_profile(client, tenant, handle)["id"]
    before = scorecard_when(
        client,
        tenant,
        lambda c: c["listening"]["mentions"]["total"] == 1 and c["customer"]["profiles_first_seen"] == 1,
        "the mention and the profile counted",
    )
    subject = subject_of([profile_id], {"kind": "handle", "platform": "x", "value": handle})
    held = export(stack, tenant.tenant_id, subject, "metrics")
    assert [row["profile_id"] for row in held["profiles"]] == [profile_id]

    answer = erase(stack, tenant.tenant_id, subject, "metrics")

    assert answer["references"] == [] and answer["counts"]["profiles_anonymised"] == 1
    assert _figures(scorecard(client, tenant)) == _figures(before)
    assert export(stack, tenant.tenant_id, subject, "metrics")["profiles"] == []
    assert database_hits(stack, "metrics", [handle, text, body["external_id"]]) == []
    # The erased id stays only in the record of erased ids (so a late event lands anonymous too).
    hits = database_hits(stack, "metrics", [profile_id])
    assert [(table, column) for table, column, _ in hits] == [("metrics_erased_profile", "profile_id")]

    # Events about the person still in transit during the erasure (a sighting, an order): folded under
    # the random id, beside the person's rows (not as a second row that collides with them). The order
    # counts; the rows still lead to no one.
    snapshot = c.ProfileSnapshot(
        profile_id=profile_id, lifecycle_stage="customer", lifetime_value={"EUR": "80.00"}
    )
    late = [
        c.ProfileCreated(profile_id=profile_id, platform="x"),
        c.ProfileUpdated(profile_id=profile_id, changed=["order_count", "lifetime_value"], profile=snapshot),
    ]
    for payload in late:
        publish_event(stack.nats_url, new_event(payload, source="tests", tenant_id=tenant.tenant_id))
    after = scorecard_when(
        client, tenant, lambda c: c["customer"]["clv"]["all"]["customers"] == 1, "the late order counted"
    )
    assert after["customer"]["clv"]["all"]["total"] == "80.00"
    assert _figures(after)["listening"] == _figures(before)["listening"]
    assert after["customer"]["profiles_first_seen"] == 1
    assert export(stack, tenant.tenant_id, subject, "metrics")["profiles"] == []
    hits = database_hits(stack, "metrics", [profile_id])
    assert [(table, column) for table, column, _ in hits] == [("metrics_erased_profile", "profile_id")]

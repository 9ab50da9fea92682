"""Consent in profiles' own work: the segment export for marketing leaves out (and counts) the members
without a lawful basis for it; a person who objected to profiling is not profiled in the background."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, collect_events, unique, wait_until
from tests.profiles.helpers import find_profiles, ingest, wait_for_profile
from tests.profiles.test_segments import ANGRY, HAPPY, SMALL, create_segment, member_ids, patch, profile_of


def members(client: httpx.Client, tenant: Tenant, segment_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/segments/{segment_id}/members", headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ledger(client: httpx.Client, tenant: Tenant, profile_id: str, path: str, body: dict[str, Any]) -> None:
    """A write to the person's consent ledger (`consents/{purpose}`, `objections/{purpose}`), which
    projects before it answers and publishes `privacy.consent.changed`."""
    response = client.put(f"/v1/profiles/{profile_id}/{path}", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text


def test_marketing_export_leaves_out_members_without_consent(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    granted, withdrawn, silent = (profile_of(client, tenant, text=HAPPY, **SMALL) for _ in range(3))
    for profile in (granted, withdrawn, silent):
        patch(client, tenant, profile["id"], {"tags": {"add": ["newsletter"]}})
    segment = create_segment(client, tenant, "tags has newsletter")
    assert segment["member_count"] == 3
    ledger(client, tenant, granted["id"], "consents/marketing", {"status": "granted"})
    ledger(client, tenant, withdrawn["id"], "consents/marketing", {"status": "withdrawn"})

    # Listed for profiling (no purpose): every member.
    plain = members(client, tenant, segment["id"])
    assert sorted(p["id"] for p in plain["items"]) == sorted(p["id"] for p in (granted, withdrawn, silent))
    assert plain["withheld"] is None and plain["purpose"] is None

    response = client.get(
        f"/v1/segments/{segment['id']}/members", headers=tenant.headers, params={"purpose": "marketing"}
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert [p["id"] for p in page["items"]] == [granted["id"]]
    assert (page["purpose"], page["withheld"]) == ("marketing", 2)
    request_id = response.headers["x-request-id"]
    audited = collect_events(
        stack.nats_url, "privacy.audit.recorded", lambda e: e["data"]["request_id"] == request_id, timeout=3
    )
    decisions = {e["data"]["profile_id"]: (e["data"]["decision"], e["data"]["reason"]) for e in audited}
    assert decisions == {
        granted["id"]: ("allowed", "granted"),
        withdrawn["id"]: ("refused", "withdrawn"),
        silent["id"]: ("refused", "no_consent"),
    }
    assert {e["data"]["recorded_by"] for e in audited} == {"profiles"}

    # Paged: each page counts its own.
    first = members(client, tenant, segment["id"], purpose="marketing", limit=2)
    second = members(client, tenant, segment["id"], purpose="marketing", cursor=first["next_cursor"])
    assert first["withheld"] + second["withheld"] == 2
    assert [p["id"] for p in first["items"] + second["items"]] == [granted["id"]]

    csv_answer = client.get(
        f"/v1/segments/{segment['id']}/members",
        headers=tenant.headers,
        params={"purpose": "marketing", "format": "csv"},
    )
    assert csv_answer.status_code == 200, csv_answer.text
    assert csv_answer.headers["x-rapport-withheld"] == "2"
    assert csv_answer.headers["x-rapport-purpose"] == "marketing"
    rows = list(csv.reader(io.StringIO(csv_answer.text)))
    assert [row[0] for row in rows[1:]] == [granted["id"]]
    # Without a purpose the CSV holds everyone, as before.
    everyone = client.get(
        f"/v1/segments/{segment['id']}/members", headers=tenant.headers, params={"format": "csv"}
    )
    assert len(list(csv.reader(io.StringIO(everyone.text)))) == 4
    assert "x-rapport-withheld" not in everyone.headers

    # A grant counts from the very next export.
    ledger(client, tenant, silent["id"], "consents/marketing", {"status": "granted"})
    again = members(client, tenant, segment["id"], purpose="marketing")
    assert sorted(p["id"] for p in again["items"]) == sorted([granted["id"], silent["id"]])
    assert again["withheld"] == 1


def test_objection_to_profiling_stops_background_profiling(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    handle = unique("@obj")
    ingest(client, tenant, text=HAPPY, author={"handle": handle, "display_name": "Ola", "followers": 120})
    person = wait_for_profile(client, tenant, handle)
    other = profile_of(client, tenant, text=HAPPY, **SMALL)
    segment = create_segment(client, tenant, "sentiment_trend > 0.2")
    assert person["id"] in member_ids(client, tenant, segment["id"])
    trend = person["sentiment"]["trend"]

    ledger(client, tenant, person["id"], "objections/profiling", {"active": True})
    # The consumer takes them out of every segment.
    wait_until(
        lambda: person["id"] not in member_ids(client, tenant, segment["id"]), what="the objector leaves"
    )
    assert other["id"] in member_ids(client, tenant, segment["id"])

    # A new post still reaches their timeline (the record), but nothing is inferred from it.
    ingest(client, tenant, text=ANGRY, author={"handle": handle, "display_name": "Ola", "followers": 120})
    [after] = wait_until(
        lambda: [p for p in find_profiles(client, tenant, handle=handle) if p["mention_count"] == 2] or None,
        what="the second mention counted",
    )
    assert after["sentiment"]["trend"] == trend
    assert person["id"] not in member_ids(client, tenant, segment["id"])
    # A new segment leaves them out too.
    fresh = create_segment(client, tenant, "sentiment_trend > 0.2")
    assert person["id"] not in member_ids(client, tenant, fresh["id"])
    assert other["id"] in member_ids(client, tenant, fresh["id"])

    # Lifting the objection brings them back at once.
    ledger(client, tenant, person["id"], "objections/profiling", {"active": False})
    wait_until(lambda: person["id"] in member_ids(client, tenant, segment["id"]), what="the person is back")

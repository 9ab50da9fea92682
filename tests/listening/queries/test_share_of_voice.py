"""`GET /v1/listening/share-of-voice`: each brand and competitor query's part of the conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers import Tenant, add_user, assert_problem
from tests.listening.helpers import analysed, post_mention
from tests.listening.queries.helpers import create_query

URL = "/v1/listening/share-of-voice"


def _post(client: httpx.Client, tenant: Tenant, text: str, *, days_ago: float = 0) -> dict[str, Any]:
    created_at = (datetime.now(UTC) - timedelta(days=days_ago, minutes=5)).isoformat()
    _, mention_id = post_mention(client, tenant, text=text, created_at=created_at)
    return analysed(client, tenant, mention_id)


def _negative(mentions: list[dict[str, Any]]) -> int:
    return sum(m["analysis"]["sentiment"]["label"] == "negative" for m in mentions)


def _sov(client: httpx.Client, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = client.get(URL, headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_share_of_voice_compares_brand_and_competitors_over_a_period(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    brand = create_query(client, tenant, "zentrix", name="Zentrix", kind="brand")
    rival = create_query(client, tenant, "kettlecorp", name="KettleCorp", kind="competitor")
    topic = create_query(client, tenant, "descaling", name="Descaling", kind="topic")
    paused = create_query(client, tenant, "zentrix", name="Zentrix (old)", kind="brand")
    assert client.patch(
        f"/v1/listening/queries/{paused['id']}", headers=tenant.headers, json={"active": False}
    )

    ours = [
        _post(client, tenant, "Zentrix kettle broke after two days, terrible service"),
        _post(client, tenant, "Loving my new Zentrix kettle, thank you!"),
        _post(client, tenant, "Zentrix support answered in minutes"),
    ]
    both = _post(client, tenant, "Switched from KettleCorp to Zentrix, much quieter")
    theirs = _post(client, tenant, "KettleCorp lid cracked again, awful quality")
    older = _post(client, tenant, "Zentrix kettle still going strong", days_ago=10)
    _post(client, tenant, "Descaling tips for hard water")
    _post(client, other_tenant, "Zentrix in another tenant")

    sov = _sov(client, tenant)
    assert [i["query_id"] for i in sov["items"]] == [brand["id"], rival["id"]]  # most mentioned first
    zentrix, kettlecorp = sov["items"]
    assert (zentrix["mentions"], kettlecorp["mentions"]) == (5, 2)  # a post naming both counts for both
    assert sov["total"] == 7
    assert (zentrix["share"], kettlecorp["share"]) == (round(5 / 7, 4), round(2 / 7, 4))
    assert zentrix["negative"] == _negative([*ours, both, older])
    assert kettlecorp["negative"] == _negative([both, theirs]) >= 1
    assert kettlecorp["negative_share"] == round(kettlecorp["negative"] / 2, 4)
    assert (zentrix["name"], zentrix["kind"]) == ("Zentrix", "brand")

    # The last three days leave the older post out.
    since = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    recent = _sov(client, tenant, since=since)
    assert [i["mentions"] for i in recent["items"]] == [4, 2] and recent["total"] == 6

    topics = _sov(client, tenant, kind="topic")
    assert [(i["query_id"], i["mentions"], i["share"]) for i in topics["items"]] == [(topic["id"], 1, 1.0)]
    everything = _sov(client, tenant, kind=["brand", "competitor", "topic"])
    assert everything["total"] == 8 and paused["id"] not in {i["query_id"] for i in everything["items"]}

    # Nothing of theirs in the other tenant's view; a query without mentions in the period is listed at 0.
    assert _sov(client, other_tenant)["items"] == []
    empty = _sov(client, tenant, since="2001-01-01T00:00:00Z", until="2001-02-01T00:00:00Z")
    assert empty["total"] == 0 and {
        (i["mentions"], i["share"], i["negative_share"]) for i in empty["items"]
    } == {(0, 0.0, None)}


def test_share_of_voice_checks_its_parameters_and_roles(client: httpx.Client, tenant: Tenant) -> None:
    bad = [
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00"},  # no time zone
        {"kind": "rumour"},
    ]
    for params in bad:
        assert_problem(client.get(URL, headers=tenant.headers, params=params), 422)
    assert_problem(client.get(URL), 401)
    assert client.get(URL, headers=add_user(client, tenant, "agent").headers).status_code == 200

"""metrics: every event adds to its tenant's daily counters exactly once; the scorecard sums them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from shared.events.contracts import Analysis, Author, MentionReceived, MentionRedacted, Sentiment
from shared.events.envelope import CloudEvent, new_event
from tests.helpers import (
    Tenant,
    User,
    add_user,
    mention_payload,
    publish_event,
    set_presence,
    signup,
    unique,
    wait_until,
)

COMPLAINT = "My order arrived broken and support is not answering. Terrible!"
QUESTION = "How do I reset my password?"
PRAISE = "I love the new app, great work team!"
PROBLEM_JSON = "application/problem+json"


def scorecard(client: httpx.Client, user: User, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/metrics/scorecard", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def scorecard_when(
    client: httpx.Client, user: User, done: Callable[[dict[str, Any]], bool], what: str, **params: Any
) -> dict[str, Any]:
    """Poll the scorecard until `done(card)` holds; return that card (on time-out, show the last one).

    The counts arrive through up to four services' consumers in a chain (listening → profiles →
    engagement → metrics), hence the generous time-out: a loaded machine takes longer than 15 s.
    """
    cards: list[dict[str, Any]] = []

    def check() -> dict[str, Any] | None:
        cards.append(scorecard(client, user, **params))
        return cards[-1] if done(cards[-1]) else None

    try:
        return wait_until(check, timeout=60, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last scorecard: {cards[-1] if cards else None}") from None


def post_mention(client: httpx.Client, tenant: Tenant, text: str, **overrides: Any) -> dict[str, Any]:
    payload = mention_payload(text=text, **overrides)
    payload["author"]["handle"] = unique("@customer")
    response = client.post("/v1/mentions", headers=tenant.headers, json=payload)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def received(tenant_id: str, *, created_at: datetime, platform: str = "x") -> CloudEvent:
    """A `listening.mention.received` event as listening would publish it."""
    mention = MentionReceived(
        mention_id=str(uuid.uuid4()),
        platform=platform,
        external_id=uuid.uuid4().hex,
        text="Thanks!",
        created_at=created_at,
        author=Author(handle=unique("@fan"), followers=3),
        analysis=Analysis(language="en", sentiment=Sentiment(label="positive", score=0.6), intent="praise"),
    )
    return new_event(mention, source="tests", tenant_id=tenant_id)


def test_scorecard_counts_mentions_profiles_and_conversations(client: httpx.Client) -> None:
    tenant = signup(client)
    set_presence(client, add_user(client, tenant, "agent"))  # only online agents get conversations
    posted = [post_mention(client, tenant, text) for text in (COMPLAINT, QUESTION, PRAISE)]
    # Analysis is asynchronous: wait until the worker analysed each post.
    analyses = [
        wait_until(
            lambda p=p: client.get(f"/v1/mentions/{p['id']}", headers=tenant.headers).json()["analysis"],
            what="the analysis",
        )
        for p in posted
    ]
    assert [a["intent"] for a in analyses] == ["complaint", "question", "praise"]
    assert analyses[0]["sentiment"]["label"] == "negative"
    assert analyses[2]["sentiment"]["label"] == "positive"

    card = scorecard_when(
        client,
        tenant,
        # Each event type has its own consumer: wait for all of them, in whatever order they finish.
        lambda c: (
            (
                c["listening"]["mentions"]["total"],
                c["customer"]["profiles_first_seen"],
                c["care"]["conversations"]["opened"],
                c["care"]["conversations"]["assigned"],
            )
            == (3, 3, 2, 2)
        ),
        "three mentions, three profiles and two opened, assigned conversations",
    )

    assert card["from"] is None and card["to"] is not None
    sentiments = {"negative": 0, "neutral": 0, "positive": 0}
    for analysis in analyses:
        sentiments[analysis["sentiment"]["label"]] += 1
    mentions = card["listening"]["mentions"]
    assert mentions["by_sentiment"] == sentiments
    assert mentions["by_intent"] == {
        "complaint": 1,
        "question": 1,
        "praise": 1,
        "purchase_intent": 0,
        "other": 0,
    }
    assert mentions["by_platform"] == {"x": 3}
    assert sum(mentions["by_language"].values()) == 3
    assert mentions["by_language"].get("en") == sum(a["language"] == "en" for a in analyses)
    conversations = card["care"]["conversations"]
    assert (conversations["opened"], conversations["assigned"]) == (2, 2)
    assert sum(conversations["per_agent"].values()) == 2
    # Nothing was answered yet: both are pending, never zero.
    assert card["care"]["first_response"] == {
        "count": 0,
        "pending": 2,
        "p50_minutes": None,
        "p90_minutes": None,
    }


def test_new_tenant_scorecard_has_every_sentiment_key_at_zero(client: httpx.Client) -> None:
    tenant = signup(client)
    card = scorecard(client, tenant)
    assert card["listening"]["mentions"] == {
        "total": 0,
        "by_sentiment": {"negative": 0, "neutral": 0, "positive": 0},
        "by_language": {},
        "by_intent": {"complaint": 0, "other": 0, "praise": 0, "purchase_intent": 0, "question": 0},
        "by_platform": {},
    }
    assert card["listening"]["net_sentiment"] is None
    assert card["listening"]["share_of_voice"] == {"brand": 0, "competitor": 0, "share": None}
    assert card["customer"]["profiles_first_seen"] == 0
    assert card["care"]["conversations"] == {"opened": 0, "assigned": 0, "backlog": 0, "per_agent": {}}
    assert card["care"]["sla"] == {"conversations": 0, "met": 0, "compliance": None}
    assert card["customer"]["clv"]["all"] == {"customers": 0, "total": "0.00", "mean": None}


def test_duplicate_post_is_counted_once(client: httpx.Client) -> None:
    tenant = signup(client)
    payload = mention_payload(text=PRAISE)
    first = client.post("/v1/mentions", headers=tenant.headers, json=payload)
    again = client.post("/v1/mentions", headers=tenant.headers, json=payload)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    # A later post on another platform: once it is counted, everything before it has been.
    post_mention(client, tenant, PRAISE, platform="forum")

    card = scorecard_when(
        client, tenant, lambda c: "forum" in c["listening"]["mentions"]["by_platform"], "the later post"
    )
    assert card["listening"]["mentions"]["total"] == 2
    assert card["listening"]["mentions"]["by_platform"] == {"forum": 1, "x": 1}


def test_same_event_delivered_twice_is_counted_once(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    event = received(tenant.tenant_id, created_at=datetime.now(UTC))
    # Two broker messages (distinct Nats-Msg-Id) carrying one event: only the inbox can tell.
    publish_event(stack.nats_url, event, msg_ids=(f"{event.id}-a", f"{event.id}-b"))
    publish_event(
        stack.nats_url, received(tenant.tenant_id, created_at=datetime.now(UTC), platform="barrier")
    )

    card = scorecard_when(
        client, tenant, lambda c: "barrier" in c["listening"]["mentions"]["by_platform"], "the later event"
    )
    assert card["listening"]["mentions"]["total"] == 2
    assert card["listening"]["mentions"]["by_platform"] == {"barrier": 1, "x": 1}


def test_mentions_fall_in_the_period_by_their_own_time(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    # 23:30 at UTC-2 on 5 March is 01:30 UTC on 6 March.
    posted_at = datetime.fromisoformat("2024-03-05T23:30:00-02:00")
    publish_event(stack.nats_url, received(tenant.tenant_id, created_at=posted_at))

    def total(**period: str) -> int:
        count: int = scorecard(client, tenant, **period)["listening"]["mentions"]["total"]
        return count

    day = scorecard_when(
        client,
        tenant,
        lambda c: c["listening"]["mentions"]["total"] > 0,
        "the mention on 6 March",
        **{"from": "2024-03-06", "to": "2024-03-07"},
    )
    assert day["from"] == "2024-03-06T00:00:00Z" and day["to"] == "2024-03-07T00:00:00Z"
    assert day["listening"]["mentions"]["by_sentiment"] == {"negative": 0, "neutral": 0, "positive": 1}
    assert day["listening"]["net_sentiment"] == 100.0
    # The period is [from, to): the mention at 01:30 UTC is in the hour from 01:00, not in the one before.
    assert total(**{"from": "2024-03-06T01:00:00Z", "to": "2024-03-06T02:00:00Z"}) == 1
    assert total(**{"from": "2024-03-06T00:30:00Z", "to": "2024-03-06T01:30:00Z"}) == 0
    assert total(**{"from": "2024-03-05T20:00:00-02:00", "to": "2024-03-05T23:31:00-02:00"}) == 1
    assert total(**{"from": "2024-03-05", "to": "2024-03-06"}) == 0
    assert total(**{"from": "2024-03-07"}) == 0
    assert total(to="2024-03-06T01:30:00Z") == 0
    assert total(to="2024-03-06T01:30:01Z") == 1


def test_other_tenant_sees_none_of_the_counts(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    other = signup(client)
    publish_event(stack.nats_url, received(tenant.tenant_id, created_at=datetime.now(UTC)))
    scorecard_when(client, tenant, lambda c: c["listening"]["mentions"]["total"] == 1, "the mention counted")
    for base in (stack.gateway_url, stack.url("metrics")):
        response = httpx.get(f"{base}/v1/metrics/scorecard", headers=other.headers)
        assert response.status_code == 200
        assert response.json()["listening"]["mentions"]["total"] == 0


# --- auth and input -----------------------------------------------------------------------------


def test_anonymous_caller_gets_401(stack: Stack) -> None:
    for base in (stack.gateway_url, stack.url("metrics")):
        response = httpx.get(f"{base}/v1/metrics/scorecard")
        assert response.status_code == 401, (base, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
    forged = httpx.get(
        f"{stack.url('metrics')}/v1/metrics/scorecard", headers={"Authorization": "Bearer not-a-token"}
    )
    assert forged.status_code == 401


def test_integration_role_gets_403(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    integration = add_user(client, tenant, "integration")
    for base in (stack.gateway_url, stack.url("metrics")):
        response = httpx.get(f"{base}/v1/metrics/scorecard", headers=integration.headers)
        assert response.status_code == 403, (base, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)


@pytest.mark.parametrize("role", ["agent", "analyst", "admin"])
def test_staff_roles_may_read_the_scorecard(client: httpx.Client, role: str) -> None:
    tenant = signup(client)
    user = add_user(client, tenant, role)
    assert scorecard(client, user)["listening"]["mentions"]["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2024-03-07", "to": "2024-03-06"},
        {"from": "yesterday"},
        {"to": "2024-02-30"},
        {"from": "2024-13-01"},
        {"from": "2024-03-06T10:00:00Z", "to": "2024-03-06T09:59:59Z"},
        {"currency": "euro"},
        # Out of the range every store takes, once in UTC.
        {"from": "0001-01-01T00:00:00+14:00"},
        {"to": "9999-12-31T23:59:59-14:00"},
    ],
)
def test_invalid_period_returns_422_problem(client: httpx.Client, params: dict[str, str]) -> None:
    tenant = signup(client)
    response = client.get("/v1/metrics/scorecard", headers=tenant.headers, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["status"] == 422


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("rows", {"metric": "mood"}, 422),
        ("rows", {"metric": "mentions", "cursor": "not-a-cursor"}, 400),
        ("rows", {"metric": "mentions", "limit": 0}, 422),
        ("timeseries", {"metric": "mood"}, 422),
        ("timeseries", {"metric": "mentions", "interval": "minute"}, 422),
        ("timeseries", {"metric": "mentions", "interval": "hour", "from": "2020-01-01"}, 422),
        ("timeseries", {"metric": "mentions", "from": "2024-03-07", "to": "2024-03-06"}, 422),
    ],
)
def test_rows_and_series_refuse_bad_input(
    client: httpx.Client, path: str, params: dict[str, Any], status: int
) -> None:
    tenant = signup(client)
    response = client.get(f"/v1/metrics/{path}", headers=tenant.headers, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


def test_rows_and_series_are_the_tenant_own(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    other = signup(client)
    publish_event(stack.nats_url, received(tenant.tenant_id, created_at=datetime.now(UTC)))
    scorecard_when(client, tenant, lambda c: c["listening"]["mentions"]["total"] == 1, "the mention counted")
    mine = client.get("/v1/metrics/rows", headers=tenant.headers, params={"metric": "mentions"}).json()
    assert [row["sentiment"] for row in mine["items"]] == ["positive"] and mine["next_cursor"] is None
    theirs = client.get("/v1/metrics/rows", headers=other.headers, params={"metric": "mentions"})
    assert theirs.status_code == 200 and theirs.json()["items"] == []
    exported = client.get(
        "/v1/metrics/rows", headers=other.headers, params={"metric": "mentions", "format": "csv"}
    )
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.text.strip() == "mention_id,created_at,platform,channel_id,language,sentiment,intent"
    series = client.get(
        "/v1/metrics/timeseries", headers=other.headers, params={"metric": "mentions", "interval": "day"}
    ).json()
    assert len(series["points"]) in (30, 31) and all(p["value"] == 0 for p in series["points"])
    mine_series = client.get(
        "/v1/metrics/timeseries", headers=tenant.headers, params={"metric": "mentions", "interval": "day"}
    ).json()
    assert sum(p["value"] for p in mine_series["points"]) == 1


def test_a_removed_post_leaves_every_figure_and_a_repeat_does_not_bring_it_back(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    kept = received(tenant.tenant_id, created_at=datetime.now(UTC))
    gone = received(tenant.tenant_id, created_at=datetime.now(UTC), platform="forum")
    for e in (kept, gone):
        publish_event(stack.nats_url, e)
    scorecard_when(
        client, tenant, lambda c: c["listening"]["mentions"]["total"] == 2, "both mentions counted"
    )
    data = MentionReceived.model_validate(gone.data)
    redacted = MentionRedacted(
        mention_id=data.mention_id,
        platform=data.platform,
        created_at=data.created_at,
        reason="deleted",
        analysis=data.analysis,
    )
    publish_event(stack.nats_url, new_event(redacted, source="tests", tenant_id=tenant.tenant_id))
    # The same `received` again (another broker message), then a barrier on the same stream.
    publish_event(stack.nats_url, gone, msg_ids=(f"{gone.id}-again",))
    publish_event(
        stack.nats_url, received(tenant.tenant_id, created_at=datetime.now(UTC), platform="barrier")
    )
    card = scorecard_when(
        client, tenant, lambda c: "barrier" in c["listening"]["mentions"]["by_platform"], "the barrier"
    )
    assert card["listening"]["mentions"]["total"] == 2
    assert card["listening"]["mentions"]["by_platform"] == {"barrier": 1, "x": 1}
    rows = client.get("/v1/metrics/rows", headers=tenant.headers, params={"metric": "mentions"}).json()[
        "items"
    ]
    assert data.mention_id not in {row["mention_id"] for row in rows}

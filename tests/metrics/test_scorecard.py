"""metrics: every event adds to its tenant's daily counters exactly once; the scorecard sums them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from shared.events.contracts import Analysis, Author, MentionReceived, Sentiment
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
            (c["mentions"]["total"], c["profiles"]["created"], c["conversations"])
            == (
                3,
                3,
                {"opened": 2, "assigned": 2},
            )
        ),
        "three mentions, three profiles and two opened, assigned conversations",
    )

    assert card["from"] is None and card["to"] is None
    sentiments = {"negative": 0, "neutral": 0, "positive": 0}
    for analysis in analyses:
        sentiments[analysis["sentiment"]["label"]] += 1
    assert card["mentions"]["by_sentiment"] == sentiments
    assert card["mentions"]["by_intent"] == {
        "complaint": 1,
        "question": 1,
        "praise": 1,
        "purchase_intent": 0,
        "other": 0,
    }
    assert card["mentions"]["by_platform"] == {"x": 3}
    assert sum(card["mentions"]["by_language"].values()) == 3
    assert card["mentions"]["by_language"].get("en") == sum(a["language"] == "en" for a in analyses)
    assert card["conversations"] == {"opened": 2, "assigned": 2}


def test_new_tenant_scorecard_has_every_sentiment_key_at_zero(client: httpx.Client) -> None:
    tenant = signup(client)
    card = scorecard(client, tenant)
    assert card["mentions"] == {
        "total": 0,
        "by_sentiment": {"negative": 0, "neutral": 0, "positive": 0},
        "by_language": {},
        "by_intent": {"complaint": 0, "other": 0, "praise": 0, "purchase_intent": 0, "question": 0},
        "by_platform": {},
    }
    assert card["profiles"] == {"created": 0}
    assert card["conversations"] == {"opened": 0, "assigned": 0}


def test_duplicate_post_is_counted_once(client: httpx.Client) -> None:
    tenant = signup(client)
    payload = mention_payload(text=PRAISE)
    first = client.post("/v1/mentions", headers=tenant.headers, json=payload)
    again = client.post("/v1/mentions", headers=tenant.headers, json=payload)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    # A later post on another platform: once it is counted, everything before it has been.
    post_mention(client, tenant, PRAISE, platform="forum")

    card = scorecard_when(client, tenant, lambda c: "forum" in c["mentions"]["by_platform"], "the later post")
    assert card["mentions"]["total"] == 2
    assert card["mentions"]["by_platform"] == {"forum": 1, "x": 1}


def test_same_event_delivered_twice_is_counted_once(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    event = received(tenant.tenant_id, created_at=datetime.now(UTC))
    # Two broker messages (distinct Nats-Msg-Id) carrying one event: only the inbox can tell.
    publish_event(stack.nats_url, event, msg_ids=(f"{event.id}-a", f"{event.id}-b"))
    publish_event(
        stack.nats_url, received(tenant.tenant_id, created_at=datetime.now(UTC), platform="barrier")
    )

    card = scorecard_when(
        client, tenant, lambda c: "barrier" in c["mentions"]["by_platform"], "the later event"
    )
    assert card["mentions"]["total"] == 2
    assert card["mentions"]["by_platform"] == {"barrier": 1, "x": 1}


def test_mentions_are_bucketed_by_their_own_utc_day(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    # 23:30 at UTC-2 on 5 March is 01:30 UTC on 6 March.
    posted_at = datetime.fromisoformat("2024-03-05T23:30:00-02:00")
    publish_event(stack.nats_url, received(tenant.tenant_id, created_at=posted_at))

    day = scorecard_when(
        client,
        tenant,
        lambda c: c["mentions"]["total"] > 0,
        "the mention on 6 March",
        **{"from": "2024-03-06", "to": "2024-03-06"},
    )
    assert day["from"] == "2024-03-06" and day["to"] == "2024-03-06"
    assert day["mentions"]["by_sentiment"] == {"negative": 0, "neutral": 0, "positive": 1}
    assert scorecard(client, tenant, **{"from": "2024-03-05", "to": "2024-03-05"})["mentions"]["total"] == 0
    assert scorecard(client, tenant, **{"from": "2024-03-07"})["mentions"]["total"] == 0
    assert scorecard(client, tenant, to="2024-03-06")["mentions"]["total"] == 1
    assert scorecard(client, tenant, **{"from": "2024-03-01", "to": "2024-03-31"})["mentions"]["total"] == 1


def test_other_tenant_sees_none_of_the_counts(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    other = signup(client)
    publish_event(stack.nats_url, received(tenant.tenant_id, created_at=datetime.now(UTC)))
    scorecard_when(client, tenant, lambda c: c["mentions"]["total"] == 1, "the mention counted")
    for base in (stack.gateway_url, stack.url("metrics")):
        response = httpx.get(f"{base}/v1/metrics/scorecard", headers=other.headers)
        assert response.status_code == 200
        assert response.json()["mentions"]["total"] == 0


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
    assert scorecard(client, user)["mentions"]["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2024-03-07", "to": "2024-03-06"},
        {"from": "yesterday"},
        {"to": "2024-02-30"},
        {"from": "2024-13-01"},
    ],
)
def test_invalid_period_returns_422_problem(client: httpx.Client, params: dict[str, str]) -> None:
    tenant = signup(client)
    response = client.get("/v1/metrics/scorecard", headers=tenant.headers, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["status"] == 422

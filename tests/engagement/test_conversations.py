"""engagement: actionable mentions open (or continue) conversations, routed and assigned to agents."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from shared.events.contracts import MentionPayload, MentionResolved
from shared.events.envelope import new_event
from tests.helpers import (
    Tenant,
    User,
    add_user,
    mention_payload,
    online_agent,
    publish_event,
    set_presence,
    signup,
    unique,
    wait_for_agents,
    wait_until,
)

COMPLAINT = "My order arrived broken and support is not answering. Terrible!"
QUESTION = "How do I reset my password?"
PRAISE = "I love the new app, great work team!"
PROBLEM_JSON = "application/problem+json"


def post_mention(client: httpx.Client, tenant: Tenant, text: str, **overrides: Any) -> str:
    """Ingest a post through the gateway; return the mention id."""
    response = client.post(
        "/v1/mentions", headers=tenant.headers, json=mention_payload(text=text, **overrides)
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    mention_id: str = response.json()["id"]
    return mention_id


def author(followers: int = 120) -> dict[str, Any]:
    return {"handle": unique("@customer"), "display_name": "Sam Doe", "followers": followers}


def list_conversations(client: httpx.Client, user: User, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/conversations", headers=user.headers, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def get_conversation(client: httpx.Client, user: User, conversation_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/conversations/{conversation_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def conversation_of(client: httpx.Client, user: User, mention_id: str) -> dict[str, Any]:
    """Wait for the conversation whose messages include `mention_id`; return it with its messages."""

    def find() -> dict[str, Any] | None:
        for item in list_conversations(client, user, limit=200):
            detail = get_conversation(client, user, item["id"])
            if any(m["mention_id"] == mention_id for m in detail["messages"]):
                return detail
        return None

    return wait_until(find, what=f"a conversation holding mention {mention_id}")


def analysis_of(client: httpx.Client, tenant: Tenant, mention_id: str) -> dict[str, Any]:
    """The mention's analysis, once the (asynchronous) analysis worker produced it."""

    def read() -> dict[str, Any] | None:
        response = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        analysis: dict[str, Any] | None = response.json()["analysis"]
        return analysis

    return wait_until(read, what="the mention's analysis")


def test_complaint_opens_conversation_assigned_to_agent(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = online_agent(client, tenant)
    mention_id = post_mention(client, tenant, COMPLAINT, author=author())

    conversation = conversation_of(client, tenant, mention_id)

    assert conversation["status"] == "open"
    assert conversation["assignee_id"] == agent.user_id
    assert conversation["first_mention_id"] == mention_id
    [message] = conversation["messages"]
    assert message["direction"] == "inbound"
    assert message["platform"] == "x"
    assert message["text"] == COMPLAINT
    assert message["intent"] == "complaint"
    assert message["sentiment_label"] == "negative"
    # A negative complaint is high priority.
    assert conversation["priority"] == "high"
    # The agent sees it in their own queue.
    mine = list_conversations(client, agent, assignee_id=agent.user_id)
    assert [c["id"] for c in mine] == [conversation["id"]]


def test_complaint_without_online_agents_waits_and_goes_to_the_first_agent_online(
    client: httpx.Client,
) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    wait_for_agents(client, tenant, 1)
    mention_id = post_mention(client, tenant, COMPLAINT, author=author())
    conversation = conversation_of(client, tenant, mention_id)
    # The agent is known but offline: the conversation waits in the queue.
    assert conversation["assignee_id"] is None
    assert conversation["assignment_reason"]["queued"] is True

    set_presence(client, agent)

    def assigned() -> str | None:
        assignee: str | None = get_conversation(client, tenant, conversation["id"])["assignee_id"]
        return assignee

    assert wait_until(assigned, what="the backlog assigned to the new agent") == agent.user_id


def test_two_agents_share_conversations_round_robin(client: httpx.Client) -> None:
    tenant = signup(client)
    first, second = online_agent(client, tenant), online_agent(client, tenant)
    for _ in range(4):
        post_mention(client, tenant, COMPLAINT, author=author())

    def four_assigned() -> list[dict[str, Any]] | None:
        items = list_conversations(client, tenant)
        return items if len(items) == 4 and all(c["assignee_id"] for c in items) else None

    conversations = sorted(
        wait_until(four_assigned, what="four assigned conversations"), key=lambda c: (c["opened_at"], c["id"])
    )
    assignees = [c["assignee_id"] for c in conversations]
    # Equal loads: never-assigned agents go first (by id), then whoever waited longest.
    expected_first, expected_second = sorted([first.user_id, second.user_id])
    assert assignees == [expected_first, expected_second, expected_first, expected_second]


def external_id_of(conversation: dict[str, Any], mention_id: str) -> str:
    """The platform's id of the conversation's message for `mention_id` (what a reply answers)."""
    [external_id] = [m["external_id"] for m in conversation["messages"] if m["mention_id"] == mention_id]
    assert isinstance(external_id, str)
    return external_id


def test_second_complaint_of_same_profile_in_the_thread_appends_to_open_conversation(
    client: httpx.Client,
) -> None:
    tenant = signup(client)
    add_user(client, tenant, "agent")
    same_author = author()
    first_id = post_mention(client, tenant, COMPLAINT, author=same_author)
    first = conversation_of(client, tenant, first_id)

    second_id = post_mention(
        client,
        tenant,
        "Still waiting for a refund, this is not working.",
        author=same_author,
        in_reply_to=external_id_of(first, first_id),
    )

    def two_messages() -> dict[str, Any] | None:
        detail = get_conversation(client, tenant, first["id"])
        return detail if len(detail["messages"]) == 2 else None

    detail = wait_until(two_messages, what="the second message in the same conversation")
    assert [m["mention_id"] for m in detail["messages"]] == [first_id, second_id]
    assert detail["first_mention_id"] == first_id
    assert [c["id"] for c in list_conversations(client, tenant, profile_id=first["profile_id"])] == [
        first["id"]
    ]
    assert len(list_conversations(client, tenant)) == 1


def test_praise_opens_no_conversation(client: httpx.Client) -> None:
    tenant = signup(client)
    add_user(client, tenant, "agent")
    praise_id = post_mention(client, tenant, PRAISE, author=author())
    assert analysis_of(client, tenant, praise_id)["intent"] == "praise"
    # Mentions flow through each consumer in order: once a later complaint has its conversation,
    # the praise has been routed too.
    barrier_id = post_mention(client, tenant, COMPLAINT, author=author())
    barrier = conversation_of(client, tenant, barrier_id)

    conversations = list_conversations(client, tenant)
    assert [c["id"] for c in conversations] == [barrier["id"]]
    assert all(m["mention_id"] != praise_id for m in barrier["messages"])


def test_question_is_normal_priority_and_an_influential_author_raises_it(client: httpx.Client) -> None:
    tenant = signup(client)
    add_user(client, tenant, "agent")
    small_id = post_mention(client, tenant, QUESTION, author=author(followers=120))
    # 50,000 followers alone score an influence of about 47: a big audience, not an influential author.
    medium_id = post_mention(client, tenant, QUESTION, author=author(followers=50_000))
    # 5M followers and a verified account: influence 77.
    big_id = post_mention(client, tenant, QUESTION, author={**author(followers=5_000_000), "verified": True})
    assert analysis_of(client, tenant, small_id)["intent"] == "question"

    small = conversation_of(client, tenant, small_id)
    medium = conversation_of(client, tenant, medium_id)
    big = conversation_of(client, tenant, big_id)

    assert small["priority"] == medium["priority"] == "normal"
    assert "influential" not in medium["priority_reason"]
    assert big["priority"] == "high"
    assert big["priority_reason"].endswith("question; influential author (influence 77)")
    assert [c["id"] for c in list_conversations(client, tenant, priority="high")] == [big["id"]]


def test_list_is_newest_first_paginated_and_filtered(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = online_agent(client, tenant)  # else the conversations may open before routing knows the agent
    mention_ids = [post_mention(client, tenant, COMPLAINT, author=author()) for _ in range(3)]
    wait_until(lambda: len(list_conversations(client, tenant)) == 3, what="three conversations")

    page1 = client.get("/v1/conversations", headers=agent.headers, params={"limit": 2}).json()
    page2 = client.get(
        "/v1/conversations", headers=agent.headers, params={"limit": 2, "cursor": page1["next_cursor"]}
    ).json()

    assert len(page1["items"]) == 2 and page1["next_cursor"]
    assert len(page2["items"]) == 1 and page2["next_cursor"] is None
    items = page1["items"] + page2["items"]
    assert [c["first_mention_id"] for c in items] == list(reversed(mention_ids))
    assert len(list_conversations(client, agent, status="open")) == 3
    assert list_conversations(client, agent, status="closed") == []
    assert len(list_conversations(client, agent, status=["pending", "open"])) == 3
    assert list_conversations(client, agent, assignee_id=str(uuid.uuid4())) == []
    assert len(list_conversations(client, agent, assignee_id=agent.user_id)) == 3
    profile_id = items[0]["profile_id"]
    assert [c["profile_id"] for c in list_conversations(client, agent, profile_id=profile_id)] == [profile_id]


def test_redelivered_mention_under_new_event_id_adds_no_second_message(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    add_user(client, tenant, "agent")
    same_author = author()
    mention_id = post_mention(client, tenant, COMPLAINT, author=same_author)
    conversation = conversation_of(client, tenant, mention_id)
    stored = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()
    replay = MentionResolved(
        profile_id=conversation["profile_id"],
        mention=MentionPayload(
            mention_id=mention_id,
            **{
                k: stored[k]
                for k in ("platform", "external_id", "text", "created_at", "url", "author", "analysis")
            },
        ),
    )

    # Same mention, new event id: the inbox cannot see it is a repeat, the natural key must.
    publish_event(
        stack.nats_url,
        new_event(replay, source="tests", tenant_id=tenant.tenant_id),
    )
    barrier_id = post_mention(
        client,
        tenant,
        "How do I reset my password?",
        author=same_author,
        in_reply_to=external_id_of(conversation, mention_id),
    )

    def barrier_arrived() -> dict[str, Any] | None:
        detail = get_conversation(client, tenant, conversation["id"])
        return detail if any(m["mention_id"] == barrier_id for m in detail["messages"]) else None

    detail = wait_until(barrier_arrived, what="the later mention in the conversation")
    assert [m["mention_id"] for m in detail["messages"]] == [mention_id, barrier_id]


# --- auth and input -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tenant_with_conversation(stack: Stack) -> tuple[Tenant, dict[str, Any]]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        tenant = signup(client)
        add_user(client, tenant, "agent")
        mention_id = post_mention(client, tenant, COMPLAINT, author=author())
        return tenant, conversation_of(client, tenant, mention_id)


@pytest.mark.parametrize("path", ["/v1/conversations", "/v1/conversations/{id}"])
def test_anonymous_caller_gets_401(
    client: httpx.Client, stack: Stack, tenant_with_conversation: tuple[Tenant, dict[str, Any]], path: str
) -> None:
    _, conversation = tenant_with_conversation
    url = path.format(id=conversation["id"])
    for base in (stack.gateway_url, stack.url("engagement")):
        response = httpx.get(base + url)
        assert response.status_code == 401, (base, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
    forged = httpx.get(stack.url("engagement") + url, headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401


@pytest.mark.parametrize("path", ["/v1/conversations", "/v1/conversations/{id}"])
def test_integration_role_gets_403(
    client: httpx.Client, stack: Stack, tenant_with_conversation: tuple[Tenant, dict[str, Any]], path: str
) -> None:
    tenant, conversation = tenant_with_conversation
    integration = add_user(client, tenant, "integration")
    url = path.format(id=conversation["id"])
    for base in (stack.gateway_url, stack.url("engagement")):
        response = httpx.get(base + url, headers=integration.headers)
        assert response.status_code == 403, (base, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)


def test_analyst_may_read_conversations(
    client: httpx.Client, tenant_with_conversation: tuple[Tenant, dict[str, Any]]
) -> None:
    tenant, conversation = tenant_with_conversation
    analyst = add_user(client, tenant, "analyst")
    assert get_conversation(client, analyst, conversation["id"])["id"] == conversation["id"]


def test_other_tenant_conversation_returns_404(
    client: httpx.Client, stack: Stack, tenant_with_conversation: tuple[Tenant, dict[str, Any]]
) -> None:
    _, conversation = tenant_with_conversation
    other = signup(client)
    for base in (stack.gateway_url, stack.url("engagement")):
        response = httpx.get(f"{base}/v1/conversations/{conversation['id']}", headers=other.headers)
        assert response.status_code == 404, (base, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert list_conversations(client, other) == []
    assert list_conversations(client, other, profile_id=conversation["profile_id"]) == []


def test_unknown_conversation_returns_404(
    client: httpx.Client, tenant_with_conversation: tuple[Tenant, dict[str, Any]]
) -> None:
    tenant, _ = tenant_with_conversation
    response = client.get(f"/v1/conversations/{uuid.uuid4()}", headers=tenant.headers)
    assert response.status_code == 404
    assert response.json()["status"] == 404


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "archived"}, 422),
        ({"status": ["open", "archived"]}, 422),
        ({"label": "no spaces"}, 422),
        ({"language": "e"}, 422),
        ({"priority": "critical"}, 422),
        ({"limit": 0}, 422),
        ({"limit": 201}, 422),
        ({"limit": "many"}, 422),
        ({"assignee_id": ""}, 422),
        ({"profile_id": "x" * 65}, 422),
        ({"cursor": "not-a-cursor"}, 400),
    ],
)
def test_invalid_list_query_returns_problem(
    client: httpx.Client,
    tenant_with_conversation: tuple[Tenant, dict[str, Any]],
    params: dict[str, Any],
    status: int,
) -> None:
    tenant, _ = tenant_with_conversation
    response = client.get("/v1/conversations", headers=tenant.headers, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["status"] == status


def test_overlong_conversation_id_returns_422(
    client: httpx.Client, tenant_with_conversation: tuple[Tenant, dict[str, Any]]
) -> None:
    tenant, _ = tenant_with_conversation
    response = client.get("/v1/conversations/" + "a" * 65, headers=tenant.headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM_JSON)

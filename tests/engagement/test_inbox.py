"""engagement's inbox: what opens a conversation, priorities and their reasons, the lifecycle (PATCH,
snoozes, reopening), internal notes and the filtered list, through the gateway and the service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from tests.engagement.test_conversations import (
    COMPLAINT,
    QUESTION,
    author,
    conversation_of,
    external_id_of,
    get_conversation,
    list_conversations,
    post_mention,
)
from tests.helpers import (
    Tenant,
    User,
    add_user,
    assert_problem,
    find_event,
    online_agent,
    set_presence,
    signup,
    wait_until,
)
from tests.listening.queries.helpers import create_query

BRAND = "acmecorp"
COMPETITOR = "globexcorp"
BRAND_COMPLAINT = f"{BRAND}: my order arrived broken and support is not answering. Terrible!"
COMPETITOR_COMPLAINT = f"{COMPETITOR}: my order arrived broken and support is not answering. Terrible!"


def patch(client: httpx.Client, user: User, conversation_id: str, body: dict[str, Any]) -> httpx.Response:
    return client.patch(f"/v1/conversations/{conversation_id}", headers=user.headers, json=body)


def patched(client: httpx.Client, user: User, conversation_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = patch(client, user, conversation_id, body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def with_queries(client: httpx.Client) -> Tenant:
    """A tenant listening for its brand and for a competitor."""
    tenant = signup(client)
    create_query(client, tenant, BRAND, name="brand", kind="brand")
    create_query(client, tenant, COMPETITOR, name="competitor", kind="competitor")
    return tenant


# --- what opens a conversation ------------------------------------------------------------------


def test_complaint_matching_only_a_competitor_query_opens_nothing(client: httpx.Client) -> None:
    tenant = with_queries(client)
    competitor_id = post_mention(client, tenant, COMPETITOR_COMPLAINT, author=author())
    # Mentions flow through each consumer in order: once the later brand complaint has its
    # conversation, the competitor's has been routed too.
    brand_id = post_mention(client, tenant, BRAND_COMPLAINT, author=author())
    brand = conversation_of(client, tenant, brand_id)

    assert [c["id"] for c in list_conversations(client, tenant)] == [brand["id"]]
    assert [m["mention_id"] for m in brand["messages"]] == [brand_id]
    assert competitor_id not in {m["mention_id"] for m in brand["messages"]}


def test_brand_complaint_opens_a_conversation_with_its_priority_reason(client: httpx.Client) -> None:
    tenant = with_queries(client)
    mention_id = post_mention(client, tenant, BRAND_COMPLAINT, author=author())

    conversation = conversation_of(client, tenant, mention_id)

    assert conversation["priority"] == "high"
    assert conversation["priority_reason"] == "negative complaint"
    assert conversation["reopen_count"] == 0
    assert conversation["status_history"] == []


def test_influential_author_raises_the_priority_one_level(client: httpx.Client) -> None:
    tenant = with_queries(client)
    influential = {**author(followers=5_000_000), "verified": True}  # influence 77
    mention_id = post_mention(client, tenant, BRAND_COMPLAINT, author=influential)

    conversation = conversation_of(client, tenant, mention_id)

    assert conversation["priority"] == "urgent"
    assert conversation["priority_reason"] == "negative complaint; influential author (influence 77)"
    # The detail carries the customer's profile as their message's resolution showed it.
    profile = get_conversation(client, tenant, conversation["id"])["customer_profile"]
    assert profile["profile_id"] == conversation["profile_id"]
    assert profile["influence"] == 77 and profile["followers"] == 5_000_000
    assert profile["mention_count"] == 1 and profile["lifecycle_stage"] == "stranger"


# --- the lifecycle --------------------------------------------------------------------------------


def test_customer_writing_again_after_resolution_reopens_the_conversation(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    same_author = author()
    first_id = post_mention(client, tenant, COMPLAINT, author=same_author)
    conversation = conversation_of(client, tenant, first_id)

    resolved = patched(client, agent, conversation["id"], {"status": "resolved"})
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert list_conversations(client, agent, status="open") == []

    # The customer writes again in the same thread (a reply to their first post).
    again_id = post_mention(
        client, tenant, QUESTION, author=same_author, in_reply_to=external_id_of(conversation, first_id)
    )

    def reopened() -> dict[str, Any] | None:
        detail = get_conversation(client, tenant, conversation["id"])
        return detail if any(m["mention_id"] == again_id for m in detail["messages"]) else None

    detail = wait_until(reopened, what="the reopened conversation")
    assert detail["status"] == "open"
    assert detail["reopen_count"] == 1
    assert detail["resolved_at"] is None
    assert [
        (h["from_status"], h["to_status"], h["cause"], h["by_user_id"]) for h in detail["status_history"]
    ] == [
        ("open", "resolved", "agent", agent.user_id),
        ("resolved", "open", "customer", None),
    ]
    assert len(list_conversations(client, tenant)) == 1
    event = find_event(
        stack.nats_url,
        "engagement.conversation.reopened",
        lambda e: e["data"]["conversation_id"] == conversation["id"],
    )
    assert event["data"]["reopen_count"] == 1 and event["data"]["mention_id"] == again_id
    changed = find_event(
        stack.nats_url,
        "engagement.conversation.status_changed",
        lambda e: e["data"]["conversation_id"] == conversation["id"] and e["data"]["to_status"] == "resolved",
    )
    assert changed["data"]["from_status"] == "open" and changed["data"]["by_user_id"] == agent.user_id


def test_customer_answering_a_pending_conversation_opens_it_again(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    same_author = author()
    first_id = post_mention(client, tenant, COMPLAINT, author=same_author)
    conversation = conversation_of(client, tenant, first_id)
    assert patched(client, agent, conversation["id"], {"status": "pending"})["status"] == "pending"

    answer_id = post_mention(
        client, tenant, QUESTION, author=same_author, in_reply_to=external_id_of(conversation, first_id)
    )

    def answered() -> dict[str, Any] | None:
        detail = get_conversation(client, agent, conversation["id"])
        return detail if any(m["mention_id"] == answer_id for m in detail["messages"]) else None

    detail = wait_until(answered, what="the answer in the pending conversation")
    assert (detail["status"], detail["reopen_count"]) == ("open", 0)
    assert [(h["from_status"], h["to_status"], h["cause"]) for h in detail["status_history"]] == [
        ("open", "pending", "agent"),
        ("pending", "open", "customer"),
    ]


def test_closed_conversation_never_reopens_and_may_not_open_beside_a_new_one(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    same_author = author()
    first_id = post_mention(client, tenant, COMPLAINT, author=same_author)
    first = conversation_of(client, tenant, first_id)
    patched(client, agent, first["id"], {"status": "closed"})

    # The customer writes again in the same thread.
    second_id = post_mention(
        client, tenant, QUESTION, author=same_author, in_reply_to=external_id_of(first, first_id)
    )
    second = conversation_of(client, tenant, second_id)

    assert second["id"] != first["id"] and second["thread_key"] == first["thread_key"]
    assert get_conversation(client, tenant, first["id"])["status"] == "closed"
    # One conversation in progress per customer and thread: the old one cannot be opened beside the new one.
    assert_problem(patch(client, agent, first["id"], {"status": "open"}), 409)
    assert_problem(patch(client, agent, first["id"], {"status": "pending"}), 409)
    patched(client, agent, second["id"], {"status": "resolved"})
    assert patched(client, agent, first["id"], {"status": "pending"})["status"] == "pending"


def test_snoozed_conversation_wakes_up_open(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    conversation = conversation_of(client, tenant, post_mention(client, tenant, COMPLAINT, author=author()))
    until = datetime.now(UTC) + timedelta(seconds=2)

    snoozed = patched(client, agent, conversation["id"], {"snoozed_until": until.isoformat()})

    assert snoozed["status"] == "snoozed"
    assert datetime.fromisoformat(snoozed["snoozed_until"]) == until
    assert [c["id"] for c in list_conversations(client, agent, status="snoozed")] == [conversation["id"]]

    def woke() -> dict[str, Any] | None:
        detail = get_conversation(client, agent, conversation["id"])
        return detail if detail["status"] == "open" else None

    detail = wait_until(woke, what="the snoozed conversation open again")
    assert detail["snoozed_until"] is None
    assert [(h["from_status"], h["to_status"], h["cause"]) for h in detail["status_history"]] == [
        ("open", "snoozed", "agent"),
        ("snoozed", "open", "snooze"),
    ]
    find_event(
        stack.nats_url,
        "engagement.conversation.status_changed",
        lambda e: e["data"]["conversation_id"] == conversation["id"] and e["data"]["cause"] == "snooze",
    )


def test_pending_then_priority_labels_and_assignee_change(client: httpx.Client) -> None:
    tenant = signup(client)
    first = online_agent(client, tenant)
    conversation = conversation_of(client, tenant, post_mention(client, tenant, QUESTION, author=author()))
    assert conversation["assignee_id"] == first.user_id
    second = add_user(client, tenant, "agent")
    set_presence(client, second, "away")  # a manual assignment may go to an agent who is away

    body = {"status": "pending", "priority": "urgent", "labels": {"add": ["VIP", "billing"]}}
    result = patched(client, first, conversation["id"], body)
    assert (result["status"], result["priority"], result["labels"]) == (
        "pending",
        "urgent",
        ["billing", "vip"],
    )
    assert result["priority_reason"] == "set by an agent"

    result = patched(
        client, tenant, conversation["id"], {"labels": {"remove": ["billing"]}, "assignee_id": second.user_id}
    )
    assert result["labels"] == ["vip"] and result["assignee_id"] == second.user_id
    assert result["status"] == "pending"
    # Unassigned, it goes back to the queue, and the one online agent (not the one it left) takes it.
    assert patched(client, first, conversation["id"], {"assignee_id": None})["assignee_id"] == first.user_id
    set_presence(client, first, "away")
    assert patched(client, first, conversation["id"], {"assignee_id": None})["assignee_id"] is None


# --- notes ------------------------------------------------------------------------------------------


def test_notes_appear_in_the_conversation_with_their_author(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    conversation = conversation_of(client, tenant, post_mention(client, tenant, COMPLAINT, author=author()))

    response = client.post(
        f"/v1/conversations/{conversation['id']}/notes",
        headers=agent.headers,
        json={"body": " Refund sent. "},
    )
    assert response.status_code == 201, response.text
    note = response.json()
    assert note["author_id"] == agent.user_id and note["body"] == "Refund sent."
    client.post(f"/v1/conversations/{conversation['id']}/notes", headers=tenant.headers, json={"body": "ok"})

    detail = get_conversation(client, agent, conversation["id"])
    assert [(n["author_id"], n["body"]) for n in detail["notes"]] == [
        (agent.user_id, "Refund sent."),
        (tenant.user_id, "ok"),
    ]
    assert len(detail["messages"]) == 1  # a note is not a message


# --- the list -----------------------------------------------------------------------------------------


def test_inbox_rows_carry_the_customer_and_latest_message_and_filter_and_page(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    authors = [author() for _ in range(3)]
    ids = [post_mention(client, tenant, COMPLAINT, author=a) for a in authors]
    conversations = [conversation_of(client, tenant, mention_id) for mention_id in ids]
    later_id = post_mention(
        client, tenant, QUESTION, author=authors[0], in_reply_to=external_id_of(conversations[0], ids[0])
    )
    wait_until(
        lambda: len(get_conversation(client, tenant, conversations[0]["id"])["messages"]) == 2,
        what="the second message",
    )
    patched(client, agent, conversations[0]["id"], {"labels": {"add": ["vip"]}})
    patched(client, agent, conversations[1]["id"], {"status": "pending"})
    patched(client, agent, conversations[2]["id"], {"status": "resolved"})

    rows = {c["id"]: c for c in list_conversations(client, agent)}
    row = rows[conversations[0]["id"]]
    assert row["customer_handle"] == authors[0]["handle"]
    assert row["customer_display_name"] == "Sam Doe"
    assert row["last_message_excerpt"] == QUESTION
    latest = get_conversation(client, agent, row["id"])["messages"][-1]
    assert latest["mention_id"] == later_id
    assert datetime.fromisoformat(row["last_message_at"]) == datetime.fromisoformat(latest["posted_at"])
    assert (row["platform"], row["language"]) == ("x", "en")

    def ids_of(**params: Any) -> set[str]:
        return {c["id"] for c in list_conversations(client, agent, **params)}

    c0, c1, c2 = (c["id"] for c in conversations)
    assert ids_of(status=["open", "pending"]) == {c0, c1}
    assert ids_of(status="resolved") == {c2}
    assert ids_of(label="vip") == {c0}
    assert ids_of(label="vi") == set()
    assert ids_of(label="vip", status="pending") == set()
    assert ids_of(platform="x") == {c0, c1, c2}
    assert ids_of(platform="instagram") == set()
    assert ids_of(language="en") == {c0, c1, c2}
    assert ids_of(language="de") == set()
    assert ids_of(priority="high", status=["pending", "resolved"]) == {c1, c2}

    # Paging keeps the filters: one row a page, newest first.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1, "status": ["open", "resolved"]}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/conversations", headers=agent.headers, params=params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c2, c0]


# --- input, roles and tenants ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worked(stack: Stack) -> tuple[Tenant, User, dict[str, Any]]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        tenant = signup(client)
        agent = add_user(client, tenant, "agent")
        return (
            tenant,
            agent,
            conversation_of(client, tenant, post_mention(client, tenant, COMPLAINT, author=author())),
        )


PAST = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
FUTURE = (datetime.now(UTC) + timedelta(days=30)).isoformat()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "archived"},
        {"status": None},
        {"priority": "critical"},
        {"priority": None},
        {"snoozed_until": PAST},
        {"snoozed_until": "2099-01-01T00:00:00"},  # no offset
        {"snoozed_until": "tomorrow"},
        {"status": "snoozed"},
        {"status": "resolved", "snoozed_until": FUTURE},
        {"labels": {"add": ["no spaces"]}},
        {"labels": {"add": ["a" * 41]}},
        {"labels": {"add": ["x"], "remove": ["x"]}},
        {"labels": {"add": [f"l{i}" for i in range(21)]}},
        {"labels": {"drop": ["x"]}},
        {"assignee_id": str(uuid.uuid4())},
        {"assignee_id": ""},
        {"owner": "me"},
    ],
)
def test_invalid_update_returns_422_and_changes_nothing(
    client: httpx.Client, worked: tuple[Tenant, User, dict[str, Any]], body: dict[str, Any]
) -> None:
    _, agent, conversation = worked
    assert_problem(patch(client, agent, conversation["id"], body), 422)
    after = get_conversation(client, agent, conversation["id"])
    assert (after["status"], after["priority"], after["labels"]) == ("open", "high", [])


@pytest.mark.parametrize("body", [{}, {"body": ""}, {"body": "   "}, {"body": "x" * 10_001}, {"body": 3}])
def test_invalid_note_returns_422(
    client: httpx.Client, worked: tuple[Tenant, User, dict[str, Any]], body: dict[str, Any]
) -> None:
    _, agent, conversation = worked
    response = client.post(f"/v1/conversations/{conversation['id']}/notes", headers=agent.headers, json=body)
    assert_problem(response, 422)


def test_other_tenant_may_not_change_or_note_a_conversation(
    client: httpx.Client, stack: Stack, worked: tuple[Tenant, User, dict[str, Any]]
) -> None:
    _, agent, conversation = worked
    other = signup(client)
    for base in (stack.gateway_url, stack.url("engagement")):
        url = f"{base}/v1/conversations/{conversation['id']}"
        assert_problem(httpx.patch(url, headers=other.headers, json={"status": "resolved"}), 404)
        assert_problem(httpx.post(url + "/notes", headers=other.headers, json={"body": "hi"}), 404)
    after = get_conversation(client, agent, conversation["id"])
    assert after["status"] == "open" and after["notes"] == []
    assert_problem(patch(client, agent, str(uuid.uuid4()), {"status": "resolved"}), 404)


def test_analyst_reads_but_may_not_change_or_note(
    client: httpx.Client, stack: Stack, worked: tuple[Tenant, User, dict[str, Any]]
) -> None:
    tenant, _, conversation = worked
    analyst = add_user(client, tenant, "analyst")
    assert get_conversation(client, analyst, conversation["id"])["id"] == conversation["id"]
    for base in (stack.gateway_url, stack.url("engagement")):
        url = f"{base}/v1/conversations/{conversation['id']}"
        assert_problem(httpx.patch(url, headers=analyst.headers, json={"status": "resolved"}), 403)
        assert_problem(httpx.post(url + "/notes", headers=analyst.headers, json={"body": "hi"}), 403)
    assert get_conversation(client, analyst, conversation["id"])["status"] == "open"


def test_anonymous_caller_may_not_change_or_note(
    stack: Stack, worked: tuple[Tenant, User, dict[str, Any]]
) -> None:
    _, _, conversation = worked
    for base in (stack.gateway_url, stack.url("engagement")):
        url = f"{base}/v1/conversations/{conversation['id']}"
        assert_problem(httpx.patch(url, json={"status": "resolved"}), 401)
        assert_problem(httpx.post(url + "/notes", json={"body": "hi"}), 401)

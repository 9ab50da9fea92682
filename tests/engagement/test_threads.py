"""engagement: a conversation per customer and thread. A customer's direct messages and each public thread
they write in are separate conversations; a reply joins its thread's; writing again in a thread within the
reopen window after a resolution reopens it, later a new one opens (the window is a setting)."""

from __future__ import annotations

from collections.abc import Iterator
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
from tests.helpers import add_user, find_event, signup, unique, wait_until

STILL_WAITING = "Still waiting for a refund, this is not working."


def messages_of(client: httpx.Client, user: Any, conversation_id: str, count: int) -> list[str]:
    """The conversation's messages' mention ids, once it holds `count` of them."""

    def enough() -> list[str] | None:
        detail = get_conversation(client, user, conversation_id)
        ids = [m["mention_id"] for m in detail["messages"]]
        return ids if len(ids) >= count else None

    return wait_until(enough, what=f"{count} messages in conversation {conversation_id}")


def resolve(client: httpx.Client, user: Any, conversation_id: str) -> None:
    response = client.patch(
        f"/v1/conversations/{conversation_id}", headers=user.headers, json={"status": "resolved"}
    )
    assert response.status_code == 200, response.text


def test_a_customer_s_direct_messages_and_a_comment_elsewhere_are_two_conversations(
    client: httpx.Client,
) -> None:
    tenant = signup(client)
    add_user(client, tenant, "agent")
    customer = author()
    on = {"author": customer, "platform": "instagram"}
    dm_id = post_mention(client, tenant, COMPLAINT, kind="message", **on)
    # A comment under a post engagement does not hold (the brand's own announcement, say).
    comment_id = post_mention(
        client, tenant, QUESTION, kind="comment", in_reply_to=unique("announcement-"), **on
    )
    dm = conversation_of(client, tenant, dm_id)
    comment = conversation_of(client, tenant, comment_id)

    assert dm["id"] != comment["id"] and dm["profile_id"] == comment["profile_id"]
    assert (dm["status"], comment["status"]) == ("open", "open")
    assert dm["thread_key"].startswith("dm:") and comment["thread_key"].startswith("post:")

    # Each thread goes on in its own conversation: the next private message (it answers nothing in
    # particular) and a reply to the comment.
    dm_again_id = post_mention(client, tenant, STILL_WAITING, kind="message", **on)
    reply_id = post_mention(
        client, tenant, COMPLAINT, kind="comment", in_reply_to=external_id_of(comment, comment_id), **on
    )
    assert messages_of(client, tenant, dm["id"], 2) == [dm_id, dm_again_id]
    assert messages_of(client, tenant, comment["id"], 2) == [comment_id, reply_id]
    mine = list_conversations(client, tenant, profile_id=dm["profile_id"])
    assert sorted(c["id"] for c in mine) == sorted([dm["id"], comment["id"]])


def test_a_reply_joins_its_thread_and_another_customer_gets_their_own(client: httpx.Client) -> None:
    tenant = signup(client)
    add_user(client, tenant, "agent")
    sam, kim = author(), author()
    first_id = post_mention(client, tenant, COMPLAINT, author=sam)
    first = conversation_of(client, tenant, first_id)

    # Kim answers Sam's post: the same thread, Kim's own conversation.
    kim_id = post_mention(client, tenant, QUESTION, author=kim, in_reply_to=external_id_of(first, first_id))
    kims = conversation_of(client, tenant, kim_id)
    assert kims["id"] != first["id"] and kims["profile_id"] != first["profile_id"]
    assert kims["thread_key"] == first["thread_key"]

    # Sam answers Kim (a message of another conversation of the thread): it joins Sam's conversation.
    sam_id = post_mention(client, tenant, STILL_WAITING, author=sam, in_reply_to=external_id_of(kims, kim_id))
    assert messages_of(client, tenant, first["id"], 2) == [first_id, sam_id]
    assert [m["mention_id"] for m in get_conversation(client, tenant, kims["id"])["messages"]] == [kim_id]

    # A new post of Sam's, answering nothing, starts a thread of its own: a second conversation.
    new_id = post_mention(client, tenant, QUESTION, author=sam)
    new = conversation_of(client, tenant, new_id)
    assert new["id"] != first["id"] and new["thread_key"] != first["thread_key"]
    assert len(list_conversations(client, tenant, profile_id=first["profile_id"])) == 2


def test_a_private_message_within_the_reopen_window_reopens_the_thread_s_conversation(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    customer = author()
    on = {"author": customer, "platform": "instagram", "kind": "message"}
    first_id = post_mention(client, tenant, COMPLAINT, **on)
    first = conversation_of(client, tenant, first_id)
    # A public post of the same customer on the same platform is another thread.
    public_id = post_mention(client, tenant, QUESTION, author=customer, platform="instagram", kind="post")
    public = conversation_of(client, tenant, public_id)
    assert public["id"] != first["id"]
    resolve(client, agent, first["id"])

    again_id = post_mention(client, tenant, STILL_WAITING, **on)

    assert messages_of(client, tenant, first["id"], 2) == [first_id, again_id]
    detail = get_conversation(client, tenant, first["id"])
    assert (detail["status"], detail["reopen_count"]) == ("open", 1)
    event = find_event(
        stack.nats_url,
        "engagement.conversation.reopened",
        lambda e: e["data"]["conversation_id"] == first["id"],
    )
    assert event["data"]["mention_id"] == again_id and event["data"]["reopen_count"] == 1
    # The other thread was left alone.
    assert get_conversation(client, tenant, public["id"])["reopen_count"] == 0


@pytest.fixture
def no_reopen_window(stack: Stack) -> Iterator[None]:
    """The stack's engagement restarted with a reopen window of 0 s: every resolution is past it at once."""
    proc = stack.procs["engagement"]
    saved = dict(proc.env)
    stack.stop("engagement")
    proc.env = {**saved, "RAPPORT_REOPEN_WINDOW_S": "0"}
    try:
        stack.start("engagement")
        yield
    finally:
        stack.stop("engagement")
        proc.env = saved
        stack.start("engagement")


@pytest.mark.usefixtures("no_reopen_window")
def test_after_the_reopen_window_the_thread_gets_a_new_conversation(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    on = {"author": author(), "platform": "instagram", "kind": "message"}
    first_id = post_mention(client, tenant, COMPLAINT, **on)
    first = conversation_of(client, tenant, first_id)
    resolve(client, agent, first["id"])

    again_id = post_mention(client, tenant, STILL_WAITING, **on)
    again = conversation_of(client, tenant, again_id)

    assert again["id"] != first["id"]
    assert (again["thread_key"], again["profile_id"]) == (first["thread_key"], first["profile_id"])
    assert (again["status"], again["reopen_count"]) == ("open", 0)
    old = get_conversation(client, tenant, first["id"])
    assert (old["status"], old["reopen_count"]) == ("resolved", 0)
    assert [m["mention_id"] for m in old["messages"]] == [first_id]


def test_after_a_merge_the_merged_thread_goes_on_in_the_target(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    customer = author()
    dm_id = post_mention(client, tenant, COMPLAINT, author=customer, platform="instagram", kind="message")
    post_id = post_mention(client, tenant, QUESTION, author=customer, platform="instagram", kind="post")
    dm, post = conversation_of(client, tenant, dm_id), conversation_of(client, tenant, post_id)
    assert dm["id"] != post["id"]
    # The agent sees it is one matter told twice: the private thread joins the public one.
    response = client.post(
        f"/v1/conversations/{post['id']}/merge", headers=agent.headers, json={"conversation_id": dm["id"]}
    )
    assert response.status_code == 200, response.text

    again_id = post_mention(
        client, tenant, STILL_WAITING, author=customer, platform="instagram", kind="message"
    )

    assert messages_of(client, tenant, post["id"], 3) == [dm_id, post_id, again_id]
    assert get_conversation(client, tenant, dm["id"])["status"] == "closed"
    assert len(list_conversations(client, tenant, profile_id=post["profile_id"])) == 2


def test_a_merge_that_would_reopen_a_second_conversation_on_a_thread_is_refused(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    customer = author()
    post_id = post_mention(client, tenant, COMPLAINT, author=customer)
    closed = conversation_of(client, tenant, post_id)
    response = client.patch(
        f"/v1/conversations/{closed['id']}", headers=agent.headers, json={"status": "closed"}
    )
    assert response.status_code == 200, response.text
    # A closed conversation never reopens: the thread's next post opens another one, in progress.
    later_id = post_mention(
        client, tenant, STILL_WAITING, author=customer, in_reply_to=external_id_of(closed, post_id)
    )
    current = conversation_of(client, tenant, later_id)
    dm = conversation_of(
        client, tenant, post_mention(client, tenant, QUESTION, author=customer, kind="message")
    )
    assert len({closed["id"], current["id"], dm["id"]}) == 3

    # Merging the private thread (in progress) into the closed one would open it beside `current`.
    merge = f"/v1/conversations/{closed['id']}/merge"
    response = client.post(merge, headers=agent.headers, json={"conversation_id": dm["id"]})
    assert response.status_code == 409, response.text
    assert current["id"] in response.json()["detail"]
    assert get_conversation(client, tenant, dm["id"])["status"] == "open"
    # Into the one in progress, it goes.
    merge = f"/v1/conversations/{current['id']}/merge"
    assert client.post(merge, headers=agent.headers, json={"conversation_id": dm["id"]}).status_code == 200

"""listening answers privacy requests: export of a person's posts, erasure (anonymous counts stay), and the
suppression list that keeps a later post of theirs anonymous and unannounced."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from rapport.stack import Stack
from tests.erasures import database_hits, erase, export, stream_hits, subject_of
from tests.helpers import Tenant, find_event, unique
from tests.listening.channels.helpers import RecordingPlatform
from tests.listening.channels.test_replies import meta_channel, outcome, request_reply
from tests.listening.helpers import analysed, post_mention


def _post(client: httpx.Client, tenant: Tenant, handle: str, text: str, **author: Any) -> tuple[str, str]:
    """A post by `handle`, analysed; (mention id, platform id)."""
    external_id = uuid.uuid4().hex
    _, mention_id = post_mention(
        client,
        tenant,
        external_id=external_id,
        text=text,
        url=f"https://x.example/{handle}/{external_id}",
        author={"handle": handle, "display_name": f"{handle} Person", "followers": 10, **author},
    )
    analysed(client, tenant, mention_id)
    return mention_id, external_id


def _announced(stack: Stack, mention_id: str) -> dict[str, Any]:
    return find_event(
        stack.nats_url, "listening.mention.received", lambda e: e["data"]["mention_id"] == mention_id
    )


def test_erasure_anonymises_the_persons_posts_and_suppresses_their_next_ones(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    handle, user_id = unique("@erin"), unique("uid")
    first_text = f"My kettle {unique('leaks')} and nobody answers"
    second_text = f"Still waiting {unique('days')} for a refund"
    first, first_external = _post(client, tenant, handle, first_text)
    second, second_external = _post(client, tenant, handle.upper(), second_text, id=user_id)
    other_text = f"Lovely service {unique('thanks')}"
    other, _ = _post(client, tenant, unique("@other"), other_text)
    label = client.post(
        f"/v1/mentions/{first}/labels", headers=tenant.headers, json={"sentiment": "negative"}
    )
    assert label.status_code in (200, 201), label.text

    identity = {"kind": "handle", "platform": "x", "value": handle, "platform_user_id": user_id}
    answer = erase(stack, tenant.tenant_id, subject_of([str(uuid.uuid4())], identity), "listening")

    assert answer["counts"]["mentions_anonymised"] == 2
    assert answer["counts"]["mention_labels"] == 1
    assert answer["counts"]["suppressed_identifiers"] >= 2
    assert {first, second} <= set(answer["references"])
    personal = [handle, handle.lstrip("@"), user_id, first_text, second_text, first_external, second_external]
    for mention_id in (first, second):
        kept = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()
        # An anonymous count: its time, platform and labels stay; nothing of the post or its author.
        assert kept["text"] == "" and kept["author"]["handle"] == "" and kept["url"] is None
        assert kept["redaction_reason"] == "erased"
        assert kept["analysis"] is not None
    listed = client.get("/v1/mentions", headers=tenant.headers, params={"limit": 100})
    assert listed.status_code == 200
    assert not [n for n in personal if n in listed.text]
    assert other_text in listed.text  # another author is untouched
    assert client.get(f"/v1/mentions/{other}", headers=tenant.headers).json()["text"] == other_text
    assert database_hits(stack, "listening", [*personal, handle.lstrip("@").lower()]) == []

    # Later posts: by the handle (another case, with `@` dropped) and by the user id under a new handle.
    later_text = f"Trying again {unique('hello')}"
    hidden = []
    for author in ({"handle": handle.lstrip("@").lower()}, {"handle": unique("renamed"), "id": user_id}):
        body = {
            "platform": "x",
            "external_id": uuid.uuid4().hex,
            "text": later_text,
            "created_at": "2026-12-01T10:00:00+00:00",
            "author": author,
        }
        response = client.post("/v1/mentions", headers=tenant.headers, json=body)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "suppressed"
        hidden.append(response.json()["id"])
        again = client.post("/v1/mentions", headers=tenant.headers, json=body)
        assert again.json() == {"id": response.json()["id"], "status": "duplicate"}
    batch = client.post(
        "/v1/mentions/batch",
        headers=tenant.headers,
        json={
            "mentions": [
                {
                    "platform": "x",
                    "external_id": uuid.uuid4().hex,
                    "text": later_text,
                    "created_at": "2026-12-01T10:00:00+00:00",
                    "author": {"handle": handle},
                }
            ]
        },
    )
    assert batch.status_code == 202, batch.text
    assert [r["status"] for r in batch.json()["results"]] == ["suppressed"]
    hidden.append(batch.json()["results"][0]["id"])
    for mention_id in hidden:
        stored = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json()
        assert stored["text"] == "" and stored["author"]["handle"] == ""
        assert stored["redaction_reason"] == "suppressed" and stored["analysis"] is None
    # Announcements go out in the order posts arrived: once a post ingested after them is announced,
    # none of the suppressed ones was.
    after, _ = _post(client, tenant, unique("@bystander"), f"Nice {unique('day')}")
    _announced(stack, after)
    assert stream_hits(stack, hidden) == []
    assert database_hits(stack, "listening", [later_text]) == []


def test_another_tenant_and_other_authors_are_left_alone(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant, stack: Stack
) -> None:
    handle = unique("@sam")
    text = f"Same handle elsewhere {unique('x')}"
    theirs, _ = _post(client, other_tenant, handle, text)
    erase(
        stack,
        tenant.tenant_id,
        subject_of([], {"kind": "handle", "platform": None, "value": handle}),
        "listening",
    )
    kept = client.get(f"/v1/mentions/{theirs}", headers=other_tenant.headers).json()
    assert kept["text"] == text and kept["author"]["handle"] == handle
    again, _ = _post(client, other_tenant, handle, f"And again {unique('y')}")
    assert (
        client.get(f"/v1/mentions/{again}", headers=other_tenant.headers).json()["author"]["handle"] == handle
    )


def test_export_lists_the_persons_posts(client: httpx.Client, tenant: Tenant, stack: Stack) -> None:
    handle = unique("@exa")
    text = f"Please call me back {unique('soon')}"
    mine, external_id = _post(client, tenant, handle, text)
    _post(client, tenant, unique("@else"), f"Unrelated {unique('z')}")
    data = export(
        stack,
        tenant.tenant_id,
        subject_of([], {"kind": "handle", "platform": "x", "value": handle}),
        "listening",
    )
    assert [m["id"] for m in data["mentions"]] == [mine]
    record = data["mentions"][0]
    assert record["text"] == text and record["external_id"] == external_id
    assert record["author"]["handle"] == handle and record["analysis"]["sentiment"] is not None
    assert data["replies"] == []


def test_a_second_erasure_reaches_the_group_commit_at_once(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    def batch_status(handle: str) -> str:
        post = {
            "platform": "x",
            "external_id": uuid.uuid4().hex,
            "text": f"Hi {unique('again')}",
            "created_at": "2026-12-01T10:00:00+00:00",
            "author": {"handle": handle},
        }
        response = client.post("/v1/mentions/batch", headers=tenant.headers, json={"mentions": [post]})
        assert response.status_code == 202, response.text
        status: str = response.json()["results"][0]["status"]
        return status

    first, second = unique("@ana"), unique("@ben")
    erase(
        stack,
        tenant.tenant_id,
        subject_of([], {"kind": "handle", "platform": "x", "value": first}),
        "listening",
    )
    assert batch_status(first) == "suppressed"
    assert batch_status(second) == "accepted"  # the app's copy of the list now holds the first only
    erase(
        stack,
        tenant.tenant_id,
        subject_of([], {"kind": "handle", "platform": "x", "value": second}),
        "listening",
    )
    assert batch_status(second) == "suppressed"
    assert batch_status(first) == "suppressed"


def test_reply_requests_addressed_to_the_person_are_deleted(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    platform = RecordingPlatform()
    platform.thread.start()
    try:
        channel_id = meta_channel(client, tenant, platform)
        user_id, conversation_id = unique("uid"), str(uuid.uuid4())
        # A private message to the person (refused: no window), and one through a channel listening does not
        # know, in the same conversation (refused before its target was known); another customer's too.
        texts = [f"Hello {unique('dm')}", f"Hello again {unique('dm')}", f"Someone else {unique('dm')}"]
        requests = [
            request_reply(
                stack,
                tenant,
                channel_id,
                kind="direct",
                recipient=user_id,
                conversation_id=conversation_id,
                text=texts[0],
            ),
            request_reply(stack, tenant, str(uuid.uuid4()), conversation_id=conversation_id, text=texts[1]),
            request_reply(stack, tenant, channel_id, kind="direct", recipient=unique("uid"), text=texts[2]),
        ]
        for request in requests:
            outcome(stack, "failed", request.message_id)

        identity = {"kind": "handle", "platform": "facebook", "value": None, "platform_user_id": user_id}
        answer = erase(stack, tenant.tenant_id, subject_of([], identity), "listening")

        assert answer["counts"]["replies"] == 2
        assert {requests[0].message_id, requests[1].message_id} <= set(answer["references"])
        assert database_hits(stack, "listening", texts[:2]) == []
        assert [h[2] for h in database_hits(stack, "listening", texts[2:])] == [texts[2]]
    finally:
        platform.server.shutdown()
        platform.server.server_close()

"""engagement answers privacy requests: the person's conversations, messages, notes, surveys, mention
projection rows and the webhook deliveries that carried them are exported, then erased; others stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from rapport.stack import Stack
from shared.events.contracts import (
    Analysis,
    Author,
    ConversationOpened,
    MentionPayload,
    MentionResolved,
    Sentiment,
)
from shared.events.envelope import new_event
from tests.engagement.receiver import receiver
from tests.engagement.test_conversations import conversation_of, get_conversation
from tests.engagement.test_replies import delivered, replied
from tests.engagement.test_surveys import LINK_BASE, put_setting, resolve, token_in
from tests.engagement.test_webhooks import deliveries, delivery_of, settled, subscribe
from tests.erasures import database_hits, erase, export, subject_of
from tests.helpers import Tenant, find_event, publish_event, unique


def _post(stack: Stack, tenant: Tenant, *, channel_id: str, profile_id: str, handle: str, text: str) -> str:
    """A complaint through a channel, resolved to `profile_id` as profiles publishes it; its mention id."""
    mention_id = str(uuid.uuid4())
    mention = MentionPayload(
        mention_id=mention_id,
        platform="x",
        external_id=uuid.uuid4().hex,
        text=text,
        created_at=datetime.now(UTC),
        author=Author(handle=handle, platform_user_id=unique("uid")),
        analysis=Analysis(
            language="en", sentiment=Sentiment(label="negative", score=-0.6), intent="complaint"
        ),
        channel_id=channel_id,
    )
    resolved = MentionResolved(profile_id=profile_id, mention=mention)
    publish_event(stack.nats_url, new_event(resolved, source="tests", tenant_id=tenant.tenant_id))
    return mention_id


def _publish_opened(stack: Stack, tenant: Tenant, profile_id: str) -> str:
    """An `engagement.conversation.opened` about the profile, as if published just before; its event id."""
    conversation_id = str(uuid.uuid4())
    event = new_event(
        ConversationOpened(
            conversation_id=conversation_id,
            profile_id=profile_id,
            mention_id=str(uuid.uuid4()),
            priority="normal",
            opened_at=datetime.now(UTC),
        ),
        source="tests",
        tenant_id=tenant.tenant_id,
        subject=conversation_id,
    )
    publish_event(stack.nats_url, event)
    return event.id


def _opened(stack: Stack, conversation_id: str) -> dict[str, Any]:
    return find_event(
        stack.nats_url,
        "engagement.conversation.opened",
        lambda e: e["data"]["conversation_id"] == conversation_id,
    )


def _person(
    client: httpx.Client, stack: Stack, tenant: Tenant, profile_id: str, handle: str
) -> dict[str, Any]:
    """A conversation of the person with a post, an agent's reply, a note, a survey answered with a
    comment; the texts and ids that name them."""
    channel_id = str(uuid.uuid4())
    put_setting(client, tenant, channel_id, kind="csat", questions={"en": "How did we do?"})
    text = f"The blender {unique('smokes')} and I want my money back"
    mention_id = _post(stack, tenant, channel_id=channel_id, profile_id=profile_id, handle=handle, text=text)
    conversation = conversation_of(client, tenant, mention_id)
    reply_text = f"So sorry, {unique('refund')} is on its way"
    reply = replied(client, tenant, conversation["id"], text=reply_text)["message"]
    delivered(client, tenant, conversation["id"], reply["id"], "failed")  # the channel is not listening's
    note = f"Called them {unique('note')}"
    response = client.post(
        f"/v1/conversations/{conversation['id']}/notes", headers=tenant.headers, json={"body": note}
    )
    assert response.status_code == 201, response.text
    resolve(client, tenant, conversation["id"])
    question = find_event(
        stack.nats_url,
        "engagement.reply.requested",
        lambda e: e["data"]["conversation_id"] == conversation["id"] and LINK_BASE in e["data"]["text"],
    )
    token = token_in(question["data"]["text"])
    comment = f"Fine in the end {unique('comment')}"
    assert client.post(f"/v1/surveys/{token}", json={"score": 4, "comment": comment}).status_code == 200
    find_event(
        stack.nats_url,
        "engagement.survey.answered",
        lambda e: e["data"]["conversation_id"] == conversation["id"],
    )
    return {
        "conversation": conversation,
        "token": token,
        "texts": [text, reply_text, note, comment],
        "ids": [conversation["id"], reply["id"], mention_id],
    }


def test_erasure_deletes_the_persons_conversations_and_what_hangs_on_them(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    engagement = httpx.Client(base_url=stack.url("engagement"), timeout=30)
    with receiver() as partner, engagement:
        sub = subscribe(engagement, tenant, partner.url, ["engagement.conversation.opened"])
        profile_id, handle = str(uuid.uuid4()), unique("@dana")
        person = _person(client, stack, tenant, profile_id, handle)
        other_profile = str(uuid.uuid4())
        other = _person(client, stack, tenant, other_profile, unique("@olaf"))
        for conversation_id in (person["conversation"]["id"], other["conversation"]["id"]):
            opened = _opened(stack, conversation_id)
            settled(engagement, tenant, sub["id"], opened["id"], "succeeded")
        assert deliveries(engagement, tenant, sub["id"], profile_id=profile_id)

        identity = {"kind": "handle", "platform": "x", "value": handle}
        answer = erase(stack, tenant.tenant_id, subject_of([profile_id], identity), "engagement")

        counts = answer["counts"]
        assert counts["conversations"] == 1 and counts["notes"] == 1 and counts["surveys"] == 1
        assert counts["messages"] >= 3  # the post, the reply, the survey's question
        assert counts["webhook_deliveries"] >= 1 and counts["seen_mentions"] == 1
        assert set(person["ids"]) <= set(answer["references"])
        conversation_id = person["conversation"]["id"]
        gone = client.get(f"/v1/conversations/{conversation_id}", headers=tenant.headers)
        assert gone.status_code == 404
        listed = client.get("/v1/conversations", headers=tenant.headers, params={"limit": 200})
        assert conversation_id not in listed.text and other["conversation"]["id"] in listed.text
        assert client.get(f"/v1/surveys/{person['token']}").status_code == 404
        assert deliveries(engagement, tenant, sub["id"], profile_id=profile_id) == []
        assert deliveries(engagement, tenant, sub["id"], profile_id=other_profile)
        needles = [handle, *person["texts"], *person["ids"]]
        assert database_hits(stack, "engagement", needles) == []
        # The erased profile id stays in one place: the list of erased profiles (a random id, nothing else).
        assert [h[0] for h in database_hits(stack, "engagement", [profile_id])] == ["erased_profile"]
        # Events about the person still in transit when they were erased: a resolution of their post, an
        # opening for partners. Each is followed by one about someone else: once that one is handled,
        # the person's was too (a consumer handles its stream in order).
        late_text = f"Anyone there {unique('late')}"
        _post(
            stack, tenant, channel_id=str(uuid.uuid4()), profile_id=profile_id, handle=handle, text=late_text
        )
        late_opened = _publish_opened(stack, tenant, profile_id)
        bystander = str(uuid.uuid4())
        bystander_mention = _post(
            stack,
            tenant,
            channel_id=str(uuid.uuid4()),
            profile_id=bystander,
            handle=unique("@by"),
            text="Broken!",
        )
        conversation_of(client, tenant, bystander_mention)
        settled(engagement, tenant, sub["id"], _publish_opened(stack, tenant, bystander), "succeeded")
        assert delivery_of(engagement, tenant, sub["id"], late_opened) is None
        assert database_hits(stack, "engagement", [late_text, handle]) == []
        listed = client.get("/v1/conversations", headers=tenant.headers, params={"limit": 200}).json()[
            "items"
        ]
        assert profile_id not in {c["profile_id"] for c in listed}
        # The other customer keeps everything.
        kept = get_conversation(client, tenant, other["conversation"]["id"])
        assert {m["text"] for m in kept["messages"]} >= set(other["texts"][:2])
        assert [n["body"] for n in kept["notes"]] == [other["texts"][2]]


def test_export_gathers_the_persons_records(client: httpx.Client, tenant: Tenant, stack: Stack) -> None:
    profile_id, handle = str(uuid.uuid4()), unique("@ezra")
    person = _person(client, stack, tenant, profile_id, handle)
    _person(client, stack, tenant, str(uuid.uuid4()), unique("@else"))

    data = export(stack, tenant.tenant_id, subject_of([profile_id]), "engagement")
    assert [c["id"] for c in data["conversations"]] == [person["conversation"]["id"]]
    texts = {m["text"] for m in data["messages"]}
    assert set(person["texts"][:2]) <= texts
    assert [n["body"] for n in data["notes"]] == [person["texts"][2]]
    assert data["surveys"][0]["comment"] == person["texts"][3]
    assert [s["profile_id"] for s in data["seen_mentions"]] == [profile_id]

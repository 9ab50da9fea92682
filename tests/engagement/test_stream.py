"""The live inbox, `GET /v1/conversations/stream`: a tenant's conversation changes as Server-Sent Events,
read from JetStream, through the gateway (bearer token or single-use ticket), resumable with
`Last-Event-ID`, kept alive through the gateway's read timeout, bounded per process."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import nats
import pytest

from rapport.stack import Stack
from tests.engagement.sse import STREAM, EventReader, Frame, open_stream, refused
from tests.engagement.test_conversations import COMPLAINT, QUESTION, author, post_mention
from tests.engagement.test_inbox import patched
from tests.gateway.helpers import spawn_gateway_proc
from tests.helpers import Tenant, add_user, online_agent, replica, signup, wait_until

OPENED = "engagement.conversation.opened"
ASSIGNED = "engagement.conversation.assigned"
STATUS_CHANGED = "engagement.conversation.status_changed"


def opened_by(reader: EventReader, mention_id: str) -> list[Frame]:
    """Read up to the `opened` event of the conversation `mention_id` opened."""
    return reader.until(
        lambda f: f.event == OPENED and f.data["data"]["mention_id"] == mention_id,
        what=f"the conversation of mention {mention_id} opened",
    )


def changed_to(reader: EventReader, conversation_id: str, status: str) -> list[Frame]:
    return reader.until(
        lambda f: (
            f.event == STATUS_CHANGED
            and f.data["data"]["conversation_id"] == conversation_id
            and f.data["data"]["to_status"] == status
        ),
        what=f"conversation {conversation_id} to become {status}",
    )


def test_stream_delivers_opened_assigned_and_status_changes_through_the_gateway(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    with open_stream(stack.gateway_url, headers=tenant.headers) as reader:
        # No agent yet: the conversation opens unassigned, and the first agent picks it up.
        mention_id = post_mention(client, tenant, COMPLAINT, author=author())
        *_, opened = opened_by(reader, mention_id)
        conversation_id = opened.data["data"]["conversation_id"]
        agent = online_agent(client, tenant)
        *_, assigned = reader.until(
            lambda f: f.event == ASSIGNED and f.data["data"]["conversation_id"] == conversation_id,
            what="the assignment",
        )
        patched(client, agent, conversation_id, {"status": "resolved"})
        *_, resolved = changed_to(reader, conversation_id, "resolved")

    # `data:` is the CloudEvent as it travels on the bus; `id:` its stream sequence, rising.
    assert opened.data["type"] == OPENED and opened.data["tenantid"] == tenant.tenant_id
    assert opened.data["specversion"] == "1.0" and opened.data["id"]
    assert assigned.data["data"]["assignee_id"] == agent.user_id
    assert resolved.data["data"]["from_status"] == "open"
    assert resolved.data["data"]["by_user_id"] == agent.user_id
    assert opened.id < assigned.id < resolved.id


def test_reconnecting_with_last_event_id_resumes_right_after_it(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    agent = add_user(client, tenant, "agent")
    with open_stream(stack.gateway_url, headers=tenant.headers) as reader:
        mention_id = post_mention(client, tenant, QUESTION, author=author())
        first = opened_by(reader, mention_id)
        conversation_id = first[-1].data["data"]["conversation_id"]
        for status in ("pending", "open", "resolved"):
            patched(client, agent, conversation_id, {"status": status})
        rest = changed_to(reader, conversation_id, "resolved")
    seen = first + rest
    # The opened event, then (from this tenant) at least the three status changes.
    cut = seen.index(first[-1])
    last_event_id = seen[cut].id

    headers = {**tenant.headers, "Last-Event-ID": str(last_event_id)}
    with open_stream(stack.gateway_url, headers=headers) as again:
        resumed = changed_to(again, conversation_id, "resolved")

    assert [(f.id, f.data["id"]) for f in resumed] == [(f.id, f.data["id"]) for f in seen[cut + 1 :]]
    assert [f.data["data"]["to_status"] for f in resumed if f.event == STATUS_CHANGED][-3:] == [
        "pending",
        "open",
        "resolved",
    ]


def test_a_stream_sees_nothing_of_another_tenant(
    stack: Stack, client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    with (
        open_stream(stack.gateway_url, headers=tenant.headers) as ours,
        open_stream(stack.gateway_url, headers=other_tenant.headers) as theirs,
    ):
        ours_id = post_mention(client, tenant, COMPLAINT, author=author())
        opened_by(ours, ours_id)
        # The other tenant's change comes after ours on the bus: their stream reaching it has passed ours.
        theirs_id = post_mention(client, other_tenant, COMPLAINT, author=author())
        seen = opened_by(theirs, theirs_id)

    assert {f.data["tenantid"] for f in seen} == {other_tenant.tenant_id}
    assert all(f.data["data"].get("mention_id") != ours_id for f in seen)


def test_a_ticket_opens_the_stream_once_without_a_header(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    answer = client.post(f"{STREAM}/tickets", headers=tenant.headers)
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    ticket = answer.json()["ticket"]
    assert answer.json()["expires_at"]

    with open_stream(stack.gateway_url, params={"ticket": ticket}) as reader:
        mention_id = post_mention(client, tenant, COMPLAINT, author=author())
        *_, opened = opened_by(reader, mention_id)
    assert opened.data["tenantid"] == tenant.tenant_id

    body = refused(client, 401, params={"ticket": ticket})
    assert body["type"] == "https://rapport.dev/problems/ticket-invalid"
    forged = refused(client, 401, params={"ticket": "A" * 43})
    assert forged["type"] == "https://rapport.dev/problems/ticket-invalid"


def test_a_ticket_resumes_with_the_last_event_id_parameter(
    stack: Stack, client: httpx.Client, tenant: Tenant
) -> None:
    with open_stream(stack.gateway_url, headers=tenant.headers) as reader:
        first_id = post_mention(client, tenant, COMPLAINT, author=author())
        *_, first = opened_by(reader, first_id)
        second_id = post_mention(client, tenant, COMPLAINT, author=author())
        after_first = opened_by(reader, second_id)

    ticket = client.post(f"{STREAM}/tickets", headers=tenant.headers).json()["ticket"]
    # A new `EventSource` sends no `Last-Event-ID`: the parameter carries it.
    with open_stream(stack.gateway_url, params={"ticket": ticket, "last_event_id": first.id}) as again:
        resumed = opened_by(again, second_id)
    assert [f.id for f in resumed] == [f.id for f in after_first]


def stream_consumers(nats_url: str, start_seq: int) -> int:
    """How many consumers of the ENGAGEMENT stream start at `start_seq` (the broker's own view)."""

    async def count() -> int:
        nc = await nats.connect(nats_url)
        try:
            infos = await nc.jetstream().consumers_info("ENGAGEMENT")
            return sum(1 for info in infos if info.config.opt_start_seq == start_seq)
        finally:
            await nc.close()

    return asyncio.run(count())


def test_closing_the_stream_deletes_its_consumer(stack: Stack, tenant: Tenant) -> None:
    # A sequence far beyond any real one marks this stream's consumer apart from every other.
    last_event_id = 10**12 + random.randrange(10**9)
    headers = {**tenant.headers, "Last-Event-ID": str(last_event_id)}
    with open_stream(stack.gateway_url, headers=headers):
        assert stream_consumers(stack.nats_url, last_event_id + 1) == 1
    # The client left the gateway: the gateway dropped its upstream, engagement deleted the consumer
    # (well before the broker's own 30 s for a consumer nobody listens to).
    wait_until(
        lambda: stream_consumers(stack.nats_url, last_event_id + 1) == 0,
        timeout=15,
        what="the stream's consumer to be deleted",
    )


def test_stream_needs_a_token_a_staff_role_and_a_valid_last_event_id(
    client: httpx.Client, tenant: Tenant
) -> None:
    assert refused(client, 401)["type"] == "https://rapport.dev/problems/unauthorized"
    integration = add_user(client, tenant, "integration")
    refused(client, 403, headers=integration.headers)
    assert client.post(f"{STREAM}/tickets", headers=integration.headers).status_code == 403
    assert client.post(f"{STREAM}/tickets").status_code == 401
    refused(client, 422, headers={**tenant.headers, "Last-Event-ID": "not-a-number"})


@pytest.mark.slow
def test_any_replica_streams_every_change_kept_alive_through_the_gateway_and_bounded(
    stack: Stack, client: httpx.Client, tmp_path: Path
) -> None:
    tenant = signup(client)
    env = {"RAPPORT_STREAM_HEARTBEAT_S": "0.2", "RAPPORT_STREAM_MAX_CONNECTIONS": "1"}
    with replica(stack, "engagement", tmp_path, env=env) as engagement_url:
        # A gateway in front of that replica only, which cuts an upstream silent for 1 s.
        gateway = spawn_gateway_proc(
            stack,
            tmp_path,
            "gateway-stream",
            {"RAPPORT_ENGAGEMENT_URL": engagement_url, "RAPPORT_UPSTREAM_TIMEOUT_S": "1"},
        )
        try:
            with open_stream(gateway.url, headers=tenant.headers) as reader:
                # Idle for well over the gateway's read timeout: the keep-alives hold the stream open.
                reader.comments_until(15)
                # A change made through the stack's gateway (handled by whichever engagement process
                # consumed it) reaches this replica's stream.
                mention_id = post_mention(client, tenant, COMPLAINT, author=author())
                opened_by(reader, mention_id)
                # The replica serves one stream at a time: a second one is refused.
                with httpx.Client(base_url=gateway.url, timeout=10) as http:
                    full = refused(http, 503, headers=tenant.headers)
                assert full["type"] == "https://rapport.dev/problems/streams-full"

            # The client went away: the gateway closes its upstream, the replica frees the slot.
            def reopened() -> bool:
                with httpx.Client(base_url=gateway.url, timeout=10) as http:
                    with http.stream("GET", STREAM, headers=tenant.headers) as response:
                        return response.status_code == 200

            assert wait_until(reopened, what="the stream's slot to be given back")
        finally:
            gateway.stop()

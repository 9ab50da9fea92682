"""Stream tickets: `POST /v1/conversations/stream/tickets` answers a single-use ticket that stands in for
the bearer token on `GET /v1/conversations/stream` (a browser's `EventSource` sends no headers).

Against the gateway in front of the recording upstream: what reaches the service is exactly the request
the ticket's owner would have sent with its token, without the ticket."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import redis

from gateway.tickets import take_ticket
from rapport.stack import Stack
from tests.gateway.helpers import Recorder, SigningKey, bearer, claims_for
from tests.helpers import assert_problem, wait_until

STREAM = "/v1/conversations/stream"
TICKETS = f"{STREAM}/tickets"
TICKET_INVALID = "https://rapport.dev/problems/ticket-invalid"


def token_for(key: SigningKey, *, role: str = "agent", ttl: int = 600, **claims: str) -> str:
    return key.sign(claims_for(tenant_id=str(uuid.uuid4()), role=role, ttl=ttl, **claims))


def ticket_for(gw: httpx.Client, token: str) -> str:
    answer = gw.post(TICKETS, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert set(body) == {"ticket", "expires_at"}
    ticket: str = body["ticket"]
    return ticket


def test_a_ticket_stands_in_for_the_token_once_and_never_reaches_the_service(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey
) -> None:
    token = token_for(recorder_key)
    before = recorder.count()
    ticket = ticket_for(gw, token)
    assert recorder.count() == before  # the gateway answers it itself

    request_id = uuid.uuid4().hex
    answer = gw.get(
        STREAM, params={"ticket": ticket, "last_event_id": "7"}, headers={"X-Request-ID": request_id}
    )
    assert answer.status_code == 200, answer.text
    [seen] = recorder.seen(request_id)
    assert seen["path"] == f"{STREAM}?last_event_id=7"
    assert ("authorization", f"Bearer {token}") in seen["headers"]

    again = uuid.uuid4().hex
    reused = gw.get(STREAM, params={"ticket": ticket}, headers={"X-Request-ID": again})
    assert assert_problem(reused, 401)["type"] == TICKET_INVALID
    assert recorder.seen(again) == []


def test_a_forged_or_malformed_ticket_is_401(gw: httpx.Client, recorder: Recorder) -> None:
    before = recorder.count()
    for forged in ("A" * 43, "short", "", "x" * 500):
        answer = gw.get(STREAM, params={"ticket": forged})
        assert assert_problem(answer, 401)["type"] == TICKET_INVALID, forged
    assert recorder.count() == before


def test_an_expired_ticket_is_401(gw: httpx.Client, stack: Stack, recorder_key: SigningKey) -> None:
    # A ticket never outlives the token it was asked with: this one's token has two seconds left.
    ticket = ticket_for(gw, token_for(recorder_key, ttl=2))
    stored = f"rapport:ticket:{hashlib.sha256(ticket.encode()).hexdigest()}"
    store = redis.Redis.from_url(stack.redis_url)
    try:
        assert store.exists(stored)
        wait_until(lambda: not store.exists(stored), what="the ticket to expire")
    finally:
        store.close()
    assert assert_problem(gw.get(STREAM, params={"ticket": ticket}), 401)["type"] == TICKET_INVALID


def test_a_ticket_opens_only_the_stream_and_a_bearer_token_leaves_it_unused(
    gw: httpx.Client, recorder: Recorder, recorder_key: SigningKey
) -> None:
    token = token_for(recorder_key)
    ticket = ticket_for(gw, token)
    # Elsewhere a ticket is no credential.
    assert_problem(gw.get("/v1/conversations", params={"ticket": ticket}), 401)
    # With a token, the token is the credential: the ticket is not used up, and never forwarded.
    other = token_for(recorder_key)
    request_id = uuid.uuid4().hex
    answer = gw.get(STREAM, params={"ticket": ticket}, headers={**bearer(other), "X-Request-ID": request_id})
    assert answer.status_code == 200, answer.text
    [seen] = recorder.seen(request_id)
    assert seen["path"] == STREAM
    assert ("authorization", f"Bearer {other}") in seen["headers"]
    # Still good for one use.
    assert gw.get(STREAM, params={"ticket": ticket}).status_code == 200
    assert_problem(gw.get(STREAM, params={"ticket": ticket}), 401)


def test_tickets_need_a_staff_role_or_the_conversations_read_scope(
    gw: httpx.Client, recorder_key: SigningKey
) -> None:
    assert_problem(gw.post(TICKETS), 401)
    assert_problem(gw.post(TICKETS, headers=bearer(token_for(recorder_key, role="integration"))), 403)
    analyst = token_for(recorder_key, role="analyst")
    key_id = str(uuid.uuid4())
    reader = token_for(recorder_key, role="analyst", scope="conversations:read", sid=key_id, client_id=key_id)
    writer = token_for(recorder_key, role="agent", scope="mentions:read", sid=key_id, client_id=key_id)
    assert gw.post(TICKETS, headers=bearer(analyst)).status_code == 201
    assert gw.post(TICKETS, headers=bearer(reader)).status_code == 201
    assert_problem(gw.post(TICKETS, headers=bearer(writer)), 403)


def test_take_ticket_removes_every_ticket_parameter_and_keeps_the_rest_as_sent() -> None:
    assert take_ticket(b"ticket=abc") == (b"", "abc")
    assert take_ticket(b"last_event_id=5&ticket=abc&x=%20y") == (b"last_event_id=5&x=%20y", "abc")
    assert take_ticket(b"ticket=one&ticket=two") == (b"", "two")
    assert take_ticket(b"tickets=abc&a=1") == (b"tickets=abc&a=1", None)
    assert take_ticket(b"ticket=a%2Db") == (b"", "a-b")

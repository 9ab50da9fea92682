"""Consent captured at the source: a private message that is exactly an opt-in/out keyword (the tenant's
list, or the defaults) and a survey answered with the marketing opt-in stage `privacy.consent.captured`
for profiles' ledger; an ordinary message, a public post and a survey without the opt-in stage nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from rapport.stack import Stack
from shared.events.contracts import Analysis, Author, MentionPayload, MentionResolved, Sentiment
from shared.events.envelope import new_event
from tests.engagement.test_surveys import surveyed_conversation
from tests.helpers import (
    Event,
    Tenant,
    add_user,
    assert_problem,
    collect_events,
    find_event,
    publish_event,
    signup,
    unique,
    wait_until,
)
from tests.profiles.test_consent import consents, partner_profile

CAPTURED = "privacy.consent.captured"


def post(
    stack: Stack,
    tenant: Tenant,
    text: str,
    *,
    platform: str = "instagram",
    kind: str | None = "message",
    channel_id: str | None = None,
    profile_id: str | None = None,
) -> tuple[str, str]:
    """A customer's post resolved to a profile (as profiles publishes it); its profile and mention ids."""
    profile_id = profile_id or str(uuid.uuid4())
    mention_id = str(uuid.uuid4())
    mention = MentionPayload(
        mention_id=mention_id,
        platform=platform,
        external_id=uuid.uuid4().hex,
        text=text,
        created_at=datetime.now(UTC),
        author=Author(handle=unique("@customer"), platform_user_id=uuid.uuid4().hex),
        analysis=Analysis(language="en", sentiment=Sentiment(label="neutral", score=0.0), intent="other"),
        kind=kind,
        channel_id=channel_id,
    )
    resolved = MentionResolved(profile_id=profile_id, mention=mention)
    publish_event(stack.nats_url, new_event(resolved, source="tests", tenant_id=tenant.tenant_id))
    return profile_id, mention_id


def captured(stack: Stack, tenant: Tenant, profile_id: str) -> Event:
    return find_event(
        stack.nats_url,
        CAPTURED,
        lambda e: e["tenantid"] == tenant.tenant_id and e["data"]["profile_id"] == profile_id,
    )


def all_captured(stack: Stack, tenant: Tenant) -> list[Event]:
    """Every capture of the tenant on the stream so far."""
    return collect_events(stack.nats_url, CAPTURED, lambda e: e["tenantid"] == tenant.tenant_id, timeout=1.0)


def test_a_stop_dm_and_a_whatsapp_yes_are_captured_with_their_evidence(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    channel_id = str(uuid.uuid4())
    stopper, stop_id = post(stack, tenant, "  Stop ", channel_id=channel_id)
    joiner, yes_id = post(stack, tenant, "yes", platform="whatsapp")

    event = captured(stack, tenant, stopper)
    assert event["source"] == "/rapport/engagement"
    data = event["data"]
    assert (data["purpose"], data["status"], data["source"]) == ("marketing", "withdrawn", "dm_keyword")
    evidence = data["evidence"]
    assert (evidence["keyword"], evidence["mention_id"], evidence["channel_id"]) == (
        "STOP",
        stop_id,
        channel_id,
    )
    assert evidence["message_id"]

    data = captured(stack, tenant, joiner)["data"]
    assert (data["purpose"], data["status"], data["source"]) == ("marketing", "granted", "whatsapp_keyword")
    assert (data["evidence"]["keyword"], data["evidence"]["mention_id"]) == ("YES", yes_id)
    assert "channel_id" not in data["evidence"]


def test_an_ordinary_message_or_a_public_post_captures_nothing(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    ordinary, _ = post(stack, tenant, "Please stop sending me these offers")
    public, _ = post(stack, tenant, "STOP", platform="x", kind="post")
    unknown, _ = post(stack, tenant, "STOP", kind=None)
    # Published after the others: once it is captured, they were handled.
    marker, _ = post(stack, tenant, "unsubscribe")
    assert captured(stack, tenant, marker)["data"]["status"] == "withdrawn"

    profiles = {e["data"]["profile_id"] for e in all_captured(stack, tenant)}
    assert profiles == {marker}
    assert not profiles & {ordinary, public, unknown}


def test_the_tenant_s_own_keywords_replace_the_defaults(client: httpx.Client, stack: Stack) -> None:
    tenant, other = signup(client), signup(client)
    agent = add_user(client, tenant, "agent")
    shown = client.get("/v1/consent-keywords", headers=agent.headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["default"] is True
    assert {(k["keyword"], k["status"]) for k in shown.json()["keywords"]} == {
        ("START", "granted"),
        ("YES", "granted"),
        ("SUBSCRIBE", "granted"),
        ("STOP", "withdrawn"),
        ("UNSUBSCRIBE", "withdrawn"),
    }

    keywords: list[dict[str, Any]] = [
        {"keyword": "Alto", "purpose": "marketing", "status": "withdrawn"},
        {"keyword": "sí quiero", "status": "granted"},
    ]
    # Only owners and admins set them; a keyword listed twice (in any case) is refused and changes nothing.
    assert_problem(
        client.put("/v1/consent-keywords", headers=agent.headers, json={"keywords": keywords}), 403
    )
    twice = {"keywords": [*keywords, {"keyword": "ALTO", "status": "granted"}]}
    assert_problem(client.put("/v1/consent-keywords", headers=tenant.headers, json=twice), 422)
    assert client.get("/v1/consent-keywords", headers=tenant.headers).json()["default"] is True
    put = client.put("/v1/consent-keywords", headers=tenant.headers, json={"keywords": keywords})
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["default"] is False and body["updated_by"] == tenant.user_id
    assert [(k["keyword"], k["purpose"], k["status"]) for k in body["keywords"]] == [
        ("Alto", "marketing", "withdrawn"),
        ("sí quiero", "marketing", "granted"),
    ]
    assert client.get("/v1/consent-keywords", headers=agent.headers).json() == body
    # Another tenant keeps the defaults.
    assert client.get("/v1/consent-keywords", headers=other.headers).json()["default"] is True

    stopped, _ = post(stack, tenant, "STOP")  # no longer a keyword of this tenant
    alto, _ = post(stack, tenant, "ALTO")
    si, _ = post(stack, tenant, "Sí Quiero")
    assert captured(stack, tenant, alto)["data"]["status"] == "withdrawn"
    assert captured(stack, tenant, si)["data"]["evidence"]["keyword"] == "sí quiero"
    assert stopped not in {e["data"]["profile_id"] for e in all_captured(stack, tenant)}
    # The other tenant's STOP still withdraws.
    other_stop, _ = post(stack, other, "STOP")
    assert captured(stack, other, other_stop)["data"]["status"] == "withdrawn"


def test_a_survey_answered_with_the_opt_in_is_captured_and_one_without_is_not(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    without, token_without = surveyed_conversation(client, stack, tenant)
    opted, token_opted = surveyed_conversation(client, stack, tenant)

    answer = client.post(f"/v1/surveys/{token_without}", json={"score": 5, "marketing_opt_in": False})
    assert answer.status_code == 200, answer.text
    answer = client.post(f"/v1/surveys/{token_opted}", json={"score": 4, "marketing_opt_in": True})
    assert answer.status_code == 200, answer.text

    data = captured(stack, tenant, opted["profile_id"])["data"]
    assert (data["purpose"], data["status"], data["source"]) == ("marketing", "granted", "survey")
    assert data["evidence"]["conversation_id"] == opted["id"]
    assert data["evidence"]["survey_id"]
    assert {e["data"]["profile_id"] for e in all_captured(stack, tenant)} == {opted["profile_id"]}
    assert without["profile_id"] != opted["profile_id"]


def test_a_keyword_message_announced_twice_is_recorded_once(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    person = partner_profile(client, tenant)["id"]
    stop = MentionPayload(
        mention_id=str(uuid.uuid4()),
        platform="whatsapp",
        external_id=uuid.uuid4().hex,
        text="STOP",
        created_at=datetime.now(UTC),
        author=Author(handle=unique("4915"), platform_user_id=uuid.uuid4().hex),
        analysis=Analysis(language="en", sentiment=Sentiment(label="neutral", score=0.0), intent="other"),
        kind="message",
    )
    # The platform delivered the message twice and it was announced twice: two events, one message.
    for _ in range(2):
        resolved = MentionResolved(profile_id=person, mention=stop)
        publish_event(stack.nats_url, new_event(resolved, source="tests", tenant_id=tenant.tenant_id))
    # Then another message of theirs: once it is in the ledger, both announcements were handled.
    post(stack, tenant, "START", platform="whatsapp", profile_id=person)

    def history() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = consents(client, tenant, person)["history"]["items"]
        return items if items and items[0]["status"] == "granted" else None

    recorded = wait_until(history, what="the later START in the ledger")
    captures = collect_events(
        stack.nats_url, CAPTURED, lambda e: e["data"]["profile_id"] == person, timeout=1.0
    )
    assert len(captures) == 3  # engagement captured the message each time it was announced
    assert [(h["source"], h["status"]) for h in recorded] == [
        ("whatsapp_keyword", "granted"),
        ("whatsapp_keyword", "withdrawn"),
    ]
    assert recorded[1]["evidence"]["mention_id"] == stop.mention_id

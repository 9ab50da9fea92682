"""engagement's CSAT/NPS surveys: offered through the channel on resolve, answered by reply or by the public
link (single use, expiring, the token the only key), published and counted by metrics."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from rapport.stack import Stack
from shared.events.contracts import Analysis, Author, MentionPayload, MentionResolved, Sentiment
from shared.events.envelope import new_event
from tests.engagement.test_conversations import (
    COMPLAINT,
    conversation_of,
    external_id_of,
    get_conversation,
    list_conversations,
    post_mention,
)
from tests.engagement.test_replies import PAGE_ID, delivered, feed_comment
from tests.gateway.helpers import SpawnGateway
from tests.helpers import (
    Tenant,
    User,
    add_user,
    assert_problem,
    find_event,
    publish_event,
    signup,
    unique,
    wait_until,
)
from tests.listening.channels.helpers import RecordingPlatform, post_meta
from tests.listening.channels.test_replies import PAGE_TOKEN, meta_channel

LINK_BASE = "http://127.0.0.1:8000/v1/surveys/"  # engagement's default `survey_link_base`


# --- factories ----------------------------------------------------------------------------------


def put_setting(client: httpx.Client, user: User, channel_id: str, **body: Any) -> dict[str, Any]:
    response = client.put(f"/v1/survey-settings/{channel_id}", headers=user.headers, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def channel_post(
    stack: Stack,
    tenant: Tenant,
    *,
    channel_id: str,
    profile_id: str,
    text: str = COMPLAINT,
    platform: str = "x",
    intent: str = "complaint",
    created_at: datetime | None = None,
    in_reply_to: str | None = None,
) -> str:
    """A post that came through one of the tenant's channels, resolved to `profile_id` (as profiles
    publishes it); its mention id."""
    mention_id = str(uuid.uuid4())
    label = "negative" if intent == "complaint" else "neutral"
    mention = MentionPayload(
        mention_id=mention_id,
        platform=platform,
        external_id=uuid.uuid4().hex,
        text=text,
        created_at=created_at or datetime.now(UTC),
        author=Author(handle=unique("@customer"), platform_user_id=uuid.uuid4().hex),
        analysis=Analysis(
            language="en",
            sentiment=Sentiment(label=label, score=-0.6 if label == "negative" else 0.0),
            intent=intent,
        ),
        channel_id=channel_id,
        in_reply_to=in_reply_to,
    )
    resolved = MentionResolved(profile_id=profile_id, mention=mention)
    publish_event(stack.nats_url, new_event(resolved, source="tests", tenant_id=tenant.tenant_id))
    return mention_id


def resolve(client: httpx.Client, user: User, conversation_id: str) -> None:
    response = client.patch(
        f"/v1/conversations/{conversation_id}", headers=user.headers, json={"status": "resolved"}
    )
    assert response.status_code == 200, response.text


def surveys_of(client: httpx.Client, user: User, conversation_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/conversations/{conversation_id}/surveys", headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def survey_request(stack: Stack, conversation_id: str) -> dict[str, Any]:
    """The `engagement.reply.requested` event carrying the survey's question."""
    event = find_event(
        stack.nats_url,
        "engagement.reply.requested",
        lambda e: e["data"]["conversation_id"] == conversation_id,
    )
    data: dict[str, Any] = event["data"]
    return data


def token_in(text: str) -> str:
    link = text.splitlines()[-1]
    assert link.startswith(LINK_BASE), text
    return link[len(LINK_BASE) :]


def surveyed_conversation(
    client: httpx.Client, stack: Stack, tenant: Tenant, *, kind: str = "csat", **setting: Any
) -> tuple[dict[str, Any], str]:
    """A conversation on a fresh channel with a survey of `kind`, resolved; it and its link's token."""
    channel_id = str(uuid.uuid4())
    put_setting(client, tenant, channel_id, kind=kind, **setting)
    mention_id = channel_post(stack, tenant, channel_id=channel_id, profile_id=str(uuid.uuid4()))
    conversation = conversation_of(client, tenant, mention_id)
    resolve(client, tenant, conversation["id"])
    return conversation, token_in(survey_request(stack, conversation["id"])["text"])


def scorecard(client: httpx.Client, user: User) -> dict[str, Any]:
    response = client.get("/v1/metrics/scorecard", headers=user.headers)
    assert response.status_code == 200, response.text
    card: dict[str, Any] = response.json()
    return card


def scorecard_when(
    client: httpx.Client, user: User, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The scorecard, once metrics has folded what `ready` waits for."""

    def read() -> dict[str, Any] | None:
        card = scorecard(client, user)
        return card if ready(card) else None

    return wait_until(read, what="the scorecard to show the answers")


# --- resolve → question through the channel → answer by link → metrics ---------------------------


def test_resolving_sends_the_csat_question_and_a_link_answer_lands_in_metrics(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    channel_id = str(uuid.uuid4())
    put_setting(client, tenant, channel_id, kind="csat", questions={"en": "How did we do today?"})
    mention_id = channel_post(stack, tenant, channel_id=channel_id, profile_id=str(uuid.uuid4()))
    conversation = conversation_of(client, tenant, mention_id)
    assert conversation["channel_id"] == channel_id

    resolve(client, agent, conversation["id"])

    request = survey_request(stack, conversation["id"])
    assert request["channel_id"] == channel_id
    assert request["text"].startswith("How did we do today?\n")
    token = token_in(request["text"])
    assert len(token) >= 43  # 256 random bits, URL-safe
    [survey] = surveys_of(client, agent, conversation["id"])
    assert survey["kind"] == "csat" and survey["state"] == "sent"
    assert survey["message_id"] == request["message_id"] and survey["answered_at"] is None
    detail = get_conversation(client, agent, conversation["id"])
    [question] = [m for m in detail["messages"] if m["direction"] == "outbound"]
    assert question["id"] == request["message_id"] and question["origin"] == "survey"
    assert detail["status"] == "resolved"

    # The link needs no token of ours: the survey's own is the key.
    shown = client.get(f"/v1/surveys/{token}")
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "kind": "csat",
        "question": "How did we do today?",
        "language": "en",
        "scale": {"min": 1, "max": 5},
        "answered": False,
        "expires_at": shown.json()["expires_at"],
    }
    answered = client.post(f"/v1/surveys/{token}", json={"score": 4, "comment": "Quick and kind"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["answered"] is True

    event = find_event(
        stack.nats_url, "engagement.survey.answered", lambda e: e["data"]["survey_id"] == survey["id"]
    )
    assert event["tenantid"] == tenant.tenant_id
    data = event["data"]
    assert (data["kind"], data["score"], data["via"]) == ("csat", 4, "link")
    assert data["conversation_id"] == conversation["id"]
    assert data["profile_id"] == conversation["profile_id"]
    assert data["assignee_id"] == conversation["assignee_id"]
    assert (data["channel_id"], data["platform"]) == (channel_id, "x")
    assert "comment" not in data
    [stored] = surveys_of(client, agent, conversation["id"])
    assert (stored["score"], stored["comment"], stored["answered_via"]) == (4, "Quick and kind", "link")

    card = scorecard_when(client, tenant, lambda c: c["customer"]["csat"]["answers"] == 1)
    assert card["customer"]["csat"]["satisfied"] == 1
    assert card["customer"]["csat"]["score"] == 100.0
    assert card["customer"]["csat"]["by_score"]["4"] == 1
    assert card["customer"]["nps"]["answers"] == 0 and card["customer"]["nps"]["score"] is None

    again = client.post(f"/v1/surveys/{token}", json={"score": 1})
    assert_problem(again, 409)
    assert client.get(f"/v1/surveys/{token}").json()["answered"] is True
    [still] = surveys_of(client, agent, conversation["id"])
    assert still["score"] == 4


def test_the_question_reaches_the_platform_and_the_customer_s_comment_answers_it(
    client: httpx.Client, tenant: Tenant, platform: RecordingPlatform
) -> None:
    channel_id = meta_channel(client, tenant, platform)
    put_setting(client, tenant, channel_id, kind="csat", questions={"en": "How did we do?"})
    customer = unique("66200")
    comment_id = f"5550001_{uuid.uuid4().int % 10**12}"
    body = feed_comment(
        comment_id=comment_id, parent_id=f"{PAGE_ID}_5550001", sender_id=customer, text=COMPLAINT
    )
    assert post_meta(client, "meta", channel_id, body).status_code == 200
    opened = wait_until(lambda: next(iter(list_conversations(client, tenant)), None), what="the conversation")
    platform.answer(f"/v21.0/{comment_id}/comments", (200, {"id": f"{comment_id}_901"}))

    resolve(client, tenant, opened["id"])

    [survey] = surveys_of(client, tenant, opened["id"])
    assert survey["state"] == "sent"
    sent = delivered(client, tenant, opened["id"], survey["message_id"], "sent")
    assert sent["origin"] == "survey" and sent["platform_message_id"] == f"{comment_id}_901"
    [call] = platform.posts(f"/v21.0/{comment_id}/comments")
    assert call.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    question, link = call.body["message"].splitlines()
    assert question == "How did we do?" and link.startswith(LINK_BASE)

    # The customer answers in the thread with a comment that is just a score.
    answer = feed_comment(
        comment_id=f"5550001_{uuid.uuid4().int % 10**12}", parent_id=comment_id, sender_id=customer, text="5"
    )
    assert post_meta(client, "meta", channel_id, answer).status_code == 200

    def answered() -> dict[str, Any] | None:
        [row] = surveys_of(client, tenant, opened["id"])
        return row if row["answered_at"] else None

    row = wait_until(answered, timeout=30, what="the comment to answer the survey")
    assert (row["score"], row["answered_via"]) == (5, "reply")
    card = scorecard_when(client, tenant, lambda c: c["customer"]["csat"]["answers"] == 1)
    assert card["customer"]["csat"]["score"] == 100.0
    assert get_conversation(client, tenant, opened["id"])["status"] == "resolved"


def test_a_post_that_is_just_a_score_answers_the_survey_by_reply(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    channel_id = str(uuid.uuid4())
    profile_id = str(uuid.uuid4())
    put_setting(client, tenant, channel_id, kind="nps")
    first = channel_post(stack, tenant, channel_id=channel_id, profile_id=profile_id)
    conversation = conversation_of(client, tenant, first)
    resolve(client, tenant, conversation["id"])
    request = survey_request(stack, conversation["id"])
    assert "0 (not at all likely) to 10" in request["text"]

    # Out of the scale, or on another channel: not an answer.
    channel_post(stack, tenant, channel_id=channel_id, profile_id=profile_id, text="11", intent="other")
    channel_post(stack, tenant, channel_id=str(uuid.uuid4()), profile_id=profile_id, text="3", intent="other")
    reply_id = channel_post(
        stack, tenant, channel_id=channel_id, profile_id=profile_id, text=" 9/10 ", intent="other"
    )

    def answered() -> dict[str, Any] | None:
        [survey] = surveys_of(client, tenant, conversation["id"])
        return survey if survey["answered_at"] else None

    survey = wait_until(answered, what="the reply to answer the survey")
    assert (survey["score"], survey["answered_via"], survey["comment"]) == (9, "reply", None)
    event = find_event(
        stack.nats_url, "engagement.survey.answered", lambda e: e["data"]["survey_id"] == survey["id"]
    )
    assert (event["data"]["kind"], event["data"]["score"], event["data"]["via"]) == ("nps", 9, "reply")
    # The answer neither reopened the conversation nor joined it as a message.
    detail = get_conversation(client, tenant, conversation["id"])
    assert detail["status"] == "resolved" and detail["reopen_count"] == 0
    assert reply_id not in {m["mention_id"] for m in detail["messages"]}
    # The link now says it was answered, and refuses a second answer.
    token = token_in(request["text"])
    assert client.get(f"/v1/surveys/{token}").json()["answered"] is True
    assert_problem(client.post(f"/v1/surveys/{token}", json={"score": 2}), 409)


def test_a_score_after_the_customer_reopened_the_conversation_is_no_answer(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    channel_id = str(uuid.uuid4())
    profile_id = str(uuid.uuid4())
    put_setting(client, tenant, channel_id, kind="csat")
    first = channel_post(stack, tenant, channel_id=channel_id, profile_id=profile_id)
    conversation = conversation_of(client, tenant, first)
    resolve(client, tenant, conversation["id"])
    survey_request(stack, conversation["id"])

    # The customer writes again in the thread: it reopens.
    channel_post(
        stack,
        tenant,
        channel_id=channel_id,
        profile_id=profile_id,
        in_reply_to=external_id_of(conversation, first),
    )
    channel_post(stack, tenant, channel_id=channel_id, profile_id=profile_id, text="5", intent="other")
    barrier = channel_post(
        stack,
        tenant,
        channel_id=channel_id,
        profile_id=profile_id,
        text="Still broken?",
        in_reply_to=external_id_of(conversation, first),
    )
    detail = conversation_of(client, tenant, barrier)

    assert detail["id"] == conversation["id"] and detail["status"] == "open"
    [survey] = surveys_of(client, tenant, conversation["id"])
    assert survey["answered_at"] is None


# --- the link -----------------------------------------------------------------------------------


def test_forged_or_unknown_token_is_404_and_the_link_needs_no_auth(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    other = signup(client)
    _, token = surveyed_conversation(client, stack, tenant)

    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_problem(client.get(f"/v1/surveys/{forged}"), 404)
    assert_problem(client.post(f"/v1/surveys/{forged}", json={"score": 5}), 404)
    assert_problem(client.get("/v1/surveys/not-a-survey"), 404)
    # Whoever holds the link answers it, logged in or not, in whichever tenant: the token is the only key.
    assert client.get(f"/v1/surveys/{token}", headers=other.headers).status_code == 200
    assert_problem(client.post(f"/v1/surveys/{token}", json={"score": 6}), 422)  # CSAT is 1-5
    response = client.post(f"/v1/surveys/{token}", json={"score": 5})
    assert response.status_code == 200, response.text


def test_expired_link_is_410(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    conversation, token = surveyed_conversation(client, stack, tenant, link_valid_s=1)

    wait_until(lambda: client.get(f"/v1/surveys/{token}").status_code == 410, what="the link to expire")
    body = assert_problem(client.get(f"/v1/surveys/{token}"), 410)
    assert body["type"].endswith("/survey-expired")
    assert_problem(client.post(f"/v1/surveys/{token}", json={"score": 5}), 410)
    [survey] = surveys_of(client, tenant, conversation["id"])
    assert survey["answered_at"] is None
    # An expired survey gets no new link either.
    link = client.post(
        f"/v1/conversations/{conversation['id']}/surveys/{survey['id']}/link", headers=tenant.headers
    )
    assert_problem(link, 410)


# --- when no message may go out -----------------------------------------------------------------


def test_closed_whatsapp_window_records_the_survey_link_only(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    channel_id = str(uuid.uuid4())
    put_setting(client, tenant, channel_id, kind="csat")
    long_ago = datetime.now(UTC) - timedelta(hours=25)
    mention_id = channel_post(
        stack,
        tenant,
        channel_id=channel_id,
        profile_id=str(uuid.uuid4()),
        platform="whatsapp",
        created_at=long_ago,
    )
    conversation = conversation_of(client, tenant, mention_id)

    resolve(client, tenant, conversation["id"])

    [survey] = surveys_of(client, tenant, conversation["id"])
    assert survey["state"] == "link_only" and survey["message_id"] is None
    detail = get_conversation(client, tenant, conversation["id"])
    assert [m for m in detail["messages"] if m["direction"] == "outbound"] == []
    # Staff take a link to share otherwise; a newer link replaces the older one.
    path = f"/v1/conversations/{conversation['id']}/surveys/{survey['id']}/link"
    first = client.post(path, headers=tenant.headers)
    assert first.status_code == 200, first.text
    second = client.post(path, headers=tenant.headers).json()
    assert second["link"].startswith(LINK_BASE) and second["link"] != first.json()["link"]
    assert_problem(client.get(first.json()["link"][len("http://127.0.0.1:8000") :]), 404)
    token = second["link"][len(LINK_BASE) :]
    assert client.post(f"/v1/surveys/{token}", json={"score": 2}).status_code == 200
    assert_problem(client.post(path, headers=tenant.headers), 409)


def test_conversation_without_a_channel_gets_a_link_only_survey_from_the_default(
    client: httpx.Client,
) -> None:
    tenant = signup(client)
    put_setting(client, tenant, "default", kind="nps", default_question="Would you recommend us?")
    mention_id = post_mention(client, tenant, COMPLAINT)  # the ingest API: no channel
    conversation = conversation_of(client, tenant, mention_id)

    resolve(client, tenant, conversation["id"])

    [survey] = surveys_of(client, tenant, conversation["id"])
    assert (survey["kind"], survey["state"], survey["question"]) == (
        "nps",
        "link_only",
        "Would you recommend us?",
    )


def test_channel_set_off_sends_no_survey_and_resolving_again_asks_once(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    put_setting(client, tenant, "default", kind="csat")
    quiet = str(uuid.uuid4())
    put_setting(client, tenant, quiet, kind="off")
    mention_id = channel_post(stack, tenant, channel_id=quiet, profile_id=str(uuid.uuid4()))
    conversation = conversation_of(client, tenant, mention_id)
    resolve(client, tenant, conversation["id"])
    assert surveys_of(client, tenant, conversation["id"]) == []

    # A channel without its own setting takes the default; reopened and resolved again before an
    # answer, the conversation keeps its one waiting survey.
    asked, _ = surveyed_conversation(client, stack, tenant, kind="csat")
    reopened = client.patch(
        f"/v1/conversations/{asked['id']}", headers=tenant.headers, json={"status": "open"}
    )
    assert reopened.status_code == 200, reopened.text
    resolve(client, tenant, asked["id"])
    assert len(surveys_of(client, tenant, asked["id"])) == 1


# --- metrics: NPS over a set of answers ---------------------------------------------------------


def test_nps_over_a_set_of_answers(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    scores = [10, 10, 9, 8, 2]  # 3 promoters, 1 passive, 1 detractor: NPS (3 - 1) / 5 = 40
    for score in scores:
        _, token = surveyed_conversation(client, stack, tenant, kind="nps")
        assert client.post(f"/v1/surveys/{token}", json={"score": score}).status_code == 200

    card = scorecard_when(client, tenant, lambda c: c["customer"]["nps"]["answers"] == len(scores))
    nps = card["customer"]["nps"]
    assert (nps["promoters"], nps["passives"], nps["detractors"]) == (3, 1, 1)
    assert nps["score"] == 40.0
    assert nps["by_score"]["10"] == 2 and nps["by_score"]["0"] == 0
    assert card["customer"]["csat"]["answers"] == 0


# --- settings, auth and tenants -----------------------------------------------------------------


def test_survey_settings_round_trip(client: httpx.Client) -> None:
    tenant = signup(client)
    channel_id = str(uuid.uuid4())
    saved = put_setting(
        client,
        tenant,
        channel_id,
        kind="csat",
        questions={"EN": "How did we do?", "ar": "كيف كانت خدمتنا؟"},
        link_valid_s=3600,
    )
    assert saved["questions"] == {"ar": "كيف كانت خدمتنا؟", "en": "How did we do?"}
    assert (saved["kind"], saved["link_valid_s"], saved["updated_by"]) == ("csat", 3600, tenant.user_id)
    read = client.get(f"/v1/survey-settings/{channel_id}", headers=tenant.headers)
    assert read.status_code == 200 and read.json() == saved
    listed = client.get("/v1/survey-settings", headers=tenant.headers).json()["items"]
    assert [s["channel_id"] for s in listed] == [channel_id]
    assert_problem(
        client.put(f"/v1/survey-settings/{channel_id}", headers=tenant.headers, json={"kind": "ces"}), 422
    )
    assert_problem(
        client.put(
            f"/v1/survey-settings/{channel_id}",
            headers=tenant.headers,
            json={"kind": "nps", "link_valid_s": 0},
        ),
        422,
    )
    assert client.delete(f"/v1/survey-settings/{channel_id}", headers=tenant.headers).status_code == 204
    assert_problem(client.get(f"/v1/survey-settings/{channel_id}", headers=tenant.headers), 404)


def test_survey_settings_auth_and_tenants(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    other = signup(client)
    agent = add_user(client, tenant, "agent")
    channel_id = str(uuid.uuid4())
    put_setting(client, tenant, channel_id, kind="csat")

    assert_problem(client.get("/v1/survey-settings"), 401)
    assert_problem(client.put(f"/v1/survey-settings/{channel_id}", json={"kind": "off"}), 401)
    assert_problem(
        client.put(f"/v1/survey-settings/{channel_id}", headers=agent.headers, json={"kind": "off"}), 403
    )
    assert client.get(f"/v1/survey-settings/{channel_id}", headers=agent.headers).status_code == 200
    assert_problem(client.get(f"/v1/survey-settings/{channel_id}", headers=other.headers), 404)
    assert client.get("/v1/survey-settings", headers=other.headers).json()["items"] == []

    # Another tenant's channel id set up for surveys changes nothing for this one.
    put_setting(client, other, channel_id, kind="nps")
    assert client.get(f"/v1/survey-settings/{channel_id}", headers=tenant.headers).json()["kind"] == "csat"

    conversation, token = surveyed_conversation(client, stack, tenant)
    [survey] = surveys_of(client, tenant, conversation["id"])
    assert_problem(client.get(f"/v1/conversations/{conversation['id']}/surveys"), 401)
    assert_problem(client.get(f"/v1/conversations/{conversation['id']}/surveys", headers=other.headers), 404)
    path = f"/v1/conversations/{conversation['id']}/surveys/{survey['id']}/link"
    assert_problem(client.post(path, headers=other.headers), 404)
    analyst = add_user(client, tenant, "analyst")
    assert_problem(client.post(path, headers=analyst.headers), 403)

    assert client.post(f"/v1/surveys/{token}", json={"score": 1}).status_code == 200
    wait_until(
        lambda: scorecard(client, tenant)["customer"]["csat"]["answers"] == 1,
        what="metrics to count the answer",
    )
    assert scorecard(client, other)["customer"]["csat"]["answers"] == 0
    assert scorecard(client, tenant)["customer"]["csat"]["score"] == 0.0


def test_survey_link_is_limited_per_client_address(spawn_gateway: SpawnGateway) -> None:
    url = spawn_gateway(
        RAPPORT_PUBLIC_RATE_LIMIT_PER_WINDOW="2", RAPPORT_RATE_LIMIT_NAMESPACE=f"test:{uuid.uuid4().hex}"
    )
    with httpx.Client(base_url=url, timeout=30) as gateway:
        # No token needed (the stand-in upstream answers 200), and the public budget applies.
        answers = [gateway.get("/v1/surveys/some-token") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[0].headers["ratelimit-limit"] == "2"
        assert gateway.post("/v1/surveys/some-token", json={"score": 5}).status_code == 429
        # Only reading and answering are public.
        assert gateway.delete("/v1/surveys/some-token").status_code == 404

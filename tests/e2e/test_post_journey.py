"""One post travels the whole way: gateway → listening → profiles → engagement → metrics."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import add_user, mention_payload, set_presence, signup, wait_until


def scorecard(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/v1/metrics/scorecard", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_complaint_reaches_profile_conversation_and_scorecard(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    set_presence(client, agent)  # only online agents get conversations
    payload = mention_payload(text="My order arrived broken and nobody answers. Terrible service!")

    accepted = client.post("/v1/mentions", json=payload, headers=tenant.headers)
    assert accepted.status_code == 202, accepted.text
    mention_id = accepted.json()["id"]

    # Analysis is asynchronous: the mention reads back pending until the analysis worker got to it.
    mention = wait_until(
        lambda: (
            (m := client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json())["analysis"] and m
        ),
        what="the mention's analysis",
    )
    assert mention["analysis"]["language"] == "en"
    assert mention["analysis"]["sentiment"]["label"] == "negative"
    assert mention["analysis"]["intent"] == "complaint"

    handle = payload["author"]["handle"]
    profiles = wait_until(
        lambda: client.get(
            "/v1/profiles", params={"handle": handle, "platform": "x"}, headers=tenant.headers
        ).json()["items"],
        what="the profile made from the mention",
    )
    assert len(profiles) == 1 and profiles[0]["mention_count"] == 1

    # The agent's arrival and the complaint travel as separate events: whichever comes first, the
    # conversation ends up assigned to the tenant's only agent.
    conversations = wait_until(
        lambda: [
            c
            for c in client.get("/v1/conversations", headers=tenant.headers).json()["items"]
            if c["assignee_id"] == agent.user_id
        ],
        what="a conversation for the complaint, assigned to the agent",
    )
    assert len(conversations) == 1
    assert conversations[0]["profile_id"] == profiles[0]["id"]

    card = wait_until(
        # Each event type has its own consumer in metrics: wait for both counts.
        lambda: (
            (c := scorecard(client, tenant.headers))["care"]["conversations"]["opened"] == 1
            and c["listening"]["mentions"]["total"] == 1
            and c
        ),
        what="the scorecard to count the conversation",
    )
    assert card["listening"]["mentions"]["total"] == 1
    assert card["listening"]["mentions"]["by_sentiment"] == {"negative": 1, "neutral": 0, "positive": 0}


def test_tenants_see_only_their_own_data(client: httpx.Client) -> None:
    alpha, beta = signup(client), signup(client)
    mention_id = client.post("/v1/mentions", json=mention_payload(), headers=alpha.headers).json()["id"]
    profile = wait_until(
        lambda: client.get("/v1/profiles", headers=alpha.headers).json()["items"], what="alpha's profile"
    )[0]
    conversation = wait_until(
        lambda: client.get("/v1/conversations", headers=alpha.headers).json()["items"],
        what="alpha's conversation",
    )[0]

    for path in (
        f"/v1/mentions/{mention_id}",
        f"/v1/profiles/{profile['id']}",
        f"/v1/conversations/{conversation['id']}",
    ):
        response = client.get(path, headers=beta.headers)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/mentions", headers=beta.headers).json()["items"] == []
    assert client.get("/v1/profiles", headers=beta.headers).json()["items"] == []
    assert scorecard(client, beta.headers)["listening"]["mentions"]["total"] == 0


def test_every_process_reports_ready(stack: Any) -> None:
    for name in ("gateway", "identity", "listening", "profiles", "engagement", "metrics"):
        assert httpx.get(f"{stack.url(name)}/healthz").status_code == 200, name
        ready = httpx.get(f"{stack.url(name)}/readyz")
        assert ready.status_code == 200, (name, ready.text)

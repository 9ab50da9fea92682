"""Agent corrections: `POST /v1/mentions/{id}/labels`, the labelled-data export, and the backlog stats."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import Tenant, add_user, assert_problem
from tests.listening.helpers import post_analysed

COMPLAINT = "My order never arrived and support is terrible."


def label(client: httpx.Client, headers: dict[str, str], mention_id: str, **body: Any) -> httpx.Response:
    return client.post(f"/v1/mentions/{mention_id}/labels", json=body, headers=headers)


def test_agent_label_becomes_the_mention_analysis(client: httpx.Client, tenant: Tenant) -> None:
    agent = add_user(client, tenant, "agent")
    mention = post_analysed(client, tenant, text=COMPLAINT)
    before = mention["analysis"]
    assert (before["sentiment"]["label"], before["intent"]) == ("negative", "complaint")

    response = label(client, agent.headers, mention["id"], sentiment="neutral", intent="question")

    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["mention_id"] == mention["id"]
    assert stored["user_id"] == agent.user_id
    assert (stored["sentiment"], stored["intent"], stored["language"]) == ("neutral", "question", None)
    after = client.get(f"/v1/mentions/{mention['id']}", headers=tenant.headers).json()["analysis"]
    assert after["tier"] == "human"
    assert after["sentiment"] == {"label": "neutral", "score": 0.0, "confidence": 1.0}
    assert after["intent"] == "question"
    assert after["intent_confidence"] == 1.0
    # What the agent did not correct stays the machine's.
    assert after["language"] == before["language"] == "en"
    assert after["language_confidence"] == before["language_confidence"]
    # The list filters see the corrected labels.
    listed = client.get("/v1/mentions", headers=tenant.headers, params={"intent": "question"}).json()
    assert [m["id"] for m in listed["items"]] == [mention["id"]]


def test_labels_are_exported_as_the_tenant_labelled_data(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = post_analysed(client, tenant, text=COMPLAINT)
    second = post_analysed(client, tenant, text="Thank you so much, the team was amazing!")
    assert label(client, tenant.headers, first["id"], language="hbs").status_code == 201
    assert label(client, tenant.headers, second["id"], sentiment="negative").status_code == 201
    post_analysed(client, other_tenant, text=COMPLAINT)

    page = client.get("/v1/mentions/labels", headers=tenant.headers, params={"limit": 1}).json()
    rest = client.get(
        "/v1/mentions/labels", headers=tenant.headers, params={"limit": 1, "cursor": page["next_cursor"]}
    ).json()
    others = client.get("/v1/mentions/labels", headers=other_tenant.headers).json()

    items = page["items"] + rest["items"]
    assert [i["mention_id"] for i in items] == [second["id"], first["id"]]
    assert items[0]["text"] == second["text"] and items[0]["sentiment"] == "negative"
    assert items[1]["language"] == "hbs"
    assert rest["next_cursor"] is None
    assert others["items"] == []


def test_stats_show_no_backlog_once_analysed(client: httpx.Client, tenant: Tenant) -> None:
    post_analysed(client, tenant, text=COMPLAINT)

    stats = client.get("/v1/mentions/stats", headers=tenant.headers)

    assert stats.status_code == 200, stats.text
    assert stats.json() == {"pending": 0, "needs_rescore": 0, "analysed": 1}


@pytest.mark.parametrize(
    "body",
    [{}, {"sentiment": "angry"}, {"intent": "buying"}, {"language": "English!"}, {"tier": "human"}],
    ids=["empty", "unknown_sentiment", "unknown_intent", "bad_language", "extra_field"],
)
def test_bad_label_is_422_and_changes_nothing(
    client: httpx.Client, tenant: Tenant, body: dict[str, Any]
) -> None:
    mention = post_analysed(client, tenant, text=COMPLAINT)

    assert_problem(label(client, tenant.headers, mention["id"], **body), 422)

    assert client.get(f"/v1/mentions/{mention['id']}", headers=tenant.headers).json() == mention
    assert client.get("/v1/mentions/labels", headers=tenant.headers).json()["items"] == []


def test_label_needs_a_token_and_a_labelling_role(client: httpx.Client, tenant: Tenant) -> None:
    mention = post_analysed(client, tenant, text=COMPLAINT)
    analyst = add_user(client, tenant, "analyst")
    integration = add_user(client, tenant, "integration")

    assert_problem(label(client, {}, mention["id"], intent="other"), 401)
    assert_problem(label(client, analyst.headers, mention["id"], intent="other"), 403)
    assert_problem(label(client, integration.headers, mention["id"], intent="other"), 403)
    assert_problem(client.get("/v1/mentions/labels"), 401)
    assert_problem(client.get("/v1/mentions/stats"), 401)
    assert_problem(client.get("/v1/mentions/labels", headers=integration.headers), 403)

    assert client.get(f"/v1/mentions/{mention['id']}", headers=tenant.headers).json() == mention


def test_other_tenant_mention_cannot_be_labelled(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    mention = post_analysed(client, tenant, text=COMPLAINT)

    assert_problem(label(client, other_tenant.headers, mention["id"], intent="other"), 404)
    assert_problem(label(client, tenant.headers, "no-such-mention", intent="other"), 404)

    assert client.get(f"/v1/mentions/{mention['id']}", headers=tenant.headers).json() == mention

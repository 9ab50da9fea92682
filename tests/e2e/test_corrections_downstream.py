"""Corrections flow downstream: agent labels, quality re-scores and platform redactions reach metrics,
engagement and profiles through the real stack (listening → NATS → consumers)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from rapport.stack import Stack
from shared.events.contracts import Analysis, MentionRedacted
from shared.events.envelope import new_event
from tests.helpers import Tenant, add_user, mention_payload, publish_event, signup, unique, wait_until

COMPLAINT = "My order arrived broken and nobody answers. Terrible service!"
PRAISE = "Thank you so much, the team was amazing!"


def scorecard(client: httpx.Client, tenant: Tenant) -> dict[str, Any]:
    response = client.get("/v1/metrics/scorecard", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def analysed(client: httpx.Client, tenant: Tenant, text: str, handle: str | None = None) -> dict[str, Any]:
    payload = mention_payload(text=text)
    payload["author"]["handle"] = handle or unique("@customer")
    response = client.post("/v1/mentions", json=payload, headers=tenant.headers)
    assert response.status_code == 202, response.text
    mention_id = response.json()["id"]
    return wait_until(
        lambda: (
            (m := client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers).json())["analysis"] and m
        ),
        what="the analysis",
    )


def conversations(client: httpx.Client, tenant: Tenant) -> list[dict[str, Any]]:
    response = client.get("/v1/conversations", headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_label_moves_the_metrics_counts(client: httpx.Client) -> None:
    tenant = signup(client)
    mention = analysed(client, tenant, PRAISE)
    assert (mention["analysis"]["sentiment"]["label"], mention["analysis"]["intent"]) == (
        "positive",
        "praise",
    )
    wait_until(
        lambda: scorecard(client, tenant)["listening"]["mentions"]["total"] == 1, what="the mention counted"
    )

    response = client.post(
        f"/v1/mentions/{mention['id']}/labels",
        json={"sentiment": "negative", "intent": "complaint", "language": "sv"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text

    card = wait_until(
        lambda: (
            (c := scorecard(client, tenant))["listening"]["mentions"]["by_sentiment"]["negative"] == 1 and c
        ),
        what="the counts moved to the label",
    )
    counts = card["listening"]["mentions"]
    assert counts["total"] == 1
    assert counts["by_sentiment"] == {"negative": 1, "neutral": 0, "positive": 0}
    assert counts["by_intent"]["complaint"] == 1 and counts["by_intent"]["praise"] == 0
    assert counts["by_language"].get("sv") == 1 and counts["by_language"].get("en", 0) == 0


def test_mention_labelled_actionable_opens_a_conversation(client: httpx.Client) -> None:
    tenant = signup(client)
    add_user(client, tenant, "agent")
    mention = analysed(client, tenant, PRAISE)
    wait_until(
        lambda: client.get(
            "/v1/profiles",
            params={"handle": mention["author"]["handle"], "platform": "x"},
            headers=tenant.headers,
        ).json()["items"],
        what="the profile",
    )
    assert conversations(client, tenant) == []  # praise needs no answer

    response = client.post(
        f"/v1/mentions/{mention['id']}/labels", json={"intent": "complaint"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text

    opened = wait_until(lambda: conversations(client, tenant), what="a conversation for the complaint")
    assert len(opened) == 1
    detail = client.get(f"/v1/conversations/{opened[0]['id']}", headers=tenant.headers).json()
    assert [(m["mention_id"], m["intent"]) for m in detail["messages"]] == [(mention["id"], "complaint")]
    # A second correction does not open another one.
    client.post(f"/v1/mentions/{mention['id']}/labels", json={"intent": "question"}, headers=tenant.headers)
    wait_until(
        lambda: (
            client.get(f"/v1/conversations/{opened[0]['id']}", headers=tenant.headers).json()["messages"][0][
                "intent"
            ]
            == "question"
        ),
        what="the message's intent follows the correction",
    )
    assert len(conversations(client, tenant)) == 1


def test_redaction_removes_text_and_counts_everywhere(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    add_user(client, tenant, "agent")
    handle = unique("@customer")
    kept = analysed(client, tenant, PRAISE, handle=handle)
    gone = analysed(client, tenant, COMPLAINT, handle=handle)
    conversation = wait_until(lambda: conversations(client, tenant), what="the complaint's conversation")[0]
    wait_until(
        lambda: scorecard(client, tenant)["listening"]["mentions"]["total"] == 2, what="both mentions counted"
    )

    # listening stages this when the platform deletes the post (services.listening.channels.compliance).
    publish_event(
        stack.nats_url,
        new_event(
            MentionRedacted(
                mention_id=gone["id"],
                platform=gone["platform"],
                created_at=gone["created_at"],
                reason="deleted",
                analysis=Analysis.model_validate(gone["analysis"]),
            ),
            source="listening",
            tenant_id=tenant.tenant_id,
            subject=gone["id"],
        ),
    )

    card = wait_until(
        lambda: (c := scorecard(client, tenant))["listening"]["mentions"]["total"] == 1 and c,
        what="the count taken back",
    )
    assert card["listening"]["mentions"]["by_sentiment"]["negative"] == 0
    assert card["listening"]["mentions"]["by_sentiment"]["positive"] == 1
    assert card["listening"]["mentions"]["by_intent"]["complaint"] == 0
    assert card["listening"]["mentions"]["by_platform"] == {"x": 1}
    message = wait_until(
        lambda: (
            (
                m := client.get(f"/v1/conversations/{conversation['id']}", headers=tenant.headers).json()[
                    "messages"
                ][0]
            )["redacted"]
            and m
        ),
        what="the message redacted",
    )
    assert message["text"] == ""
    # Nor does the inbox row keep an excerpt of it.
    row = client.get("/v1/conversations", headers=tenant.headers).json()["items"][0]
    assert (row["id"], row["last_message_excerpt"]) == (conversation["id"], "")
    profile = client.get(
        "/v1/profiles", params={"handle": handle, "platform": "x"}, headers=tenant.headers
    ).json()["items"][0]
    timeline = wait_until(
        lambda: (
            (
                t := client.get(f"/v1/profiles/{profile['id']}/timeline", headers=tenant.headers).json()[
                    "items"
                ]
            )
            and any(i["redacted"] for i in t)
            and t
        ),
        what="the interaction redacted",
    )
    assert {i["mention_id"]: i["redacted"] for i in timeline} == {kept["id"]: False, gone["id"]: True}
    # The customer did post it: the profile keeps counting it (profiles stores no text of it).
    assert profile["mention_count"] == 2


def test_backlog_is_scored_fast_then_rescored_and_metrics_follow(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    texts = [COMPLAINT, PRAISE, "How do I reset my password?", "Wo kann ich das neue Modell kaufen?"]
    bodies = [mention_payload(text=f"{texts[i % len(texts)]} #{i}") for i in range(400)]
    seen_rescore = 0
    with httpx.Client(base_url=stack.url("listening"), timeout=30) as direct:

        def post(body: dict[str, Any]) -> None:
            assert direct.post("/v1/mentions", json=body, headers=tenant.headers).status_code == 202

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(post, bodies))

        def drained() -> bool:
            nonlocal seen_rescore
            stats = direct.get("/v1/mentions/stats", headers=tenant.headers).json()
            seen_rescore = max(seen_rescore, stats["needs_rescore"])
            return stats["pending"] == 0 and stats["needs_rescore"] == 0 and stats["analysed"] == 400

        wait_until(drained, timeout=120, interval=0.25, what="the backlog analysed and re-scored")
        final: dict[str, int] = {"negative": 0, "neutral": 0, "positive": 0}
        tiers = set()
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = direct.get("/v1/mentions", headers=tenant.headers, params=params).json()
            for m in page["items"]:
                final[m["analysis"]["sentiment"]["label"]] += 1
                tiers.add(m["analysis"]["tier"])
            cursor = page["next_cursor"]
            if cursor is None:
                break

    # Under a backlog the fast tier went first; in the end every mention has the quality tier's analysis.
    assert seen_rescore > 0
    assert tiers == {"quality"}
    # metrics moved every changed mention (listening.mention.reanalysed) to its final labels.
    wait_until(
        lambda: (
            (c := scorecard(client, tenant))["listening"]["mentions"]["total"] == 400
            and c["listening"]["mentions"]["by_sentiment"] == final
        ),
        timeout=60,
        what=f"scorecard sentiments to equal listening's final labels {final}",
    )

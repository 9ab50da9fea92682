"""The analyst's listening page in a real browser: the mention stream, a label correction, the query editor's
check as you type, the charts, and a spike alert acknowledged from the list. Data goes in through the
public API; the page reads it through the gateway."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import accessible, shot, sign_in
from tests.helpers import Tenant, mention_payload, wait_until
from tests.listening.helpers import analysed, list_mentions, post_mention
from tests.listening.queries.helpers import create_query

pytestmark = pytest.mark.browser


POSTS = [
    "Zentrix support fixed my router in ten minutes, brilliant service!",
    "Is the Zentrix X2 router available in Dubai yet?",
    "My Zentrix order arrived broken and nobody answers. Terrible!",
]


def _seed(client: httpx.Client, tenant: Tenant) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    query = create_query(client, tenant, "zentrix", name="Zentrix", kind="brand")
    rival = create_query(client, tenant, "kettlecorp", name="KettleCorp", kind="competitor")
    mentions = []
    for i, text in enumerate(POSTS):
        at = datetime.now(UTC) - timedelta(minutes=10 - i)
        _, mention_id = post_mention(client, tenant, text=text, created_at=at.isoformat())
        mentions.append(analysed(client, tenant, mention_id))
    mentions.append(
        analysed(client, tenant, post_mention(client, tenant, text="KettleCorp kettles are loud")[1])
    )
    wait_until(
        lambda: len(list_mentions(client, tenant, query_id=query["id"])["items"]) == len(POSTS),
        what="the posts matched the query",
        timeout=30,
    )
    assert rival["id"]
    return query, mentions


def _matched(client: httpx.Client, tenant: Tenant, query_id: str) -> int:
    found, cursor = 0, None
    while True:
        params = {"query_id": query_id, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = list_mentions(client, tenant, **params)
        found += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def _matched_all(client: httpx.Client, tenant: Tenant, query_id: str, n: int) -> bool:
    return _matched(client, tenant, query_id) == n


def test_stream_shows_mentions_and_a_correction_changes_a_label(
    page: Page, console_url: str, client: httpx.Client, owner: Tenant
) -> None:
    query, mentions = _seed(client, owner)
    sign_in(page, console_url, owner.email)
    page.goto(f"{console_url}#/listening")
    stream = page.get_by_role("list", name="Mentions, newest first")
    for text in [*POSTS, "KettleCorp kettles are loud"]:
        expect(stream.get_by_text(text)).to_be_visible()
    # Newest first, each with its labels as the API gives them.
    first = stream.locator("li.mention").first
    expect(first).to_have_attribute("data-mention-id", mentions[-1]["id"])
    target = mentions[2]
    item = stream.locator(f'li[data-mention-id="{target["id"]}"]')
    label = target["analysis"]["sentiment"]["label"]
    expect(item.locator('[data-label="sentiment"]')).to_have_text(label.capitalize())
    expect(item.locator('[data-label="query"]')).to_have_text("Zentrix")
    shot(page, "listening-stream")
    accessible(page, "listening-stream")

    # A filter from the API's set: only the query's posts.
    page.get_by_label("Query", exact=True).select_option(label="Zentrix")
    page.get_by_role("button", name="Apply").click()
    expect(stream.locator("li.mention")).to_have_count(len(POSTS))
    expect(page).to_have_url(f"{console_url}#/listening?query_id={query['id']}")

    # Correct the sentiment of one mention from the stream.
    new = "positive" if label != "positive" else "neutral"
    item.get_by_text("Correct labels").click()
    item.get_by_role("form", name="Correct labels").get_by_label("Sentiment").select_option(new)
    item.get_by_role("button", name="Save correction").click()
    expect(item.locator('[data-label="sentiment"]')).to_have_text(new.capitalize())
    expect(item.locator('[data-label="tier"]')).to_have_text("Corrected")
    shot(page, "listening-corrected")
    read = client.get(f"/v1/mentions/{target['id']}", headers=owner.headers).json()
    assert read["analysis"]["sentiment"]["label"] == new
    assert read["analysis"]["tier"] == "human"


def test_query_editor_marks_a_malformed_expression_as_you_type(
    page: Page, console_url: str, client: httpx.Client, owner: Tenant
) -> None:
    malformed = "acme AND (late OR"
    expected = client.post(
        "/v1/listening/queries/validate", headers=owner.headers, json={"expression": malformed}
    ).json()["errors"][0]
    sign_in(page, console_url, owner.email)
    page.goto(f"{console_url}#/listening/queries/new")
    page.get_by_label("Name").fill("Late deliveries")
    expression = page.get_by_label("Expression")
    expression.press_sequentially(malformed)

    # The API's message under the field, and the character at the API's position marked.
    error = page.locator(".field-error", has_text=expected["msg"])
    expect(error).to_be_visible()
    expect(expression).to_have_attribute("aria-invalid", "true")
    marked = page.locator("pre.marked")
    expect(marked).to_be_visible()
    expect(marked).to_have_attribute("data-position", str(expected["position"]))
    expect(marked.locator("mark.at")).to_have_text(malformed[expected["position"]])
    expect(marked.locator(".caret")).to_have_text(" " * expected["position"] + "^")
    describedby = expression.get_attribute("aria-describedby") or ""
    assert "expression-marked" in describedby.split()
    assert f"{expression.get_attribute('id')}-error" in describedby.split()
    shot(page, "listening-query-error")
    accessible(page, "listening-query-error")

    # Fixed as you type: valid, then saved and listed.
    expression.press_sequentially(" delayed)")
    expect(page.get_by_text("Valid:")).to_be_visible()
    expect(expression).not_to_have_attribute("aria-invalid", "true")
    expect(marked).to_be_hidden()
    page.get_by_role("button", name="Create query").click()
    expect(page).to_have_url(f"{console_url}#/listening/queries")
    expect(page.get_by_role("row", name="Late deliveries")).to_be_visible()
    stored = client.get("/v1/listening/queries", headers=owner.headers).json()["items"]
    assert [(q["name"], q["expression"]) for q in stored] == [
        ("Late deliveries", "acme AND (late OR delayed)")
    ]
    shot(page, "listening-queries")


def test_volume_and_share_of_voice_charts(
    page: Page, console_url: str, client: httpx.Client, owner: Tenant
) -> None:
    query, _ = _seed(client, owner)
    sign_in(page, console_url, owner.email)
    page.goto(f"{console_url}#/listening/charts?query={query['id']}")
    volume = page.get_by_role("img", name="Mentions per hour matching “Zentrix”, last 48 hours")
    expect(volume).to_be_visible()
    voice = page.locator("section", has=page.get_by_role("heading", name="Share of voice"))
    expect(voice.get_by_role("img")).to_be_visible()
    # The table alternatives give the API's numbers.
    page.get_by_text("Show as a table").first.click()
    totals = page.locator("section", has=page.get_by_role("heading", name="Hourly volume")).locator(
        "tbody td"
    )
    expect(totals.first).to_be_visible()
    voice.get_by_text("Show as a table").click()
    expect(voice.get_by_role("row", name="Zentrix")).to_contain_text(str(len(POSTS)))
    expect(voice.get_by_role("row", name="KettleCorp")).to_contain_text("1")
    # Shares as the API gives them (fractions), shown as percentages: 3 of 4 matches.
    expect(voice.get_by_role("row", name="Zentrix")).to_contain_text("75%")
    shot(page, "listening-charts")
    accessible(page, "listening-charts")


def test_an_alert_is_acknowledged_from_the_list(
    page: Page, console_url: str, client: httpx.Client, owner: Tenant
) -> None:
    """A burst over a quiet baseline raises a spike alert (as tests/listening/queries/test_alerts.py)."""
    query = create_query(client, owner, "blorptastic", name="Blorptastic")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    baseline = [
        mention_payload(
            text=f"Blorptastic store visit {h}-{i}",
            created_at=(now - timedelta(hours=h) + timedelta(seconds=1 + i)).isoformat(),
        )
        for h in range(12, 0, -1)
        for i in range(2)
    ]
    burst = [
        mention_payload(
            text=f"Blorptastic store visit now {i}", created_at=(now + timedelta(seconds=1 + i)).isoformat()
        )
        for i in range(14)
    ]
    posted = 0
    for batch in (baseline, burst):
        response = client.post("/v1/mentions/batch", headers=owner.headers, json={"mentions": batch})
        assert response.status_code == 202, response.text
        posted += len(batch)
        matched = functools.partial(_matched_all, client, owner, query["id"], posted)
        wait_until(matched, what=f"{posted} posts matched", timeout=90, interval=0.5)

    def alert() -> dict[str, Any] | None:
        items = client.get("/v1/listening/alerts", headers=owner.headers).json()["items"]
        return items[0] if items else None

    raised = wait_until(alert, what="the spike alert", timeout=120, interval=1)
    assert raised["query_id"] == query["id"]

    sign_in(page, console_url, owner.email)
    page.goto(f"{console_url}#/listening/alerts")
    row = page.locator(f'tr[data-alert-id="{raised["id"]}"]')
    expect(row.get_by_role("rowheader")).to_have_text("Blorptastic")
    expect(row).to_contain_text("Volume")
    shot(page, "listening-alerts")
    accessible(page, "listening-alerts")
    row.get_by_role("button", name="Acknowledge").click()
    expect(row).to_contain_text("Acknowledged")
    expect(page.get_by_role("status").filter(has_text="Alert acknowledged.")).to_be_visible()
    shot(page, "listening-alert-acknowledged")
    stored = alert()
    assert stored is not None and stored["acknowledged_at"] is not None
    assert stored["acknowledged_by"] == owner.user_id

"""The agent's inbox in a real browser: a complaint commented on the brand's Meta page (the signed webhook)
appears in the open inbox live; the agent answers with a canned response in the conversation's language,
which reaches the Graph API stand-in; resolves it; and moves through the list with the keyboard. A snoozed
conversation leaves the open list, two conversations of one customer merge into one, and "Load more"
appends the list's next page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import accessible, shot
from tests.engagement.test_conversations import (
    COMPLAINT,
    author,
    conversation_of,
    get_conversation,
    list_conversations,
    post_mention,
)
from tests.engagement.test_replies import PAGE_ID, SPANISH_COMPLAINT, create_canned, feed_comment
from tests.helpers import Tenant, add_user, set_presence, unique, wait_until
from tests.listening.channels.helpers import RecordingPlatform, post_meta
from tests.listening.channels.test_replies import meta_channel

pytestmark = pytest.mark.browser

ENGLISH_COMPLAINT = "My kettle arrived broken and nobody answers my messages. This is terrible!"


@pytest.fixture
def graph() -> Iterator[RecordingPlatform]:
    """The Meta Graph API stand-in the channel sends replies to; it records what it receives."""
    server = RecordingPlatform()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def comment(client: httpx.Client, channel_id: str, text: str, name: str) -> str:
    """A customer's comment on the brand's page through the signed webhook; the comment's id."""
    comment_id = f"5550001_{uuid.uuid4().int % 10**12}"
    body = feed_comment(
        comment_id=comment_id, parent_id=f"{PAGE_ID}_5550001", sender_id=unique("66200"), text=text, name=name
    )
    assert post_meta(client, "meta", channel_id, body).status_code == 200
    return comment_id


def conversations(client: httpx.Client, tenant: Tenant) -> list[dict[str, Any]]:
    response = client.get("/v1/conversations", headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def open_inbox(page: Page, console_url: str, owner: Tenant) -> None:
    """Sign in (the owner's home is the inbox) and wait until the list is loaded and the stream is open."""
    page.goto(console_url)
    page.get_by_label("E-mail").fill(owner.email)
    page.get_by_label("Password").fill(owner.password)
    page.get_by_role("button", name="Sign in").click()
    # Signing in checks a password hash, slow on a busy machine: longer than `expect`'s 5 s default.
    expect(page.get_by_role("heading", level=1, name="Inbox")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def test_complaint_appears_live_is_answered_with_a_canned_response_and_resolved(
    page: Page, console_url: str, owner: Tenant, client: httpx.Client, graph: RecordingPlatform
) -> None:
    create_canned(
        client,
        owner,
        name="Broken on arrival",
        variants={
            "en": "Hi {{first_name}}, we are sorry! Your replacement order is {{order}}.",
            "es": "Hola {{first_name}}, ¡lo sentimos! Tu pedido de reposición es {{order}}.",
        },
        default_language="en",
    )
    for priority in ("low", "normal", "high", "urgent"):
        policy = {"first_response_s": 3600, "resolution_s": 86400}
        response = client.put(f"/v1/sla-policies/{priority}", headers=owner.headers, json=policy)
        assert response.status_code == 201, response.text
    # Two agents online: routing gives the conversation to one, the owner moves it to the other.
    agents = {}
    for _ in range(2):
        agent = add_user(client, owner, "agent")
        set_presence(client, agent)
        agents[agent.user_id] = f"Agent {len(owner.users)}"
    channel_id = meta_channel(client, owner, graph)

    # The manager's dashboard before: nothing answered yet, so no first-response time.
    first_response = page.locator("[data-metric=first_response_p50]")
    open_inbox(page, console_url, owner)
    page.goto(f"{console_url}#/dashboard")
    expect(first_response).to_have_attribute("data-value", "")
    page.goto(f"{console_url}#/inbox")
    rows = page.locator("#conversation-list li.conv")
    expect(page.get_by_text("No conversation matches these filters.")).to_be_visible()
    # A marker in the page's memory: it survives only if the page is never reloaded.
    page.evaluate("window.inboxMarker = 'still here'")

    comment_id = comment(client, channel_id, SPANISH_COMPLAINT, "Lucía Gómez")
    expect(rows).to_have_count(1, timeout=60_000)
    expect(rows.first).to_contain_text("Lucía Gómez")
    expect(rows.first).to_contain_text("Mi pedido llegó roto")
    assert page.evaluate("window.inboxMarker") == "still here"
    [listed] = conversations(client, owner)
    assert listed["language"] == "es"
    # The first-response deadline counts down each second.
    timer = rows.first.locator(".badge.sla")
    expect(timer).to_contain_text("First response due in")
    expect(timer).not_to_have_text(timer.inner_text())
    shot(page, "inbox-list")

    rows.first.get_by_role("link").click()
    assert page.url.endswith(f"#/inbox/{listed['id']}")
    detail = page.locator("section.conversation")
    expect(detail.get_by_role("heading", level=2, name="Lucía Gómez")).to_be_visible()
    expect(detail.locator(".messages")).to_contain_text(SPANISH_COMPLAINT)
    expect(page.locator("aside.customer").get_by_role("heading", name="Customer")).to_be_visible()
    expect(page.locator("aside.customer").get_by_role("heading", name="Consent")).to_be_visible()

    graph.answer(f"/v21.0/{comment_id}/comments", (200, {"id": f"{comment_id}_901"}))
    page.get_by_label("Canned response").select_option(label="Broken on arrival")
    expect(detail.locator(".canned-preview")).to_contain_text("Tu pedido de reposición es {{order}}")
    page.get_by_label("Value for order").fill("R-1042")
    page.get_by_role("button", name="Send reply").click()

    expected = "Hola Lucía, ¡lo sentimos! Tu pedido de reposición es R-1042."
    outbound = detail.locator(".message.outbound")
    expect(outbound).to_contain_text(expected)
    expect(outbound.locator("[data-delivery]")).to_have_text("Delivered", timeout=30_000)
    path = f"/v21.0/{comment_id}/comments"
    [call] = wait_until(lambda: graph.posts(path), what="the reply at the Graph API")
    assert call.body == {"message": expected}
    expect(rows.first).to_contain_text(expected)
    shot(page, "inbox-conversation")
    accessible(page, "inbox-conversation")

    page.get_by_role("textbox", name="Internal note").fill("Replacement shipped by courier.")
    page.get_by_role("button", name="Add note").click()
    expect(detail.locator(".notes")).to_contain_text("Replacement shipped by courier.")
    expect(detail.locator(".notes .meta")).to_contain_text("You")

    routed = listed["assignee_id"]
    [other] = [user_id for user_id in agents if user_id != routed]
    expect(detail).to_contain_text(f"Assigned to {agents[routed]}")
    page.get_by_label("Assign to").select_option(other)
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(detail).to_contain_text(f"Assigned to {agents[other]}")

    page.get_by_label("New label").fill("replacement")
    page.get_by_role("button", name="Add label").click()
    expect(detail.get_by_role("list", name="Labels")).to_contain_text("replacement")
    moved = client.get(f"/v1/conversations/{listed['id']}", headers=owner.headers).json()
    assert (moved["assignee_id"], moved["labels"]) == (other, ["replacement"])

    page.get_by_role("button", name="Resolve").click()
    expect(detail.locator(".conv-header .badge.status-resolved")).to_have_text("Resolved")
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    resolved = client.get(f"/v1/conversations/{listed['id']}", headers=owner.headers).json()
    assert resolved["status"] == "resolved"
    shot(page, "inbox-resolved")

    # The scorecard's first-response time moved: metrics folded the confirmed reply, and the dashboard
    # shows the API's figure.
    def first_response_of() -> Any:
        card = client.get("/v1/metrics/scorecard", headers=owner.headers).json()
        return card["care"]["first_response"]["p50_minutes"]

    wait_until(lambda: first_response_of() is not None, what="a first-response time in the scorecard")
    page.goto(f"{console_url}#/dashboard")
    expect(first_response).not_to_have_attribute("data-value", "")
    assert float(first_response.get_attribute("data-value") or "nan") == first_response_of()
    expect(first_response).not_to_have_text("—")
    shot(page, "inbox-scorecard-moved")


def test_filters_and_keyboard_move_through_the_list_and_show_the_shortcuts(
    page: Page, console_url: str, owner: Tenant, client: httpx.Client, graph: RecordingPlatform
) -> None:
    # A one-second first-response target: both conversations are past it by the time the inbox opens.
    for priority in ("low", "normal", "high", "urgent"):
        policy = {"first_response_s": 1}
        response = client.put(f"/v1/sla-policies/{priority}", headers=owner.headers, json=policy)
        assert response.status_code == 201, response.text
    channel_id = meta_channel(client, owner, graph)
    comment(client, channel_id, ENGLISH_COMPLAINT, "Ana Ruiz")
    comment(client, channel_id, ENGLISH_COMPLAINT.replace("kettle", "toaster"), "Omar Haddad")
    wait_until(lambda: len(conversations(client, owner)) == 2, timeout=60, what="two conversations")

    # The manager's dashboard before: nothing answered yet, so no first-response time.
    first_response = page.locator("[data-metric=first_response_p50]")
    open_inbox(page, console_url, owner)
    page.goto(f"{console_url}#/dashboard")
    expect(first_response).to_have_attribute("data-value", "")
    page.goto(f"{console_url}#/inbox")
    rows = page.locator("#conversation-list li.conv")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".badge.sla.breached")).to_contain_text("Breached: First response overdue by")
    page.get_by_label("SLA").select_option("breached")
    assert page.url.endswith("#/inbox?sla=breached")
    expect(rows).to_have_count(2)
    page.get_by_label("SLA").select_option("")
    # A filter asks the API again and keeps itself in the address.
    page.get_by_label("Platform").select_option("instagram")
    expect(page.get_by_text("No conversation matches these filters.")).to_be_visible()
    assert page.url.endswith("#/inbox?platform=instagram")
    page.get_by_label("Platform").select_option("facebook")
    expect(rows).to_have_count(2)
    first, second = (rows.nth(i).get_attribute("data-id") for i in range(2))
    current = page.locator('#conversation-list a[aria-current="true"]')

    page.keyboard.press("j")
    expect(current).to_have_count(1)
    expect(rows.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    assert page.url.endswith(f"#/inbox/{first}?platform=facebook")
    page.keyboard.press("j")
    expect(rows.nth(1).locator("a")).to_have_attribute("aria-current", "true")
    assert page.url.endswith(f"#/inbox/{second}?platform=facebook")
    page.keyboard.press("k")
    expect(rows.nth(0).locator("a")).to_have_attribute("aria-current", "true")
    expect(current).to_have_count(1)

    # r: to the reply box; typing there is text, never a shortcut.
    page.keyboard.press("r")
    reply = page.get_by_label("Your reply")
    expect(reply).to_be_focused()
    page.keyboard.type("jk?")
    expect(reply).to_have_value("jk?")
    expect(rows.nth(0).locator("a")).to_have_attribute("aria-current", "true")
    expect(page.get_by_role("dialog")).to_be_hidden()

    page.locator("h1").click()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Next conversation")
    shot(page, "inbox-shortcuts")
    accessible(page, "inbox-shortcuts")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # In Arabic the inbox lays out right to left.
    page.locator("#language").select_option("ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", level=1)).to_have_text("صندوق الوارد")
    expect(page.get_by_role("heading", level=2, name="المحادثات")).to_be_visible()
    shot(page, "inbox-arabic")


def test_a_snoozed_conversation_leaves_the_open_list(
    page: Page, console_url: str, owner: Tenant, client: httpx.Client
) -> None:
    snoozed_id = conversation_of(client, owner, post_mention(client, owner, COMPLAINT, author=author()))["id"]
    kept_id = conversation_of(client, owner, post_mention(client, owner, ENGLISH_COMPLAINT, author=author()))[
        "id"
    ]

    open_inbox(page, console_url, owner)
    page.goto(f"{console_url}#/inbox?status=open")
    rows = page.locator("#conversation-list li.conv")
    expect(rows).to_have_count(2)
    page.locator(f'#conversation-list li[data-id="{snoozed_id}"] a').click()
    detail = page.locator("section.conversation")
    expect(detail.locator(".messages")).to_contain_text(COMPLAINT)

    page.get_by_label("Snooze for").select_option(label="4 h")
    before = datetime.now(UTC)
    page.get_by_role("button", name="Snooze", exact=True).click()
    expect(detail.locator(".conv-header .badge.status-snoozed")).to_have_text("Snoozed")
    expect(detail.locator(".conv-header")).to_contain_text("snoozed until")
    after = datetime.now(UTC)
    snoozed = get_conversation(client, owner, snoozed_id)
    assert snoozed["status"] == "snoozed"
    # Four hours from the click (the browser's clock is this machine's).
    until = datetime.fromisoformat(snoozed["snoozed_until"])
    slack = timedelta(minutes=1)
    assert before + timedelta(hours=4) - slack <= until <= after + timedelta(hours=4) + slack
    shot(page, "inbox-snoozed")
    accessible(page, "inbox-snoozed")

    # The open list, asked again, no longer has it; the snoozed list has it.
    page.goto(f"{console_url}#/inbox?status=open")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", kept_id)
    page.get_by_label("Status").select_option("snoozed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", snoozed_id)
    expect(rows.first.locator(".badge.status-snoozed")).to_have_text("Snoozed")


def test_two_conversations_of_one_customer_merge_into_one(
    page: Page, console_url: str, owner: Tenant, client: httpx.Client
) -> None:
    # One customer writes privately and posts publicly: two threads, two conversations, one profile.
    customer = author()
    on = {"author": customer, "platform": "instagram"}
    dm_id = post_mention(client, owner, COMPLAINT, kind="message", **on)
    post_id = post_mention(client, owner, ENGLISH_COMPLAINT, kind="post", **on)
    dm, post = conversation_of(client, owner, dm_id), conversation_of(client, owner, post_id)
    assert dm["id"] != post["id"] and dm["profile_id"] == post["profile_id"]

    open_inbox(page, console_url, owner)
    rows = page.locator("#conversation-list li.conv")
    expect(rows).to_have_count(2)
    page.locator(f'#conversation-list li[data-id="{post["id"]}"] a').click()
    detail = page.locator("section.conversation")
    expect(detail.locator(".messages .message")).to_have_count(1)
    merge = page.get_by_label("Merge in another conversation of this customer")
    expect(merge).to_be_enabled()
    expect(merge.locator("option")).to_have_count(1)
    expect(merge.locator("option")).to_have_attribute("value", dm["id"])
    expect(merge.locator("option")).to_contain_text("My order arrived broken")

    page.get_by_role("button", name="Merge", exact=True).click()
    # The other conversation's message moved here and its row left the list.
    expect(detail.locator(".messages .message")).to_have_count(2)
    expect(detail.locator(".messages")).to_contain_text(COMPLAINT)
    expect(detail.locator(".messages")).to_contain_text(ENGLISH_COMPLAINT)
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", post["id"])
    expect(merge).to_be_disabled()
    expect(merge).to_contain_text("No other conversation of this customer")
    merged = get_conversation(client, owner, post["id"])
    assert sorted(m["mention_id"] for m in merged["messages"]) == sorted([dm_id, post_id])
    assert get_conversation(client, owner, dm["id"])["status"] == "closed"
    shot(page, "inbox-merged")
    accessible(page, "inbox-merged")


def test_load_more_appends_the_next_page_without_duplicates(
    page: Page, console_url: str, owner: Tenant, client: httpx.Client
) -> None:
    page_size = 25  # the inbox's page (`PAGE` in console/js/pages/inbox.js)
    count = page_size + 3
    for i in range(count):
        customer = {"handle": unique("@customer"), "display_name": f"Customer {i:02d}", "followers": 120}
        post_mention(client, owner, COMPLAINT, author=customer)

    def all_there() -> list[dict[str, Any]] | None:
        items = list_conversations(client, owner, limit=200)
        return items if len(items) == count else None

    wait_until(all_there, timeout=120, what=f"{count} conversations")
    # The two pages the console asks for, in the API's order.
    query: dict[str, Any] = {"status": ["open", "pending", "snoozed"], "limit": page_size}
    first = client.get("/v1/conversations", headers=owner.headers, params=query).json()
    assert first["next_cursor"]
    second = client.get(
        "/v1/conversations", headers=owner.headers, params={**query, "cursor": first["next_cursor"]}
    ).json()
    expected = [c["id"] for c in first["items"] + second["items"]]
    assert len(expected) == count

    open_inbox(page, console_url, owner)
    rows = page.locator("#conversation-list li.conv")
    more = page.get_by_role("button", name="Load more")
    expect(rows).to_have_count(page_size)
    expect(more).to_be_visible()
    shown = rows.evaluate_all("rows => rows.map((row) => row.dataset.id)")
    assert shown == expected[:page_size]

    more.click()
    expect(rows).to_have_count(count)
    expect(more).to_be_hidden()
    shown = rows.evaluate_all("rows => rows.map((row) => row.dataset.id)")
    assert shown == expected
    assert len(set(shown)) == count
    shot(page, "inbox-load-more")
    accessible(page, "inbox-load-more")

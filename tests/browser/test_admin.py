"""The admin page in a browser, as a tenant's owner: each section's form creates its thing (checked
through the public API), a bad input shows the API's problem and creates nothing, and a secret the API
answers once is shown once."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import accessible, shot, sign_in
from tests.engagement.receiver import receiver
from tests.helpers import Tenant, unique, wait_until
from tests.listening.channels.helpers import APP_SECRET, fixture_bytes, post_meta

pytestmark = pytest.mark.browser


def items(client: httpx.Client, tenant: Tenant, path: str) -> list[dict[str, Any]]:
    response = client.get(path, headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def open_section(page: Page, console_url: str, section: str) -> None:
    page.goto(f"{console_url}#/admin/{section}")
    expect(page.get_by_role("link", name=SECTION_NAMES[section])).to_have_attribute("aria-current", "page")


def sign_in_at(page: Page, console_url: str, owner: Tenant, section: str) -> None:
    """Sign in with the section asked for: the console opens it after the login."""
    sign_in(page, f"{console_url}#/admin/{section}", owner.email)
    expect(page.get_by_role("link", name=SECTION_NAMES[section])).to_have_attribute("aria-current", "page")


SECTION_NAMES = {
    "channels": "Channels",
    "users": "Users and roles",
    "keys": "API keys",
    "webhooks": "Webhooks",
    "routing": "Routing rules",
    "teams": "Teams",
    "sla": "SLA policies",
}


def test_channels(page: Page, console_url: str, client: httpx.Client, owner: Tenant) -> None:
    sign_in_at(page, console_url, owner, "channels")
    form = page.get_by_role("form", name="Connect a channel")

    # Bad input: a Meta channel without its webhook secrets is refused with the API's words.
    form.get_by_label("Name").fill("Incomplete")
    form.get_by_role("button", name="Connect").click()
    expect(form.get_by_role("alert")).to_contain_text("app_secret")
    assert items(client, owner, "/v1/channels") == []

    form.get_by_label("App secret").fill(APP_SECRET)
    form.get_by_label("Verify token").fill("verify-me")
    form.get_by_label("Name").fill("Brand page")
    form.get_by_role("button", name="Connect").click()
    row = page.locator("tbody tr", has_text="Brand page")
    expect(row).to_be_visible()
    [channel] = items(client, owner, "/v1/channels")
    assert channel["platform"] == "meta" and channel["credentials_set"] == ["app_secret", "verify_token"]
    # The URL to paste into Meta's dashboard: absolute, ending with the channel's inbound path.
    inbound = f"/v1/inbound/meta/{channel['id']}"
    url = row.locator("code.url")
    expect(url).to_have_text(re.compile(rf"^https?://[^/]+{re.escape(inbound)}$"))
    expect(row).to_contain_text("Nothing received yet")
    expect(row).to_contain_text("Not verified by the platform yet")
    shot(page, "admin-channels")
    accessible(page, "admin-channels")

    # Meta's subscription check with the verify token: after a reload the row says the platform verified it.
    check = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"}
    assert client.get(inbound, params=check).text == "42"
    page.reload()
    expect(row).to_contain_text("Verified by the platform")

    # A signed delivery: after a reload the row tells when the last one arrived.
    delivered = post_meta(client, "meta", channel["id"], fixture_bytes("meta/page_feed_comments.json"))
    assert delivered.status_code == 200, delivered.text
    page.reload()
    expect(row).to_contain_text("Last delivery")
    expect(row).not_to_contain_text("Nothing received yet")

    # Rotating the credentials: the new app secret signs, the old one no longer does.
    row.get_by_role("button", name="Rotate the credentials of Brand page").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("App secret").fill("rotated-app-secret")
    dialog.get_by_label("Verify token").fill("verify-again")
    shot(page, "admin-channels-rotate")
    dialog.get_by_role("button", name="Rotate").click()
    expect(dialog).to_be_hidden()
    expect(row).to_contain_text("Not verified by the platform yet")  # the new verify token awaits Meta
    body = fixture_bytes("meta/page_feed_posts.json")
    assert post_meta(client, "meta", channel["id"], body).status_code in (401, 403)
    assert post_meta(client, "meta", channel["id"], body, secret="rotated-app-secret").status_code == 200


def test_users(page: Page, console_url: str, client: httpx.Client, owner: Tenant) -> None:
    sign_in_at(page, console_url, owner, "users")
    form = page.get_by_role("form", name="Add a user")
    email = f"{unique('agent')}@example.com"

    # Bad input: a password too short is refused by the API, and nobody is added.
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Display name").fill("Sam Agent")
    form.get_by_label("Role").select_option("agent")
    form.get_by_label("First password").fill("short")
    form.get_by_role("button", name="Add the user").click()
    expect(form.get_by_role("alert")).to_contain_text("password")
    assert [u["email"] for u in items(client, owner, "/v1/users")] == [owner.email]

    form.get_by_label("First password").fill("a long enough password")
    form.get_by_role("button", name="Add the user").click()
    row = page.locator("tbody tr", has_text=email)
    expect(row).to_contain_text("active")
    [user] = [u for u in items(client, owner, "/v1/users") if u["email"] == email]
    assert user["role"] == "agent" and user["active"] and user["display_name"] == "Sam Agent"
    shot(page, "admin-users")
    accessible(page, "admin-users")

    row.get_by_label(f"Role of {email}").select_option("analyst")
    read = f"/v1/users/{user['id']}"
    wait_until(lambda: client.get(read, headers=owner.headers).json()["role"] == "analyst", what="role")
    expect(row.get_by_label(f"Role of {email}")).to_have_value("analyst")

    row.get_by_role("button", name=f"Deactivate {email}").click()
    expect(row.get_by_role("button", name=f"Reactivate {email}")).to_be_visible()
    assert client.get(read, headers=owner.headers).json()["active"] is False


def test_api_keys(
    page: Page, console_url: str, client: httpx.Client, accounts: httpx.Client, owner: Tenant
) -> None:
    sign_in_at(page, console_url, owner, "keys")
    form = page.get_by_role("form", name="Create an API key")

    # Bad input: a key with no scope is refused, and none is made.
    form.get_by_label("Name").fill("Reporting")
    form.get_by_role("button", name="Create").click()
    expect(form.get_by_role("alert")).to_contain_text("scopes")
    assert items(client, owner, "/v1/api-keys") == []

    form.get_by_label("metrics:read").check()
    form.get_by_label("mentions:read").check()
    form.get_by_role("button", name="Create").click()
    secret = page.get_by_role("status", name="The new API key")
    expect(secret).to_have_text(re.compile(r"^rk_"))
    key = secret.inner_text()
    [listed] = items(client, owner, "/v1/api-keys")
    assert listed["name"] == "Reporting" and sorted(listed["scopes"]) == ["mentions:read", "metrics:read"]
    expect(page.locator("tbody tr", has_text="Reporting")).to_contain_text(listed["prefix"])
    shot(page, "admin-keys")
    accessible(page, "admin-keys")

    # The key shown is the one that works, as the OAuth client secret.
    exchanged = accounts.post(
        "/v1/auth/token",
        json={"grant_type": "client_credentials", "client_id": listed["id"], "client_secret": key},
    )
    assert exchanged.status_code == 200, exchanged.text
    assert sorted(exchanged.json()["scope"].split()) == ["mentions:read", "metrics:read"]

    # Shown once: leaving the section and coming back does not show it again.
    open_section(page, console_url, "users")
    open_section(page, console_url, "keys")
    expect(page.locator("tbody tr", has_text="Reporting")).to_be_visible()
    expect(page.get_by_role("status", name="The new API key")).to_have_count(0)
    assert key not in page.content()


def test_webhooks(page: Page, console_url: str, client: httpx.Client, owner: Tenant) -> None:
    sign_in_at(page, console_url, owner, "webhooks")
    form = page.get_by_role("form", name="Subscribe a partner endpoint")

    # Bad input: not an http(s) URL; nothing is subscribed.
    form.get_by_label("URL").fill("ftp://partner.example/hooks")
    form.get_by_label("engagement.conversation.opened").check()
    form.get_by_role("button", name="Create").click()
    expect(form.get_by_role("alert")).to_contain_text("http")
    assert items(client, owner, "/v1/webhooks/subscriptions") == []

    with receiver() as ok, receiver(script=[500] * 20) as failing:
        # A working endpoint: the secret is shown once, a test event is delivered and logged.
        form.get_by_label("URL").fill(ok.url)
        form.get_by_role("button", name="Create").click()
        expect(page.get_by_role("status", name="The signing secret")).to_have_text(re.compile(r"^whsec_"))
        row = page.locator("tbody tr", has_text=ok.url)
        expect(row).to_contain_text("active")
        [sub] = items(client, owner, "/v1/webhooks/subscriptions")
        assert sub["url"] == ok.url and sub["event_types"] == ["engagement.conversation.opened"]
        shot(page, "admin-webhooks")
        accessible(page, "admin-webhooks")
        row.get_by_role("button", name="Send a test").click()
        expect(page.locator("#toast")).to_contain_text("Test event queued")
        wait_until(lambda: ok.received, what="the test event at the receiver")
        row.get_by_role("link", name=ok.url).click()
        log = page.locator("tbody tr", has_text="engagement.webhook.test")
        expect(log).to_contain_text("delivered")
        expect(log).to_contain_text("200")
        shot(page, "admin-webhooks-deliveries")
        accessible(page, "admin-webhooks-deliveries")

        # A failing endpoint: its test delivery is given up on, then replayed from the log once it works.
        open_section(page, console_url, "webhooks")
        form.get_by_label("URL").fill(failing.url)
        form.get_by_label("engagement.conversation.opened").check()
        form.get_by_role("button", name="Create").click()
        row = page.locator("tbody tr", has_text=failing.url)
        row.get_by_role("button", name="Send a test").click()
        [bad] = [s for s in items(client, owner, "/v1/webhooks/subscriptions") if s["url"] == failing.url]
        deliveries = f"/v1/webhooks/subscriptions/{bad['id']}/deliveries"
        wait_until(lambda: items(client, owner, f"{deliveries}?status=dead"), what="a dead delivery")
        failing.script.clear()
        row.get_by_role("link", name=failing.url).click()
        log = page.locator("tbody tr", has_text="engagement.webhook.test")
        expect(log).to_contain_text("given up")
        shot(page, "admin-webhooks-dead")
        log.get_by_role("button", name=re.compile("^Replay delivery")).click()
        wait_until(lambda: items(client, owner, f"{deliveries}?status=succeeded"), what="the replay")
        page.reload()
        expect(page.locator("tbody tr", has_text="engagement.webhook.test")).to_contain_text("delivered")
        assert failing.received[-1].answered == 200


def test_routing_rules_and_dry_run(page: Page, console_url: str, client: httpx.Client, owner: Tenant) -> None:
    sign_in_at(page, console_url, owner, "routing")
    form = page.get_by_role("form", name="Add a routing rule")

    # Bad JSON in the editor: said under the field, nothing is created.
    form.get_by_label("Name").fill("Complaints first")
    form.get_by_label("Conditions").fill('{"intents": ["complaint"]')
    form.get_by_role("button", name="Create").click()
    expect(form.get_by_role("alert")).to_contain_text("not valid JSON")
    assert items(client, owner, "/v1/routing/rules") == []
    # JSON the API refuses (an unknown condition): its problem is shown, nothing is created.
    form.get_by_label("Conditions").fill('{"moods": ["angry"]}')
    form.get_by_role("button", name="Create").click()
    expect(form.get_by_role("alert")).to_contain_text("moods")
    assert items(client, owner, "/v1/routing/rules") == []

    form.get_by_label("Conditions").fill('{"intents": ["complaint"]}')
    form.get_by_label("What it does").fill('{"priority": "urgent", "labels": ["complaint"]}')
    form.get_by_role("button", name="Create").click()
    expect(page.locator("tbody tr", has_text="Complaints first")).to_be_visible()
    [rule] = items(client, owner, "/v1/routing/rules")
    assert rule["conditions"]["intents"] == ["complaint"] and rule["actions"]["priority"] == "urgent"

    dry = page.get_by_role("form", name="Try the rules on a sample post")
    dry.get_by_label("Sample post").fill("My order never arrived and nobody answers.")
    dry.get_by_label("Intent").select_option("complaint")
    dry.get_by_label("Sentiment").select_option("negative")
    dry.get_by_role("button", name="Try").click()
    result = page.locator(".dry-run")
    expect(result).to_contain_text("Rule “Complaints first” decides")
    expect(result.get_by_role("listitem")).to_have_text(["Complaints first: matched"])
    shot(page, "admin-routing")
    accessible(page, "admin-routing")

    dry.get_by_label("Intent").select_option("praise")
    dry.get_by_role("button", name="Try").click()
    expect(result.get_by_role("listitem")).to_have_text(["Complaints first: did not match"])


def test_teams(page: Page, console_url: str, client: httpx.Client, owner: Tenant) -> None:
    sign_in_at(page, console_url, owner, "teams")
    form = page.get_by_role("form", name="Add a team")

    # Bad input: an unknown time zone is refused; no team is made.
    form.get_by_label("Name").fill("Gulf support")
    form.get_by_label("Languages").fill("ar, en")
    form.get_by_label("Time zone").fill("Mars/Olympus")
    form.get_by_role("button", name="Create").click()
    expect(form.get_by_role("alert")).to_contain_text("Mars/Olympus")
    assert items(client, owner, "/v1/teams") == []

    form.get_by_label("Time zone").fill("Asia/Riyadh")
    form.get_by_label("Weekly hours").fill('{"sun": [{"start": "08:00", "end": "16:00"}]}')
    form.get_by_role("button", name="Create").click()
    row = page.locator("tbody tr", has_text="Gulf support")
    expect(row).to_contain_text("Asia/Riyadh")
    [team] = items(client, owner, "/v1/teams")
    assert team["languages"] == ["ar", "en"]
    hours = team["business_hours"]
    assert hours["timezone"] == "Asia/Riyadh" and not hours["always_open"]
    assert hours["weekly"] == {"sun": [{"start": "08:00:00", "end": "16:00:00"}]}
    shot(page, "admin-teams")
    accessible(page, "admin-teams")


def test_sla_policies(page: Page, console_url: str, client: httpx.Client, owner: Tenant) -> None:
    sign_in_at(page, console_url, owner, "sla")
    high = page.locator("tr[data-priority=high]")

    # Bad input: no target at all is refused, nothing is saved.
    high.get_by_role("button", name="Save the high policy").click()
    expect(page.locator("#toast")).to_contain_text("first_response_s")
    assert client.get("/v1/sla-policies/high", headers=owner.headers).status_code == 404

    high.get_by_label("First response target for high, in minutes").fill("30")
    high.get_by_label("Resolution target for high, in minutes").fill("240")
    high.get_by_label("Count high targets in business hours").check()
    high.get_by_role("button", name="Save the high policy").click()
    expect(high.get_by_role("button", name="Delete high")).to_be_visible()
    policy = client.get("/v1/sla-policies/high", headers=owner.headers).json()
    saved = (policy["first_response_s"], policy["resolution_s"], policy["business_hours"])
    assert saved == (1800, 14400, True)
    page.reload()
    expect(high.get_by_label("First response target for high, in minutes")).to_have_value("30")
    shot(page, "admin-sla")
    accessible(page, "admin-sla")

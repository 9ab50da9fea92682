"""The privacy page in a browser: a person's consents and history, erasure with each service's progress
and its certificate, the audit log."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import accessible, shot, sign_in
from tests.helpers import Tenant, unique, wait_until
from tests.profiles.helpers import ingest, wait_for_profile

pytestmark = pytest.mark.browser


def test_consent_erasure_and_audit(page: Page, console_url: str, client: httpx.Client, owner: Tenant) -> None:
    handle = unique("@privacy")
    ingest(client, owner, author={"handle": handle, "display_name": "Dana", "followers": 10})
    profile_id = wait_for_profile(client, owner, handle)["id"]

    sign_in(page, console_url, owner.email)
    page.goto(f"{console_url}#/privacy")
    page.get_by_label("Handle or profile id").fill(handle)
    page.get_by_role("button", name="Find").click()
    result = page.locator("li", has_text=handle)
    result.get_by_role("link", name="Dana").click()

    # Consent for marketing: recorded from the console, then visible as the state and in the history.
    marketing = page.locator("tr[data-purpose=marketing]")
    expect(marketing).to_contain_text("not given")
    page.get_by_role("button", name="Record consent for Marketing").click()
    expect(marketing).to_contain_text("granted")
    expect(page.get_by_role("button", name="Withdraw consent for Marketing")).to_be_visible()
    answer = client.get(f"/v1/profiles/{profile_id}/consents", headers=owner.headers).json()
    assert {p["purpose"]: p["status"] for p in answer["purposes"]}["marketing"] == "granted"
    history = answer["history"]["items"]
    assert [e["source"] for e in history if e["purpose"] == "marketing"] == ["agent"]
    shot(page, "privacy-person")
    accessible(page, "privacy-person")

    # The audit log: a read of the person's profile through the API is recorded, and filtered to them.
    assert client.get(f"/v1/profiles/{profile_id}", headers=owner.headers).status_code == 200
    audit = {"profile_id": profile_id}
    wait_until(lambda: client.get("/v1/privacy/audit", params=audit, headers=owner.headers).json()["items"])
    page.goto(f"{console_url}#/privacy/audit?profile_id={profile_id}")
    rows = page.locator("table tbody tr")
    expect(rows.first).to_contain_text(profile_id)
    shot(page, "privacy-audit")
    accessible(page, "privacy-audit")
    page.goto(f"{console_url}#/privacy/person/{profile_id}")

    # Erasure: confirmed by typing the id, then followed service by service to its certificate.
    page.get_by_role("button", name="Erase everywhere").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label(f"Type {profile_id} to confirm").fill("not-the-id")
    dialog.get_by_role("button", name="Erase").click()
    expect(dialog).to_be_visible()  # a wrong confirmation erases nothing
    assert client.get("/v1/privacy/erasures", headers=owner.headers).json()["items"] == []
    dialog.get_by_label(f"Type {profile_id} to confirm").fill(profile_id)
    dialog.get_by_role("button", name="Erase").click()
    expect(page.locator("#request-status")).to_have_text("completed", timeout=90_000)
    expect(page.get_by_role("heading", name="Certificate of erasure")).to_be_visible()
    erasures = client.get("/v1/privacy/erasures", headers=owner.headers).json()["items"]
    assert [e["profile_ids"] for e in erasures] == [[profile_id]]
    services = page.locator("table.progress tbody tr")
    expect(services).to_have_count(len(erasures[0]["services"]))
    shot(page, "privacy-erasure")
    accessible(page, "privacy-erasure")

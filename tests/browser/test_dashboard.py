"""The manager's dashboard in a real browser: its figures are the API's scorecard, each opens its rows,
the scorecard and the rows export as CSV, and the Arabic UI lays out right to left with Arabic numbers and
dates. The data is the metrics scenario (tests/metrics/test_scorecard_scenario.py), fed through events."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from rapport.stack import Stack
from tests.browser.conftest import accessible, new_context, shot, sign_in
from tests.helpers import Tenant, signup
from tests.metrics.test_scorecard_scenario import PERIOD, Scenario, complete, publish, settled

pytestmark = pytest.mark.browser

QUERY = urlencode(PERIOD)


def _value(card: dict[str, Any], metric: str) -> Any:
    """A figure's number in the scorecard, by the name the page gives it (`data-metric`)."""
    listening, care, customer = card["listening"], card["care"], card["customer"]
    if metric.startswith("clv:"):
        return customer["clv"]["by_stage"][metric[4:]]["mean"]
    return {
        "mentions": listening["mentions"]["total"],
        "net_sentiment": listening["net_sentiment"],
        "share_of_voice": listening["share_of_voice"]["share"],
        "alerts": listening["alerts"],
        "conversations": care["conversations"]["opened"],
        "backlog": care["conversations"]["backlog"],
        "first_response_p50": care["first_response"]["p50_minutes"],
        "first_response_p90": care["first_response"]["p90_minutes"],
        "first_response_pending": care["first_response"]["pending"],
        "resolution_p50": care["resolution"]["p50_minutes"],
        "resolution_p90": care["resolution"]["p90_minutes"],
        "resolution_pending": care["resolution"]["pending"],
        "sla_compliance": care["sla"]["compliance"],
        "reopen_rate": care["reopen"]["rate"],
        "csat": customer["csat"]["score"],
        "nps": customer["nps"]["score"],
        "social_conversion": customer["social_conversion"]["rate"],
        "retention": customer["retention"]["rate"],
        "clv": customer["clv"]["all"]["mean"],
    }[metric]


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> tuple[Tenant, dict[str, Any]]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        scenario = Scenario(signup(client))
        # Playwright's sync API keeps an event loop running on this thread: publish from another one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(publish, stack, scenario.events).result()
        card = settled(client, scenario.tenant, complete, "the scenario folded")
    return scenario.tenant, card


@pytest.fixture
def arabic_page(browser: Browser) -> Iterator[Page]:
    context = new_context(browser, locale="ar-EG", timezone="Asia/Dubai")
    page = context.new_page()
    yield page
    context.close()


def test_figures_are_the_scorecard_and_open_their_rows(
    page: Page, console_url: str, client: httpx.Client, seeded: tuple[Tenant, dict[str, Any]]
) -> None:
    owner, card = seeded
    sign_in(page, console_url, owner.email)
    page.goto(f"{console_url}#/dashboard?{QUERY}")
    figures = page.locator("[data-metric]")
    expect(page.locator('[data-metric="mentions"]')).to_have_text("10")
    names = figures.evaluate_all("els => els.map(e => e.dataset.metric)")
    assert len(names) == len(set(names)) >= 20
    for name in names:
        raw = page.locator(f'[data-metric="{name}"]').get_attribute("data-value")
        expected = _value(card, name)
        if expected is None:
            assert raw == "", name
        else:
            assert Decimal(raw or "nan") == Decimal(str(expected)), name
    # The text is the value, formatted in the user's locale (en-GB here).
    expect(page.locator('[data-metric="share_of_voice"]')).to_have_text("80%")
    expect(page.locator('[data-metric="sla_compliance"]')).to_have_text("50%")
    expect(page.locator('[data-metric="net_sentiment"]')).to_have_text("+33.3")
    expect(page.locator('[data-metric="first_response_p50"]')).to_have_text("30 min")
    expect(page.locator('[data-metric="first_response_p90"]')).to_have_text("2 hr")
    expect(page.locator('[data-metric="first_response_pending"]')).to_have_text("1")
    expect(page.locator('[data-metric="clv"]')).to_have_text("€175.00")
    expect(page.get_by_role("img", name="Net sentiment per hour")).to_be_visible()
    shot(page, "dashboard")
    accessible(page, "dashboard")

    # Down to the rows of the first response time, with the same period.
    page.locator('[data-metric="first_response_p50"]').click()
    expect(page).to_have_url(f"{console_url}#/dashboard/rows/first_response?{QUERY}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rows of first response time")
    rows = client.get(
        "/v1/metrics/rows", headers=owner.headers, params={**PERIOD, "metric": "first_response"}
    ).json()["items"]
    body = page.locator("table.metric-rows tbody tr")
    expect(body).to_have_count(len(rows))
    for row in rows:
        expect(page.get_by_role("row").filter(has_text=row["conversation_id"])).to_have_count(1)
    shot(page, "dashboard-rows")
    accessible(page, "dashboard-rows")


def test_csv_exports_download(
    page: Page,
    console_url: str,
    client: httpx.Client,
    seeded: tuple[Tenant, dict[str, Any]],
    tmp_path: Path,
) -> None:
    owner, card = seeded
    sign_in(page, console_url, owner.email)
    page.goto(f"{console_url}#/dashboard/rows/sla?{QUERY}")
    expect(page.locator("table.metric-rows tbody tr")).to_have_count(card["care"]["sla"]["conversations"])
    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename == "metric-sla.csv"
    target = tmp_path / "sla.csv"
    download.save_as(target)
    api = client.get(
        "/v1/metrics/rows", headers=owner.headers, params={**PERIOD, "metric": "sla", "format": "csv"}
    )
    assert target.read_bytes().decode() == api.text

    page.goto(f"{console_url}#/dashboard?{QUERY}")
    expect(page.locator('[data-metric="mentions"]')).to_have_text("10")
    with page.expect_download() as info:
        page.get_by_role("button", name="Export scorecard (CSV)").click()
    scorecard = tmp_path / "scorecard.csv"
    info.value.save_as(scorecard)
    # The API's own CSV of the scorecard, for the same filters.
    api_card = client.get("/v1/metrics/scorecard", headers=owner.headers, params={**PERIOD, "format": "csv"})
    assert scorecard.read_bytes().decode() == api_card.text
    values = dict(line.split(",", 1) for line in scorecard.read_text().splitlines()[1:])
    assert values["listening.mentions.total"] == "10"
    assert Decimal(values["care.sla.compliance"]) == Decimal(str(card["care"]["sla"]["compliance"]))


def test_arabic_dashboard_is_right_to_left_with_arabic_numbers_and_dates(
    arabic_page: Page, console_url: str, seeded: tuple[Tenant, dict[str, Any]]
) -> None:
    page = arabic_page
    owner, card = seeded
    # The browser asks for Arabic (the console starts in it): sign in in English, then pick Arabic.
    page.goto(console_url)
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.evaluate("localStorage.setItem('rapport.console.prefs', JSON.stringify({lang: 'en'}))")
    sign_in(page, console_url, owner.email)
    page.goto(f"{console_url}#/dashboard?{QUERY}")
    expect(page.locator('[data-metric="mentions"]')).to_have_text("10")
    page.locator("#language").select_option("ar")

    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_have_text("لوحة المعلومات")
    expect(page.get_by_role("heading", name="خدمة العملاء")).to_be_visible()
    # Numbers and dates as Intl formats them for Arabic, in the browser's time zone.
    ten = page.evaluate("new Intl.NumberFormat('ar').format(10)")
    eighty = page.evaluate(
        "new Intl.NumberFormat('ar', {style: 'percent', maximumFractionDigits: 1}).format(0.8)"
    )
    expect(page.locator('[data-metric="mentions"]')).to_have_text(ten)
    expect(page.locator('[data-metric="share_of_voice"]')).to_have_text(eighty)
    start = page.evaluate(
        "iso => new Intl.DateTimeFormat('ar', {dateStyle: 'medium', timeStyle: 'short',"
        " timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone}).format(new Date(iso))",
        card["from"],
    )
    # The date is Arabic's (Arabic script: the comma, the day period), not the English one.
    assert re.search("[\u0600-\u06ff]", start), start
    expect(page.locator(".period")).to_contain_text(start)
    expect(page.get_by_role("img", name="صافي المشاعر لكل ساعة")).to_be_visible()
    shot(page, "dashboard-arabic")
    accessible(page, "dashboard-arabic")

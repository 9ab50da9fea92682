"""Browser tests of the console: headless Chromium (the distribution's, `/usr/bin/chromium` or
`RAPPORT_CHROMIUM`) driven by Playwright, against the test stack's gateway, which serves the console.

They run with `make test-browser` (`pytest -m browser tests/browser`); `make test` leaves them out (`-m
"not browser"` in the project's pytest options) and checks the console's assets, routes and headers
without a browser. Every page a test visits is screenshotted into `RAPPORT_BROWSER_ARTIFACTS`
(`var/browser-artifacts` by default), and each page's accessibility is checked with axe-core.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from rapport import chromium
from rapport.stack import Stack
from tests.helpers import PASSWORD, Tenant, signup

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("RAPPORT_BROWSER_ARTIFACTS", ROOT / "var" / "browser-artifacts"))
FAILED = pytest.StashKey[bool]()
# axe-core impacts that fail a page.
FAILING = {"serious", "critical"}


def chromium_path() -> str:
    found = chromium.executable()
    if not found:
        pytest.fail(chromium.MISSING)
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Auto-waiting assertions wait up to 30 s (Playwright's default is 5 s): a login's password hash and
    # the scorecard's reads take seconds on a busy machine. Nothing is timed: they pass as soon as true.
    expect.set_options(timeout=30_000)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=chromium_path(), args=chromium.FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def console_url(stack: Stack) -> str:
    return f"{stack.console_url}/"


def new_context(
    browser: Browser, *, locale: str = "en-GB", timezone: str = "Europe/London"
) -> BrowserContext:
    """A fresh browser profile (no cookies) in a locale and time zone."""
    viewport = {"width": 1280, "height": 860}
    context = browser.new_context(locale=locale, timezone_id=timezone, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    return context


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep the call's report on the test item, so the page fixture knows whether the test failed."""
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh profile; a failed test leaves a screenshot of where it stopped."""
    context = new_context(browser)
    page = context.new_page()
    yield page
    if request.node.stash.get(FAILED, False):
        shot(page, f"FAILED-{request.node.name}")
    context.close()


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artefact."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessible(page: Page, name: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation (the report is an artefact)."""
    results = Axe().run(page)
    (ARTIFACTS / f"{name}.axe.txt").write_text(results.generate_report())
    bad: list[Any] = [v for v in results.response["violations"] if v.get("impact") in FAILING]
    assert not bad, "\n".join(f"{v['id']} ({v['impact']}): {v['help']}" for v in bad)


def sign_in(page: Page, console_url: str, email: str, password: str = PASSWORD) -> None:
    """Log in through the console's own form and wait for the shell's navigation."""
    page.goto(console_url)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


@pytest.fixture
def owner(accounts: httpx.Client) -> Tenant:
    """A fresh tenant whose owner signs in through the console."""
    return signup(accounts)

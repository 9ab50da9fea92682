"""The console's inbox in headless Chromium: first page with 10,000 conversations, and a new one live.

    .venv/bin/python bench/console.py                    # starts its own stack, 10,000 conversations
    .venv/bin/python bench/console.py --conversations 2000 --runs 3

The bench starts the stack (SQLite, embedded NATS and Redis), signs a tenant up, posts a few complaints
naming the brand so engagement opens real conversations, then copies them directly in engagement's
database until the tenant has `--conversations` (seeded, not through the pipeline). In the distribution's
Chromium (Playwright), after a login through the console's form, it measures:

- **first page, cold**: a full page load of `/console/#/inbox` (the session restored from the refresh
  cookie, `/v1/me`, the first page of conversations) until the first conversation row is in the DOM,
  from the browser's navigation start (`performance.now()` in a MutationObserver installed before the
  page's scripts);
- **first page, in the app**: from the click on the Inbox link (coming from the dashboard) to the first row;
- **live**: with the inbox open, a complaint is posted through the gateway; the time from the
  conversation's `opened` event (its `created_at` on the server) — and from the post — until its row is in
  the DOM.
It prints p50 / max over `--runs` of each.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.reads import _count, _db_url, _top_up  # noqa: E402 (after the path is set)

PASSWORD = "correct horse battery staple"  # noqa: S105 (a throw-away tenant of a bench)
BRAND = "Kettlr"
# Installed before the console's scripts: when each conversation row appears (ms since navigation start,
# and the wall clock), by id.
OBSERVER = """
window.__rows = {};
new MutationObserver(() => {
  for (const li of document.querySelectorAll("li[data-id]")) {
    if (!(li.dataset.id in window.__rows)) window.__rows[li.dataset.id] = [performance.now(), Date.now()];
  }
}).observe(document, {childList: true, subtree: true});
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def complaint(i: int) -> dict[str, object]:
    return {
        "platform": "x",
        "external_id": f"console-{uuid.uuid4().hex}",
        "text": f"@{BRAND} my kettle stopped working after two days and nobody answers ({i}). Terrible!",
        "created_at": datetime.now(UTC).isoformat(),
        "url": f"https://example.com/status/{i}",
        "author": {"handle": f"@buyer{uuid.uuid4().hex[:8]}", "followers": 50},
    }


def setup(gateway: str, identity: str) -> tuple[str, dict[str, str]]:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    signup = httpx.post(
        f"{identity}/v1/tenants",
        json={"name": "Bench console", "admin_email": email, "admin_password": PASSWORD},
        timeout=30,
    )
    signup.raise_for_status()
    token = httpx.post(
        f"{identity}/v1/auth/token", json={"email": email, "password": PASSWORD}, timeout=30
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    httpx.post(
        f"{gateway}/v1/listening/queries",
        json={"name": BRAND, "kind": "brand", "expression": BRAND.lower()},
        headers=auth,
        timeout=30,
    ).raise_for_status()
    return email, auth


def wait_for_conversations(gateway: str, auth: dict[str, str], n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = httpx.get(f"{gateway}/v1/conversations", params={"limit": n}, headers=auth, timeout=30).json()
        if len(page["items"]) >= n:
            return
        time.sleep(0.5)
    raise RuntimeError("engagement did not open the conversations in time")


def opened_after(gateway: str, auth: dict[str, str], after_ms: float) -> dict[str, str]:
    """The newest conversation once it was opened after `after_ms` (wall clock, ms)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = httpx.get(f"{gateway}/v1/conversations", params={"limit": 1}, headers=auth, timeout=30)
        items = page.json()["items"]
        if items and datetime.fromisoformat(items[0]["created_at"]).timestamp() * 1000 > after_ms - 1:
            newest: dict[str, str] = items[0]
            return newest
        time.sleep(0.05)
    raise RuntimeError("no conversation opened for the live post")


def summary(name: str, values: list[float]) -> str:
    return f"| {name} | {statistics.median(values):.0f} | {max(values):.0f} | {len(values)} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=10_000, help="the tenant's conversations")
    parser.add_argument("--runs", type=int, default=5, help="measurements of each kind (%(default)s)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from rapport.chromium import FLAGS, MISSING, executable
    from rapport.stack import Stack

    chromium = executable()
    if not chromium:
        log(MISSING)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stack = Stack(
        var_dir=Path(tempfile.mkdtemp(prefix="rapport-console-")),
        env={"RAPPORT_RATE_LIMIT_PER_WINDOW": "10000000", "RAPPORT_LOGIN_RATE_LIMIT_PER_WINDOW": "100000"},
        status=lambda name, msg: log(f"  {name:<11} {msg}"),
    )
    stack.start_all()
    cold: list[float] = []
    warm: list[float] = []
    from_event: list[float] = []
    from_post: list[float] = []
    try:
        gateway = stack.gateway_url
        email, auth = setup(gateway, stack.url("identity"))
        for i in range(5):
            answer = httpx.post(f"{gateway}/v1/mentions", json=complaint(i), headers=auth, timeout=30)
            answer.raise_for_status()
        wait_for_conversations(gateway, auth, 5)
        tenant_id = httpx.get(f"{gateway}/v1/me", headers=auth, timeout=30).json()["tenant_id"]
        from services.engagement.models import Conversation

        url = _db_url(stack, {}, "engagement")
        log(f"seeding {args.conversations} conversations directly into engagement's database")
        asyncio.run(_top_up(url, Conversation, tenant_id, args.conversations, {}))
        log(f"  the tenant has {asyncio.run(_count(url, 'conversation', tenant_id))} conversations")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            context.add_init_script(OBSERVER)
            page = context.new_page()
            page.goto(f"{gateway}/console/")
            page.get_by_label("E-mail").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("li[data-id]")
            for _ in range(args.runs):
                page.goto(f"{gateway}/console/#/inbox")
                page.reload()
                page.wait_for_selector("li[data-id]")
                cold.append(page.evaluate("Math.min(...Object.values(window.__rows).map(r => r[0]))"))
                page.goto(f"{gateway}/console/#/dashboard")
                page.wait_for_selector("[data-metric]", timeout=30_000)
                page.evaluate("window.__rows = {}; window.__clicked = performance.now()")
                page.get_by_role("link", name="Inbox").click()
                page.wait_for_selector("li[data-id]")
                warm.append(
                    page.evaluate(
                        "Math.min(...Object.values(window.__rows).map(r => r[0])) - window.__clicked"
                    )
                )
            page.goto(f"{gateway}/console/#/inbox")
            page.wait_for_selector("li[data-id]")
            for i in range(args.runs):
                posted = time.time() * 1000
                httpx.post(
                    f"{gateway}/v1/mentions", json=complaint(100 + i), headers=auth, timeout=30
                ).raise_for_status()
                newest = opened_after(gateway, auth, posted)
                page.wait_for_selector(f"li[data-id='{newest['id']}']", timeout=30_000)
                seen = page.evaluate(f"window.__rows[{newest['id']!r}][1]")
                opened = datetime.fromisoformat(newest["created_at"]).timestamp() * 1000
                from_event.append(seen - opened)
                from_post.append(seen - posted)
            browser.close()
    finally:
        stack.stop_all()

    print(f"The inbox with {args.conversations:,} conversations in the tenant (ms; headless Chromium)")
    print("| measure | p50 | max | runs |")
    print("|---|---|---|---|")
    print(summary("first page, cold load (session restored from the cookie)", cold))
    print(summary("first page, from the Inbox link", warm))
    print(summary("new conversation: its opening → its row", from_event))
    print(summary("new conversation: the post → its row", from_post))
    return 0


if __name__ == "__main__":
    sys.exit(main())

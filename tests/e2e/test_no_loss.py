"""A service that crashes mid-stream loses nothing and duplicates nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import add_user, mention_payload, signup, wait_until

N = 500
TEXTS = [
    "My order arrived broken and support ignores me. Terrible!",
    "How do I change the delivery address of my order?",
    "Love this brand, the new jacket is great.",
    "Just saw the new store opening downtown.",
]


def count_all(client: httpx.Client, path: str, headers: dict[str, str]) -> int:
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = client.get(path, params=params, headers=headers).json()
        total += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return total


@pytest.mark.slow
def test_profiles_crash_during_ingest_loses_and_duplicates_nothing(stack: Stack) -> None:
    client = httpx.Client(base_url=stack.gateway_url, timeout=30)
    tenant = signup(client)
    add_user(client, tenant, "agent")
    stack.stop("profiles", kill=True)
    try:
        bodies = [
            mention_payload(text=TEXTS[i % len(TEXTS)], author={"handle": f"@crash_{i}"}) for i in range(N)
        ]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda b: (
                        httpx.post(
                            f"{stack.gateway_url}/v1/mentions", json=b, headers=tenant.headers, timeout=30
                        ).status_code
                    ),
                    bodies,
                )
            )
        assert statuses.count(202) == N
        stack.start("profiles")
        # Crash it again while it is catching up on the backlog, then let it finish.
        wait_until(
            lambda: client.get("/v1/profiles", headers=tenant.headers, params={"limit": 60}).json()[
                "next_cursor"
            ],
            timeout=60,
            what="profiles to start catching up",
        )
        stack.stop("profiles", kill=True)
        stack.start("profiles")
    finally:
        if "profiles" in stack.dead() or not stack.procs["profiles"].alive():
            stack.start("profiles")

    def card() -> dict[str, Any]:
        body: dict[str, Any] = client.get("/v1/metrics/scorecard", headers=tenant.headers).json()
        return body

    final = wait_until(
        lambda: (
            (c := card())["customer"]["profiles_first_seen"] >= N
            and c["listening"]["mentions"]["total"] >= N
            and c
        ),
        timeout=120,
        what="every mention to reach profiles",
    )
    intents = final["listening"]["mentions"]["by_intent"]
    actionable = intents.get("complaint", 0) + intents.get("question", 0)
    assert final["listening"]["mentions"]["total"] == N
    assert actionable > 0
    wait_until(
        lambda: card()["care"]["conversations"]["opened"] >= actionable,
        timeout=60,
        what="every actionable mention to open a conversation",
    )
    # Nothing twice: counts stay exact once the backlog has drained.
    final = card()
    assert final["customer"]["profiles_first_seen"] == N
    assert final["care"]["conversations"]["opened"] == actionable
    assert count_all(client, "/v1/profiles", tenant.headers) == N
    assert count_all(client, "/v1/conversations", tenant.headers) == actionable
    client.close()

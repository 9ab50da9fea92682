"""listening's retention: a tenant's privacy policy sets a period (`privacy.policy.changed`), and the
retention job deletes that tenant's mentions older than it, in batches, logging counts only; recent
mentions, other tenants' and tenants without a period keep theirs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from rapport.stack import Stack
from shared.events.contracts import PrivacyPolicyChanged
from shared.events.envelope import new_event
from tests.helpers import Tenant, publish_event, signup, unique, wait_until
from tests.listening.helpers import analysed, list_mentions, post_mention

# Three rows per transaction, so a sweep of seven old posts takes several batches.
RETENTION_ENV = {"RAPPORT_RETENTION_BATCH": "3", "RAPPORT_RETENTION_INTERVAL_S": "1"}


@pytest.fixture(scope="module")
def retention_stack(stack: Stack) -> Iterator[Stack]:
    """The stack with listening restarted under RETENTION_ENV (and restored afterwards)."""
    proc = stack.procs["listening"]
    saved = dict(proc.env)
    stack.stop("listening")
    proc.env.update(RETENTION_ENV)
    stack.start("listening")
    try:
        yield stack
    finally:
        stack.stop("listening")
        proc.env = saved
        stack.start("listening")


def seed(client: httpx.Client, tenant: Tenant, *, days_ago: float, text: str) -> str:
    """A post of `days_ago` days ago, analysed (so nothing is in flight when the sweep runs); its id."""
    created_at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    _, mention_id = post_mention(client, tenant, text=text, created_at=created_at)
    analysed(client, tenant, mention_id)
    return mention_id


def mention_ids(client: httpx.Client, tenant: Tenant) -> set[str]:
    return {m["id"] for m in list_mentions(client, tenant, limit=200)["items"]}


def set_policy(
    stack: Stack, tenant: Tenant, retention_days: int | None, *, changed_at: datetime | None = None
) -> None:
    """profiles' `privacy.policy.changed` for the tenant, as profiles publishes it."""
    policy = PrivacyPolicyChanged(
        bases={"marketing": "consent"},
        retention_days=retention_days,
        changed_at=changed_at or datetime.now(UTC),
    )
    publish_event(stack.nats_url, new_event(policy, source="tests", tenant_id=tenant.tenant_id))


def swept(stack: Stack, tenant: Tenant) -> list[dict[str, Any]]:
    """listening's log lines about the retention sweeps of the tenant."""
    lines = stack.procs["listening"].log_path.read_text(errors="replace").splitlines()
    found = []
    for line in lines:
        if tenant.tenant_id in line and '"retention.' in line:
            found.append(json.loads(line))
    return found


def test_old_mentions_go_in_batches_recent_ones_and_other_tenants_stay(
    client: httpx.Client, retention_stack: Stack
) -> None:
    tenant, other = signup(client), signup(client)
    secret = unique("Zorblat")  # a word only these posts carry: the log must never show it
    old = {seed(client, tenant, days_ago=40 + i, text=f"{secret} old post {i}") for i in range(7)}
    recent = {
        seed(client, tenant, days_ago=5, text=f"{secret} recent post"),
        seed(client, tenant, days_ago=0, text=f"{secret} today"),
    }
    others = {seed(client, other, days_ago=400, text=f"{secret} other tenant's {i}") for i in range(3)}
    assert mention_ids(client, tenant) == old | recent

    set_policy(retention_stack, tenant, 30)

    wait_until(lambda: mention_ids(client, tenant) == recent, timeout=30, what="the old mentions to go")
    for mention_id in old:
        response = client.get(f"/v1/mentions/{mention_id}", headers=tenant.headers)
        assert response.status_code == 404, response.text
    assert mention_ids(client, other) == others

    # Progress is logged per batch (counts only): 3 + 3 + 1, then the sweep's total.
    log = wait_until(
        lambda: (
            (lines := swept(retention_stack, tenant))
            and any(e["event"] == "retention.swept" for e in lines)
            and lines
        ),
        what="the sweep's log line",
    )
    batches = [e["deleted"] for e in log if e["event"] == "retention.batch" and e["kind"] == "mentions"]
    assert batches == [3, 3, 1]
    [done] = [e for e in log if e["event"] == "retention.swept"]
    assert (done["mentions"], done["retention_days"]) == (7, 30)
    assert not any(secret in json.dumps(e) for e in log)


def test_no_period_keeps_everything_and_a_late_older_policy_changes_nothing(
    client: httpx.Client, retention_stack: Stack
) -> None:
    kept_forever, late, marker = signup(client), signup(client), signup(client)
    forever = {seed(client, kept_forever, days_ago=900, text="A very old post") for _ in range(2)}
    stays = {seed(client, late, days_ago=90, text="A post from last quarter") for _ in range(2)}
    gone = seed(client, marker, days_ago=90, text="A post from last quarter")
    now = datetime.now(UTC)

    set_policy(retention_stack, kept_forever, None)
    # The tenant's current policy keeps everything; a period set earlier arrives late and is ignored.
    set_policy(retention_stack, late, None, changed_at=now)
    set_policy(retention_stack, late, 30, changed_at=now - timedelta(hours=1))
    # Published after the others on the same stream: once it is swept, they were applied.
    set_policy(retention_stack, marker, 30)

    wait_until(lambda: gone not in mention_ids(client, marker), timeout=30, what="the marker's sweep")
    assert mention_ids(client, kept_forever) == forever
    assert mention_ids(client, late) == stays

"""SLA policies, the SLA clock and routing rules through the gateway and the real stack: warnings at 80 %
and breaches at 100 % fire once (across a restart and across two engagement replicas), pending pauses the
clock, rules widen, narrow and shape what opens, the dry run explains, and every tenant sees only its own."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from rapport.stack import Proc, Stack, free_port
from tests.engagement.test_conversations import (
    COMPLAINT,
    PRAISE,
    author,
    conversation_of,
    get_conversation,
    list_conversations,
    post_mention,
)
from tests.engagement.test_inbox import (
    BRAND_COMPLAINT,
    COMPETITOR_COMPLAINT,
    patched,
    with_queries,
)
from tests.helpers import (
    Tenant,
    User,
    add_user,
    assert_problem,
    collect_events,
    find_event,
    signup,
    wait_until,
)


def put_policy(client: httpx.Client, user: User, priority: str, **body: Any) -> httpx.Response:
    return client.put(f"/v1/sla-policies/{priority}", headers=user.headers, json=body)


def add_rule(client: httpx.Client, user: User, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/routing/rules", headers=user.headers, json=body)
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    return rule


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def sla_events(stack: Stack, conversation_id: str, seconds: float = 1.5) -> list[tuple[str, str]]:
    """The SLA events of a conversation on the bus (read for `seconds`), as (type, target), sorted."""
    events = collect_events(
        stack.nats_url,
        "engagement.sla.>",
        lambda event: event["data"]["conversation_id"] == conversation_id,
        timeout=seconds,
    )
    return sorted((event["type"], event["data"]["target"]) for event in events)


def wait_past(moment: datetime, margin: float = 0.5) -> None:
    """Let the wall clock pass `moment` (plus a margin): what the SLA clock measures."""
    wait_until(
        lambda: time.time() > moment.timestamp() + margin, timeout=60, what=f"the clock to pass {moment}"
    )


# --- policies -----------------------------------------------------------------------------------------


def test_sla_policies_crud_auth_and_tenants(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = put_policy(
        client, tenant, "urgent", first_response_s=900, resolution_s=14400, business_hours=True
    )
    assert created.status_code == 201, created.text
    assert created.json()["business_hours"] is True
    replaced = put_policy(client, tenant, "urgent", first_response_s=600)
    assert replaced.status_code == 200
    assert (replaced.json()["first_response_s"], replaced.json()["resolution_s"]) == (600, None)
    assert put_policy(client, tenant, "low", resolution_s=86400).status_code == 201

    listed = client.get("/v1/sla-policies", headers=tenant.headers).json()["items"]
    assert [policy["priority"] for policy in listed] == ["urgent", "low"]
    assert client.get("/v1/sla-policies/urgent", headers=tenant.headers).json()["first_response_s"] == 600

    assert_problem(put_policy(client, tenant, "normal"), 422)  # no target at all
    assert_problem(put_policy(client, tenant, "normal", first_response_s=-1), 422)
    assert_problem(put_policy(client, tenant, "someday", first_response_s=10), 422)
    agent = add_user(client, tenant, "agent")
    assert_problem(put_policy(client, agent, "normal", first_response_s=10), 403)
    assert client.get("/v1/sla-policies", headers=agent.headers).status_code == 200
    assert_problem(client.get("/v1/sla-policies"), 401)

    # Another tenant sees none of them.
    assert client.get("/v1/sla-policies", headers=other_tenant.headers).json()["items"] == []
    assert_problem(client.get("/v1/sla-policies/urgent", headers=other_tenant.headers), 404)
    assert_problem(client.delete("/v1/sla-policies/urgent", headers=other_tenant.headers), 404)

    assert client.delete("/v1/sla-policies/urgent", headers=tenant.headers).status_code == 204
    assert_problem(client.get("/v1/sla-policies/urgent", headers=tenant.headers), 404)


# --- the clock ----------------------------------------------------------------------------------------


def test_warning_at_80_percent_and_breach_at_100_fire_once(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    assert put_policy(client, tenant, "high", first_response_s=2, resolution_s=4).status_code == 201
    conversation = conversation_of(client, tenant, post_mention(client, tenant, COMPLAINT, author=author()))
    assert conversation["priority"] == "high"
    sla = conversation["sla"]
    opened = at(conversation["opened_at"])
    assert (at(sla["first_response"]["due_at"]) - opened).total_seconds() == pytest.approx(2, abs=0.01)
    assert (at(sla["resolution"]["due_at"]) - opened).total_seconds() == pytest.approx(4, abs=0.01)
    # The opening announces the deadlines (metrics counts a target met before any warning from them).
    announced = find_event(
        stack.nats_url,
        "engagement.conversation.opened",
        lambda e: e["data"]["conversation_id"] == conversation["id"],
    )["data"]
    assert at(announced["first_response_due_at"]) == at(sla["first_response"]["due_at"])
    assert at(announced["resolution_due_at"]) == at(sla["resolution"]["due_at"])

    breached = find_event(
        stack.nats_url,
        "engagement.sla.breached",
        lambda e: e["data"]["conversation_id"] == conversation["id"] and e["data"]["target"] == "resolution",
    )
    assert breached["data"]["priority"] == "high"
    wait_past(at(sla["resolution"]["due_at"]), margin=1.0)  # a few more ticks of the clock: nothing new
    assert sla_events(stack, conversation["id"]) == [
        ("engagement.sla.breached", "first_response"),
        ("engagement.sla.breached", "resolution"),
        ("engagement.sla.warning", "first_response"),
        ("engagement.sla.warning", "resolution"),
    ]
    shown = get_conversation(client, tenant, conversation["id"])["sla"]
    assert (shown["first_response"]["state"], shown["resolution"]["state"]) == ("breached", "breached")
    assert [c["id"] for c in list_conversations(client, tenant, sla="breached")] == [conversation["id"]]
    assert list_conversations(client, tenant, sla="warning") == []
    assert_problem(client.get("/v1/conversations", headers=tenant.headers, params={"sla": "late"}), 422)


def test_pending_pauses_the_clock_and_open_resumes_it(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    assert put_policy(client, tenant, "high", first_response_s=3).status_code == 201
    conversation = conversation_of(client, tenant, post_mention(client, tenant, COMPLAINT, author=author()))
    due = at(conversation["sla"]["first_response"]["due_at"])
    pending = patched(client, agent, conversation["id"], {"status": "pending"})
    assert pending["sla"]["paused"] is True

    wait_past(due, margin=1.0)
    held = get_conversation(client, tenant, conversation["id"])["sla"]
    assert held["first_response"]["state"] in ("ok", "warning")  # the warning may have come before the pause
    assert ("engagement.sla.breached", "first_response") not in sla_events(stack, conversation["id"], 0.5)

    reopened = patched(client, agent, conversation["id"], {"status": "open"})
    assert reopened["sla"]["paused"] is False
    pushed = at(reopened["sla"]["first_response"]["due_at"])
    assert pushed > due
    find_event(
        stack.nats_url,
        "engagement.sla.breached",
        lambda e: e["data"]["conversation_id"] == conversation["id"],
    )
    assert time.time() >= pushed.timestamp() - 0.01  # it breached at the pushed deadline, not the first


def test_a_breach_fires_after_engagement_restarts(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    assert put_policy(client, tenant, "high", first_response_s=2).status_code == 201
    conversation = conversation_of(client, tenant, post_mention(client, tenant, COMPLAINT, author=author()))
    due = at(conversation["sla"]["first_response"]["due_at"])
    stack.stop("engagement")
    try:
        wait_past(due, margin=0.5)  # the deadline passes while no engagement runs
    finally:
        stack.start("engagement")
    find_event(
        stack.nats_url,
        "engagement.sla.breached",
        lambda e: e["data"]["conversation_id"] == conversation["id"],
    )
    assert sla_events(stack, conversation["id"]) == [
        ("engagement.sla.breached", "first_response"),
        ("engagement.sla.warning", "first_response"),
    ]


@pytest.fixture
def engagement_replica(stack: Stack, tmp_path: Any) -> Iterator[Proc]:
    """A second engagement process on the stack's database and NATS."""
    port = free_port()
    proc = Proc(
        "engagement-replica",
        [sys.executable, "-m", "services.engagement", "--port", str(port)],
        port,
        tmp_path / "engagement-replica.log",
        env=dict(stack.procs["engagement"].env),
    )
    proc.spawn()

    def ready() -> bool:
        try:
            return httpx.get(f"{proc.url}/readyz", timeout=2).status_code == 200 or not proc.alive()
        except httpx.HTTPError:
            return not proc.alive()

    wait_until(ready, timeout=60, what="the engagement replica ready")
    assert proc.alive(), proc.log_path.read_text(errors="replace")
    yield proc
    proc.stop()


def test_two_replicas_fire_each_breach_once(
    client: httpx.Client, stack: Stack, engagement_replica: Proc
) -> None:
    tenant = signup(client)
    assert put_policy(client, tenant, "high", first_response_s=1.5).status_code == 201
    ids = [post_mention(client, tenant, COMPLAINT, author=author()) for _ in range(6)]
    conversations = [conversation_of(client, tenant, mention_id) for mention_id in ids]
    wanted = {c["id"] for c in conversations}

    def all_breached() -> bool:
        items = list_conversations(client, tenant, sla="breached", limit=50)
        return {c["id"] for c in items} == wanted

    wait_until(all_breached, timeout=30, what="every conversation breached")
    events = collect_events(
        stack.nats_url, "engagement.sla.>", lambda e: e["data"]["conversation_id"] in wanted, timeout=2.0
    )
    fired = sorted((e["data"]["conversation_id"], e["type"]) for e in events)
    expected = sorted(
        (cid, kind) for cid in wanted for kind in ("engagement.sla.breached", "engagement.sla.warning")
    )
    assert fired == expected
    assert engagement_replica.alive()


# --- routing rules ------------------------------------------------------------------------------------


def test_a_competitor_only_complaint_opens_nothing_unless_a_rule_opens_it(client: httpx.Client) -> None:
    default = with_queries(client)
    ignored = post_mention(client, default, COMPETITOR_COMPLAINT, author=author())
    marker = post_mention(client, default, BRAND_COMPLAINT, author=author())
    brand = conversation_of(client, default, marker)
    assert [c["id"] for c in list_conversations(client, default)] == [brand["id"]]
    assert ignored not in {m["mention_id"] for m in brand["messages"]}

    tenant = with_queries(client)
    add_rule(
        client,
        tenant,
        name="win them over",
        conditions={"only_query_kinds": ["competitor"], "intents": ["complaint"]},
        actions={
            "open": True,
            "priority": "low",
            "team_id": "team-sales",
            "labels": ["competitor", "win-back"],
        },
    )
    opened = conversation_of(
        client, tenant, post_mention(client, tenant, COMPETITOR_COMPLAINT, author=author())
    )
    assert (opened["priority"], opened["team_id"], opened["labels"]) == (
        "low",
        "team-sales",
        ["competitor", "win-back"],
    )
    assert opened["priority_reason"] == "routing rule win them over"


def test_an_ignore_rule_keeps_posts_out_of_the_inbox(client: httpx.Client) -> None:
    tenant = signup(client)
    add_rule(
        client, tenant, name="no giveaways", conditions={"keywords": ["giveaway"]}, actions={"open": False}
    )
    ignored = post_mention(client, tenant, f"GIVEAWAY time! {COMPLAINT}", author=author())
    marker = post_mention(client, tenant, COMPLAINT, author=author())
    kept = conversation_of(client, tenant, marker)
    assert [c["id"] for c in list_conversations(client, tenant)] == [kept["id"]]
    assert ignored not in {m["mention_id"] for m in kept["messages"]}


def test_rules_crud_order_problems_and_tenants(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = add_rule(
        client, tenant, name="first", conditions={"languages": ["ar"]}, actions={"team_id": "t-ar"}
    )
    second = add_rule(client, tenant, name="second", position=0, conditions={}, actions={"labels": ["all"]})
    listed = client.get("/v1/routing/rules", headers=tenant.headers).json()["items"]
    assert [rule["name"] for rule in listed] == ["second", "first"]

    changed = client.patch(
        f"/v1/routing/rules/{first['id']}", headers=tenant.headers, json={"position": 0, "enabled": False}
    )
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert client.get(f"/v1/routing/rules/{first['id']}", headers=tenant.headers).json()["position"] == 0

    bad = client.post(
        "/v1/routing/rules", headers=tenant.headers, json={"name": "x", "actions": {"escalate": True}}
    )
    assert "do not apply" in assert_problem(bad, 422)["errors"][0]["msg"]
    assert_problem(
        client.post(
            "/v1/routing/rules", headers=tenant.headers, json={"name": "x", "actions": {"open": "maybe"}}
        ),
        422,
    )
    assert_problem(
        client.patch(
            f"/v1/routing/rules/{second['id']}", headers=tenant.headers, json={"actions": {"requeue": True}}
        ),
        422,
    )
    agent = add_user(client, tenant, "agent")
    assert_problem(
        client.post("/v1/routing/rules", headers=agent.headers, json={"name": "x", "actions": {}}), 403
    )
    assert_problem(client.get("/v1/routing/rules"), 401)

    assert client.get("/v1/routing/rules", headers=other_tenant.headers).json()["items"] == []
    assert_problem(client.get(f"/v1/routing/rules/{first['id']}", headers=other_tenant.headers), 404)
    assert_problem(
        client.patch(
            f"/v1/routing/rules/{first['id']}", headers=other_tenant.headers, json={"enabled": True}
        ),
        404,
    )
    assert_problem(client.delete(f"/v1/routing/rules/{first['id']}", headers=other_tenant.headers), 404)

    assert client.delete(f"/v1/routing/rules/{first['id']}", headers=tenant.headers).status_code == 204
    assert_problem(client.get(f"/v1/routing/rules/{first['id']}", headers=tenant.headers), 404)


def test_the_dry_run_says_which_rule_hits_and_why(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    add_rule(client, tenant, name="arabic", conditions={"languages": ["ar"]}, actions={"team_id": "team-ar"})
    add_rule(
        client,
        tenant,
        name="vip",
        conditions={"min_influence": 70, "lifecycle_stages": ["customer"]},
        actions={"priority": "urgent", "labels": ["vip"]},
    )
    sample = {
        "text": "My order never arrived",
        "intent": "complaint",
        "sentiment": "negative",
        "language": "en",
        "profile": {"lifecycle_stage": "customer", "influence": 82},
    }
    result = client.post("/v1/routing/dry-run", headers=tenant.headers, json=sample)
    assert result.status_code == 200, result.text
    body = result.json()
    assert (body["rule_name"], body["default"], body["decision"]["open"]) == ("vip", False, True)
    assert (body["decision"]["priority"], body["decision"]["labels"]) == ("urgent", ["vip"])
    arabic, vip = body["rules"]
    assert (arabic["matched"], [c["passed"] for c in arabic["checks"]]) == (False, [False])
    assert vip["matched"] and all(c["passed"] for c in vip["checks"])

    # Another tenant's rules are not this one's: the default decides.
    other = client.post("/v1/routing/dry-run", headers=other_tenant.headers, json=sample).json()
    assert (other["default"], other["rules"], other["decision"]["open"]) == (True, [], True)
    praise = client.post(
        "/v1/routing/dry-run", headers=other_tenant.headers, json={"text": PRAISE, "intent": "praise"}
    ).json()
    assert praise["decision"]["open"] is False
    assert_problem(client.post("/v1/routing/dry-run", headers=tenant.headers, json={"intent": "rant"}), 422)

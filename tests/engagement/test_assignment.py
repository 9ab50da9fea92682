"""Assignment: team by skills, the least-loaded online agent, capacity and the queue, presence (explicit,
lapsed heartbeats, deactivation), manual moves and merging; plus the pure ranking functions."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from rapport.stack import Stack
from services.engagement.logic.assignment import Candidate, TeamSkills, pick_team, rank
from tests.engagement.test_conversations import (
    COMPLAINT,
    author,
    conversation_of,
    get_conversation,
    list_conversations,
    post_mention,
)
from tests.engagement.test_teams import add_member, create_team
from tests.helpers import (
    Tenant,
    User,
    add_user,
    assert_problem,
    find_event,
    online_agent,
    replica,
    set_presence,
    signup,
    wait_for_agents,
    wait_until,
)

ARABIC_COMPLAINT = "طلبي وصل مكسور والخدمة سيئة جدا، لا أحد يرد! أسوأ تجربة"
INFLUENTIAL = {"followers": 5_000_000, "verified": True}  # influence 77


def assignee_of(client: httpx.Client, user: User, conversation_id: str) -> str | None:
    assignee: str | None = get_conversation(client, user, conversation_id)["assignee_id"]
    return assignee


def wait_assignee(
    client: httpx.Client, user: User, conversation_id: str, expected: str | None
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        detail = get_conversation(client, user, conversation_id)
        return detail if detail["assignee_id"] == expected else None

    return wait_until(check, what=f"conversation {conversation_id} assigned to {expected}")


def open_conversation(
    client: httpx.Client, tenant: Tenant, text: str = COMPLAINT, **who: Any
) -> dict[str, Any]:
    """A new customer's post and the conversation it opened."""
    return conversation_of(client, tenant, post_mention(client, tenant, text, author={**author(), **who}))


def assign(client: httpx.Client, user: User, conversation_id: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"/v1/conversations/{conversation_id}/assign", headers=user.headers, json=body)


# --- routing to a team and an agent ---------------------------------------------------------------------


def test_an_arabic_complaint_of_an_influential_customer_goes_urgent_to_the_least_loaded_online_arabic_agent(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    arabic = create_team(client, tenant, name="Arabic", languages=["ar"])
    english = create_team(client, tenant, name="English", languages=["en"])
    busy, free = online_agent(client, tenant), online_agent(client, tenant)
    english_speaker = online_agent(client, tenant)
    away = add_user(client, tenant, "agent")
    set_presence(client, away, "away")
    for agent in (busy, free, away):
        add_member(client, tenant, arabic["id"], agent)
    add_member(client, tenant, english["id"], english_speaker)
    # One Arabic conversation already with one of the two online Arabic speakers.
    first = open_conversation(client, tenant, ARABIC_COMPLAINT)
    assert first["team_id"] == arabic["id"]
    if first["assignee_id"] != busy.user_id:
        busy, free = free, busy
    assert first["assignee_id"] == busy.user_id

    conversation = open_conversation(client, tenant, ARABIC_COMPLAINT, **INFLUENTIAL)

    assert conversation["language"] == "ar"
    assert conversation["priority"] == "urgent"
    assert conversation["priority_reason"] == "negative complaint; influential author (influence 77)"
    assert conversation["team_id"] == arabic["id"]
    assert conversation["assignee_id"] == free.user_id
    reason = conversation["assignment_reason"]
    assert reason["team"] == {"id": arabic["id"], "name": "Arabic", "chosen_by": "skills", "why": "speaks ar"}
    assert reason["winner"] == free.user_id and reason["queued"] is False
    # Only the team's online members were candidates, the least loaded first; the away member was not.
    candidates = {c["agent_id"]: c for c in reason["candidates"]}
    assert list(candidates) == [free.user_id, busy.user_id]
    assert candidates[free.user_id]["load"] == 0 and candidates[busy.user_id]["load"] == 1
    assert all(c["language_match"] and c["capacity"] == 5 for c in candidates.values())
    event = find_event(
        stack.nats_url,
        "engagement.conversation.assigned",
        lambda e: e["data"]["conversation_id"] == conversation["id"],
    )
    assert event["data"]["assignee_id"] == free.user_id
    assert event["data"]["team_id"] == arabic["id"] and event["data"]["reason"] == "skills"
    # An English post goes to the English team.
    english_conversation = open_conversation(client, tenant)
    assert english_conversation["team_id"] == english["id"]
    assert english_conversation["assignee_id"] == english_speaker.user_id
    assert [c["id"] for c in list_conversations(client, tenant, team_id=english["id"])] == [
        english_conversation["id"]
    ]


# --- capacity and the queue -----------------------------------------------------------------------------


def test_at_capacity_a_conversation_waits_and_is_assigned_when_a_slot_frees(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = online_agent(client, tenant)
    response = client.patch(f"/v1/agents/{agent.user_id}", headers=tenant.headers, json={"capacity": 1})
    assert response.status_code == 200, response.text

    first = open_conversation(client, tenant)
    assert first["assignee_id"] == agent.user_id
    waiting = open_conversation(client, tenant)
    later = open_conversation(client, tenant)

    assert waiting["assignee_id"] is None and later["assignee_id"] is None
    assert waiting["assignment_reason"]["queued"] is True
    assert waiting["assignment_reason"]["at_capacity"] == 1
    queue = list_conversations(client, tenant, queued="true")
    assert {c["id"] for c in queue} == {waiting["id"], later["id"]}

    resolved = client.patch(
        f"/v1/conversations/{first['id']}", headers=agent.headers, json={"status": "resolved"}
    )
    assert resolved.status_code == 200, resolved.text
    # The oldest in the queue (same deadline and priority) takes the freed slot; the other keeps waiting.
    detail = wait_assignee(client, tenant, waiting["id"], agent.user_id)
    assert detail["assignment_reason"]["by"] == "queue"
    assert assignee_of(client, tenant, later["id"]) is None
    assert len(list_conversations(client, tenant, assignee_id=agent.user_id, status="open")) == 1

    # A raised capacity drains the queue too.
    response = client.patch(f"/v1/agents/{agent.user_id}", headers=tenant.headers, json={"capacity": 2})
    assert response.status_code == 200, response.text
    wait_assignee(client, tenant, later["id"], agent.user_id)
    assert list_conversations(client, tenant, queued="true") == []


def test_a_team_at_capacity_queues_its_conversations_and_a_deleted_team_hands_them_to_the_pool(
    client: httpx.Client,
) -> None:
    tenant = signup(client)
    arabic = create_team(client, tenant, name="Arabic", languages=["ar"])
    speaker = online_agent(client, tenant)
    add_member(client, tenant, arabic["id"], speaker)
    client.patch(f"/v1/agents/{speaker.user_id}", headers=tenant.headers, json={"capacity": 1})
    first = open_conversation(client, tenant, ARABIC_COMPLAINT)
    assert first["assignee_id"] == speaker.user_id
    other = online_agent(client, tenant)  # free, but not in the team

    waiting = open_conversation(client, tenant, ARABIC_COMPLAINT)

    assert waiting["team_id"] == arabic["id"] and waiting["assignee_id"] is None
    reason = waiting["assignment_reason"]
    assert reason["queued"] is True and reason["online_in_scope"] == 1 and reason["at_capacity"] == 1
    assert client.delete(f"/v1/teams/{arabic['id']}", headers=tenant.headers).status_code == 204
    detail = wait_assignee(client, tenant, waiting["id"], other.user_id)
    assert detail["team_id"] is None


def test_two_replicas_never_give_an_agent_more_than_their_capacity(
    client: httpx.Client, stack: Stack, tmp_path: Path
) -> None:
    tenant = signup(client)
    agents = [online_agent(client, tenant) for _ in range(2)]
    for agent in agents:
        response = client.patch(f"/v1/agents/{agent.user_id}", headers=tenant.headers, json={"capacity": 2})
        assert response.status_code == 200, response.text
    with replica(stack, "engagement", tmp_path, env={}):
        for _ in range(7):
            post_mention(client, tenant, COMPLAINT, author=author())

        def seven() -> list[dict[str, Any]] | None:
            items = list_conversations(client, tenant, limit=200)
            return items if len(items) == 7 else None

        rows = wait_until(seven, what="seven conversations")

    held = [c["assignee_id"] for c in rows if c["assignee_id"]]
    assert sorted(held.count(agent.user_id) for agent in agents) == [2, 2]
    assert len(list_conversations(client, tenant, queued="true")) == 3


def test_the_queue_goes_by_priority_then_age(client: httpx.Client) -> None:
    tenant = signup(client)
    agent = add_user(client, tenant, "agent")
    wait_for_agents(client, tenant, 1)
    normal = open_conversation(client, tenant, "How do I reset my password?")
    urgent = open_conversation(client, tenant, **INFLUENTIAL)
    high = open_conversation(client, tenant)
    assert (normal["priority"], urgent["priority"], high["priority"]) == ("normal", "urgent", "high")
    client.patch(f"/v1/agents/{agent.user_id}", headers=tenant.headers, json={"capacity": 2})

    set_presence(client, agent)

    wait_assignee(client, tenant, urgent["id"], agent.user_id)
    wait_assignee(client, tenant, high["id"], agent.user_id)
    assert assignee_of(client, tenant, normal["id"]) is None


# --- presence -------------------------------------------------------------------------------------------


def test_an_agent_going_offline_hands_their_conversations_to_another_online_agent(
    client: httpx.Client, stack: Stack
) -> None:
    tenant = signup(client)
    leaving = online_agent(client, tenant)
    conversation = open_conversation(client, tenant)
    assert conversation["assignee_id"] == leaving.user_id
    staying = online_agent(client, tenant)

    set_presence(client, leaving, "offline")

    detail = wait_assignee(client, tenant, conversation["id"], staying.user_id)
    assert detail["assignment_reason"]["note"] == "requeued: agent went offline"
    event = find_event(
        stack.nats_url,
        "engagement.conversation.unassigned",
        lambda e: e["data"]["conversation_id"] == conversation["id"],
    )
    assert event["data"] == {
        "conversation_id": conversation["id"],
        "previous_assignee_id": leaving.user_id,
        "reason": "agent went offline",
    }


def test_a_lapsed_heartbeat_takes_the_agent_offline_and_requeues(
    client: httpx.Client, stack: Stack, tmp_path: Path
) -> None:
    tenant = signup(client)
    lapsing = add_user(client, tenant, "agent")
    wait_for_agents(client, tenant, 1)
    # A replica whose heartbeats last 1.5 s: the agent's presence, set through it, lapses quickly
    # (the stack's own presence lasts 600 s) and this replica's sweeper takes them offline.
    env = {"RAPPORT_PRESENCE_TTL_S": "1.5", "RAPPORT_PRESENCE_SWEEP_S": "0.3"}
    with replica(stack, "engagement", tmp_path, env=env) as engagement:
        beat = set_presence(client, lapsing, base_url=engagement)
        assert beat["ttl_s"] == 1.5
        assert client.post(f"{engagement}/v1/agents/me/heartbeat", headers=lapsing.headers).json()[
            "status"
        ] == ("online")
        conversation = open_conversation(client, tenant)
        assert conversation["assignee_id"] == lapsing.user_id
        staying = online_agent(client, tenant)

        detail = wait_assignee(client, tenant, conversation["id"], staying.user_id)

    assert detail["assignment_reason"]["note"] == "requeued: heartbeat lapsed"
    agents = {a["id"]: a for a in client.get("/v1/agents", headers=tenant.headers).json()["items"]}
    assert agents[lapsing.user_id]["presence"] == "offline"
    assert client.post("/v1/agents/me/heartbeat", headers=lapsing.headers).json()["status"] == "offline"


def test_a_deactivated_agent_hands_their_conversations_back(client: httpx.Client) -> None:
    tenant = signup(client)
    leaving = online_agent(client, tenant)
    conversation = open_conversation(client, tenant)
    assert conversation["assignee_id"] == leaving.user_id
    staying = online_agent(client, tenant)

    response = client.patch(f"/v1/users/{leaving.user_id}", headers=tenant.headers, json={"active": False})
    assert response.status_code == 200, response.text

    detail = wait_assignee(client, tenant, conversation["id"], staying.user_id)
    assert detail["assignment_reason"]["note"] == "requeued: agent deactivated"
    agents = {a["id"]: a for a in client.get("/v1/agents", headers=tenant.headers).json()["items"]}
    assert agents[leaving.user_id]["active"] is False and agents[leaving.user_id]["presence"] == "offline"


# --- manual moves ---------------------------------------------------------------------------------------


def test_manual_assignment_to_an_agent_or_a_team(client: httpx.Client) -> None:
    tenant = signup(client)
    first = online_agent(client, tenant)
    second = online_agent(client, tenant)
    client.patch(f"/v1/agents/{second.user_id}", headers=tenant.headers, json={"capacity": 1})
    conversation = open_conversation(client, tenant)
    other = open_conversation(client, tenant)
    held_by_second = other if other["assignee_id"] == second.user_id else conversation
    held_by_first = conversation if held_by_second is other else other
    assert held_by_first["assignee_id"] == first.user_id

    # By hand, capacity may be exceeded (recorded); the reasons say who moved it.
    response = assign(client, first, held_by_first["id"], {"agent_id": second.user_id})
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["assignee_id"] == second.user_id
    reason = moved["assignment_reason"]
    assert reason["by"] == "manual" and reason["by_user_id"] == first.user_id
    assert reason["over_capacity"] is True and reason["previous_assignee_id"] == first.user_id

    team = create_team(client, tenant, name="Escalations")
    add_member(client, tenant, team["id"], first)
    response = assign(client, tenant, held_by_first["id"], {"team_id": team["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["team_id"] == team["id"] and response.json()["assignee_id"] == first.user_id
    assert response.json()["assignment_reason"]["team"]["chosen_by"] == "manual"

    offline = add_user(client, tenant, "agent")
    wait_for_agents(client, tenant, 3)
    assert_problem(assign(client, tenant, held_by_first["id"], {"agent_id": offline.user_id}), 409)
    assert_problem(assign(client, tenant, held_by_first["id"], {"agent_id": str(uuid.uuid4())}), 422)
    assert_problem(assign(client, tenant, held_by_first["id"], {"team_id": str(uuid.uuid4())}), 422)
    assert_problem(assign(client, tenant, held_by_first["id"], {}), 422)
    resolved = client.patch(
        f"/v1/conversations/{held_by_first['id']}", headers=tenant.headers, json={"status": "resolved"}
    )
    assert resolved.status_code == 200
    assert_problem(assign(client, tenant, held_by_first["id"], {"agent_id": first.user_id}), 409)


def test_manual_moves_need_a_worker_and_stay_within_the_tenant(client: httpx.Client) -> None:
    tenant, other = signup(client), signup(client)
    online_agent(client, tenant)
    conversation = open_conversation(client, tenant)
    analyst = add_user(client, tenant, "analyst")

    assert_problem(client.post(f"/v1/conversations/{conversation['id']}/assign", json={"team_id": "x"}), 401)
    assert_problem(assign(client, analyst, conversation["id"], {"team_id": "x"}), 403)
    assert_problem(assign(client, other, conversation["id"], {"team_id": "x"}), 404)
    body = {"conversation_id": conversation["id"]}
    merge = f"/v1/conversations/{conversation['id']}/merge"
    assert_problem(client.post(merge, json=body), 401)
    assert_problem(client.post(merge, headers=analyst.headers, json=body), 403)
    assert_problem(
        client.post(f"/v1/conversations/{conversation['id']}/merge", headers=other.headers, json=body), 404
    )


# --- merging --------------------------------------------------------------------------------------------


def test_two_conversations_of_one_customer_merge_into_one(client: httpx.Client, stack: Stack) -> None:
    tenant = signup(client)
    agent = online_agent(client, tenant)
    customer = author()
    old = conversation_of(client, tenant, post_mention(client, tenant, COMPLAINT, author=customer))
    note = client.post(
        f"/v1/conversations/{old['id']}/notes", headers=agent.headers, json={"body": "Called them."}
    )
    assert note.status_code == 201
    closed = client.patch(f"/v1/conversations/{old['id']}", headers=agent.headers, json={"status": "closed"})
    assert closed.status_code == 200
    # A closed conversation never reopens: the customer's next post opens a new one.
    later_id = post_mention(client, tenant, "Still broken, nobody answers. Awful.", author=customer)
    new = conversation_of(client, tenant, later_id)
    assert new["id"] != old["id"] and new["profile_id"] == old["profile_id"]
    stranger = open_conversation(client, tenant)

    merge = f"/v1/conversations/{old['id']}/merge"
    assert_problem(client.post(merge, headers=agent.headers, json={"conversation_id": stranger["id"]}), 409)
    assert_problem(client.post(merge, headers=agent.headers, json={"conversation_id": old["id"]}), 422)
    assert_problem(
        client.post(merge, headers=agent.headers, json={"conversation_id": str(uuid.uuid4())}), 404
    )
    response = client.post(merge, headers=agent.headers, json={"conversation_id": new["id"]})
    assert response.status_code == 200, response.text

    merged = get_conversation(client, agent, old["id"])
    assert merged["status"] == "open" and merged["assignee_id"] == agent.user_id
    assert [m["mention_id"] for m in merged["messages"]] == [old["first_mention_id"], later_id]
    assert [n["body"] for n in merged["notes"]] == ["Called them."]
    assert merged["status_history"][-1]["cause"] == "merged"
    gone = get_conversation(client, agent, new["id"])
    assert gone["status"] == "closed" and gone["messages"] == []
    assert gone["status_history"][-1] == {
        **gone["status_history"][-1],
        "to_status": "closed",
        "cause": "merged",
    }
    event = find_event(
        stack.nats_url, "engagement.conversation.merged", lambda e: e["data"]["conversation_id"] == old["id"]
    )
    assert event["data"]["merged_id"] == new["id"] and event["data"]["messages_moved"] == 1
    # Merged once is enough.
    assert_problem(client.post(merge, headers=agent.headers, json={"conversation_id": new["id"]}), 409)


# --- the pure parts -------------------------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def candidate(agent_id: str, load: int = 0, capacity: int = 5, **kw: Any) -> Candidate:
    return Candidate(
        agent_id=agent_id, load=load, capacity=capacity, last_assigned_at=kw.pop("last", None), **kw
    )


def test_rank_prefers_language_then_topic_then_load_then_longest_wait() -> None:
    ar = frozenset({"ar"})
    ranked = rank(
        [
            candidate("full", load=5, languages=ar),
            candidate("busy-speaker", load=3, languages=ar),
            candidate("idle-stranger", load=0),
            candidate("speaker-billing", load=4, languages=ar, topics=frozenset({"billing"})),
            candidate("idle-speaker-recent", load=3, languages=ar, last=T0 + timedelta(hours=1)),
            candidate("idle-speaker-never", load=3, languages=ar, last=None),
        ],
        language="ar-SA",
        topics=["billing"],
    )
    assert [s.candidate.agent_id for s in ranked] == [
        "speaker-billing",
        "busy-speaker",
        "idle-speaker-never",
        "idle-speaker-recent",
        "idle-stranger",
    ]
    assert ranked[0].reason()["score"] == 3 and ranked[-1].reason()["score"] == 0


def test_rank_round_robins_on_equal_load() -> None:
    ranked = rank(
        [candidate("b", last=T0 + timedelta(minutes=2)), candidate("a", last=T0 + timedelta(minutes=1))],
        language=None,
        topics=[],
    )
    assert [s.candidate.agent_id for s in ranked] == ["a", "b"]
    assert rank([candidate("x", load=1, capacity=1)], language="en", topics=[]) == []


def team(
    name: str, languages: Collection[str] = (), topics: Collection[str] = (), members: int = 1
) -> TeamSkills:
    return TeamSkills(
        id=name,
        name=name,
        languages=frozenset(languages),
        topics=frozenset(topics),
        members=frozenset(f"{name}-{i}" for i in range(members)),
    )


def test_pick_team_matches_language_first_then_topics() -> None:
    teams = [
        team("billing", topics={"billing"}),
        team("arabic", {"ar"}),
        team("arabic-billing", {"ar"}, {"billing"}),
    ]
    assert pick_team(teams, language="ar", topics=["billing"])[0] == teams[2]
    assert pick_team(teams, language="ar", topics=[])[0] in (teams[1], teams[2])
    assert pick_team(teams[:2], language="fr", topics=["billing"]) == (teams[0], "1 topic(s) in common")
    # Equal matches go by name.
    assert pick_team(teams, language="fr", topics=["billing"])[0] == teams[2]
    assert pick_team(teams, language="fr", topics=[])[0] is None
    assert pick_team(teams, language="und", topics=[])[0] is None
    # A team nobody is in is never chosen: the general pool is better than waiting for no one.
    empty, staffed = team("a-empty", {"de"}, members=0), team("b-staffed", {"de"})
    assert pick_team([empty, staffed], language="de", topics=[])[0] == staffed
    assert pick_team([empty], language="de", topics=[])[0] is None

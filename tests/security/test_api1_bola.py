"""API1 Broken Object Level Authorization: another tenant's object, by id, is a 404 in every service.

One tenant builds one object of every kind (mention, channel, query, user, profile, conversation);
a second tenant's owner then reads, changes and deletes each by id through the gateway. Every answer
is 404 — the same as for an id that does not exist, so ids leak nothing — and nothing changes.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import Tenant, add_user, assert_problem, mention_payload, signup, wait_until

COMPLAINT = "My order arrived broken and nobody answers. Terrible service, I want my money back!"


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (201, 202), response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def victim(stack: Any) -> dict[str, Any]:
    """A tenant holding one object of each kind, and the ids of each."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        with httpx.Client(base_url=stack.url("identity"), timeout=30) as accounts:
            owner = signup(accounts)
            agent = add_user(accounts, owner, "agent")
        mention = _created(
            client.post("/v1/mentions", json=mention_payload(text=COMPLAINT), headers=owner.headers)
        )
        channel = _created(
            client.post(
                "/v1/channels",
                json={
                    "platform": "meta",
                    "name": "Victim page",
                    "credentials": {"app_secret": "s" * 32, "verify_token": "v" * 16},
                },
                headers=owner.headers,
            )
        )
        query = _created(
            client.post(
                "/v1/listening/queries",
                json={"name": "brand", "kind": "brand", "expression": "order"},
                headers=owner.headers,
            )
        )

        def profile_and_conversation() -> tuple[str, str] | None:
            profiles = client.get("/v1/profiles", headers=owner.headers).json()["items"]
            conversations = client.get("/v1/conversations", headers=owner.headers).json()["items"]
            if profiles and conversations:
                return profiles[0]["id"], conversations[0]["id"]
            return None

        profile_id, conversation_id = wait_until(
            profile_and_conversation, timeout=60, what="the complaint's profile and conversation"
        )
    return {
        "owner": owner,
        "ids": {
            "mention": mention["id"],
            "channel": channel["id"],
            "query": query["id"],
            "user": agent.user_id,
            "profile": profile_id,
            "conversation": conversation_id,
        },
    }


# (method, path template, body) — every by-id route of the public API.
BY_ID: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/mentions/{mention}", None),
    ("POST", "/v1/mentions/{mention}/labels", {"sentiment": "positive"}),
    ("GET", "/v1/channels/{channel}", None),
    ("PATCH", "/v1/channels/{channel}", {"name": "taken over"}),
    ("DELETE", "/v1/channels/{channel}", None),
    ("GET", "/v1/listening/queries/{query}", None),
    ("GET", "/v1/listening/queries/{query}/volume", None),
    ("PATCH", "/v1/listening/queries/{query}", {"expression": "hijacked"}),
    ("DELETE", "/v1/listening/queries/{query}", None),
    ("GET", "/v1/users/{user}", None),
    ("GET", "/v1/profiles/{profile}", None),
    ("GET", "/v1/profiles/{profile}/timeline", None),
    ("GET", "/v1/conversations/{conversation}", None),
]


@pytest.mark.parametrize(("method", "template", "body"), BY_ID, ids=[f"{m} {p}" for m, p, _ in BY_ID])
def test_other_tenants_object_by_id_is_404_and_unchanged(
    client: httpx.Client,
    other_tenant: Tenant,
    victim: dict[str, Any],
    method: str,
    template: str,
    body: dict[str, Any] | None,
) -> None:
    path = template.format(**victim["ids"])
    attack = assert_problem(client.request(method, path, json=body, headers=other_tenant.headers), 404)
    unknown = template.format(**{name: str(uuid.uuid4()) for name in victim["ids"]})
    missing = assert_problem(client.request(method, unknown, json=body, headers=other_tenant.headers), 404)
    # The same answer as an id that does not exist: nothing tells the attacker the object is real.
    assert attack["title"] == missing["title"]
    owner: Tenant = victim["owner"]
    still = client.get(path if method != "POST" else path.rsplit("/", 1)[0], headers=owner.headers)
    if "/volume" not in path:
        assert still.status_code == 200, still.text


def test_other_tenants_lists_never_show_the_victims_objects(
    client: httpx.Client, other_tenant: Tenant, victim: dict[str, Any]
) -> None:
    ids = set(victim["ids"].values())
    for path in (
        "/v1/mentions",
        "/v1/channels",
        "/v1/listening/queries",
        "/v1/users",
        "/v1/profiles",
        "/v1/conversations",
    ):
        response = client.get(path, headers=other_tenant.headers)
        assert response.status_code == 200, (path, response.text)
        seen = {item["id"] for item in response.json()["items"]}
        assert not seen & ids, path


def test_victims_query_and_channel_kept_their_values(
    client: httpx.Client, other_tenant: Tenant, victim: dict[str, Any]
) -> None:
    owner: Tenant = victim["owner"]
    ids = victim["ids"]
    query = client.get(f"/v1/listening/queries/{ids['query']}", headers=owner.headers).json()
    channel = client.get(f"/v1/channels/{ids['channel']}", headers=owner.headers).json()
    assert query["expression"] == "order"
    assert channel["name"] == "Victim page"

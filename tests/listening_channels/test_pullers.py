"""Pull connectors in the running service: a Mastodon channel polls a local server replaying statuses."""

from __future__ import annotations

import copy

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, wait_until
from tests.listening_channels.conftest import FakeMastodon, create_channel, fixture_json
from tests.listening_channels.conftest import read_channel as channel


def instance_ids(client: httpx.Client, tenant: Tenant) -> list[str]:
    response = client.get(
        "/v1/mentions", headers=tenant.headers, params={"platform": "mastodon", "limit": 100}
    )
    assert response.status_code == 200, response.text
    return sorted(m["external_id"] for m in response.json()["items"])


def test_mastodon_channel_ingests_and_resumes_from_its_cursor_after_a_restart(
    client: httpx.Client, tenant: Tenant, mastodon: FakeMastodon, stack: Stack
) -> None:
    created = create_channel(
        client,
        tenant,
        platform="mastodon",
        name="#kettle on our server",
        settings={"base_url": mastodon.url, "hashtag": "kettle", "poll_interval_s": 1},
    )
    statuses = fixture_json("mastodon/timeline_tag.json")
    # Every status of the timeline (the boost too: it spreads the post) becomes one mention.
    expected = len(statuses)

    def all_stored() -> list[str] | None:
        ids = instance_ids(client, tenant)
        return ids if len(ids) >= expected else None

    ids = wait_until(all_stored, timeout=30)
    assert len(ids) == expected
    instance = mastodon.url.split("://", 1)[1]
    assert all(i.startswith(f"{instance}:") for i in ids)
    status = wait_until(lambda: (c := channel(client, tenant, created["id"])["status"])["cursor"] and c)
    newest = max(statuses, key=lambda s: int(s["id"]))["id"]
    assert status["cursor"] == newest and status["running"] and status["last_success_at"]
    assert status["failures"] == 0 and status["ingested"] == expected

    stack.stop("listening")
    served_before = len(mastodon.requests)
    extra = copy.deepcopy(statuses[0])
    extra["id"] = str(int(newest) + 1000)
    extra["uri"] = extra["uri"] + "-later"
    extra["url"] = extra["url"] + "-later"
    extra["content"] = "<p>Ny vattenkokare kom idag, älskar den! #kettle</p>"
    mastodon.add(extra)
    stack.start("listening")

    wait_until(lambda: f"{instance}:{extra['id']}" in instance_ids(client, tenant), timeout=30)
    # The restarted puller asked for what came after the saved cursor, never the whole timeline again.
    assert mastodon.min_ids()[served_before] == newest
    assert None not in mastodon.min_ids()[served_before:]
    assert len(instance_ids(client, tenant)) == expected + 1
    after = wait_until(
        lambda: (c := channel(client, tenant, created["id"])["status"])["cursor"] == extra["id"] and c
    )
    assert after["ingested"] == expected + 1


def test_unreachable_server_is_shown_in_the_status_and_deleting_stops_the_puller(
    client: httpx.Client, tenant: Tenant
) -> None:
    created = create_channel(
        client,
        tenant,
        platform="mastodon",
        name="down",
        settings={"base_url": "http://127.0.0.1:9", "hashtag": "kettle", "poll_interval_s": 1},
    )
    status = wait_until(
        lambda: (c := channel(client, tenant, created["id"])["status"])["failures"] >= 1 and c
    )
    assert status["last_error"] and status["last_error_at"] and status["running"]
    assert status["last_success_at"] is None
    assert client.delete(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 204
    assert client.get(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 404

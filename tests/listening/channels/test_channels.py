"""Channels: CRUD through the gateway, credentials write-only and encrypted at rest, the auth rules."""

from __future__ import annotations

import httpx

from rapport.stack import Stack
from services.listening.channels.connectors.signatures import meta_signature
from tests.helpers import Tenant, add_user, assert_problem
from tests.listening.channels.helpers import create_channel, fixture_bytes, read_channel

APP_SECRET = "meta-app-secret-0f4c2b7e91"
VERIFY_TOKEN = "verify-token-5a1d93"


def meta_body(name: str = "Kettle page") -> dict[str, object]:
    return {
        "platform": "meta",
        "name": name,
        "credentials": {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    }


def test_created_channel_has_inbound_url_and_never_returns_its_secrets(
    client: httpx.Client, tenant: Tenant
) -> None:
    created = create_channel(client, tenant, **meta_body())
    assert created["platform"] == "meta"
    assert created["inbound_url"] == f"/v1/inbound/meta/{created['id']}"
    assert created["credentials_set"] == ["app_secret", "verify_token"]
    assert "credentials" not in created
    one = client.get(f"/v1/channels/{created['id']}", headers=tenant.headers)
    listed = client.get("/v1/channels", headers=tenant.headers)
    assert one.status_code == 200 and listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [created["id"]]
    for response in (one, listed):
        assert APP_SECRET not in response.text and VERIFY_TOKEN not in response.text


def test_credentials_are_encrypted_at_rest_with_a_0600_key_file(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    create_channel(client, tenant, **meta_body())
    key_file = stack.var_dir / "listening-secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    db = stack.var_dir / "listening.db"
    if "listening" not in stack.database_urls:  # the embedded SQLite store (and its WAL)
        stored = b"".join(p.read_bytes() for p in stack.var_dir.glob("listening.db*"))
        assert db.exists() and APP_SECRET.encode() not in stored
    logs = b"".join(p.read_bytes() for p in (stack.var_dir / "logs").glob("*.log"))
    assert APP_SECRET.encode() not in logs and VERIFY_TOKEN.encode() not in logs


def test_pull_channel_has_no_inbound_url(client: httpx.Client, tenant: Tenant) -> None:
    created = create_channel(
        client,
        tenant,
        platform="rss",
        name="blog",
        settings={"url": "http://127.0.0.1:9/feed.xml", "poll_interval_s": 3600},
    )
    assert created["inbound_url"] is None
    assert created["settings"]["url"] == "http://127.0.0.1:9/feed.xml"


def test_anonymous_is_401_and_non_admin_is_403(client: httpx.Client, tenant: Tenant) -> None:
    created = create_channel(client, tenant, **meta_body())
    assert_problem(client.post("/v1/channels", json=meta_body()), 401)
    assert_problem(client.get("/v1/channels"), 401)
    agent = add_user(client, tenant, "agent")
    for request in (
        client.build_request("POST", "/v1/channels", json=meta_body(), headers=agent.headers),
        client.build_request("GET", "/v1/channels", headers=agent.headers),
        client.build_request("GET", f"/v1/channels/{created['id']}", headers=agent.headers),
        client.build_request("DELETE", f"/v1/channels/{created['id']}", headers=agent.headers),
        client.build_request(
            "PATCH", f"/v1/channels/{created['id']}", json={"name": "x"}, headers=agent.headers
        ),
    ):
        assert_problem(client.send(request), 403)
    assert client.get(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 200


def test_other_tenants_channel_is_404(client: httpx.Client, tenant: Tenant, other_tenant: Tenant) -> None:
    created = create_channel(client, tenant, **meta_body())
    assert_problem(client.get(f"/v1/channels/{created['id']}", headers=other_tenant.headers), 404)
    assert_problem(client.delete(f"/v1/channels/{created['id']}", headers=other_tenant.headers), 404)
    rename = {"name": "taken over"}
    assert_problem(
        client.patch(f"/v1/channels/{created['id']}", json=rename, headers=other_tenant.headers), 404
    )
    assert client.get("/v1/channels", headers=other_tenant.headers).json()["items"] == []
    assert client.get(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 200


def test_bad_channel_bodies_are_422_and_create_nothing(client: httpx.Client, tenant: Tenant) -> None:
    bad_bodies = [
        {"platform": "myspace", "name": "x"},
        {"platform": "meta", "name": "no secret", "credentials": {"verify_token": "v"}},
        {**meta_body(), "tenant_id": "someone-else"},
        {"platform": "meta", "name": "extra", "credentials": {**meta_body()["credentials"], "x": "y"}},  # type: ignore[dict-item]
        {"platform": "mastodon", "name": "no source", "settings": {"base_url": "https://mastodon.example"}},
        {
            "platform": "mastodon",
            "name": "a search cannot stream",
            "settings": {"base_url": "https://mastodon.example", "query": "kettle", "streaming": True},
        },
        {"platform": "rss", "name": "bad url", "settings": {"url": "file:///etc/passwd"}},
        {"platform": "x", "name": "", "credentials": {"consumer_secret": "s"}},
    ]
    for body in bad_bodies:
        response = client.post("/v1/channels", json=body, headers=tenant.headers)
        problem = assert_problem(response, 422)
        assert APP_SECRET not in response.text, problem
    assert client.get("/v1/channels", headers=tenant.headers).json()["items"] == []


def test_deleted_channel_is_gone(client: httpx.Client, tenant: Tenant) -> None:
    created = create_channel(client, tenant, **meta_body())
    assert client.delete(f"/v1/channels/{created['id']}", headers=tenant.headers).status_code == 204
    assert_problem(client.get(f"/v1/channels/{created['id']}", headers=tenant.headers), 404)
    assert_problem(client.post(f"/v1/inbound/meta/{created['id']}", content=b"{}"), 404)


def deliver_signed(client: httpx.Client, channel_id: str, secret: str) -> httpx.Response:
    body = fixture_bytes("meta/page_feed_posts.json")
    return client.post(
        f"/v1/inbound/meta/{channel_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(body, secret)},
    )


def test_rotated_credentials_apply_at_once_and_are_never_returned(
    client: httpx.Client, tenant: Tenant, stack: Stack
) -> None:
    created = create_channel(client, tenant, **meta_body())
    new_secret = "meta-app-secret-rotated-41d0"
    change = {"name": "Kettle page (EU)", "credentials": {"app_secret": new_secret, "verify_token": "vt-2"}}
    response = client.patch(f"/v1/channels/{created['id']}", json=change, headers=tenant.headers)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "Kettle page (EU)"
    assert updated["credentials_set"] == ["app_secret", "verify_token"]
    assert new_secret not in response.text
    assert read_channel(client, tenant, created["id"])["name"] == "Kettle page (EU)"

    assert_problem(deliver_signed(client, created["id"], APP_SECRET), 401)
    assert deliver_signed(client, created["id"], new_secret).json()["accepted"] >= 1
    challenge = {"hub.mode": "subscribe", "hub.verify_token": "vt-2", "hub.challenge": "c-7"}
    assert client.get(f"/v1/inbound/meta/{created['id']}", params=challenge).text == "c-7"
    logs = b"".join(p.read_bytes() for p in (stack.var_dir / "logs").glob("*.log"))
    assert new_secret.encode() not in logs


def test_bad_channel_changes_are_422_and_change_nothing(client: httpx.Client, tenant: Tenant) -> None:
    created = create_channel(client, tenant, **meta_body())
    url = f"/v1/channels/{created['id']}"
    bad_changes = [
        {"credentials": {"app_secret": "only half"}},  # the verify token is missing
        {"credentials": {"consumer_secret": "an X secret on a Meta channel"}},
        {"settings": {"graph_base_url": "ftp://graph.example"}},
        {"name": ""},
        {"platform": "x"},  # a channel's platform is what it is
    ]
    for change in bad_changes:
        response = client.patch(url, json=change, headers=tenant.headers)
        assert_problem(response, 422)
        assert "only half" not in response.text and "X secret" not in response.text
    broken = client.patch(url, content=b"{", headers={**tenant.headers, "Content-Type": "application/json"})
    assert_problem(broken, 400)
    after = read_channel(client, tenant, created["id"])
    assert after["name"] == created["name"] and after["settings"] == created["settings"]
    assert deliver_signed(client, created["id"], APP_SECRET).status_code == 200

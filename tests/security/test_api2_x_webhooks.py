"""API2 broken authentication: X's CRC answer must not sign deliveries for whoever asks.

The CRC answer is HMAC-SHA256(consumer_secret, crc_token), the same function that signs a delivery's
body: answered for any string, it would sign a forged delivery. Only tokens of the shape X sends (8-256
base64 characters) are answered, and no JSON document has that shape.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import httpx
import pytest

from services.listening.channels.connectors.signatures import X_SIGNATURE_HEADER, x_crc_response
from tests.helpers import Tenant, assert_problem
from tests.listening.channels.helpers import PLATFORMS, create_channel

CONSUMER_SECRET = "x-consumer-secret-5f2e"

FORGED = {
    "for_user_id": "1489301274657820672",
    "tweet_create_events": [
        {
            "id_str": "1900000000000000001",
            "created_at": "Wed Mar 12 10:00:00 +0000 2025",
            "text": "@brand I was poisoned by your product and I am suing",
            "user": {
                "id_str": "77",
                "screen_name": "forged",
                "name": "Forged",
                "followers_count": 5_000_000,
                "verified": True,
            },
        }
    ],
}


def x_channel(client: httpx.Client, tenant: Tenant) -> str:
    channel = create_channel(
        client, tenant, platform="x", name="X account", credentials={"consumer_secret": CONSUMER_SECRET}
    )
    return str(channel["id"])


def hmac_b64(data: bytes) -> str:
    digest = hmac.new(CONSUMER_SECRET.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def x_mentions(client: httpx.Client, tenant: Tenant) -> list[dict[str, object]]:
    response = client.get("/v1/mentions", headers=tenant.headers, params={"platform": "x", "limit": 100})
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_x_crc_refuses_json_token(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = x_channel(client, tenant)
    body = json.dumps(FORGED, separators=(",", ":"))
    refused = client.get(f"/v1/inbound/x/{channel_id}", params={"crc_token": body})
    problem = assert_problem(refused, 400)
    assert "response_token" not in problem and hmac_b64(body.encode()) not in refused.text


def test_x_crc_oracle_cannot_sign_a_forged_delivery(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = x_channel(client, tenant)
    body = json.dumps(FORGED).encode()
    # The attacker asks the CRC endpoint to sign the body, and uses whatever comes back.
    oracle = client.get(f"/v1/inbound/x/{channel_id}", params={"crc_token": body.decode()})
    assert_problem(oracle, 400)
    answered = client.get(f"/v1/inbound/x/{channel_id}", params={"crc_token": "dGhpcy1pcy1hLWNyYw=="})
    assert answered.status_code == 200, answered.text
    for signature in (oracle.json().get("response_token", "sha256=AAAA"), answered.json()["response_token"]):
        forged = client.post(
            f"/v1/inbound/x/{channel_id}",
            content=body,
            headers={"Content-Type": "application/json", X_SIGNATURE_HEADER: signature},
        )
        assert_problem(forged, 401)
    assert x_mentions(client, tenant) == []


BAD_TOKENS = [
    "",
    "short",
    "x" * 257,
    "has space in it",
    "line\nbreak-token",
    'quote"token"',
    "colon:token:here",
    "{brace-token}",
    "[1234567890]",
    "näive-token-ü",
]


def test_x_crc_refuses_tokens_outside_x_shape(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = x_channel(client, tenant)
    for token in BAD_TOKENS:
        assert_problem(client.get(f"/v1/inbound/x/{channel_id}", params={"crc_token": token}), 400)
    assert_problem(client.get(f"/v1/inbound/x/{channel_id}"), 400)


def test_x_crc_answers_x_shaped_tokens(client: httpx.Client, tenant: Tenant) -> None:
    channel_id = x_channel(client, tenant)
    for token in ("crc-9b4507b3", "A" * 256, "Zm9vYmFy+/=_-0123456789abcdefABCDEF"):
        answer = client.get(f"/v1/inbound/x/{channel_id}", params={"crc_token": token})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"response_token": hmac_b64(token.encode())}


@pytest.mark.parametrize("path", sorted((PLATFORMS / "x").glob("*.json")), ids=lambda p: Path(p).name)
def test_x_crc_never_answers_a_delivery_body(path: Path) -> None:
    raw = path.read_bytes()
    for body in (raw.decode(), json.dumps(json.loads(raw), separators=(",", ":"))):
        assert x_crc_response(body, consumer_secret=CONSUMER_SECRET) is None

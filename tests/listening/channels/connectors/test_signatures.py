"""Webhook handshakes and signatures: Meta / WhatsApp `X-Hub-Signature-256`, X CRC and signature."""

from __future__ import annotations

import pytest

from services.listening.channels.connectors.signatures import (
    meta_signature,
    meta_verification_challenge,
    verify_meta_signature,
    verify_x_signature,
    x_crc_response,
    x_signature,
)
from tests.listening.channels.connectors.payloads import raw

APP_SECRET = "3f1c9a7e5b2d4c6e8a0b1c2d3e4f5a6b"
X_SECRET = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"
META_BODIES = ["meta/page_feed_comments.json", "meta/messenger.json", "whatsapp/messages.json"]


def test_meta_signature_matches_the_documented_vector() -> None:
    # The same sha256=<hex HMAC> scheme, with the vector GitHub documents for X-Hub-Signature-256.
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert meta_signature(b"Hello, World!", "It's a Secret to Everybody") == header
    assert verify_meta_signature(
        body=b"Hello, World!", header=header, app_secret="It's a Secret to Everybody"
    )


@pytest.mark.parametrize("name", META_BODIES)
def test_meta_signature_over_the_raw_body_is_accepted(name: str) -> None:
    body = raw(name)
    assert verify_meta_signature(body=body, header=meta_signature(body, APP_SECRET), app_secret=APP_SECRET)


def test_meta_signature_accepts_uppercase_hex() -> None:
    body = raw("meta/messenger.json")
    header = "sha256=" + meta_signature(body, APP_SECRET).removeprefix("sha256=").upper()
    assert verify_meta_signature(body=body, header=header, app_secret=APP_SECRET)


@pytest.mark.parametrize("name", META_BODIES)
def test_meta_signature_of_a_tampered_body_is_rejected(name: str) -> None:
    body = raw(name)
    header = meta_signature(body, APP_SECRET)
    tampered = body.replace(b'"id"', b'"id" ', 1)
    assert tampered != body
    assert not verify_meta_signature(body=tampered, header=header, app_secret=APP_SECRET)
    # Re-serialising the JSON (key order, spaces) also changes the bytes: only the raw body verifies.
    assert not verify_meta_signature(body=body + b"\n", header=header, app_secret=APP_SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=0123456789abcdef0123456789abcdef01234567",
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=not-hex-at-all",
        "sha256=" + "0" * 64,
        "sha256=ünïcödé",
    ],
)
def test_meta_signature_missing_or_malformed_is_rejected(header: str | None) -> None:
    assert not verify_meta_signature(body=raw("meta/messenger.json"), header=header, app_secret=APP_SECRET)


def test_meta_signature_with_another_apps_secret_is_rejected() -> None:
    body = raw("whatsapp/messages.json")
    header = meta_signature(body, "someone-elses-secret")
    assert not verify_meta_signature(body=body, header=header, app_secret=APP_SECRET)


def test_meta_signature_with_no_configured_secret_is_rejected() -> None:
    body = raw("whatsapp/messages.json")
    assert not verify_meta_signature(body=body, header=meta_signature(body, ""), app_secret="")


def test_meta_verification_echoes_the_challenge_for_our_token() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "v-token-71", "hub.challenge": "1158201444"}
    assert meta_verification_challenge(params, verify_token="v-token-71") == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "v-token-71", "hub.challenge": "1158201444"},
        {"hub.verify_token": "v-token-71", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
        {"hub.mode": "subscribe", "hub.verify_token": "v-token-71"},
        {
            "hub.mode": "subscribe",
            "hub.verify_token": "v-token-71",
            "hub.challenge": "<script>alert(1)</script>",
        },
        {"hub.mode": "subscribe", "hub.verify_token": "v-token-71", "hub.challenge": "9" * 300},
    ],
)
def test_meta_verification_refuses_anything_else(params: dict[str, str]) -> None:
    assert meta_verification_challenge(params, verify_token="v-token-71") is None


def test_meta_verification_refuses_when_no_token_is_configured() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert meta_verification_challenge(params, verify_token="") is None


def test_x_crc_response_matches_an_independent_implementation() -> None:
    # Computed with `openssl dgst -sha256 -hmac <secret> -binary | base64`, not with this code.
    assert x_crc_response("crc-9b4507b3", consumer_secret=X_SECRET) == {
        "response_token": "sha256=SEx4z1Oy5m0uHf5DLz3Kes7JA0izzxcCL/eBfmFoUKc="
    }


@pytest.mark.parametrize("token", ["", "x" * 1025])
def test_x_crc_refuses_missing_or_huge_tokens(token: str) -> None:
    assert x_crc_response(token, consumer_secret=X_SECRET) is None


def test_x_signature_matches_an_independent_implementation() -> None:
    body = b'{"for_user_id":"1"}'
    header = "sha256=9c6AJqliYjjjmdoyqzQSqfkLxjBnq32cTit6u6SQSfQ="
    assert x_signature(body, X_SECRET) == header
    assert verify_x_signature(body=body, header=header, consumer_secret=X_SECRET)


@pytest.mark.parametrize("name", ["x/tweet_create_events.json", "x/tweet_delete_events.json"])
def test_x_signature_valid_tampered_and_wrong_secret(name: str) -> None:
    body = raw(name)
    header = x_signature(body, X_SECRET)
    assert verify_x_signature(body=body, header=header, consumer_secret=X_SECRET)
    assert not verify_x_signature(
        body=body.replace(b"1489", b"1490", 1), header=header, consumer_secret=X_SECRET
    )
    assert not verify_x_signature(body=body, header=x_signature(body, "other"), consumer_secret=X_SECRET)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha256=AAAA", "9c6AJqliYjjjmdoyqzQSqfkLxjBnq32cTit6u6SQSfQ=", "sha512=abc"],
)
def test_x_signature_missing_or_malformed_is_rejected(header: str | None) -> None:
    assert not verify_x_signature(body=b'{"for_user_id":"1"}', header=header, consumer_secret=X_SECRET)


def test_x_signature_is_not_the_meta_hex_form() -> None:
    body = raw("x/tweet_create_events.json")
    assert not verify_x_signature(body=body, header=meta_signature(body, X_SECRET), consumer_secret=X_SECRET)

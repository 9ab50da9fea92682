"""The platforms' own webhook checks: subscription handshakes and HMAC signatures over the RAW body.

Always verify the exact bytes received, before any JSON decoding; every comparison is constant-time.
Meta (Facebook Page, Instagram, Messenger) and WhatsApp Cloud API share one scheme:
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app_secret, body)>`. X's Account Activity API signs with
`x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer_secret, body)>` and checks the
endpoint with a CRC challenge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping

META_SIGNATURE_HEADER = "X-Hub-Signature-256"
X_SIGNATURE_HEADER = "x-twitter-webhooks-signature"

# Meta sends a number; anything outside this (markup, huge strings) is refused rather than echoed.
_CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{1,256}$")
# X sends an opaque base64-like token. The CRC answer is HMAC-SHA256(consumer_secret, token): the very
# function that signs a delivery's body. Only tokens of this shape are answered, and no JSON document
# (every one holds `{`, `[`, `"` or whitespace, or is a bare literal under 8 characters or a number, never
# a delivery) can take it, so the answer can never serve as the signature of a forged delivery.
_CRC_TOKEN = re.compile(r"^[A-Za-z0-9+/=_-]{8,256}$")


def _bytes(value: str) -> bytes:
    return value.encode("utf-8", "replace")


def _split_sha256(header: str | None) -> str | None:
    if not header:
        return None
    scheme, sep, value = header.strip().partition("=")
    if not sep or scheme.strip().lower() != "sha256" or not value.strip():
        return None
    return value.strip()


def meta_signature(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` header value Meta would send for this body."""
    return "sha256=" + hmac.new(_bytes(app_secret), body, hashlib.sha256).hexdigest()


def verify_meta_signature(*, body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether `X-Hub-Signature-256` is the HMAC-SHA256 of these exact bytes under the app secret."""
    received = _split_sha256(header)
    if received is None or not app_secret:
        return False
    expected = meta_signature(body, app_secret).removeprefix("sha256=")
    return hmac.compare_digest(_bytes(expected), _bytes(received.lower()))


def meta_verification_challenge(params: Mapping[str, str], *, verify_token: str) -> str | None:
    """The `hub.challenge` to echo when Meta's GET verification names our verify token, else None."""
    if params.get("hub.mode") != "subscribe" or not verify_token:
        return None
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if token is None or challenge is None or not _CHALLENGE.match(challenge):
        return None
    if not hmac.compare_digest(_bytes(token), _bytes(verify_token)):
        return None
    return challenge


def x_signature(body: bytes, consumer_secret: str) -> str:
    """The `x-twitter-webhooks-signature` header value X would send for this body."""
    digest = hmac.new(_bytes(consumer_secret), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def verify_x_signature(*, body: bytes, header: str | None, consumer_secret: str) -> bool:
    """Whether `x-twitter-webhooks-signature` is the base64 HMAC-SHA256 of these bytes."""
    received = _split_sha256(header)
    if received is None or not consumer_secret:
        return False
    expected = x_signature(body, consumer_secret).removeprefix("sha256=")
    return hmac.compare_digest(_bytes(expected), _bytes(received))


def x_crc_token_ok(crc_token: str | None) -> bool:
    """Whether a CRC token has the shape X sends (8-256 base64/base64url characters, nothing else)."""
    return crc_token is not None and _CRC_TOKEN.fullmatch(crc_token) is not None


def x_crc_response(crc_token: str, *, consumer_secret: str) -> dict[str, str] | None:
    """The JSON body answering X's CRC check (`GET ?crc_token=`), or None for a missing or odd token
    (nothing is computed then: an answer for any string would sign any delivery body)."""
    if not x_crc_token_ok(crc_token) or not consumer_secret:
        return None
    digest = hmac.new(_bytes(consumer_secret), _bytes(crc_token), hashlib.sha256).digest()
    return {"response_token": "sha256=" + base64.b64encode(digest).decode("ascii")}

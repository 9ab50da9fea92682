"""Helpers of the gateway tests: forged tokens, a recording upstream, extra gateway processes with their env.

The stack's gateway is tested through real services. To see exactly what the gateway forwards (and to
test limits and failures with tiny settings), extra gateway processes are started whose upstreams point
at `Recorder`, a small HTTP server in the test process that records every request it receives and
publishes its own JWKS, so tests can sign any token they like with its key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from rapport.stack import Proc, Stack, free_port
from tests.helpers import wait_until

ISSUER = "rapport-identity"
AUDIENCE = "rapport"
UPSTREAM_ENV = ("IDENTITY", "LISTENING", "PROFILES", "ENGAGEMENT", "METRICS")

SpawnGateway = Callable[..., str]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    """An RSA key pair with a kid; signs tokens the way identity does (RS256, kid in the header)."""

    def __init__(self, kid: str | None = None) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid or uuid.uuid4().hex

    @property
    def public_jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


def claims_for(
    *, tenant_id: str, role: str = "owner", user_id: str | None = None, ttl: int = 600, **extra: Any
) -> dict[str, Any]:
    """The claims identity puts in an access token."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id or str(uuid.uuid4()),
        "tid": tenant_id,
        "role": role,
        "iat": now,
        "exp": now + ttl,
    }
    claims.update(extra)
    return claims


def unsigned_token(claims: dict[str, Any], *, kid: str) -> str:
    """`alg: none`: no signature at all."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def hs256_token(claims: dict[str, Any], *, secret: bytes, kid: str) -> str:
    """The algorithm-confusion attack: HS256 keyed with the (public) RSA key."""
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def public_pem(jwk_dict: dict[str, Any]) -> bytes:
    public = RSAAlgorithm.from_jwk(json.dumps(jwk_dict))
    assert isinstance(public, rsa.RSAPublicKey)
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class Recorder:
    """An upstream that answers every request with what it received (and records it).

    `/.well-known/jwks.json` publishes `key`; `/readyz` answers 200; a path containing `/slow` answers
    after `slow_s` seconds; a path containing `/cookie` sets a cookie.
    """

    def __init__(self, key: SigningKey, slow_s: float = 3.0) -> None:
        self.key = key
        self.slow_s = slow_s
        self.requests: list[dict[str, Any]] = []
        # How often the key set and the health endpoints were asked for (they are not recorded above).
        self.jwks_hits = 0
        self.health_hits = 0
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == "/.well-known/jwks.json":
                    with recorder._lock:
                        recorder.jwks_hits += 1
                    self._send(200, {"keys": [recorder.key.public_jwk]})
                    return
                if self.path in ("/readyz", "/healthz"):
                    with recorder._lock:
                        recorder.health_hits += 1
                    self._send(200, {"status": "ready"})
                    return
                if self.path == "/openapi.json":
                    self._send(200, {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}})
                    return
                seen = {
                    "method": self.command,
                    "path": self.path,
                    "headers": [(k.lower(), v) for k, v in self.headers.items()],
                    "body_length": len(body),
                }
                with recorder._lock:
                    recorder.requests.append(seen)
                if "/slow" in self.path:
                    time.sleep(recorder.slow_s)
                extra = (
                    {"Set-Cookie": "session=secret-of-one-client; Path=/"} if "/cookie" in self.path else {}
                )
                self._send(200, seen, extra)

            def _send(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def seen(self, request_id: str) -> list[dict[str, Any]]:
        """The requests that reached this upstream carrying `request_id`."""
        with self._lock:
            return [r for r in self.requests if ("x-request-id", request_id) in r["headers"]]

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def gateway_up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def spawn_gateway_proc(stack: Stack, log_dir: Path, name: str, env: dict[str, str]) -> Proc:
    """Start a gateway process on the stack's settings with `env` on top; wait until it answers."""
    port = free_port()
    proc = Proc(
        name,
        [sys.executable, "-m", "gateway", "--port", str(port)],
        port,
        log_dir / f"{name}.log",
        env={**stack.procs["gateway"].env, "RAPPORT_RATE_LIMIT_NAMESPACE": f"test:{uuid.uuid4().hex}", **env},
    )
    proc.spawn()
    wait_until(lambda: gateway_up(proc.url) or not proc.alive(), timeout=30, what=f"{name} up")
    assert proc.alive(), proc.log_path.read_text(errors="replace")
    return proc


def spawn_recorded_gateway(
    stack: Stack, recorder: Recorder, log_dir: Path, name: str, env: dict[str, str]
) -> Proc:
    """`spawn_gateway_proc` with every upstream at `recorder`, `env` on top."""
    upstreams = {f"RAPPORT_{n}_URL": recorder.url for n in UPSTREAM_ENV}
    return spawn_gateway_proc(stack, log_dir, name, {**upstreams, **env})


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """A problem+json answer with `status`, carrying the gateway's request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["x-request-id"]
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def assert_rejected_by_gateway(response: httpx.Response, status: int) -> None:
    """The gateway answered itself: the upstream never saw it (rate-limit headers come after auth)."""
    assert_problem(response, status)
    assert "ratelimit-limit" not in response.headers
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a bearer token."""
    return {"Authorization": f"Bearer {token}"}

"""Fixtures of the channel, webhook, puller and import tests (real stack, through the gateway)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rapport.stack import Stack
from tests.helpers import Tenant
from tests.listening.conftest import direct  # noqa: F401

PLATFORMS = Path(__file__).resolve().parents[1] / "data" / "platforms"


def fixture_bytes(name: str) -> bytes:
    """A recorded payload, byte for byte (signatures are over these exact bytes)."""
    return (PLATFORMS / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def create_channel(client: httpx.Client, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/channels", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    channel: dict[str, Any] = response.json()
    return channel


class FakeMastodon:
    """A Mastodon server replaying recorded statuses: `min_id` paging, newest first, like the real API."""

    def __init__(self, statuses: list[dict[str, Any]]) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict[str, list[str]]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                with fake.lock:
                    fake.requests.append(query)
                    items = sorted(fake.statuses, key=lambda s: int(s["id"]))
                if not parts.path.startswith("/api/v1/timelines/tag/"):
                    self.send_response(404)
                    self.end_headers()
                    return
                min_id = query.get("min_id", [None])[0]
                limit = int(query.get("limit", ["20"])[0])
                if min_id is not None:
                    items = [s for s in items if int(s["id"]) > int(min_id)]
                # min_id pages are the oldest `limit` after the cursor, returned newest first.
                page = list(reversed(items[:limit]))
                body = json.dumps(page).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, status: dict[str, Any]) -> None:
        with self.lock:
            self.statuses.append(status)

    def min_ids(self) -> list[str | None]:
        with self.lock:
            return [q.get("min_id", [None])[0] for q in self.requests]


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    server = FakeMastodon(fixture_json("mastodon/timeline_tag.json"))
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def stack_var_dir(stack: Stack) -> Path:
    return stack.var_dir

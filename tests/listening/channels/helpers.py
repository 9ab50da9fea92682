"""Helpers of the channel, webhook, puller and import tests: platform stand-ins, payloads, requests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from services.listening.channels.connectors.signatures import meta_signature
from tests.helpers import DATA, Tenant, wait_until

PLATFORMS = DATA / "platforms"


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


def read_channel(client: httpx.Client, tenant: Tenant, channel_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/channels/{channel_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def platform_mentions(client: httpx.Client, tenant: Tenant, platform: str) -> list[dict[str, Any]]:
    """The tenant's mentions of one platform (one page of up to 100)."""
    response = client.get("/v1/mentions", headers=tenant.headers, params={"platform": platform, "limit": 100})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def all_analysed(client: httpx.Client, tenant: Tenant, platform: str, count: int) -> list[dict[str, Any]]:
    """Wait until `count` mentions of the platform are stored and analysed; return them."""

    def ready() -> list[dict[str, Any]] | None:
        items = platform_mentions(client, tenant, platform)
        done = [m for m in items if m["analysis_status"] == "analysed" and m["analysis"] is not None]
        return items if len(items) >= count and len(done) == len(items) else None

    return wait_until(ready, timeout=60, what=f"{count} analysed {platform} mentions")


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Answer a stand-in platform's request with `body` as JSON."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class FakeMastodon:
    """A Mastodon server replaying recorded statuses: `min_id` paging, newest first, like the real API.
    With `streaming_url` set, `/api/v2/instance` names it as the instance's streaming address."""

    def __init__(self, statuses: list[dict[str, Any]]) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict[str, list[str]]] = []
        self.streaming_url: str | None = None
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path == "/api/v2/instance" and fake.streaming_url:
                    send_json(self, 200, {"configuration": {"urls": {"streaming": fake.streaming_url}}})
                    return
                if not parts.path.startswith("/api/v1/timelines/tag/"):
                    self.send_response(404)
                    self.end_headers()
                    return
                with fake.lock:
                    fake.requests.append(query)
                    items = sorted(fake.statuses, key=lambda s: int(s["id"]))
                min_id = query.get("min_id", [None])[0]
                limit = int(query.get("limit", ["20"])[0])
                if min_id is not None:
                    items = [s for s in items if int(s["id"]) > int(min_id)]
                # min_id pages are the oldest `limit` after the cursor, returned newest first.
                page = list(reversed(items[:limit]))
                send_json(self, 200, page)

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


class WebSocketStandIn:
    """A platform's websocket endpoint in its own thread: every upgrade request is kept (path, query,
    headers), `fail_handshakes` answers that many with 500, `push()` sends messages to the open sockets and
    `drop()` cuts them without a closing handshake (a crashed upstream). `replay` says what a new socket
    gets first."""

    def __init__(self) -> None:
        self.handshakes: list[dict[str, list[str]]] = []
        self.headers: list[dict[str, str]] = []
        self.rejected = 0
        self.fail_handshakes = 0
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.queues: dict[ServerConnection, asyncio.Queue[dict[str, Any]]] = {}
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)

    async def _serve(self) -> Server:
        return await serve(self._handler, "127.0.0.1", 0, process_request=self._process_request)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        with self.lock:
            self.handshakes.append(parse_qs(urlsplit(request.path).query))
            self.headers.append({k.lower(): v for k, v in request.headers.raw_items()})
            if self.fail_handshakes > 0:
                self.fail_handshakes -= 1
                self.rejected += 1
                return connection.respond(HTTPStatus.INTERNAL_SERVER_ERROR, "upstream unavailable\n")
        return None

    def replay(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """What a socket opened with this query is sent before live messages (nothing by default)."""
        return []

    def wanted(self, message: dict[str, Any], query: dict[str, list[str]]) -> bool:
        return True

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        with self.lock:
            replay = self.replay(query)
            self.queues[ws] = queue
        try:
            for message in replay:
                if self.wanted(message, query):
                    await ws.send(json.dumps(message))
            closed = asyncio.ensure_future(ws.wait_closed())
            while True:
                getting = asyncio.ensure_future(queue.get())
                await asyncio.wait({getting, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed.done():
                    getting.cancel()
                    return
                message = getting.result()
                if self.wanted(message, query):
                    await ws.send(json.dumps(message))
        except ConnectionClosed:
            return
        finally:
            self.queues.pop(ws, None)

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    def push(self, *messages: dict[str, Any]) -> None:
        """Send messages to every open socket (live)."""

        def send() -> None:
            for queue in self.queues.values():
                for message in messages:
                    queue.put_nowait(message)

        self.loop.call_soon_threadsafe(send)

    def drop(self) -> None:
        """Cut every open socket without a closing handshake (a crashed upstream)."""

        def cut() -> None:
            for ws in list(self.queues):
                ws.transport.abort()

        self.loop.call_soon_threadsafe(cut)

    def open_sockets(self) -> int:
        return len(self.queues)

    def close(self) -> None:
        async def stop() -> None:
            for ws in list(self.queues):
                ws.transport.abort()
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class FakeJetstream(WebSocketStandIn):
    """A Jetstream instance replaying recorded events over WebSocket.

    Like the real one: `/subscribe?wantedCollections=...&cursor=<time_us>` replays the stored events from
    the cursor on (inclusive; no cursor: everything stored, as if live), then streams events added later.
    """

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = sorted(events, key=lambda e: int(e["time_us"]))
        super().__init__()

    def replay(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        return [e for e in self.events if cursor is None or int(e["time_us"]) >= cursor]

    def wanted(self, message: dict[str, Any], query: dict[str, list[str]]) -> bool:
        collections = query.get("wantedCollections", [])
        if message["kind"] != "commit" or not collections:
            return True
        return bool(message["commit"]["collection"] in collections)

    def add(self, *events: dict[str, Any]) -> None:
        """Store events (for later replays) and stream them to every open socket (a live event)."""
        with self.lock:
            self.events.extend(events)
        self.push(*events)

    def cursors(self) -> list[str | None]:
        with self.lock:
            return [q.get("cursor", [None])[0] for q in self.handshakes]


class FakeMastodonStream(WebSocketStandIn):
    """Mastodon's streaming API (`/api/v1/streaming?stream=hashtag&tag=…`): live messages only, no replay,
    each `{"stream": [...], "event": ..., "payload": "<JSON>"}`."""

    def wanted(self, message: dict[str, Any], query: dict[str, list[str]]) -> bool:
        return bool(message["stream"] == [query.get("stream", [""])[0], *query.get("tag", [])])


@dataclass
class FeedDocument:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    conditional: bool = True  # honours If-None-Match / If-Modified-Since (many feeds do not)


class FakeFeeds:
    """A web server publishing RSS and Atom documents with ETag / Last-Modified, like a blog does.

    A conditional GET that matches the current version is answered 304 Not Modified. `fail_next`
    answers that many requests with 500. Every request's path, conditional headers and status are kept.
    """

    def __init__(self) -> None:
        self.documents: dict[str, FeedDocument] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with fake.lock:
                    doc = fake.documents.get(self.path)
                    record: dict[str, Any] = {
                        "path": self.path,
                        "if_none_match": self.headers.get("If-None-Match"),
                        "if_modified_since": self.headers.get("If-Modified-Since"),
                    }
                    fake.requests.append(record)
                    if fake.fail_next > 0:
                        fake.fail_next -= 1
                        status = 500
                    elif doc is None:
                        status = 404
                    elif doc.conditional and (
                        (doc.etag and record["if_none_match"] == doc.etag)
                        or (
                            not record["if_none_match"]
                            and doc.last_modified
                            and record["if_modified_since"] == doc.last_modified
                        )
                    ):
                        status = 304
                    else:
                        status = 200
                    record["status"] = status
                self.send_response(status)
                if status == 200 and doc is not None:
                    self.send_header("Content-Type", doc.content_type)
                    self.send_header("Content-Length", str(len(doc.body)))
                    if doc.etag:
                        self.send_header("ETag", doc.etag)
                    if doc.last_modified:
                        self.send_header("Last-Modified", doc.last_modified)
                    self.end_headers()
                    self.wfile.write(doc.body)
                    return
                if status == 304 and doc is not None and doc.etag:
                    self.send_header("ETag", doc.etag)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def publish(self, path: str, document: FeedDocument) -> None:
        with self.lock:
            self.documents[path] = document

    def seen(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


class FakeGraph:
    """The Graph API's mentioned-comment / mentioned-media reads, answered from recorded objects.

    `GET /v21.0/{ig-user-id}?fields=mentioned_comment.comment_id(ID){...}` (or `mentioned_media.media_id`)
    with `Authorization: Bearer <token>`. Unknown ids get Meta's code-100 error, a wrong token code 190.
    `failing` ids are answered 500 (a transient Meta error) that many times; `hold()` keeps every request
    waiting until `release()`.
    """

    FIELDS = re.compile(
        r"^mentioned_(comment|media)\.(?:comment|media)_id\(([0-9A-Za-z_]+)\)\{[^}]*(\{[^}]*\})?[^}]*\}$"
    )

    def __init__(self, *, token: str, app_secret: str) -> None:
        self.token = token
        self.app_secret = app_secret
        self.objects: dict[str, dict[str, Any]] = {}
        self.failing: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self.waiting = 0
        self.released = threading.Event()
        self.released.set()
        self.lock = threading.Lock()
        errors = fixture_json("meta/graph_errors.json")
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                match = fake.FIELDS.match(query.get("fields", ""))
                object_id = match.group(2) if match else None
                record = {
                    "path": parts.path,
                    "query": query,
                    "authorization": self.headers.get("Authorization"),
                    "object_id": object_id,
                }
                with fake.lock:
                    fake.requests.append(record)
                    fake.waiting += 1
                fake.released.wait(30)
                with fake.lock:
                    fake.waiting -= 1
                    proof = hmac.new(
                        fake.app_secret.encode(), fake.token.encode(), hashlib.sha256
                    ).hexdigest()
                    if (
                        record["authorization"] != f"Bearer {fake.token}"
                        or query.get("appsecret_proof") != proof
                    ):
                        status, body = 400, errors["token"]
                    elif object_id is not None and fake.failing.get(object_id, 0) > 0:
                        fake.failing[object_id] -= 1
                        status, body = 500, errors["unexpected"]
                    elif object_id is None or object_id not in fake.objects:
                        status, body = 400, errors["gone"]
                    else:
                        status, body = 200, fake.objects[object_id]
                    record["status"] = status
                send_json(self, status, body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v21.0"

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def served(self, object_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["object_id"] == object_id]


GRAPH_TOKEN = "EAAJkZCz7graph-token-4f1e9a"
GRAPH_APP_SECRET = "meta-app-secret-1c9d2e"


APP_SECRET = "whsec-meta-7d1c0e"
VERIFY_TOKEN = "vt-3b9f"


def post_meta(
    client: httpx.Client, platform: str, channel_id: str, body: bytes, secret: str = APP_SECRET
) -> httpx.Response:
    # Signed as Meta does: HMAC-SHA256 of the exact bytes with the app secret, hex.
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert signature == meta_signature(body, secret)
    return client.post(
        f"/v1/inbound/{platform}/{channel_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )


@dataclass
class Recorded:
    """One request a platform stand-in received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class RecordingPlatform:
    """A platform API that records every request and answers from a script: per path, a list of
    (status, JSON body) used in turn, the last one repeated; 404 for any other path."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: dict[str, list[tuple[int, Any]]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                with fake.lock:
                    fake.requests.append(
                        Recorded(
                            self.command,
                            parts.path,
                            parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    answers = fake.script.get(parts.path)
                    status, answer = (
                        (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else (404, {})
                    )
                send_json(self, status, answer)

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, *answers: tuple[int, Any]) -> None:
        with self.lock:
            self.script[path] = list(answers)

    def posts(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and r.path == path]

    def all_posts(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST"]

"""Small factories and waits used across the test suite."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
from nats.js.api import DeliverPolicy
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from rapport.stack import Proc, Stack, free_port
from shared.events.bus import Bus
from shared.events.envelope import CloudEvent

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
PROBLEM_JSON = "application/problem+json"
# Recorded platform payloads and the labelled analysis sets (written by the project).
DATA = Path(__file__).resolve().parent / "data"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


@dataclass
class User:
    user_id: str
    tenant_id: str
    email: str
    password: str
    role: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass
class Tenant(User):
    name: str = ""
    users: list[User] = field(default_factory=list)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def login(client: httpx.Client, email: str, password: str) -> dict[str, Any]:
    response = client.post("/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def signup(client: httpx.Client) -> Tenant:
    """A fresh tenant, created through the public API, with its owner logged in."""
    name = unique("Acme")
    email = f"{unique('owner')}@example.com"
    response = client.post(
        "/v1/tenants", json={"name": name, "admin_email": email, "admin_password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    tokens = login(client, email, PASSWORD)
    return Tenant(
        user_id=body["user"]["id"],
        tenant_id=body["tenant"]["id"],
        email=email,
        password=PASSWORD,
        role="owner",
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        name=name,
    )


def add_user(client: httpx.Client, tenant: Tenant, role: str) -> User:
    """Invite a user with `role` into the tenant and log them in."""
    email = f"{unique(role)}@example.com"
    response = client.post(
        "/v1/users",
        headers=tenant.headers,
        json={
            "email": email,
            "password": PASSWORD,
            "role": role,
            "display_name": f"{role.title()} {len(tenant.users) + 1}",
        },
    )
    assert response.status_code == 201, response.text
    tokens = login(client, email, PASSWORD)
    user = User(
        user_id=response.json()["id"],
        tenant_id=tenant.tenant_id,
        email=email,
        password=PASSWORD,
        role=role,
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
    )
    tenant.users.append(user)
    return user


def mention_payload(**overrides: Any) -> dict[str, Any]:
    """A valid `POST /v1/mentions` body; override any field."""
    body: dict[str, Any] = {
        "platform": "x",
        "external_id": uuid.uuid4().hex,
        "text": "My order arrived broken and support is not answering. Terrible!",
        "created_at": datetime.now(UTC).isoformat(),
        "url": "https://example.com/status/1",
        "author": {"handle": unique("@user"), "display_name": "Sam Doe", "followers": 120},
    }
    body.update(overrides)
    return body


def wait_until(
    fn: Callable[[], T | None], *, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll `fn` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


Event = dict[str, Any]


async def find_event_async(
    nats_url: str, subject: str, match: Callable[[Event], bool], timeout: float
) -> Event | None:
    """The first event on `subject` that `match` accepts, or None after `timeout` seconds."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        # An ephemeral ordered consumer replays the domain's stream from the start, then follows it.
        stream = subject.split(".", 1)[0].upper()
        sub = await js.subscribe(
            subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                msg = await sub.next_msg(timeout=remaining)
            except nats.errors.TimeoutError:
                break
            event: Event = json.loads(msg.data)
            if match(event):
                return event
        return None
    finally:
        await nc.close()


def find_event(nats_url: str, subject: str, match: Callable[[Event], bool], timeout: float = 15.0) -> Event:
    """The first event on `subject` that `match` accepts, read from JetStream as any consumer would."""
    event = asyncio.run(find_event_async(nats_url, subject, match, timeout))
    assert event is not None, f"no {subject} event matched within {timeout}s"
    return event


def collect_events(nats_url: str, subject: str, keep: Callable[[Event], bool], timeout: float) -> list[Event]:
    """Every event on `subject` that `keep` accepts, read from JetStream for `timeout` seconds."""
    kept: list[Event] = []

    def match(event: Event) -> bool:
        if keep(event):
            kept.append(event)
        return False

    asyncio.run(find_event_async(nats_url, subject, match, timeout))
    return kept


def publish_event(nats_url: str, event: CloudEvent, *, msg_ids: tuple[str, ...] = ()) -> None:
    """Publish an event straight to JetStream (its subject is its type); each broker message id is one
    delivery the broker will not de-duplicate, the event's own id by default."""

    async def publish() -> None:
        bus = Bus(nats_url, name="rapport-tests")
        await bus.connect()
        try:
            for msg_id in msg_ids or (event.id,):
                await bus.publish_raw(subject=event.type, body=event.to_bytes(), msg_id=msg_id)
        finally:
            await bus.close()

    asyncio.run(publish())


def wait_for_agents(client: httpx.Client, tenant: Tenant, n: int) -> list[dict[str, Any]]:
    """Wait until engagement's routing knows `n` agents of the tenant (users arrive as events)."""

    def known() -> list[dict[str, Any]] | None:
        response = client.get("/v1/agents", headers=tenant.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items if len(items) >= n else None

    return wait_until(known, what=f"engagement to know {n} agent(s)")


def set_presence(
    client: httpx.Client, user: User, status: str = "online", *, base_url: str | None = None
) -> dict[str, Any]:
    """Set an agent's presence (waiting until engagement knows the agent: users arrive as events);
    through the gateway, or straight to an engagement process at `base_url`."""
    url = f"{base_url or ''}/v1/agents/me/presence"

    def put() -> dict[str, Any] | None:
        response = client.put(url, headers=user.headers, json={"status": status})
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return wait_until(put, what=f"agent {user.user_id} to be {status}")


def online_agent(client: httpx.Client, tenant: Tenant) -> User:
    """A new agent of the tenant, online (known to routing, ready for conversations)."""
    agent = add_user(client, tenant, "agent")
    set_presence(client, agent)
    return agent


def _answers(url: str, path: str) -> bool:
    try:
        return httpx.get(f"{url}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def replica(
    stack: Stack, service: str, log_dir: Path, *, env: dict[str, str], ready: str = "/readyz"
) -> Iterator[str]:
    """Another process of `service` on the stack's databases and broker, with `env` on top of the stack's
    environment for it; its base URL while the block runs."""
    module = "gateway" if service == "gateway" else f"services.{service}"
    port = free_port()
    name = f"{service}-replica-{uuid.uuid4().hex[:6]}"
    proc = Proc(
        name,
        [sys.executable, "-m", module, "--port", str(port)],
        port,
        log_dir / f"{name}.log",
        env={**stack.procs[service].env, **env},
    )
    proc.spawn()
    try:
        wait_until(
            lambda: _answers(proc.url, ready) or not proc.alive(), timeout=60, what=f"{name} to answer"
        )
        assert proc.alive(), proc.log_path.read_text(errors="replace")
        yield proc.url
    finally:
        proc.stop()


async def create_tables(engine: AsyncEngine) -> None:
    """Create the tables of every model imported in this process, for throw-away databases of tests and
    benches only: a service's database is created and changed by its migrations (shared/migrations.py)."""
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)

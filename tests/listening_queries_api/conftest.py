"""Fixtures of the listening-query tests: re-used from tests/listening, plus query helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import nats
from nats.js.api import DeliverPolicy

from rapport.stack import Stack
from tests.helpers import User
from tests.listening.conftest import accounts, direct, other_tenant, tenant  # noqa: F401  (fixtures)


def create_query(client: httpx.Client, user: User, expression: str, **fields: Any) -> dict[str, Any]:
    """Create a listening query through the gateway; return it as stored."""
    body = {"name": fields.pop("name", "q"), "kind": fields.pop("kind", "brand"), "expression": expression}
    body.update(fields)
    response = client.post("/v1/listening/queries", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


Event = dict[str, Any]


async def _find(nats_url: str, subject: str, match: Callable[[Event], bool], timeout: float) -> Event | None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            subject, stream="LISTENING", ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
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


def find_event(stack: Stack, subject: str, match: Callable[[Event], bool], timeout: float = 15.0) -> Event:
    """The first event on `subject` (LISTENING stream, replayed from the start) that `match` accepts."""
    event = asyncio.run(_find(stack.nats_url, subject, match, timeout))
    assert event is not None, f"no {subject} event matched within {timeout}s"
    return event

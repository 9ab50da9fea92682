"""Reply adapters alone: how a platform's refusal is classified and reported (against an aiohttp stand-in)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiohttp import web

from services.listening.channels.connectors import (
    OutboundReply,
    ReplyRefused,
    SendError,
    send_mastodon,
    send_meta,
    send_whatsapp,
    send_x,
)
from services.listening.channels.connectors.replies import MAX_ERROR
from tests.listening.channels.connectors.helpers import http_server

TOKEN = "EAAGm0PX4ZCpsBA-reply-token"


def answering(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return app


async def meta_failure(app: web.Application) -> SendError:
    reply = OutboundReply(key="m1", kind="public", text="Hi", in_reply_to="1_2")
    async with http_server(app) as base, httpx.AsyncClient() as client:
        with pytest.raises(SendError) as failed:
            await send_meta(client, reply, access_token=TOKEN, graph_base=base)
    return failed.value


@pytest.mark.anyio
async def test_meta_throttling_codes_are_retryable_even_as_4xx() -> None:
    error = await meta_failure(
        answering(400, {"error": {"message": "Application request limit reached", "code": 4}})
    )
    assert error.retryable and error.status == 400
    assert "Application request limit reached" in error.message


@pytest.mark.anyio
async def test_a_refusal_is_final_cut_short_and_never_carries_the_token() -> None:
    message = f"Invalid OAuth access token {TOKEN} " + "x" * 1000
    error = await meta_failure(answering(400, {"error": {"message": message, "code": 190}}))
    assert not error.retryable
    assert TOKEN not in error.message and len(error.message) <= MAX_ERROR


@pytest.mark.anyio
async def test_429_carries_retry_after_and_5xx_is_retryable() -> None:
    limited = await meta_failure(answering(429, {}, {"Retry-After": "7"}))
    assert limited.retryable and limited.retry_after == 7.0
    down = await meta_failure(answering(502, {"error": {"message": "Bad gateway"}}))
    assert down.retryable and down.status == 502


@pytest.mark.anyio
async def test_no_answer_in_time_is_retryable() -> None:
    reply = OutboundReply(key="m1", kind="public", text="Hi", in_reply_to="1")
    # Nothing listens on port 9 (discard): the connection is refused, a network error.
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(SendError) as failed:
            await send_mastodon(client, reply, access_token=TOKEN, base_url="http://127.0.0.1:9")
    assert failed.value.retryable and failed.value.status is None


@pytest.mark.anyio
async def test_a_reply_without_its_target_is_refused_before_any_request() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ReplyRefused):
            await send_whatsapp(
                client,
                OutboundReply(key="m1", kind="direct", text="Hi"),
                access_token=TOKEN,
                phone_number_id="1065",
                graph_base="http://127.0.0.1:9",
            )
        with pytest.raises(ReplyRefused):
            await send_mastodon(
                client,
                OutboundReply(key="m1", kind="public", text="Hi"),
                access_token=TOKEN,
                base_url="http://127.0.0.1:9",
            )


@pytest.mark.anyio
async def test_mastodon_direct_message_mentions_the_recipient_once() -> None:
    seen: list[dict[str, Any]] = []

    async def statuses(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.json_response({"id": "42"})

    app = web.Application()
    app.router.add_post("/api/v1/statuses", statuses)
    async with http_server(app) as base, httpx.AsyncClient() as client:
        for text in ("Sent you the tracking link", "@ana@kettle.social here it is"):
            reply = OutboundReply(key=text, kind="direct", text=text, recipient="@ana@kettle.social")
            assert await send_mastodon(client, reply, access_token=TOKEN, base_url=base) == "42"
    assert [s["status"] for s in seen] == [
        "@ana@kettle.social Sent you the tracking link",
        "@ana@kettle.social here it is",
    ]
    assert all(s["visibility"] == "direct" for s in seen)


@pytest.mark.anyio
async def test_instagram_comment_replies_use_the_replies_edge_and_x_dms_the_conversation() -> None:
    seen: list[tuple[str, Any]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, await request.json()))
        if request.path.startswith("/2/dm_conversations/"):
            return web.json_response(
                {"data": {"dm_conversation_id": "1-2", "dm_event_id": "dm-9"}}, status=201
            )
        return web.json_response({"id": "17900000000000001"})

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    async with http_server(app) as base, httpx.AsyncClient() as client:
        comment = OutboundReply(
            key="m1",
            kind="public",
            text="Thanks!",
            in_reply_to="17858893269000001",
            target_platform="instagram",
        )
        assert await send_meta(client, comment, access_token=TOKEN, graph_base=base) == "17900000000000001"
        dm = OutboundReply(key="m2", kind="direct", text="Check your DMs", recipient="2244994945")
        assert await send_x(client, dm, access_token=TOKEN, api_base=base) == "dm-9"
    assert seen == [
        ("/17858893269000001/replies", {"message": "Thanks!"}),
        ("/2/dm_conversations/with/2244994945/messages", {"text": "Check your DMs"}),
    ]

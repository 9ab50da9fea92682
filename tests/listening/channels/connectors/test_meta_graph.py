"""Instagram @mentions read from the Graph API: the request, the answer, and how errors are classified."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from services.listening.channels.connectors import (
    GraphError,
    MentionReference,
    PayloadError,
    fetch_mentioned,
    parse_mentioned,
    parse_meta,
)
from services.listening.channels.connectors.meta import graph_error, mentioned_fields
from tests.listening.channels.connectors.helpers import http_server
from tests.listening.channels.connectors.payloads import load

TOKEN = "EAAGm0PX4ZCpsBA-test-token"
APP_SECRET = "meta-app-secret-for-graph"
IG_USER = "17841405309211844"


def references() -> tuple[MentionReference, MentionReference]:
    in_comment, in_caption = parse_meta(load("meta/instagram_mentions.json")).references
    return in_comment, in_caption


def test_mentioned_comment_and_caption_become_mentions() -> None:
    in_comment, in_caption = references()
    comment = parse_mentioned(in_comment, load("meta/instagram_mentioned_comment.json"))
    assert comment is not None
    assert (comment.platform, comment.kind, comment.external_id) == (
        "instagram",
        "comment",
        in_comment.external_id,
    )
    assert comment.text.startswith("@kettleandco the lid of my kettle cracked")
    assert comment.created_at == datetime(2025, 3, 10, 13, 44, 51, tzinfo=UTC)
    assert comment.in_reply_to == "17918195224117851"  # the post it was written under
    assert comment.url == "https://www.instagram.com/p/DG4kTq1Ms2Z/"
    assert comment.author.handle == "unknown"  # Meta does not say who wrote a mentioning comment
    assert comment.account_id == IG_USER and comment.engagement and comment.engagement.likes == 3
    caption = parse_mentioned(in_caption, load("meta/instagram_mentioned_media.json"))
    assert caption is not None
    assert (caption.kind, caption.external_id, caption.author.handle) == (
        "post",
        "17918195224117999",
        "lena.brews",
    )
    assert caption.url == "https://www.instagram.com/p/DG4jZ0aMfQx/"
    assert caption.engagement and (caption.engagement.likes, caption.engagement.replies) == (41, 5)
    # A photo without a caption has nothing to read; an answer without the object is not an answer.
    bare = load("meta/instagram_mentioned_media.json")
    bare["mentioned_media"]["caption"] = ""
    assert parse_mentioned(in_caption, bare) is None
    with pytest.raises(PayloadError):
        parse_mentioned(in_comment, {"id": IG_USER})


def test_fields_expression_names_the_documented_node_and_refuses_odd_ids() -> None:
    in_comment, in_caption = references()
    assert mentioned_fields(in_comment) == (
        "mentioned_comment.comment_id(17894227972186120){id,text,timestamp,like_count,media{id,permalink}}"
    )
    assert mentioned_fields(in_caption).startswith("mentioned_media.media_id(17918195224117999){id,caption,")
    odd = in_comment.model_copy(update={"external_id": "1){id},mentioned_media.media_id(2"})
    with pytest.raises(PayloadError):
        mentioned_fields(odd)


def test_graph_errors_are_classified() -> None:
    errors: dict[str, Any] = load("meta/graph_errors.json")
    gone = graph_error(400, json.dumps(errors["gone"]).encode())
    assert (gone.code, gone.permanent) == (100, True)
    throttled = graph_error(400, json.dumps(errors["throttled"]).encode())
    assert (throttled.code, throttled.permanent) == (4, False)
    assert not graph_error(500, json.dumps(errors["unexpected"]).encode()).permanent
    assert not graph_error(400, json.dumps(errors["token"]).encode()).permanent  # retried, then given up
    assert graph_error(404, b"<html>not found</html>").permanent
    limited = graph_error(429, b"", "30")
    assert not limited.permanent and limited.retry_after == 30.0


@pytest.mark.anyio
async def test_fetch_sends_the_token_in_a_header_with_the_appsecret_proof() -> None:
    in_comment, _ = references()
    seen: list[web.Request] = []
    errors: dict[str, Any] = load("meta/graph_errors.json")

    async def node(request: web.Request) -> web.Response:
        seen.append(request)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(errors["token"], status=400)
        if len(seen) == 2:
            return web.json_response(errors["unexpected"], status=500)
        return web.json_response(load("meta/instagram_mentioned_comment.json"))

    app = web.Application()
    app.router.add_get("/v21.0/{ig_user}", node)
    async with http_server(app) as base, httpx.AsyncClient() as client:
        mention = await fetch_mentioned(
            in_comment,
            client=client,
            access_token=TOKEN,
            app_secret=APP_SECRET,
            graph_base=f"{base}/v21.0/",
        )
        assert mention is not None and mention.external_id == in_comment.external_id
        with pytest.raises(GraphError) as failed:
            await fetch_mentioned(in_comment, client=client, access_token=TOKEN, graph_base=f"{base}/v21.0")
        assert failed.value.status == 500 and failed.value.code == 2 and not failed.value.permanent
        with pytest.raises(PayloadError):  # no account to read it through
            await fetch_mentioned(
                in_comment.model_copy(update={"account_id": None}),
                client=client,
                access_token=TOKEN,
                graph_base=base,
            )

    first = seen[0]
    assert first.match_info["ig_user"] == IG_USER
    assert "access_token" not in first.query and TOKEN not in str(first.url)
    assert first.query["fields"] == mentioned_fields(references()[0])
    proof = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert first.query["appsecret_proof"] == proof
    assert "appsecret_proof" not in seen[1].query  # only with an app secret

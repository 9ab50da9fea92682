"""Platform windows in listening: WhatsApp message templates stored per channel and sent as the Cloud
API's template messages; Messenger / Instagram replies past 24 hours with the HUMAN_AGENT tag; what each
window refuses, before the platform is called."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from rapport.stack import Stack
from services.listening.channels.connectors.meta import appsecret_proof
from tests.helpers import Tenant, assert_problem, wait_until
from tests.listening.channels.helpers import APP_SECRET, RecordingPlatform, platform_mentions, post_meta
from tests.listening.channels.test_replies import (
    PAGE_TOKEN,
    WA_TOKEN,
    meta_channel,
    outcome,
    request_reply,
    whatsapp_channel,
    whatsapp_message,
)

WA_PATH = "/v21.0/106540352242922/messages"
ORDER_UPDATE = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "body": "Hi {{1}}, your order {{2}} has shipped. Reply here if {{2}} has a problem.",
}


def templates_url(channel_id: str) -> str:
    return f"/v1/channels/{channel_id}/templates"


def add_template(client: httpx.Client, tenant: Tenant, channel_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(templates_url(channel_id), headers=tenant.headers, json={**ORDER_UPDATE, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def messenger_message(sender: str, text: str, sent_at: float, *, platform: str = "page") -> bytes:
    """A Messenger (`page`) or Instagram (`instagram`) webhook delivery of one private message."""
    ms = int(sent_at * 1000)
    return json.dumps(
        {
            "object": platform,
            "entry": [
                {
                    "id": "104857392001234",
                    "time": ms,
                    "messaging": [
                        {
                            "sender": {"id": sender},
                            "recipient": {"id": "104857392001234"},
                            "timestamp": ms,
                            "message": {"mid": f"m_{uuid.uuid4().hex}", "text": text},
                        }
                    ],
                }
            ],
        }
    ).encode()


def customer_wrote(
    client: httpx.Client, tenant: Tenant, channel_id: str, platform: str, body: bytes, count: int
) -> None:
    assert (
        post_meta(client, "whatsapp" if platform == "whatsapp" else "meta", channel_id, body).status_code
        == 200
    )
    wait_until(
        lambda: len(platform_mentions(client, tenant, platform)) >= count or None,
        what=f"the {platform} message stored",
    )


# --- the templates API ---------------------------------------------------------------------------


def test_templates_are_stored_per_whatsapp_channel(
    client: httpx.Client, tenant: Tenant, other_tenant: Tenant, platform: RecordingPlatform
) -> None:
    channel_id = whatsapp_channel(client, tenant, platform)
    created = add_template(client, tenant, channel_id, category="utility")
    assert created["parameters"] == 2 and created["category"] == "UTILITY"
    assert created["channel_id"] == channel_id
    spanish = add_template(
        client, tenant, channel_id, language="es", body="Hola {{1}}, tu pedido {{2}} ya salió."
    )
    page = client.get(templates_url(channel_id), headers=tenant.headers).json()
    assert [t["id"] for t in page["items"]] == [spanish["id"], created["id"]]

    # The same name and language again; a body with gaps or named parameters; a channel that is not WhatsApp.
    assert_problem(client.post(templates_url(channel_id), headers=tenant.headers, json=ORDER_UPDATE), 409)
    for body in ("Hi {{2}}", "Hi {{name}}"):
        bad = {**ORDER_UPDATE, "name": "other", "body": body}
        assert_problem(client.post(templates_url(channel_id), headers=tenant.headers, json=bad), 422)
    meta = meta_channel(client, tenant, platform)
    problem = assert_problem(client.post(templates_url(meta), headers=tenant.headers, json=ORDER_UPDATE), 422)
    assert "WhatsApp" in problem["detail"]

    # Another tenant sees none of it.
    assert_problem(client.get(templates_url(channel_id), headers=other_tenant.headers), 404)
    assert_problem(
        client.post(templates_url(channel_id), headers=other_tenant.headers, json=ORDER_UPDATE), 404
    )
    gone = client.delete(f"{templates_url(channel_id)}/{created['id']}", headers=other_tenant.headers)
    assert_problem(gone, 404)

    assert (
        client.delete(f"{templates_url(channel_id)}/{created['id']}", headers=tenant.headers).status_code
        == 204
    )
    assert_problem(client.delete(f"{templates_url(channel_id)}/{created['id']}", headers=tenant.headers), 404)
    page = client.get(templates_url(channel_id), headers=tenant.headers).json()
    assert [t["id"] for t in page["items"]] == [spanish["id"]]


# --- WhatsApp: outside 24 hours, a template ------------------------------------------------------


def test_whatsapp_template_goes_out_past_the_window_in_the_cloud_api_shape(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer(WA_PATH, (200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.TPL1"}]}))
    channel_id = whatsapp_channel(client, tenant, platform)
    add_template(client, tenant, channel_id)
    customer = f"3461{uuid.uuid4().int % 10**7:07d}"
    customer_wrote(
        client,
        tenant,
        channel_id,
        "whatsapp",
        whatsapp_message(customer, "¿Y mi pedido?", time.time() - 30 * 3600),
        1,
    )

    text = request_reply(stack, tenant, channel_id, kind="direct", recipient=customer, text="Any news?")
    assert outcome(stack, "failed", text.message_id)["data"]["code"] == "outside_customer_service_window"
    request = request_reply(
        stack,
        tenant,
        channel_id,
        kind="direct",
        recipient=customer,
        text="[template order_update]",
        template={"name": "order_update", "language": "en_US", "parameters": ["Ana", "A-4521"]},
    )

    sent = outcome(stack, "sent", request.message_id)
    assert sent["data"]["platform_message_id"] == "wamid.TPL1"
    assert (
        sent["data"]["text"] == "Hi Ana, your order A-4521 has shipped. Reply here if A-4521 has a problem."
    )
    [call] = platform.posts(WA_PATH)
    assert call.headers["authorization"] == f"Bearer {WA_TOKEN}"
    assert call.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": customer,
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-4521"}],
                }
            ],
        },
    }


def test_unknown_template_or_wrong_parameters_fail_without_calling_the_platform(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    platform.answer(WA_PATH, (200, {"messages": [{"id": "wamid.never"}]}))
    channel_id = whatsapp_channel(client, tenant, platform)
    add_template(client, tenant, channel_id)
    meta = meta_channel(client, tenant, platform)
    customer = "34612000111"
    cases = [
        (
            channel_id,
            {"name": "order_update", "language": "es", "parameters": ["Ana", "A-1"]},
            "unknown_template",
        ),
        (channel_id, {"name": "order_shipped", "language": "en_US", "parameters": []}, "unknown_template"),
        (
            channel_id,
            {"name": "order_update", "language": "en_US", "parameters": ["Ana"]},
            "template_parameter_mismatch",
        ),
        (
            meta,
            {"name": "order_update", "language": "en_US", "parameters": ["Ana", "A-1"]},
            "templates_not_supported",
        ),
    ]
    for channel, template, code in cases:
        request = request_reply(
            stack, tenant, channel, kind="direct", recipient=customer, text="[template]", template=template
        )
        failed = outcome(stack, "failed", request.message_id)
        assert failed["data"]["code"] == code, failed["data"]
        assert failed["data"]["retryable"] is False and failed["data"]["attempts"] == 0
    assert platform.all_posts() == []


# --- Messenger / Instagram: the HUMAN_AGENT tag within 7 days --------------------------------------


def test_messenger_reply_after_a_day_is_tagged_human_agent_and_refused_after_a_week(
    client: httpx.Client, tenant: Tenant, stack: Stack, platform: RecordingPlatform
) -> None:
    path = "/v21.0/1029384756/messages"
    platform.answer(path, (200, {"recipient_id": "x", "message_id": "m_tagged_1"}))
    channel_id = meta_channel(client, tenant, platform)
    recent, old = str(uuid.uuid4().int % 10**16), str(uuid.uuid4().int % 10**16)
    customer_wrote(
        client,
        tenant,
        channel_id,
        "messenger",
        messenger_message(recent, "Any news?", time.time() - 3 * 86400),
        1,
    )
    customer_wrote(
        client, tenant, channel_id, "messenger", messenger_message(old, "Hello?", time.time() - 8 * 86400), 2
    )

    # An automatic message after 24 hours is refused; a person's reply goes with the tag.
    automatic = request_reply(stack, tenant, channel_id, kind="direct", recipient=recent, text="Rate us!")
    failed = outcome(stack, "failed", automatic.message_id)
    assert failed["data"]["code"] == "outside_customer_service_window"
    human = request_reply(
        stack,
        tenant,
        channel_id,
        kind="direct",
        recipient=recent,
        text="Your refund is on its way.",
        human_agent=True,
    )
    assert outcome(stack, "sent", human.message_id)["data"]["platform_message_id"] == "m_tagged_1"
    [call] = platform.posts(path)
    assert call.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert call.query["appsecret_proof"] == [appsecret_proof(PAGE_TOKEN, APP_SECRET)]
    assert call.body == {
        "recipient": {"id": recent},
        "message": {"text": "Your refund is on its way."},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
    }

    # Eight days on, not even a person may write.
    late = request_reply(
        stack, tenant, channel_id, kind="direct", recipient=old, text="Sorry!", human_agent=True
    )
    failed = outcome(stack, "failed", late.message_id)
    assert failed["data"]["code"] == "outside_human_agent_window"
    assert "7 days" in failed["data"]["error"]
    assert len(platform.posts(path)) == 1

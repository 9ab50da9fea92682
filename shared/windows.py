"""Platform messaging windows: when a business may send a private message, and of which kind.

The one definition engagement (refusing a reply up front, deciding whether a survey can go out) and
listening (refusing a reply request, choosing how to send it) both read:

- WhatsApp (Cloud API): a free-form message only within 24 hours of the customer's last message to the
  business number (the customer-service window); at any time, an approved message template.
- Messenger and Instagram private messages: a standard message (`messaging_type: RESPONSE`) within 24
  hours of the person's last message; after that, up to 7 days after it, only a person's reply sent with
  the `HUMAN_AGENT` message tag (never an automatic message such as a survey); past 7 days, nothing.
- Every other platform, and public replies (comments, posts) everywhere: no window.

`decide` is a pure function of the platform (as mentions name it: `whatsapp`, `messenger`,
`instagram`, ...), whether the message is private, when the customer last wrote (None: never), the time
now, whether a person wrote the reply, and whether it is a template. A window is open while
`now - last < window` (the instant it turns 24 hours it has closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

# WhatsApp's customer-service window and Meta's standard messaging window.
SERVICE_WINDOW = timedelta(hours=24)
# How long after the person's last message Messenger / Instagram take a person's reply with the
# HUMAN_AGENT tag.
HUMAN_AGENT_WINDOW = timedelta(days=7)
# Platforms (as mentions name them) whose private messages have a window.
WINDOWED_PLATFORMS = frozenset({"whatsapp", "messenger", "instagram"})
# Those whose window a person's reply can pass with the HUMAN_AGENT tag, and those that take templates.
TAGGED_PLATFORMS = frozenset({"messenger", "instagram"})
TEMPLATE_PLATFORMS = frozenset({"whatsapp"})
HUMAN_AGENT_TAG = "HUMAN_AGENT"

RefusalCode = Literal[
    "outside_customer_service_window", "outside_human_agent_window", "templates_not_supported"
]
# What may still be sent when a message is refused: an approved template (WhatsApp), or a person's reply
# (Messenger / Instagram within 7 days, when an automatic message was refused).
Alternative = Literal["platform_template", "human_agent_reply"]

_NAMES = {"whatsapp": "WhatsApp", "messenger": "Messenger", "instagram": "Instagram"}


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether the message may go out; if so with which Meta message tag (None: a standard message);
    if not, why (`code`, `reason`), when the window closed and what may be sent instead."""

    allowed: bool
    tag: str | None = None
    code: RefusalCode | None = None
    reason: str = ""
    closed_at: datetime | None = None
    alternatives: tuple[Alternative, ...] = ()


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 48:
        return f"{hours:.0f} hours ago"
    return f"{hours / 24:.0f} days ago"


def decide(
    platform: str | None,
    *,
    private: bool,
    last_inbound_at: datetime | None,
    now: datetime,
    human: bool,
    template: bool = False,
) -> Decision:
    """May this message go out now, and how (see the module's docstring)?"""
    platform = (platform or "").lower()
    name = _NAMES.get(platform, platform or "this platform")
    if template and platform not in TEMPLATE_PLATFORMS:
        return Decision(
            allowed=False,
            code="templates_not_supported",
            reason=f"Message templates are sent on WhatsApp only, not on {name}.",
        )
    if template or not private or platform not in WINDOWED_PLATFORMS:
        return Decision(allowed=True)
    since = None if last_inbound_at is None else now - last_inbound_at
    if since is not None and since < SERVICE_WINDOW:
        return Decision(allowed=True)
    wrote = "has never written" if since is None else f"last wrote {_ago(since)}"
    closed_at = None if last_inbound_at is None else last_inbound_at + SERVICE_WINDOW
    if platform in TEMPLATE_PLATFORMS:
        return Decision(
            allowed=False,
            code="outside_customer_service_window",
            reason=f"The customer {wrote}: WhatsApp allows a free-form message only within 24 hours of the "
            "customer's last message (the customer-service window). Send an approved message template "
            "instead.",
            closed_at=closed_at,
            alternatives=("platform_template",),
        )
    within_tag = since is not None and since < HUMAN_AGENT_WINDOW
    if within_tag and human:
        return Decision(allowed=True, tag=HUMAN_AGENT_TAG)
    if within_tag:
        return Decision(
            allowed=False,
            code="outside_customer_service_window",
            reason=f"The customer {wrote}: {name} allows an automatic message only within 24 hours of the "
            "person's last message; after that, until 7 days, only a person's reply (the HUMAN_AGENT tag).",
            closed_at=closed_at,
            alternatives=("human_agent_reply",),
        )
    return Decision(
        allowed=False,
        code="outside_human_agent_window",
        reason=f"The customer {wrote}: {name} allows a message within 24 hours of the person's last message, "
        "and a person's reply (the HUMAN_AGENT tag) within 7 days; nothing may be sent until they write "
        "again.",
        closed_at=None if last_inbound_at is None else last_inbound_at + HUMAN_AGENT_WINDOW,
    )

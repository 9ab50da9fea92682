"""Request and response models of channels, inbound deliveries and bulk import."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from services.listening.channels.connectors import BSKY_PDS, GRAPH_API, X_API
from shared.pagination import Page

ChannelPlatform = Literal["meta", "whatsapp", "x", "mastodon", "bluesky", "rss", "reviews"]
PUSH_PLATFORMS = frozenset({"meta", "whatsapp", "x"})
PULL_PLATFORMS = frozenset({"mastodon", "bluesky", "rss"})

_SECRET = Field(min_length=1, max_length=512)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCredentials(_Strict):
    """Meta's webhooks (WhatsApp Cloud API too): the app secret signing deliveries, the verify token."""

    app_secret: str = _SECRET
    verify_token: str = _SECRET


class MetaCredentials(WebhookCredentials):
    """Meta (Facebook, Instagram, Messenger); `access_token` reads Instagram @mentions (ids only) from
    the Graph API: without it they cannot be fetched."""

    access_token: str | None = Field(default=None, min_length=1, max_length=2048)


class WhatsAppCredentials(WebhookCredentials):
    """WhatsApp Cloud API: the webhook secrets, and `access_token` (a system user's token) to send."""

    access_token: str | None = Field(default=None, min_length=1, max_length=2048)


class XCredentials(_Strict):
    """X: `consumer_secret` signs webhook deliveries; `access_token` (an OAuth 2.0 user token with
    `tweet.write` / `dm.write`) sends replies as the brand's account."""

    consumer_secret: str = _SECRET
    access_token: str | None = Field(default=None, min_length=1, max_length=2048)


class MastodonCredentials(_Strict):
    access_token: str | None = Field(default=None, min_length=1, max_length=512)


class BlueskyCredentials(_Strict):
    """Bluesky: the account's handle (or DID) and an app password, to send replies as it (reading needs
    neither)."""

    identifier: str | None = Field(default=None, min_length=1, max_length=256)
    app_password: str | None = Field(default=None, min_length=1, max_length=512)


class NoCredentials(_Strict):
    pass


_GRAPH_BASE = Field(default=GRAPH_API, min_length=8, max_length=2048, pattern=r"^https?://")
_GRAPH_NODE = Field(default=None, min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_]+$")


class MetaSettings(_Strict):
    """Where the Graph API answers (a version is part of it); `page_id`: the Page (or Instagram account)
    private replies are sent from (`me`, the token's own Page, when not given)."""

    graph_base_url: str = _GRAPH_BASE
    page_id: str | None = _GRAPH_NODE


class WhatsAppSettings(_Strict):
    """Where the Graph API answers, and the business phone number replies are sent from."""

    graph_base_url: str = _GRAPH_BASE
    phone_number_id: str | None = _GRAPH_NODE


class XSettings(_Strict):
    """Where X's API v2 answers (replies are sent there)."""

    api_base_url: str = Field(default=X_API, min_length=8, max_length=2048, pattern=r"^https?://")


class _PollSettings(_Strict):
    poll_interval_s: float | None = Field(default=None, gt=0, le=86_400)


class MastodonSettings(_PollSettings):
    """One of `hashtag`, `notifications` (needs an access token) or `query`. `streaming`: a hashtag or the
    notifications live over the streaming API (edits and deletes included), after a REST catch-up;
    `streaming_url` only where the instance does not name its own."""

    base_url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://")
    hashtag: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^#?[^\s/#?]+$")
    notifications: bool = False
    query: str | None = Field(default=None, min_length=1, max_length=500)
    streaming: bool = False
    streaming_url: str | None = Field(default=None, min_length=6, max_length=2048, pattern=r"^wss?://")

    @model_validator(mode="after")
    def _one_source(self) -> MastodonSettings:
        if sum([bool(self.hashtag), self.notifications, bool(self.query)]) != 1:
            raise ValueError("give exactly one of hashtag, notifications or query")
        if self.streaming and self.query:
            raise ValueError("a search cannot be streamed: stream a hashtag or the notifications")
        return self


class BlueskySettings(_Strict):
    """A Jetstream endpoint (`wss://jetstream2.us-east.bsky.network`), optionally only some accounts;
    `pds_url`: where the account's replies are posted."""

    base_url: str = Field(min_length=6, max_length=2048, pattern=r"^wss?://")
    wanted_dids: list[str] = Field(default_factory=list, max_length=100)
    # The account's PDS, where replies are posted (XRPC).
    pds_url: str = Field(default=BSKY_PDS, min_length=8, max_length=2048, pattern=r"^https?://")


class RssSettings(_PollSettings):
    url: str = Field(min_length=8, max_length=2048, pattern=r"^https?://")


class ReviewsSettings(_Strict):
    source: str | None = Field(default=None, max_length=100)


PLATFORM_MODELS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "meta": (MetaCredentials, MetaSettings),
    "whatsapp": (WhatsAppCredentials, WhatsAppSettings),
    "x": (XCredentials, XSettings),
    "mastodon": (MastodonCredentials, MastodonSettings),
    "bluesky": (BlueskyCredentials, BlueskySettings),
    "rss": (NoCredentials, RssSettings),
    "reviews": (NoCredentials, ReviewsSettings),
}


def valid_credentials(platform: str, credentials: dict[str, Any]) -> dict[str, Any]:
    """The platform's credentials, checked; errors name the fields, never echo a secret's value."""
    try:
        creds = PLATFORM_MODELS[platform][0].model_validate(credentials)
    except ValueError as exc:
        fields = sorted({str(e["loc"][0]) for e in getattr(exc, "errors", lambda: [])() if e["loc"]})
        raise ValueError(f"invalid credentials for {platform}: {', '.join(fields) or 'shape'}") from None
    return creds.model_dump(exclude_none=True)


def valid_settings(platform: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The platform's settings, checked, defaults filled in."""
    return PLATFORM_MODELS[platform][1].model_validate(settings).model_dump(exclude_none=True)


class ChannelCreate(_Strict):
    """A connection to one platform; `credentials` are write-only (stored encrypted, never returned)."""

    platform: ChannelPlatform
    name: str = Field(min_length=1, max_length=200)
    credentials: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _per_platform(self) -> ChannelCreate:
        self.credentials = valid_credentials(self.platform, self.credentials)
        self.settings = valid_settings(self.platform, self.settings)
        return self


class ChannelUpdate(_Strict):
    """A change to a channel: a field given replaces the stored one whole (credentials rotate, settings
    re-point a puller, which then starts again from the new source's beginning)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    credentials: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None

    def checked(self, platform: str) -> ChannelUpdate:
        """This update validated against the channel's platform (raises ValueError)."""
        return ChannelUpdate.model_construct(
            name=self.name,
            credentials=None if self.credentials is None else valid_credentials(platform, self.credentials),
            settings=None if self.settings is None else valid_settings(platform, self.settings),
        )


class ChannelStatus(BaseModel):
    """How a pull connector is doing (push channels: when the platform last verified the webhook and when
    a delivery last arrived)."""

    running: bool = False
    last_success_at: datetime | None = None
    verified_at: datetime | None = Field(
        default=None,
        description="Webhook channels: when the platform's subscription check (Meta's hub.challenge, "
        "X's CRC) last passed with the stored credentials; null until it does, and again after new "
        "credentials.",
    )
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0
    ingested: int = 0
    cursor: Any = None
    # Meta: Instagram @mentions waiting to be read from the Graph API, and those it gave up on.
    fetches_pending: int = 0
    fetches_given_up: int = 0


class ChannelRead(BaseModel):
    """A channel without its credentials (only which ones are set)."""

    id: str
    platform: ChannelPlatform
    name: str
    settings: dict[str, Any]
    credentials_set: list[str]
    inbound_url: str | None = None
    status: ChannelStatus
    created_at: datetime


ChannelPage = Page[ChannelRead]


class InboundResult(BaseModel):
    """What one webhook delivery contained and what became of it."""

    accepted: int = 0
    duplicates: int = 0
    redacted: int = 0
    edited: int = 0
    skipped: int = 0
    # Mentions named by id only (Instagram @mentions), and how many of them were queued to be fetched.
    references: int = 0
    queued: int = 0


# --- WhatsApp message templates -------------------------------------------------------------------

# A body parameter: `{{1}}`, `{{2}}`, ... (spaces inside the braces allowed); any other `{{...}}` is refused.
TEMPLATE_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
TemplateCategory = Literal["MARKETING", "UTILITY", "AUTHENTICATION"]


def template_parameters(body: str) -> int:
    """How many parameters a template's body takes: its placeholders must be `{{1}}` to `{{n}}`, each
    present (in any order, repeats allowed); ValueError otherwise."""
    found = TEMPLATE_PLACEHOLDER.findall(body)
    if any(not name.isdigit() for name in found):
        raise ValueError("the body's parameters are positional: {{1}}, {{2}}, ...")
    numbers = {int(name) for name in found}
    if numbers != set(range(1, len(numbers) + 1)):
        raise ValueError("the body's parameters are numbered from {{1}} without gaps")
    return len(numbers)


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class TemplateCreate(_Strict):
    """An approved WhatsApp message template, as Meta approved it: its `name`, `language` code (`en_US`,
    `es`, `pt_BR`), `category` and `body` with `{{1}}`-style parameters."""

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    language: str = Field(min_length=2, max_length=16, pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
    category: Annotated[TemplateCategory, BeforeValidator(_upper)]
    body: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _placeholders(self) -> TemplateCreate:
        template_parameters(self.body)
        return self


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    channel_id: str
    name: str
    language: str
    category: str
    body: str
    # How many parameters the body takes ({{1}} to {{n}}): a reply naming the template gives that many.
    parameters: int
    created_at: datetime


TemplatePage = Page[TemplateRead]

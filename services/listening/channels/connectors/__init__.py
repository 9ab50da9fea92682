"""Platform connectors: webhook checks, payload parsers and pull connectors, with no service imports.

Each parser turns a platform's documented payload into a `ParseResult` of normalised `InboundMention`s,
`ComplianceEvent`s (delete / edit / withheld / user_delete) and, where the platform sends only an id,
`MentionReference`s. The service verifies the signature over the raw body first, then parses.
"""

from services.listening.channels.connectors.bluesky import JetstreamPuller, parse_jetstream_event
from services.listening.channels.connectors.feeds import FeedCursor, FeedPuller, parse_feed
from services.listening.channels.connectors.mastodon import (
    MastodonPuller,
    MastodonStreamPuller,
    parse_notifications,
    parse_status,
    parse_statuses,
    parse_streaming_event,
)
from services.listening.channels.connectors.meta import (
    GRAPH_API,
    GraphError,
    fetch_mentioned,
    parse_mentioned,
    parse_meta,
    parse_whatsapp,
)
from services.listening.channels.connectors.models import (
    Author,
    ComplianceEvent,
    Engagement,
    InboundMention,
    MentionReference,
    ParseResult,
    PayloadError,
)
from services.listening.channels.connectors.pulling import Backoff, Batch, Puller
from services.listening.channels.connectors.replies import (
    BSKY_PDS,
    X_API,
    OutboundReply,
    ReplyRefused,
    SendError,
    TemplateMessage,
    send_bluesky,
    send_mastodon,
    send_meta,
    send_whatsapp,
    send_x,
)
from services.listening.channels.connectors.reviews import parse_review_row
from services.listening.channels.connectors.signatures import (
    meta_verification_challenge,
    verify_meta_signature,
    verify_x_signature,
    x_crc_response,
    x_crc_token_ok,
)
from services.listening.channels.connectors.text import load_json
from services.listening.channels.connectors.x import (
    parse_tweet,
    parse_x,
    parse_x_activity,
    parse_x_compliance,
)

__all__ = [
    "BSKY_PDS",
    "GRAPH_API",
    "X_API",
    "Author",
    "Backoff",
    "Batch",
    "ComplianceEvent",
    "Engagement",
    "FeedCursor",
    "FeedPuller",
    "GraphError",
    "InboundMention",
    "JetstreamPuller",
    "MastodonPuller",
    "MastodonStreamPuller",
    "MentionReference",
    "OutboundReply",
    "ParseResult",
    "PayloadError",
    "Puller",
    "ReplyRefused",
    "SendError",
    "TemplateMessage",
    "fetch_mentioned",
    "load_json",
    "meta_verification_challenge",
    "parse_feed",
    "parse_jetstream_event",
    "parse_mentioned",
    "parse_meta",
    "parse_notifications",
    "parse_review_row",
    "parse_status",
    "parse_statuses",
    "parse_streaming_event",
    "parse_tweet",
    "parse_whatsapp",
    "parse_x",
    "parse_x_activity",
    "parse_x_compliance",
    "send_bluesky",
    "send_mastodon",
    "send_meta",
    "send_whatsapp",
    "send_x",
    "verify_meta_signature",
    "verify_x_signature",
    "x_crc_response",
    "x_crc_token_ok",
]

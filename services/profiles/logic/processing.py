"""The record of processing activities (Art. 30): what Rapport processes about people, why, on which
basis, where it is kept and for how long. Built from the constants below (kept true to the services'
tables) and the tenant's policy (bases, retention)."""

from __future__ import annotations

from typing import Any

from services.profiles.consent_schemas import ProcessingRecords
from services.profiles.logic.privacy_policy import read_policy
from shared.reads import Reader

PURPOSES: dict[str, tuple[str, list[str]]] = {
    "engagement": (
        "Replying to people who addressed the brand: the inbox, replies, surveys after a conversation.",
        ["engagement", "listening"],
    ),
    "profiling": (
        "One profile per customer across their handles: identity resolution, enrichment, segments, "
        "match suggestions, lifecycle and lifetime value.",
        ["profiles"],
    ),
    "marketing": (
        "Outreach and campaigns: segment exports for marketing, partner webhooks carrying a person's data "
        "for marketing.",
        ["profiles", "engagement"],
    ),
    "analytics": (
        "Aggregate counts: volumes, sentiment, response times, share of voice.",
        ["metrics", "listening"],
    ),
}

# Per service, the categories of personal data it keeps (its tables) and how long they stay.
CATEGORIES: list[dict[str, Any]] = [
    {
        "service": "listening",
        "data_subjects": "People who post about the brand or write to it on connected platforms.",
        "categories": [
            "posts and private messages: text, platform, post id, link, time, rating (mention)",
            "author: handle, display name, platform user id, followers, verified flag (mention)",
            "the brand's replies sent on the platforms (listening_reply)",
        ],
        "retention": "tenant policy retention_days for posts; removed at once when the platform says so",
    },
    {
        "service": "profiles",
        "data_subjects": "Customers and people who posted about the brand.",
        "categories": [
            "profile: display name, bio, followers, influence, sentiment, intents, languages, lifecycle, "
            "tags, custom attributes (profile)",
            "identifiers: handles, platform user ids, e-mail addresses, phone numbers, websites, partner ids "
            "(identifier)",
            "timeline excerpts of posts (interaction), orders (profile_order), staff notes (profile_note)",
            "consent ledger, objections, restrictions (consent_record, consent_state)",
            "audit log of access to personal data, ids only (privacy_audit)",
        ],
        "retention": "until erased; timeline excerpts follow the posts' retention",
    },
    {
        "service": "engagement",
        "data_subjects": "People in conversations with the brand's agents.",
        "categories": [
            "conversations and their messages: text, platform, times (conversation, message)",
            "agents' notes on conversations (conversation_note)",
            "survey answers (survey)",
            "webhook deliveries to partners that carried a person's data (webhook_delivery)",
        ],
        "retention": "tenant policy retention_days for messages; until erased otherwise",
    },
    {
        "service": "metrics",
        "data_subjects": "None directly: counts only.",
        "categories": ["aggregate counters per tenant, channel and time bucket (counter)"],
        "retention": "kept; holds no personal data",
    },
]

RECIPIENTS = [
    "the social platforms a reply is sent through (X, Instagram, Facebook, WhatsApp, …), for engagement",
    "partners' systems subscribed by webhook (GET /v1/webhooks), each subscription for its declared purpose",
    "the tenant's own staff (owners, admins, agents, analysts) and the API keys they issue",
]
SECURITY = [
    "every request authenticated (RS256 tokens, revocable) and authorised by role and key scope",
    "consent, objections and restrictions projected for a check per purpose before processing",
    "each tenant's data kept apart in every query",
    "access to personal data audited (GET /v1/privacy/audit)",
]


async def processing_records(reader: Reader, *, tenant_id: str) -> ProcessingRecords:
    """`GET /v1/privacy/processing-records`: this tenant's record of processing activities."""
    policy = await read_policy(reader, tenant_id)
    return ProcessingRecords.model_validate(
        {
            "controller_tenant_id": tenant_id,
            "purposes": [
                {
                    "purpose": purpose,
                    "description": description,
                    "lawful_basis": policy["bases"][purpose],
                    "services": services,
                }
                for purpose, (description, services) in PURPOSES.items()
            ],
            "data_categories": CATEGORIES,
            "recipients": RECIPIENTS,
            "retention_days": policy["retention_days"],
            "transfers": "none beyond the recipients listed (the platforms' own terms apply to replies "
            "sent there)",
            "security_measures": SECURITY,
        }
    )

"""The matching forms of identifiers (handles, e-mails, phones in E.164, websites) and which links are
strong: pure functions, shared by the request models, resolution and the identity graph."""

from __future__ import annotations

import unicodedata
from typing import Literal

import phonenumbers

IdentifierKind = Literal["handle", "platform_user_id", "email", "phone", "website", "external_id"]

Evidence = Literal["platform", "verified", "partner", "agent", "unverified"]
KINDS: tuple[IdentifierKind, ...] = ("handle", "platform_user_id", "email", "phone", "website", "external_id")
# Kinds whose namespace is the platform (handle, platform_user_id) or the partner's system (external_id).
NAMESPACED = frozenset({"handle", "platform_user_id", "external_id"})


class InvalidIdentifier(ValueError):
    """A value that is not an identifier of its kind (an unparseable phone number, an empty handle)."""


def normalise_handle(handle: str) -> str:
    """The form handles are matched by: Unicode-normalised, trimmed, no leading `@`, case-folded."""
    return unicodedata.normalize("NFKC", handle).strip().lstrip("@").strip().casefold()


def normalise_email(email: str) -> str:
    return unicodedata.normalize("NFKC", email).strip().lower()


def normalise_phone(phone: str, *, region: str | None = None) -> str:
    """E.164 (`+4915112345678`); a number without a country code needs `region` (ISO 3166 alpha-2)."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier(f"not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidIdentifier("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_website(url: str) -> str:
    """Host and path, lower-cased, without scheme, `www.`, query, fragment or trailing slash."""
    value = unicodedata.normalize("NFKC", url).strip().lower()
    for scheme in ("https://", "http://"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
    value = value.split("#", 1)[0].split("?", 1)[0]
    if value.startswith("www."):
        value = value[4:]
    return value.rstrip("/")


def normalise(kind: str, value: str) -> str:
    """The form identifiers of `kind` are matched by; `InvalidIdentifier` if there is none."""
    if kind == "handle":
        normalised = normalise_handle(value)
    elif kind == "email":
        normalised = normalise_email(value)
    elif kind == "phone":
        normalised = normalise_phone(value)
    elif kind == "website":
        normalised = normalise_website(value)
    elif kind in ("platform_user_id", "external_id"):
        normalised = value.strip()
    else:
        raise InvalidIdentifier(f"unknown identifier kind {kind!r}")
    if not normalised:
        raise InvalidIdentifier(f"an empty {kind}")
    return normalised


def is_strong(kind: str, evidence: str) -> bool:
    """Strong links merge profiles automatically: platform user ids, partner ids, handles attested by their
    platform, e-mails and phones verified or given by a partner. Never names, never unverified values."""
    if kind in ("platform_user_id", "external_id"):
        return True
    if kind == "handle":
        return evidence == "platform"
    if kind in ("email", "phone"):
        return evidence in ("verified", "partner")
    return False

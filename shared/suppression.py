"""The hashed identifiers of erased people: one scheme for every service that keeps them.

An erasure leaves digests behind, never values: sha256 over the tenant, the platform (`*` when the
request named none), the kind (`handle` or `id`, the platform's user id) and the normalised value. A post
is checked by hashing its author the same way (handle and user id, on the post's platform and on `*`)
and looking the digests up. listening keeps such a list to stop an erased author's later posts at
ingest (`services/listening/mentions/suppression.py`); profiles keeps one so that a post announced
before the erasure and delivered after it does not bring the person back (`services/profiles/privacy.py`).
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from shared.events.contracts import PrivacySubject

ANY_PLATFORM = "*"

Key = tuple[str | None, str]  # (platform or None: any platform, value)


def normalise_handle(handle: str) -> str:
    """The form handles are matched by (as profiles matches them): Unicode-normalised, trimmed, no
    leading `@`, case-folded."""
    return unicodedata.normalize("NFKC", handle).strip().lstrip("@").strip().casefold()


def digest(tenant_id: str, platform: str | None, kind: str, value: str) -> str:
    """The stored form of one identifier: sha256 over tenant, platform (or `*`), kind and value."""
    key = "\n".join((tenant_id, (platform or ANY_PLATFORM).strip().lower(), kind, value))
    return hashlib.sha256(key.encode()).hexdigest()


def handle_digest(tenant_id: str, platform: str | None, handle: str) -> str | None:
    value = normalise_handle(handle)
    return digest(tenant_id, platform, "handle", value) if value else None


def user_digest(tenant_id: str, platform: str | None, user_id: str) -> str | None:
    value = user_id.strip()
    return digest(tenant_id, platform, "id", value) if value else None


def author_digests(tenant_id: str, platform: str, handle: str | None, user_id: str | None) -> list[str]:
    """The digests a post's author is looked up by: handle and user id, on the platform and on `*`."""
    found: list[str] = []
    for on in (platform, ANY_PLATFORM):
        if handle and (d := handle_digest(tenant_id, on, handle)):
            found.append(d)
        if user_id and (d := user_digest(tenant_id, on, user_id)):
            found.append(d)
    return found


@dataclass
class Authors:
    """A person's identities as authors of posts: normalised handles and platform user ids."""

    handles: set[Key] = field(default_factory=set)
    user_ids: set[Key] = field(default_factory=set)

    def owns(self, platform: str, handle: str | None, user_id: str | None) -> bool:
        """Whether a post by this author is the person's."""
        if user_id and ((platform, user_id) in self.user_ids or (None, user_id) in self.user_ids):
            return True
        normalised = normalise_handle(handle or "")
        return bool(normalised) and (
            (platform, normalised) in self.handles or (None, normalised) in self.handles
        )

    def digests(self, tenant_id: str) -> set[str]:
        """The suppression list's entries for these identities."""
        found: set[str] = set()
        for platform, handle in self.handles:
            if d := handle_digest(tenant_id, platform, handle):
                found.add(d)
        for platform, user_id in self.user_ids:
            if d := user_digest(tenant_id, platform, user_id):
                found.add(d)
        return found


def _platform(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def authors_of(subject: PrivacySubject) -> Authors:
    """The identities of a privacy request that can author posts: handles, platform user ids, phone
    numbers."""
    authors = Authors()
    for identity in subject.identities:
        kind, value, platform = (
            identity.get("kind"),
            identity.get("value"),
            _platform(identity.get("platform")),
        )
        user_id = (identity.get("platform_user_id") or "").strip()
        if user_id:
            authors.user_ids.add((platform, user_id))
        if not value or not value.strip():
            continue
        if kind == "handle":
            if normalised := normalise_handle(value):
                authors.handles.add((platform, normalised))
        elif kind == "platform_user_id":
            authors.user_ids.add((platform, value.strip()))
        elif kind == "phone":
            # WhatsApp names a sender by their number, without the `+`, as handle and as user id.
            digits = "".join(ch for ch in value if ch.isdigit())
            if digits:
                authors.user_ids.add(("whatsapp", digits))
                authors.handles.add(("whatsapp", digits))
    return authors

"""The suppression list: the hashed identifiers of erased people, checked by every ingest.

An erasure (services.listening.privacy) adds the person's identifiers here: sha256 over the tenant, the
platform (`*` when the request did not name one), the kind (`handle` or `id`, the platform's user id)
and the normalised value (`shared.suppression`, the scheme profiles' list of erased authors uses too).
The table holds digests only, so it names nobody, yet a post can be checked against it: its author's
handle and user id are hashed the same way (with the platform and with `*`) and looked up: by primary
key for one post (`is_suppressed`, the path of webhooks, pulls, fetches and imports), or, for the ingest
API's group commit, in the app's copy of the lists (`Listed`), which one statement per batch keeps
current.

A post by a suppressed author is still counted, anonymously: `anonymise_row` keeps the platform, the
post's time, its kind and channel, and drops its text, URL, author and reply target; its platform id is
replaced by `hidden_external_id` (a digest too), so a second delivery of the same post is still a
duplicate. The row is closed (`analysis_status` analysed, `redaction_reason` suppressed): the analysis
worker never reads it, so nothing is announced (`listening.mention.received` would recreate the
profile downstream) and no query matches it. A post stored before its author was listed (in flight
while the erasure was answered) is checked again by the analysis worker just before it would be
announced (`analysing`), and closed the same way (`anonymise_mention`) instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.listening.models import Suppression
from shared.db import utcnow
from shared.suppression import (
    ANY_PLATFORM,
    author_digests,
    digest,
    handle_digest,
    normalise_handle,
    user_digest,
)

if TYPE_CHECKING:
    from services.listening.models import Mention

# The hashing scheme is shared with profiles' list of erased authors (`shared.suppression`).
__all__ = [
    "ANY_PLATFORM",
    "ERASED",
    "SUPPRESSED",
    "SUPPRESSION_LOCK",
    "Listed",
    "add",
    "anonymise_mention",
    "anonymise_row",
    "author_digests",
    "digest",
    "handle_digest",
    "hidden_external_id",
    "is_suppressed",
    "normalise_handle",
    "suppressed",
    "user_digest",
]

SUPPRESSED = "suppressed"
ERASED = "erased"
# Taken (`shared.db.lock_tenant`) by an erasure and by the analysis worker's announcing transaction.
SUPPRESSION_LOCK = "suppression"


def hidden_external_id(tenant_id: str, platform: str, external_id: str) -> str:
    """What an anonymous row keeps of the post's platform id: a digest, so a redelivery still de-duplicates
    while the row no longer points at the post (or its author) on the platform."""
    return "h:" + hashlib.sha256(f"{tenant_id}\n{platform}\n{external_id}".encode()).hexdigest()


async def suppressed(session: AsyncSession, digests: Iterable[str]) -> set[str]:
    """Which of these digests are on the list: one primary-key lookup statement."""
    wanted = sorted(set(digests))
    if not wanted:
        return set()
    rows = await session.execute(select(col(Suppression.digest)).where(col(Suppression.digest).in_(wanted)))
    return set(rows.scalars())


# Built once (the tenants an expanding parameter): the statement every ingest batch runs.
_LISTED_COUNTS = (
    select(col(Suppression.tenant_id), func.count())
    .where(col(Suppression.tenant_id).in_(bindparam("tenants", expanding=True)))
    .group_by(col(Suppression.tenant_id))
)


class Listed:
    """One app's copy of its tenants' lists (held by the ingest group commit), checked on every batch.

    Entries are only ever added, so a tenant's count is its list's version: each batch reads the counts of
    its tenants (one statement on the tenant index; most tenants have nobody and their posts need no
    hashing) and re-reads a tenant's digests only when its count moved. Another replica's erasure is
    therefore seen by the very next batch, and a batch's authors are matched in memory.
    """

    def __init__(self) -> None:
        self._by_tenant: dict[str, tuple[int, frozenset[str]]] = {}

    async def of(self, session: AsyncSession, tenant_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """The current digests of each of these tenants that has anyone listed."""
        wanted = sorted(set(tenant_ids))
        if not wanted:
            return {}
        counts = await session.execute(_LISTED_COUNTS, {"tenants": wanted})
        found: dict[str, frozenset[str]] = {}
        for tenant_id, count in counts.all():
            cached = self._by_tenant.get(tenant_id)
            if cached is None or cached[0] != count:
                rows = await session.execute(
                    select(col(Suppression.digest)).where(col(Suppression.tenant_id) == tenant_id)
                )
                digests = frozenset(rows.scalars())
                cached = (len(digests), digests)
                self._by_tenant[tenant_id] = cached
            found[tenant_id] = cached[1]
        return found


async def is_suppressed(
    session: AsyncSession, *, tenant_id: str, platform: str, handle: str, user_id: str | None
) -> bool:
    """Whether a post by this author is to be kept as an anonymous count only."""
    return bool(await suppressed(session, author_digests(tenant_id, platform, handle, user_id)))


async def add(session: AsyncSession, *, tenant_id: str, digests: Iterable[str]) -> int:
    """Put digests on the tenant's list (those already there stay as they are); how many were given."""
    rows = [{"digest": d, "tenant_id": tenant_id, "created_at": utcnow()} for d in sorted(set(digests))]
    if not rows:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = Suppression.__table__  # type: ignore[attr-defined]
    await session.execute(insert(table).values(rows).on_conflict_do_nothing(index_elements=["digest"]))
    return len(rows)


def anonymise_row(row: dict[str, Any]) -> dict[str, Any]:
    """A new mention row (`mentions.logic.new_mention_row`) as an anonymous count: nothing of the post or
    its author, closed so that it is never analysed or announced."""
    row.update(
        external_id=hidden_external_id(row["tenant_id"], row["platform"], row["external_id"]),
        text="",
        url=None,
        author_handle="",
        author_display_name=None,
        author_followers=None,
        author_verified=False,
        author_id=None,
        influence=0.0,
        in_reply_to=None,
        analysis_status="analysed",
        redacted_at=utcnow(),
        redaction_reason=SUPPRESSED,
    )
    return row


def anonymise_mention(mention: Mention, reason: str) -> None:
    """A stored mention as an anonymous count (an erased person's post, or one whose author was put on the
    list after it was stored): nothing of the post or its author, closed, never announced."""
    mention.external_id = hidden_external_id(mention.tenant_id, mention.platform, mention.external_id)
    mention.text = ""
    mention.url = None
    mention.author_handle = ""
    mention.author_display_name = None
    mention.author_followers = None
    mention.author_verified = False
    mention.author_id = None
    mention.influence = 0.0
    mention.in_reply_to = None
    mention.fingerprint = None
    mention.sketch = ""
    mention.needs_rescore = False
    mention.redacted_at = mention.redacted_at or utcnow()
    mention.redaction_reason = reason
    if mention.analysis_status != "analysed":
        # Never announced (a claim in flight finds it closed and stores nothing): it stays unannounced.
        mention.analysis_status = "analysed"

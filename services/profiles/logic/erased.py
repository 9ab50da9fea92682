"""The authors profiles must not bring back: the hashed identifiers of erased people.

A post is announced by listening (`listening.mention.received`) before profiles resolves it; one by a
person being erased can be announced just before listening's erasure and reach profiles after profiles'
own erasure (a relay catching up, a redelivery). Resolving it would create a fresh profile for the handle
and, downstream, a conversation: the erased person back. So profiles' erasure keeps the person's handles
and platform user ids as digests (`shared.suppression`, the scheme listening's suppression list uses;
the table names nobody), and resolution passes over a post whose author is listed: it is acknowledged,
stored nowhere, announced to nobody.

The check and the erasure take the tenant's lock (`shared.db.lock_tenant`): resolutions share it, an
erasure takes it alone, so a batch resolved concurrently with an erasure either commits before it (and
its rows are erased with the person's) or reads the list after it.

What a partner sends is another matter: a partner that upserts the person again (by external id, with
their handles) re-adds them on purpose, and that is stored (listening still suppresses their posts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.models import Identifier
from services.profiles.privacy_models import ErasedAuthor
from shared.db import lock_tenant, utcnow
from shared.events.contracts import MentionPayload, PrivacySubject
from shared.suppression import author_digests, authors_of, handle_digest, user_digest

# Shared by resolutions, taken alone by an erasure.
ERASED_LOCK = "erased-authors"

_EA: Table = ErasedAuthor.__table__  # type: ignore[attr-defined]
_ID: Table = Identifier.__table__  # type: ignore[attr-defined]


async def remember(
    session: AsyncSession, *, tenant_id: str, subject: PrivacySubject, profile_ids: Sequence[str]
) -> int:
    """List the person's handles and platform user ids (the request's and those their profiles hold now),
    in the erasure's transaction, under the tenant's lock; how many digests were given."""
    await lock_tenant(session, ERASED_LOCK, tenant_id)
    digests = authors_of(subject).digests(tenant_id)
    held = await session.execute(
        select(_ID.c.kind, _ID.c.namespace, _ID.c.value).where(
            _ID.c.tenant_id == tenant_id,
            _ID.c.profile_id.in_(list(profile_ids)),
            _ID.c.kind.in_(["handle", "platform_user_id"]),
        )
    )
    for kind, platform, value in held:
        found = (
            handle_digest(tenant_id, platform, value)
            if kind == "handle"
            else user_digest(tenant_id, platform, value)
        )
        if found:
            digests.add(found)
    rows = [{"digest": d, "tenant_id": tenant_id, "created_at": utcnow()} for d in sorted(digests)]
    if rows:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(insert(_EA).values(rows).on_conflict_do_nothing(index_elements=["digest"]))
    return len(rows)


async def by_erased(session: AsyncSession, *, tenant_id: str, mentions: Iterable[MentionPayload]) -> set[str]:
    """The ids of these mentions whose author is listed (one statement), under the tenant's lock (shared)."""
    authors = {
        m.mention_id: author_digests(tenant_id, m.platform, m.author.handle, m.author.platform_user_id)
        for m in mentions
    }
    wanted = sorted({d for ds in authors.values() for d in ds})
    if not wanted:
        return set()
    await lock_tenant(session, ERASED_LOCK, tenant_id, shared=True)
    listed = set(await session.scalars(select(_EA.c.digest).where(_EA.c.digest.in_(wanted))))
    if not listed:
        return set()
    return {mention_id for mention_id, ds in authors.items() if listed.intersection(ds)}

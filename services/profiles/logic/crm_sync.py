"""Partner (CRM) sync: a customer as a partner's system knows it, upserted by the partner's own id.

The partner's id becomes an `external_id` identifier (namespace = the system, evidence `partner`); the
e-mail, phone, website and handles it sends are attached with evidence `partner`. An identifier that
already belongs to another profile is left where it is and the pair is recorded as a match suggestion
(score 1.0, signal `identifier`) for an agent to merge: a partner sync never merges on its own.
Upserting what the profile already holds changes nothing and announces nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.logic.consent import Entry, record_if_changed
from services.profiles.logic.normalise import is_strong, normalise
from services.profiles.logic.orders import resolve_survivor
from services.profiles.logic.snapshot import snapshot
from services.profiles.models import Identifier, MatchSuggestion, Profile, new_id
from services.profiles.schemas import ProfileUpsert
from shared.db import utcnow
from shared.events.contracts import ProfileCreated, ProfileUpdated
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.tenancy import scoped

log = logging.getLogger("rapport.profiles.crm_sync")

SOURCE = "profiles"
EVIDENCE = "partner"
Outcome = Literal["created", "updated", "unchanged"]


@dataclass
class Upserted:
    profile_id: str
    outcome: Outcome
    changed: list[str] = field(default_factory=list)
    # Profiles holding one of the sent identifiers already: suggested to an agent as the same customer.
    suggested: list[str] = field(default_factory=list)


Key = tuple[str, str, str]  # (kind, namespace, value_normalised)


@dataclass
class Lookup:
    """What a chunk of an import needs to know, fetched in a few statements for the whole chunk: the
    identifiers its lines name (by key) and their profiles. Lines of the chunk add to it as they go, and
    their new identifiers wait in `pending` until the chunk's profiles are flushed (a flush does not order
    inserts by foreign key)."""

    identifiers: dict[Key, Identifier] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    pending: list[Identifier] = field(default_factory=list)

    @classmethod
    async def fetch(
        cls, session: AsyncSession, *, tenant_id: str, lines: list[tuple[str, str, ProfileUpsert]]
    ) -> Lookup:
        """The identifiers and profiles of `lines` ((system, external_id, body) each), locked for update."""
        keys: set[Key] = set()
        for system, external_id, body in lines:
            keys.add(("external_id", system, external_id.strip()))
            keys.update((kind, ns, normalise(kind, value)) for kind, ns, value in _identifiers(body))
        lookup = cls()
        # One statement per (kind, namespace) and 500 values: each a range of the unique index.
        groups: dict[tuple[str, str], list[str]] = {}
        for kind, namespace, value in keys:
            groups.setdefault((kind, namespace), []).append(value)
        for (kind, namespace), values in groups.items():
            for start in range(0, len(values), 500):
                stmt = scoped(Identifier, tenant_id).where(
                    Identifier.kind == kind,
                    Identifier.namespace == namespace,
                    Identifier.value_normalised.in_(values[start : start + 500]),  # type: ignore[attr-defined]
                )
                for identifier in (await session.execute(stmt)).scalars():
                    lookup.identifiers[(kind, namespace, identifier.value_normalised)] = identifier
        ids = list({i.profile_id for i in lookup.identifiers.values()})
        for start in range(0, len(ids), 500):
            locked = (
                scoped(Profile, tenant_id)
                .where(Profile.id.in_(ids[start : start + 500]))  # type: ignore[attr-defined]
                .with_for_update()
            )
            for profile in (await session.execute(locked)).scalars():
                lookup.profiles[profile.id] = profile
        return lookup

    async def holder(self, session: AsyncSession, *, tenant_id: str, key: Key) -> Identifier | None:
        return self.identifiers.get(key)

    async def survivor(
        self, session: AsyncSession, *, tenant_id: str, profile_id: str, lock: bool
    ) -> Profile:
        profile = self.profiles.get(profile_id)
        if profile is None or profile.merged_into is not None:
            profile = await resolve_survivor(session, tenant_id=tenant_id, profile_id=profile_id, lock=lock)
            self.profiles[profile.id] = profile
        return profile

    def attach(self, session: AsyncSession, identifier: Identifier) -> None:
        self.identifiers[(identifier.kind, identifier.namespace, identifier.value_normalised)] = identifier
        self.pending.append(identifier)

    async def finish(self, session: AsyncSession) -> None:
        """Flush the chunk's profiles, then add the identifiers that name them."""
        await session.flush()
        session.add_all(self.pending)
        self.pending = []
        await session.flush()


class _Direct:
    """The lookup of a single upsert: a statement per question, each new row flushed at once."""

    async def holder(self, session: AsyncSession, *, tenant_id: str, key: Key) -> Identifier | None:
        kind, namespace, normalised = key
        return await _holder(
            session, tenant_id=tenant_id, kind=kind, namespace=namespace, normalised=normalised
        )

    async def survivor(
        self, session: AsyncSession, *, tenant_id: str, profile_id: str, lock: bool
    ) -> Profile:
        return await resolve_survivor(session, tenant_id=tenant_id, profile_id=profile_id, lock=lock)

    def attach(self, session: AsyncSession, identifier: Identifier) -> None:
        session.add(identifier)


def _identifiers(body: ProfileUpsert) -> list[tuple[str, str, str]]:
    """(kind, namespace, value) of each identifier in the body."""
    found: list[tuple[str, str, str]] = []
    if body.email is not None:
        found.append(("email", "", body.email))
    if body.phone is not None:
        found.append(("phone", "", body.phone))
    if body.website is not None:
        found.append(("website", "", body.website))
    for handle in body.handles:
        found.append(("handle", handle.platform.strip().lower(), handle.handle))
    return found


async def _holder(
    session: AsyncSession, *, tenant_id: str, kind: str, namespace: str, normalised: str
) -> Identifier | None:
    stmt = scoped(Identifier, tenant_id).where(
        Identifier.kind == kind, Identifier.namespace == namespace, Identifier.value_normalised == normalised
    )
    return (await session.execute(stmt)).scalars().first()


async def _suggest(
    session: AsyncSession, *, tenant_id: str, profile_id: str, candidate_id: str, kind: str, strong: bool
) -> bool:
    """Record that `candidate_id` holds one of `profile_id`'s partner identifiers; False if recorded."""
    pair = (profile_id, candidate_id)
    stmt = scoped(MatchSuggestion, tenant_id).where(
        MatchSuggestion.profile_id.in_(pair),  # type: ignore[attr-defined]
        MatchSuggestion.candidate_id.in_(pair),  # type: ignore[attr-defined]
    )
    if (await session.execute(stmt)).scalars().first() is not None:
        return False
    evidence: dict[str, Any] = {
        "signal": "identifier",
        "detail": f"the same {kind} ({'strong' if strong else 'weak'} link on the other profile)",
        "score": 1.0,
    }
    session.add(
        MatchSuggestion(
            tenant_id=tenant_id,
            profile_id=profile_id,
            candidate_id=candidate_id,
            score=1.0,
            evidence=[evidence],
        )
    )
    return True


async def upsert_partner_profile(
    session: AsyncSession,
    *,
    tenant_id: str,
    system: str,
    external_id: str,
    body: ProfileUpsert,
    lookup: Lookup | None = None,
) -> Upserted:
    """Create or update the profile of the partner id (`system`, `external_id`); does not commit.

    Stages `profiles.profile.created` (a new profile) and `profiles.profile.updated` (any change).
    With `lookup` (a chunk of an import) nothing is asked of the database and the new identifiers wait
    for `Lookup.finish`; without, each question is a statement and the rows are flushed at once."""
    external_id = external_id.strip()
    find: Lookup | _Direct = lookup if lookup is not None else _Direct()
    holder = await find.holder(session, tenant_id=tenant_id, key=("external_id", system, external_id))
    changed: list[str] = []
    if holder is None:
        now = utcnow()
        profile = Profile(id=new_id(), tenant_id=tenant_id, first_seen_at=now, last_seen_at=now)
        session.add(profile)
        if lookup is None:
            # Without ORM relationships a flush does not order inserts by foreign key: the profile first.
            await session.flush()
        else:
            lookup.profiles[profile.id] = profile
        find.attach(
            session,
            Identifier(
                tenant_id=tenant_id,
                profile_id=profile.id,
                kind="external_id",
                namespace=system,
                value=external_id,
                value_normalised=external_id,
                evidence=EVIDENCE,
                confidence=1.0,
                source=f"partner:{system}",
            ),
        )
        outcome: Outcome = "created"
        changed.append("identifiers")
    else:
        profile = await find.survivor(session, tenant_id=tenant_id, profile_id=holder.profile_id, lock=True)
        outcome = "unchanged"

    if body.display_name is not None and body.display_name != profile.display_name:
        profile.display_name = body.display_name
        changed.append("display_name")
    if body.attributes:
        attributes = dict(profile.attributes)
        for name, value in body.attributes.items():
            if value is None:
                attributes.pop(name, None)
            else:
                attributes[name] = value
        if attributes != profile.attributes:
            profile.attributes = attributes
            changed.append("attributes")
    if body.tags:
        tags = list(profile.tags)
        tags.extend(tag for tag in dict.fromkeys(body.tags) if tag not in tags)
        if tags != profile.tags:
            profile.tags = tags
            changed.append("tags")

    suggested: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for kind, namespace, value in _identifiers(body):
        normalised = normalise(kind, value)
        if (kind, namespace, normalised) in seen:
            continue
        seen.add((kind, namespace, normalised))
        existing = await find.holder(session, tenant_id=tenant_id, key=(kind, namespace, normalised))
        if existing is None:
            find.attach(
                session,
                Identifier(
                    tenant_id=tenant_id,
                    profile_id=profile.id,
                    kind=kind,
                    namespace=namespace,
                    value=value,
                    value_normalised=normalised,
                    evidence=EVIDENCE,
                    confidence=1.0,
                    source=f"partner:{system}",
                ),
            )
            if "identifiers" not in changed:
                changed.append("identifiers")
            continue
        if existing.profile_id == profile.id:
            continue
        other = await find.survivor(session, tenant_id=tenant_id, profile_id=existing.profile_id, lock=False)
        if other.id == profile.id:
            continue
        # Another profile holds it: an agent decides (there is no silent merge here).
        if await _suggest(
            session,
            tenant_id=tenant_id,
            profile_id=profile.id,
            candidate_id=other.id,
            kind=kind,
            strong=is_strong(existing.kind, existing.evidence),
        ):
            suggested.append(other.id)

    if changed and outcome == "unchanged":
        outcome = "updated"
    if changed:
        profile.updated_at = utcnow()
        session.add(profile)
        if outcome == "created":
            stage(
                session,
                new_event(
                    ProfileCreated(profile_id=profile.id, platform=f"partner:{system}"),
                    source=SOURCE,
                    tenant_id=tenant_id,
                    subject=profile.id,
                ),
            )
        stage(
            session,
            new_event(
                ProfileUpdated(profile_id=profile.id, changed=changed, profile=snapshot(profile)),
                source=SOURCE,
                tenant_id=tenant_id,
                subject=profile.id,
            ),
        )
    if lookup is None:
        await session.flush()
    return Upserted(profile_id=profile.id, outcome=outcome, changed=changed, suggested=suggested)


async def sync_partner_profile(
    session: AsyncSession,
    *,
    tenant_id: str,
    system: str,
    external_id: str,
    body: ProfileUpsert,
    consents: Sequence[Entry] = (),
) -> Upserted:
    """`upsert_partner_profile` and commit. Two first upserts of one partner id racing: the loser's insert
    fails on the unique identifier, and it runs again as an update of the winner's profile. `consents`
    (what the partner's CRM holds) go into the ledger in the same transaction where they change the
    person's state."""
    for attempt in (1, 2):
        try:
            upserted = await upsert_partner_profile(
                session, tenant_id=tenant_id, system=system, external_id=external_id, body=body
            )
            if consents:
                await record_if_changed(
                    session, tenant_id=tenant_id, profile_id=upserted.profile_id, entries=consents
                )
            await session.commit()
            return upserted
        except IntegrityError:
            await session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")

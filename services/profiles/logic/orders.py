"""Orders partners post for a customer: idempotent by order id, summed exactly into the lifetime value,
and the customer's move to the `customer` lifecycle stage.

Amounts are integers of ten-thousandths (`amount_e4`); lifetime values are `{currency: "decimal string"}`
summed from those integers, so no float ever touches money.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.profiles.errors import OrderConflict, ProfileNotFound
from services.profiles.logic import lifecycle
from services.profiles.logic.notes import profile_ref
from services.profiles.logic.segments import refresh_memberships
from services.profiles.logic.snapshot import snapshot
from services.profiles.models import Identifier, Interaction, LifecycleChange, Profile, ProfileOrder
from services.profiles.schemas import OrderCreate, OrderPage, OrderRead
from shared.db import utcnow
from shared.events.contracts import LifecycleChanged, ProfileUpdated
from shared.events.envelope import new_event
from shared.events.outbox import stage
from shared.pagination import page_of
from shared.reads import Reader
from shared.tenancy import scoped

log = logging.getLogger("rapport.profiles.orders")

SOURCE = "profiles"
E4 = 10_000
# A chain of merges longer than this is a bug, not data: refuse rather than loop.
MAX_MERGE_HOPS = 32
# Stages an order moves to `customer`; `advocate` is above it and stays.


def to_e4(amount: Decimal) -> int:
    """The amount in ten-thousandths, exactly (the schema allows at most 4 decimal places)."""
    scaled = amount * E4
    if scaled != scaled.to_integral_value():
        raise ValueError("more than 4 decimal places")
    return int(scaled)


def format_e4(value: int) -> str:
    """`499000` → `"49.90"`: at least 2 decimal places, at most 4, no float on the way."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), E4)
    digits = f"{frac:04d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{digits}"


def parse_e4(value: str) -> int:
    return to_e4(Decimal(value))


async def resolve_survivor(
    session: AsyncSession, *, tenant_id: str, profile_id: str, lock: bool = True
) -> Profile:
    """The profile `profile_id` became: itself, or the survivor of the merges it went into (with `lock`,
    locked for update on PostgreSQL, so concurrent orders of one customer do not lose a sum).
    `ProfileNotFound` if unknown."""
    current = profile_id
    for _ in range(MAX_MERGE_HOPS):
        stmt = scoped(Profile, tenant_id).where(Profile.id == current)
        if lock:
            stmt = stmt.with_for_update()
        profile = (await session.execute(stmt)).scalars().first()
        if profile is None:
            raise ProfileNotFound(f"Profile {profile_id} was not found.")
        if profile.merged_into is None:
            return profile
        current = profile.merged_into
    raise ProfileNotFound(f"Profile {profile_id} was not found.")


async def find_external(
    session: AsyncSession, *, tenant_id: str, system: str, external_id: str
) -> Identifier | None:
    """The identifier of a partner's id, or None."""
    stmt = scoped(Identifier, tenant_id).where(
        Identifier.kind == "external_id",
        Identifier.namespace == system,
        Identifier.value_normalised == external_id.strip(),
    )
    return (await session.execute(stmt)).scalars().first()


async def profile_of_external(
    session: AsyncSession, *, tenant_id: str, system: str, external_id: str
) -> Profile:
    """The (surviving) profile a partner's id names; `ProfileNotFound` for an id no one posted."""
    identifier = await find_external(session, tenant_id=tenant_id, system=system, external_id=external_id)
    if identifier is None:
        raise ProfileNotFound(f"No profile has the {system} id {external_id}.")
    return await resolve_survivor(session, tenant_id=tenant_id, profile_id=identifier.profile_id)


def _read(order: ProfileOrder) -> OrderRead:
    return OrderRead(
        id=order.id,
        profile_id=order.profile_id,
        order_id=order.order_id,
        amount=format_e4(order.amount_e4),
        currency=order.currency,
        ordered_at=order.ordered_at,
        created_at=order.created_at,
    )


def to_customer(session: AsyncSession, profile: Profile, *, reason: str) -> bool:
    """The lifecycle rule of an order (`lifecycle.after_order`: a stranger, fan or lead becomes a
    customer, an advocate stays one): writes the `lifecycle_change` row and stages
    `profiles.profile.lifecycle_changed` with `reason`; returns whether the stage changed."""
    new, change = lifecycle.after_order(lifecycle.Lifecycle(profile.lifecycle_stage, profile.at_risk))
    if change is None:
        return False
    profile.lifecycle_stage, profile.at_risk = new.stage, new.at_risk
    session.add(
        LifecycleChange(
            tenant_id=profile.tenant_id,
            profile_id=profile.id,
            from_stage=change.from_stage,
            to_stage=change.to_stage,
            at_risk=change.at_risk,
            reason=reason,
        )
    )
    stage(
        session,
        new_event(
            LifecycleChanged(
                profile_id=profile.id,
                from_stage=change.from_stage,
                to_stage=change.to_stage,
                at_risk=change.at_risk,
                reason=reason,
            ),
            source=SOURCE,
            tenant_id=profile.tenant_id,
            subject=profile.id,
        ),
    )
    return True


def _same(order: ProfileOrder, order_in: OrderCreate, *, amount_e4: int) -> bool:
    return (
        order.amount_e4 == amount_e4
        and order.currency == order_in.currency
        and order.ordered_at == order_in.ordered_at
    )


async def _existing(session: AsyncSession, *, tenant_id: str, order_id: str) -> ProfileOrder | None:
    stmt = scoped(ProfileOrder, tenant_id).where(ProfileOrder.order_id == order_id)
    return (await session.execute(stmt)).scalars().first()


async def post_order(
    session: AsyncSession,
    *,
    tenant_id: str,
    order_in: OrderCreate,
    profile_id: str | None = None,
    external: tuple[str, str] | None = None,
) -> tuple[OrderRead, bool]:
    """Post an order for the profile `profile_id` or the one of the partner id `external` (system, id),
    landing on the survivor of a merged-away profile; (the order, whether it is new).

    Two posts of one new order racing: the loser's insert fails on the unique order id, and it answers
    as a repeat (or a conflict) of the winner's."""
    for attempt in (1, 2):
        if external is not None:
            system, external_id = external
            profile = await profile_of_external(
                session, tenant_id=tenant_id, system=system, external_id=external_id
            )
        else:
            assert profile_id is not None
            profile = await resolve_survivor(session, tenant_id=tenant_id, profile_id=profile_id)
        try:
            return await record_order(session, tenant_id=tenant_id, profile=profile, order_in=order_in)
        except IntegrityError:
            await session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def record_order(
    session: AsyncSession, *, tenant_id: str, profile: Profile, order_in: OrderCreate
) -> tuple[OrderRead, bool]:
    """Add an order to `profile` (a survivor, see `resolve_survivor`) and commit; (the order, created).

    The same order again changes nothing and answers the stored one; the same order id with another
    amount, currency, time or customer is an `OrderConflict`."""
    amount_e4 = to_e4(order_in.amount)
    existing = await _existing(session, tenant_id=tenant_id, order_id=order_in.order_id)
    if existing is not None:
        # The order's customer may have been merged away since: compare with whom it belongs to now.
        owner = await resolve_survivor(
            session, tenant_id=tenant_id, profile_id=existing.profile_id, lock=False
        )
        if not _same(existing, order_in, amount_e4=amount_e4) or owner.id != profile.id:
            raise OrderConflict(
                f"Order {order_in.order_id} was already posted with another amount, currency, time or "
                "customer."
            )
        return _read(existing), False
    order = ProfileOrder(
        tenant_id=tenant_id,
        profile_id=profile.id,
        order_id=order_in.order_id,
        amount_e4=amount_e4,
        currency=order_in.currency,
        ordered_at=order_in.ordered_at,
    )
    session.add(order)
    session.add(
        Interaction(
            tenant_id=tenant_id,
            profile_id=profile.id,
            origin_profile_id=profile.id,
            kind="order",
            ref_id=order_in.order_id,
            excerpt=f"Order {order_in.order_id}: {format_e4(amount_e4)} {order_in.currency}"[:280],
            links={"orders": f"/v1/profiles/{profile.id}/orders"},
            occurred_at=order_in.ordered_at,
        )
    )
    values = dict(profile.lifetime_value)
    values[order_in.currency] = format_e4(parse_e4(values.get(order_in.currency, "0")) + amount_e4)
    profile.lifetime_value = values
    profile.order_count += 1
    profile.first_seen_at = min(profile.first_seen_at, order_in.ordered_at)
    profile.last_seen_at = max(profile.last_seen_at, order_in.ordered_at)
    profile.updated_at = utcnow()
    changed = ["order_count", "lifetime_value"]
    if to_customer(session, profile, reason=f"order {order_in.order_id}"):
        changed.append("lifecycle_stage")
    session.add(profile)
    memberships = await refresh_memberships(session, tenant_id, [profile.id])
    segment_ids = memberships.get(profile.id, [])
    stage(
        session,
        new_event(
            ProfileUpdated(
                profile_id=profile.id, changed=changed, profile=snapshot(profile, segment_ids=segment_ids)
            ),
            source=SOURCE,
            tenant_id=tenant_id,
            subject=profile.id,
        ),
    )
    await session.commit()
    log.info(
        "order.recorded", extra={"tenant_id": tenant_id, "profile_id": profile.id, "order_row": order.id}
    )
    return _read(order), True


async def survivor_id(reader: Reader, *, tenant_id: str, profile_id: str) -> str:
    """`resolve_survivor` for requests that only read: the id of the profile `profile_id` became."""
    current = profile_id
    for _ in range(MAX_MERGE_HOPS):
        row = await profile_ref(reader, tenant_id=tenant_id, profile_id=current)
        if row.merged_into is None:
            return str(row.id)
        current = row.merged_into
    raise ProfileNotFound(f"Profile {profile_id} was not found.")


async def list_orders(
    reader: Reader, *, tenant_id: str, profile_id: str, limit: int, cursor: str | None
) -> OrderPage:
    """The orders of a profile (of its survivor, when it was merged away), the latest posted first."""
    survivor = await survivor_id(reader, tenant_id=tenant_id, profile_id=profile_id)
    rows, next_cursor = await page_of(
        reader, ProfileOrder, tenant_id=tenant_id, limit=limit, cursor=cursor, profile_id=survivor
    )
    items = [{**row._mapping, "amount": format_e4(row.amount_e4)} for row in rows]
    return OrderPage.model_validate({"items": items, "next_cursor": next_cursor})

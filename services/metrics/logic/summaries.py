"""Day summaries of the care and customer figures, kept beside the fact rows so that a long period's
scorecard reads a few hundred summary rows instead of every conversation, answer and profile.

Exact, never estimated. Each conversation, survey answer and customer adds a fixed set of entries
(`Tally`): counts per UTC day and value (`DayCount`), per pair of SLA deadline days (`SlaCount`), one
duration per opening day (`DurationSet`, every duration kept, so nearest-rank percentiles stay exact), and
a customer's order total per stage and currency (`ClvTotal`). Folding keeps them in the transaction that
changes the rows: what the batch's conversations and customers add is worked out before the batch and
after it, and the difference is applied (a reassignment moves a conversation from one agent to another, a
merge takes the merged conversation or profile out, an unmerge puts the profile back); a new survey
answer adds itself once. An erasure changes no summary: they hold no profile id.

Filters: conversations under "" (all), their team and their agent; answers under their channel, platform
and agent; first sightings under their platform. The other filters (and two at once) read the rows.

`backfill` computes them from the rows (a snapshot from before them, a database seeded directly). Migration
b9ddc11f7004 holds its own frozen copy of it: a change here does not change what that revision does.
"""

from __future__ import annotations

import functools
import math
import sys
from array import array
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.metrics.logic.rollups import utc
from services.metrics.logic.rows import Rows
from services.metrics.models import (
    ClvTotal,
    ConversationFact,
    DayCount,
    DurationSet,
    OrderFact,
    ProfileFact,
    SlaCount,
    SurveyFact,
)
from shared.db import lock_tenant

MAX_MERGE_HOPS = 32
DAY = timedelta(days=1)
NO_ORDER = "-"
FIGURES = ("first_response", "resolution")


def day_of(moment: datetime) -> str:
    """The UTC day of a time, as the summaries key it ("YYYY-MM-DD")."""
    return moment.astimezone(UTC).date().isoformat()


def centiminutes(seconds: float) -> int:
    """A duration as the figures give it (minutes, two decimals), in hundredths of a minute."""
    return round(round(seconds / 60, 2) * 100)


@dataclass
class Tally:
    """What rows add to the summaries: counts (`DayCount` / `SlaCount` keys, and one duration each for
    `DurationSet`) and money (`ClvTotal`)."""

    counts: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    money: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)

    def add_money(self, key: tuple[str, str, str], amount: Decimal) -> None:
        self.money[key] = self.money.get(key, Decimal(0)) + amount

    def minus(self, before: Tally) -> Tally:
        """This tally less `before`: what a batch changed."""
        delta = Tally()
        for key in self.counts.keys() | before.counts.keys():
            change = self.counts[key] - before.counts[key]
            if change:
                delta.counts[key] = change
        for mkey in self.money.keys() | before.money.keys():
            amount = self.money.get(mkey, Decimal(0)) - before.money.get(mkey, Decimal(0))
            if amount:
                delta.money[mkey] = amount
        return delta

    def update(self, other: Tally) -> None:
        self.counts.update(other.counts)
        for key, amount in other.money.items():
            self.add_money(key, amount)


# --- what rows add --------------------------------------------------------------------------------


def conversation_filters(r: Any) -> list[str]:
    filters = [""]
    if r.team_id:
        filters.append(f"team:{r.team_id}")
    if r.assignee_id:
        filters.append(f"agent:{r.assignee_id}")
    return filters


def _met(due: datetime | None, done: datetime | None, breached: bool) -> int:
    return int(due is not None and not breached and done is not None and utc(done) <= utc(due))


def add_conversation(tenant_id: str, r: Any, into: Tally) -> None:
    """What one conversation row adds: nothing while it is not opened or once merged away."""
    if r.opened_at is None or r.merged_into is not None:
        return
    opened = day_of(r.opened_at)
    fr_due, res_due = r.first_response_due_at, r.resolution_due_at
    sla = None
    if fr_due is not None or res_due is not None:
        sla = (
            "" if fr_due is None else day_of(fr_due),
            "" if res_due is None else day_of(res_due),
            _met(fr_due, r.first_response_at, r.first_response_breached),
            _met(res_due, r.first_resolved_at, r.resolution_breached),
        )
    durations = []
    for figure, done, business_s in (
        ("first_response", r.first_response_at, r.first_response_business_s),
        ("resolution", r.resolved_at, r.resolution_business_s),
    ):
        if done is not None:
            seconds = business_s if business_s is not None else (utc(done) - utc(r.opened_at)).total_seconds()
            durations.append((figure, centiminutes(seconds), utc(done)))
    agent = r.assignee_id or ""
    unresolved = r.resolved_at is None
    reopen = None
    if r.first_resolved_at is not None:
        reopen = (day_of(r.first_resolved_at), "1" if r.reopen_count > 0 else "0")
    c = into.counts
    for f in conversation_filters(r):
        c[(tenant_id, "day", f, "opened", opened, agent)] += 1
        if unresolved:
            c[(tenant_id, "day", f, "unresolved", opened, "")] += 1
        if reopen is not None:
            c[(tenant_id, "day", f, "reopen", *reopen)] += 1
        if sla is not None:
            c[(tenant_id, "sla", f, *sla)] += 1
        for figure, value, done in durations:
            c[(tenant_id, "dur", f, figure, opened, value, done)] += 1


def add_answer(tenant_id: str, r: Any, into: Tally) -> None:
    """What one survey answer adds (under its own channel, platform and agent)."""
    filters = [""]
    if r.channel_id:
        filters.append(f"channel:{r.channel_id}")
    if r.platform:
        filters.append(f"platform:{r.platform}")
    if r.assignee_id:
        filters.append(f"agent:{r.assignee_id}")
    day = day_of(r.answered_at)
    for f in filters:
        into.counts[(tenant_id, "day", f, r.kind, day, str(r.score))] += 1


def lag_days(seen: datetime, ordered: datetime | None) -> str:
    """Whole days, rounded up, from a first sighting to the first order ("-": none, or an earlier one):
    converted within a window of w days exactly when this is at most w."""
    if ordered is None or utc(ordered) < utc(seen):
        return NO_ORDER
    days, rest = divmod(utc(ordered) - utc(seen), DAY)
    return str(days + (1 if rest else 0))


def add_customer(
    tenant_id: str, r: Any, first_order_at: datetime | None, value: dict[str, Decimal], into: Tally
) -> None:
    """What one profile that is not merged away adds: its first sighting on social (with how long until
    its first order) and its order total per currency (`value`: its own and what is merged into it)."""
    if r.merged_into is not None:
        return
    if r.first_seen_at is not None and (r.platform is None or not r.platform.startswith("partner:")):
        lag, day = lag_days(r.first_seen_at, first_order_at), day_of(r.first_seen_at)
        into.counts[(tenant_id, "day", "", "seen", day, lag)] += 1
        if r.platform is not None:
            into.counts[(tenant_id, "day", f"platform:{r.platform}", "seen", day, lag)] += 1
    for currency, amount in value.items():
        into.counts[(tenant_id, "clv", r.lifecycle_stage, currency)] += 1
        into.add_money((tenant_id, r.lifecycle_stage, currency), amount)


def customer_value(root: Any, children: Callable[[str], list[Any]]) -> dict[str, Decimal]:
    """A customer's order total per currency, as `card.clv_rows` adds it: its snapshot, plus what was
    merged into it after that snapshot was taken."""

    def value(r: Any, depth: int) -> dict[str, Decimal]:
        total = {cur: Decimal(v) for cur, v in (r.lifetime_value or {}).items()}
        for child in children(r.profile_id) if depth < MAX_MERGE_HOPS else []:
            if r.snapshot_at is None or child.merged_at is None or utc(r.snapshot_at) < utc(child.merged_at):
                for cur, v in value(child, depth + 1).items():
                    total[cur] = total.get(cur, Decimal(0)) + v
        return total

    return value(root, 0)


# --- folding --------------------------------------------------------------------------------------


async def lock(session: AsyncSession, stream: str, tenants: Iterable[str]) -> None:
    """On PostgreSQL, a tenant's batches of one stream (`engagement`, `profiles`) are serialised from here
    to the commit (two replicas working out the same conversation's "before" would each apply its
    change); the two streams touch different summaries and do not wait for each other."""
    for tenant_id in sorted(set(tenants)):
        await lock_tenant(session, f"metrics.summaries.{stream}", tenant_id)


def conversations_now(rows: Iterable[tuple[str, Any]]) -> Tally:
    """What these (tenant, conversation row or None) add now."""
    tally = Tally()
    for tenant_id, row in rows:
        if row is not None:
            add_conversation(tenant_id, row, tally)
    return tally


async def new_answers(session: AsyncSession, answers: Sequence[tuple[str, Any]]) -> Tally:
    """What the batch's survey answers not yet folded add (each once)."""
    tally = Tally()
    wanted: dict[str, set[tuple[str, str]]] = {}
    for tenant_id, a in answers:
        wanted.setdefault(tenant_id, set()).add((a.survey_id, a.kind))
    known: set[tuple[str, str, str]] = set()
    s = SurveyFact
    for tenant_id, keys in wanted.items():
        found = await session.execute(
            select(col(s.survey_id), col(s.kind)).where(
                col(s.tenant_id) == tenant_id, tuple_(col(s.survey_id), col(s.kind)).in_(sorted(keys))
            )
        )
        known.update((tenant_id, sid, kind) for sid, kind in found)
    for tenant_id, a in answers:
        key = (tenant_id, a.survey_id, a.kind)
        if key not in known:
            known.add(key)
            add_answer(tenant_id, a, tally)
    return tally


@dataclass
class Customers:
    """The customers a profiles batch may change (per tenant, profile ids: those merged away add nothing),
    with what their value and conversion need besides their own rows: each one's first order and the
    profiles merged into it."""

    ids: dict[str, set[str]]
    firsts: dict[tuple[str, str], datetime] = field(default_factory=dict)
    children: dict[tuple[str, str], list[Any]] = field(default_factory=dict)

    def tally(self, row_of: Callable[[str, str], Any]) -> Tally:
        """What they add, their rows as `row_of` (tenant, profile id) gives them (None: no row)."""
        tally = Tally()
        for tenant_id, ids in self.ids.items():
            for profile_id in sorted(ids):
                r = row_of(tenant_id, profile_id)
                if r is None or r.merged_into is not None:
                    continue
                value = customer_value(r, functools.partial(_children_of, self.children, tenant_id))
                add_customer(tenant_id, r, self.firsts.get((tenant_id, profile_id)), value, tally)
        return tally


async def read_customers(session: AsyncSession, wanted: dict[str, set[str]], profiles: Rows) -> Customers:
    """The first orders of the customers among `wanted` and the profiles merged into them, read (their
    own rows already read into `profiles`; its changes written first)."""
    await profiles.write(session)
    customers = Customers(wanted)
    o = OrderFact
    for tenant_id, ids in wanted.items():
        roots = sorted(
            i for i in ids if (r := profiles.get(tenant_id, i)) is not None and r.merged_into is None
        )
        if not roots:
            continue
        orders = await session.execute(
            select(col(o.owner_id), col(o.at))
            .where(col(o.tenant_id) == tenant_id, col(o.owner_id).in_(roots))
            .order_by(col(o.owner_id), col(o.at).desc())
        )
        # Each owner's earliest order last, so it is the one kept.
        customers.firsts.update(((tenant_id, owner), at) for owner, at in orders)
        level = roots
        for _ in range(MAX_MERGE_HOPS):
            found = await profiles.where(session, tenant_id, profiles.table.c.merged_into.in_(level))
            if not found:
                break
            for child in found:
                customers.children.setdefault((tenant_id, str(child.merged_into)), []).append(child)
            level = [child.profile_id for child in found]
    return customers


def _pack(values: Sequence[int]) -> bytes:
    packed = values if isinstance(values, array) else array("q", values)
    if sys.byteorder != "little":
        packed = array("q", packed)
        packed.byteswap()
    return packed.tobytes()


def unpack(data: bytes) -> array[int]:
    """The sorted durations of a `DurationSet` row."""
    values = array("q")
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values


@functools.cache
def _add_to(model: type, keys: tuple[str, ...], dialect: str) -> Any:
    """Add `n` to a count, or insert it (built once per table and dialect)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = model.__table__  # type: ignore[attr-defined]
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={"n": table.c.n + stmt.excluded.n})


@functools.cache
def _replace(model: type, keys: tuple[str, ...], columns: tuple[str, ...], dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = model.__table__  # type: ignore[attr-defined]
    stmt = insert(table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: getattr(stmt.excluded, c) for c in columns}
    )


# The summary tables, kept in the transaction that folds their rows.
TABLES: tuple[Any, ...] = tuple(m.__table__ for m in (DayCount, SlaCount, DurationSet, ClvTotal))  # type: ignore[union-attr]
DAY_KEYS = ("tenant_id", "filter", "figure", "day", "value")
SLA_KEYS = ("tenant_id", "filter", "fr_day", "res_day", "met_fr", "met_res")
DUR_KEYS = ("tenant_id", "filter", "figure", "day")
CLV_KEYS = ("tenant_id", "stage", "currency")


async def apply(session: AsyncSession, delta: Tally) -> None:
    """Add a batch's change to the summaries."""
    if not delta.counts and not delta.money:
        return
    dialect = session.get_bind().dialect.name
    days, slas, clv_customers = [], [], {}
    durations: dict[tuple[str, str, str, str], list[tuple[int, int, datetime]]] = {}
    # In key order (two transactions touching the same rows take their locks in the same order).
    for key, n in sorted(delta.counts.items()):
        kind = key[1]
        if kind == "day":
            days.append(dict(zip(DAY_KEYS, (key[0], *key[2:]), strict=True), n=n))
        elif kind == "sla":
            slas.append(dict(zip(SLA_KEYS, (key[0], *key[2:]), strict=True), n=n))
        elif kind == "dur":
            tenant_id, _, f, figure, day, value, done = key
            durations.setdefault((tenant_id, f, figure, day), []).append((value, n, done))
        else:
            clv_customers[(key[0], key[2], key[3])] = n
    if days:
        await session.execute(_add_to(DayCount, DAY_KEYS, dialect), days)
    if slas:
        await session.execute(_add_to(SlaCount, SLA_KEYS, dialect), slas)
    if durations:
        await _apply_durations(session, durations, dialect)
    if clv_customers or delta.money:
        await _apply_clv(session, clv_customers, delta.money, dialect)


async def _apply_durations(
    session: AsyncSession,
    changes: dict[tuple[str, str, str, str], list[tuple[int, int, datetime]]],
    dialect: str,
) -> None:
    d = DurationSet
    found: dict[tuple[str, str, str, str], Any] = {}
    keys = sorted(changes)
    for i in range(0, len(keys), 200):
        chunk = keys[i : i + 200]
        rows = await session.execute(
            select(
                col(d.tenant_id),
                col(d.filter),
                col(d.figure),
                col(d.day),
                col(d.durations),
                col(d.last_done_at),
            ).where(tuple_(col(d.tenant_id), col(d.filter), col(d.figure), col(d.day)).in_(chunk))
        )
        for t, f, figure, day, text, last in rows:
            found[(t, f, figure, day)] = (text, last)
    out = []
    for key in keys:
        data, last = found.get(key, (b"", None))
        values = unpack(data)
        # Removals first (a duration replaced by another may be the same value), then additions, each
        # in place in the sorted array.
        for value, n, done in sorted(changes[key], key=lambda change: change[1]):
            for _ in range(-n):
                at = bisect_left(values, value)
                if at == len(values) or values[at] != value:
                    raise ValueError(f"duration_set {key}: no {value} to take out")
                del values[at]
            for _ in range(n):
                insort(values, value)
            if n > 0 and (last is None or utc(done) > utc(last)):
                last = utc(done)
        out.append(_set_row(key, values, last))
    await session.execute(_replace(DurationSet, DUR_KEYS, ("n", "durations", "last_done_at"), dialect), out)


async def _apply_clv(
    session: AsyncSession,
    customers: dict[tuple[str, str, str], int],
    money: dict[tuple[str, str, str], Decimal],
    dialect: str,
) -> None:
    v = ClvTotal
    keys = sorted(customers.keys() | money.keys())
    rows = await session.execute(
        select(col(v.tenant_id), col(v.stage), col(v.currency), col(v.customers), col(v.total)).where(
            tuple_(col(v.tenant_id), col(v.stage), col(v.currency)).in_(keys)
        )
    )
    found = {(t, s, c): (n, Decimal(total)) for t, s, c, n, total in rows}
    out = []
    for key in keys:
        n, total = found.get(key, (0, Decimal(0)))
        out.append(
            {
                "tenant_id": key[0],
                "stage": key[1],
                "currency": key[2],
                "customers": n + customers.get(key, 0),
                "total": str(total + money.get(key, Decimal(0))),
            }
        )
    await session.execute(_replace(ClvTotal, CLV_KEYS, ("customers", "total"), dialect), out)


# --- backfill -------------------------------------------------------------------------------------


def backfill(conn: Connection, tenant_id: str | None = None) -> None:
    """Compute the summaries from the rows (every tenant's, or one's), replacing what is there."""
    for table in TABLES:
        stmt = table.delete()
        if tenant_id is not None:
            stmt = stmt.where(table.c.tenant_id == tenant_id)
        conn.execute(stmt)
    cv: Any = ConversationFact.__table__  # type: ignore[attr-defined]
    sv: Any = SurveyFact.__table__  # type: ignore[attr-defined]
    pf: Any = ProfileFact.__table__  # type: ignore[attr-defined]
    of: Any = OrderFact.__table__  # type: ignore[attr-defined]

    def where(table: Any) -> Any:
        return table.select() if tenant_id is None else table.select().where(table.c.tenant_id == tenant_id)

    tally = Tally()
    for r in conn.execute(where(cv)):
        add_conversation(r.tenant_id, r, tally)
    for r in conn.execute(where(sv)):
        add_answer(r.tenant_id, r, tally)
    firsts: dict[tuple[str, str], datetime] = {}
    for t, owner, at in conn.execute(
        select(of.c.tenant_id, of.c.owner_id, of.c.at)
        .select_from(of)
        .where(*(() if tenant_id is None else (of.c.tenant_id == tenant_id,)))
    ):
        key = (t, owner)
        if key not in firsts or utc(at) < utc(firsts[key]):
            firsts[key] = at
    profiles = list(conn.execute(where(pf)))
    children: dict[tuple[str, str], list[Any]] = {}
    for r in profiles:
        if r.merged_into is not None:
            children.setdefault((r.tenant_id, r.merged_into), []).append(r)
    for r in profiles:
        if r.merged_into is not None:
            continue
        value = customer_value(r, functools.partial(_children_of, children, r.tenant_id))
        add_customer(r.tenant_id, r, firsts.get((r.tenant_id, r.profile_id)), value, tally)
    _write(conn, tally)


def _children_of(children: dict[tuple[str, str], list[Any]], tenant_id: str, profile_id: str) -> list[Any]:
    return children.get((tenant_id, profile_id), [])


def _set_row(key: tuple[str, str, str, str], values: Sequence[int], last: datetime | None) -> dict[str, Any]:
    """A `duration_set` row: the sorted durations of (tenant, filter, figure, day)."""
    tenant_id, f, figure, day = key
    return {
        "tenant_id": tenant_id,
        "filter": f,
        "figure": figure,
        "day": day,
        "n": len(values),
        "durations": _pack(values),
        "last_done_at": last,
    }


def _write(conn: Connection, tally: Tally) -> None:
    dialect = conn.dialect.name
    days, slas, customers = [], [], {}
    durations: dict[tuple[str, str, str, str], list[tuple[int, datetime]]] = {}
    for key, n in tally.counts.items():
        if not n:
            continue
        if key[1] == "day":
            days.append(dict(zip(DAY_KEYS, (key[0], *key[2:]), strict=True), n=n))
        elif key[1] == "sla":
            slas.append(dict(zip(SLA_KEYS, (key[0], *key[2:]), strict=True), n=n))
        elif key[1] == "dur":
            tenant_id, _, f, figure, day, value, done = key
            durations.setdefault((tenant_id, f, figure, day), []).extend([(value, done)] * n)
        else:
            customers[(key[0], key[2], key[3])] = n
    chunk = 5000
    for rows, stmt in (
        (days, _add_to(DayCount, DAY_KEYS, dialect)),
        (slas, _add_to(SlaCount, SLA_KEYS, dialect)),
    ):
        for i in range(0, len(rows), chunk):
            conn.execute(stmt, rows[i : i + chunk])
    sets = []
    for key, entries in durations.items():
        values = sorted(v for v, _ in entries)
        sets.append(_set_row(key, values, max(utc(done) for _, done in entries)))
    for i in range(0, len(sets), chunk):
        conn.execute(
            _replace(DurationSet, DUR_KEYS, ("n", "durations", "last_done_at"), dialect), sets[i : i + chunk]
        )
    totals = [
        {
            "tenant_id": t,
            "stage": s,
            "currency": c,
            "customers": n,
            "total": str(tally.money.get((t, s, c), Decimal(0))),
        }
        for (t, s, c), n in customers.items()
    ]
    if totals:
        conn.execute(_replace(ClvTotal, CLV_KEYS, ("customers", "total"), dialect), totals)


# --- reading --------------------------------------------------------------------------------------


def nearest_ranks(sets: Sequence[bytes], more: Sequence[int], ps: Sequence[int]) -> list[int | None]:
    """The nearest-rank percentiles `ps` of every duration in `sets` (`DurationSet.durations`) and `more`:
    the smallest value with at least p % of all the values at or below it (one partition, no sort)."""
    parts = [np.frombuffer(data, dtype="<i8") for data in sets if data]
    if more:
        parts.append(np.asarray(more, dtype="<i8"))
    total = sum(len(part) for part in parts)
    if not total:
        return [None for _ in ps]
    ranks = [max(math.ceil(p * total / 100), 1) - 1 for p in ps]
    chosen = np.partition(np.concatenate(parts), sorted(set(ranks)))
    return [int(chosen[rank]) for rank in ranks]

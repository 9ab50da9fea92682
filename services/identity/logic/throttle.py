"""Login throttling per account and per client address, with growing lock-outs.

The state lives in identity's own database (`login_attempts`), not in Redis: every replica sees the
same counts on SQLite and PostgreSQL alike, a Redis flush cannot reset an attacker's count, and a login
already costs a database round trip and ~100 ms of Argon2, so a few more rows are noise. An attempt is
written *before* its password is checked, so a burst of concurrent guesses counts in full; it is deleted
again on success (which also clears the account's failures, never the address's). Each failure prunes
the rows that left the window.

A key is locked when it has at least `threshold` earlier failures in the sliding window: for
`base · 2^(failures - threshold)` seconds (capped) after the latest one. A locked key answers 429 with
`Retry-After` before any password is checked, whether or not the account exists (the key is the hashed
e-mail address, so throttling reveals nothing about registration).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.identity.models import LoginAttempt
from services.identity.settings import IdentitySettings


def _hashed(prefix: str, value: str) -> str:
    return f"{prefix}:{hashlib.sha256(value.encode()).hexdigest()}"


@dataclass(frozen=True)
class Attempt:
    """The two rows of one login attempt: its account key and its client-address key."""

    account_key: str
    ip_key: str
    ids: tuple[int, int]
    at: datetime


@dataclass(frozen=True)
class Lock:
    scope: str  # "account" or "ip"
    failures: int
    retry_after_s: int


def lock_seconds(failures: int, threshold: int, *, base_s: float, max_s: float) -> float:
    """How long a key with `failures` failures in the window stays locked after the latest one."""
    if failures < threshold:
        return 0.0
    return min(max_s, base_s * 2.0 ** min(failures - threshold, 40))


async def begin(session: AsyncSession, *, email: str, ip: str, now: datetime) -> Attempt:
    """Record an attempt for the account and the address (committed, so concurrent attempts see it)."""
    account_key, ip_key = _hashed("a", email), _hashed("i", ip)
    rows = [LoginAttempt(key=account_key, attempted_at=now), LoginAttempt(key=ip_key, attempted_at=now)]
    session.add_all(rows)
    await session.commit()
    ids = (rows[0].id, rows[1].id)
    assert ids[0] is not None and ids[1] is not None
    return Attempt(account_key=account_key, ip_key=ip_key, ids=(ids[0], ids[1]), at=now)


async def lock_of(
    session: AsyncSession, *, settings: IdentitySettings, attempt: Attempt, count_own: bool = False
) -> Lock | None:
    """The lock on the attempt's account or address, judged from the failures before it (or up to it)."""
    since = attempt.at - timedelta(seconds=settings.login_window_s)
    limits = (
        ("account", attempt.account_key, attempt.ids[0], settings.login_account_threshold),
        ("ip", attempt.ip_key, attempt.ids[1], settings.login_ip_threshold),
    )
    worst: Lock | None = None
    for scope, key, own_id, threshold in limits:
        upto = col(LoginAttempt.id) <= own_id if count_own else col(LoginAttempt.id) < own_id
        stmt = select(func.count(), func.max(LoginAttempt.attempted_at)).where(
            col(LoginAttempt.key) == key, col(LoginAttempt.attempted_at) > since, upto
        )
        failures, latest = (await session.execute(stmt)).one()
        if latest is None:
            continue
        seconds = lock_seconds(
            failures, threshold, base_s=settings.login_lock_base_s, max_s=settings.login_lock_max_s
        )
        remaining = (latest + timedelta(seconds=seconds) - attempt.at).total_seconds()
        if count_own:
            # The lock that this failure starts: its full length from now.
            remaining = seconds
        if remaining > 0 and (worst is None or remaining > worst.retry_after_s):
            worst = Lock(scope=scope, failures=failures, retry_after_s=max(1, math.ceil(remaining)))
    return worst


async def withdraw(session: AsyncSession, *, attempt: Attempt) -> None:
    """Forget an attempt that was refused before its password was checked (it is no failure)."""
    await session.execute(delete(LoginAttempt).where(col(LoginAttempt.id).in_(attempt.ids)))
    await session.commit()


async def succeeded(session: AsyncSession, *, attempt: Attempt) -> None:
    """Clear the account's failures and this attempt's address row (not the address's other failures)."""
    await session.execute(
        delete(LoginAttempt).where(
            (col(LoginAttempt.key) == attempt.account_key) | (col(LoginAttempt.id) == attempt.ids[1])
        )
    )


async def failed(
    session: AsyncSession, *, settings: IdentitySettings, attempt: Attempt, now: datetime
) -> None:
    """Keep the attempt as a failure dated when it failed (a lock runs from then, not from before the
    hash); drop every row that fell out of the window (an indexed range delete, so the table stays the
    size of one window's failures)."""
    await session.execute(
        update(LoginAttempt).where(col(LoginAttempt.id).in_(attempt.ids)).values(attempted_at=now)
    )
    since = attempt.at - timedelta(seconds=settings.login_window_s)
    await session.execute(delete(LoginAttempt).where(col(LoginAttempt.attempted_at) <= since))

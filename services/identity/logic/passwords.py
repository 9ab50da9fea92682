"""Argon2id password hashing, run off the event loop and bounded in concurrency."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Each hash takes ~64 MiB and ~100 ms of CPU: a burst of logins must not exhaust memory or threads.
_slots = asyncio.Semaphore(4)


async def hash_password(password: str) -> str:
    """The Argon2id hash of a password."""
    async with _slots:
        return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash (never raises on a mismatch)."""
    async with _slots:
        return await asyncio.to_thread(_verify, password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("rapport-dummy-password-for-unknown-accounts")


async def burn_verify(password: str) -> None:
    """Spend the time of a real verification, so an unknown e-mail answers like a wrong password."""
    dummy = await asyncio.to_thread(_dummy_hash)
    await verify_password(dummy, password)
